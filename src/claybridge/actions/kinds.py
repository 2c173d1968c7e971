"""Every action kind's class, by the name a mapping gives it (the names and what each
takes are :data:`claybridge.mapping.kinds.SHAPES`; a test checks the two agree)."""

from __future__ import annotations

from claybridge.actions.base import Action
from claybridge.actions.clay_submit import ClaySubmit
from claybridge.actions.complete_request import CompleteRequest
from claybridge.actions.customer import UpsertCustomer
from claybridge.actions.forward import Forward
from claybridge.actions.object import SetObject
from claybridge.actions.person import IdentifyPerson
from claybridge.actions.trigger_workflow import TriggerWorkflow

KINDS: dict[str, type[Action]] = {
    kind.kind: kind
    for kind in (
        UpsertCustomer,
        IdentifyPerson,
        SetObject,
        Forward,
        TriggerWorkflow,
        ClaySubmit,
        CompleteRequest,
    )
}
