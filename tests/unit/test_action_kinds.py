"""Action kinds: one class each, matching the shapes a saved configuration is checked
against."""

from __future__ import annotations

from typing import Any

import pytest

from claybridge.actions.kinds import KINDS
from claybridge.actions.outbound import Outbound
from claybridge.errors import InvalidField
from claybridge.mapping.kinds import SHAPES
from claybridge.mapping.model import parse_config


def test_every_shape_has_its_class() -> None:
    """The kinds a configuration may name are the kinds that have a class, by name."""
    assert list(KINDS) == list(SHAPES)
    for name, kind in KINDS.items():
        assert kind.kind == name
        assert issubclass(kind, Outbound) == SHAPES[name].outbound


@pytest.mark.parametrize(
    ("action", "message"),
    [
        ({"kind": "send_email"}, "unknown action kind 'send_email'; known: upsert_customer"),
        ({"kind": "set_object", "id": "body.id"}, "set_object needs a collection"),
        ({"kind": "set_object", "collection": "accounts"}, "set_object needs an id path"),
        ({"kind": "forward"}, "forward needs a destination"),
        ({"kind": "trigger_workflow"}, "trigger_workflow needs a workflow"),
        (
            {"kind": "forward", "destination": "d", "fields": {"email": "body.e"}},
            "forward has no field 'email'; its fields: none (use payload)",
        ),
        (
            {"kind": "set_object", "collection": "a", "id": "body.id", "fields": {"x": "body.x"}},
            "set_object has no field 'x'; its fields: none (use properties)",
        ),
        ({"kind": "identify_person", "destination": "d"}, "identify_person takes no destination"),
        ({"kind": "upsert_customer", "id": "body.id"}, "upsert_customer takes no id"),
        (
            {"kind": "forward", "destination": "d", "callback": True},
            "forward takes no callback (it sends a payload path)",
        ),
        (
            {"kind": "clay_submit", "destination": "d", "workflow": "w"},
            "clay_submit takes no workflow",
        ),
    ],
)
def test_an_action_is_checked_against_its_shape(action: dict[str, Any], message: str) -> None:
    """A saved action that does not fit its kind is refused, saying what is wrong."""
    with pytest.raises(InvalidField) as info:
        parse_config({"mappings": {"e": [action]}})
    assert message in info.value.message


@pytest.mark.parametrize(
    "action",
    [
        {"kind": "upsert_customer", "fields": {"name": "body.company"}},
        {"kind": "identify_person", "id": "body.crm_id", "properties": "body.extra"},
        {"kind": "set_object", "collection": "accounts", "id": "body.domain"},
        {"kind": "forward", "destination": "crm", "payload": "body.lead"},
        {"kind": "trigger_workflow", "workflow": "route", "idempotency_key": "body.row"},
        {"kind": "clay_submit", "destination": "t", "request_id": "body.r", "callback": True},
        {"kind": "complete_request", "request_id": "body.r"},
    ],
)
def test_each_kind_takes_its_own_options(action: dict[str, Any]) -> None:
    """Every option a kind's shape takes is accepted for that kind."""
    assert parse_config({"mappings": {"e": [action]}}).mappings["e"][0].kind == action["kind"]
