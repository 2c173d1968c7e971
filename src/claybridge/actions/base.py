"""What every action kind is: compiled from its spec, it plans a row, then applies or
previews the plan.

Contract: :meth:`Action.plan` is pure and raises :class:`MissingField` /
:class:`InvalidField` for a bad row; :meth:`Action.resolve` makes every read that can
still refuse the event (an owner, a destination, a workflow) and writes nothing;
:meth:`Action.apply` writes (or defers its writes to the batch's end) and
:meth:`Action.preview` only reads, for a dry run. Both answer the dict Clay shows for
the action (``kind``, ``status`` and what was done).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

import sqlalchemy as sa

from claybridge.actions.fields import CompiledField, Event
from claybridge.mapping.conditions import Condition, view
from claybridge.mapping.kinds import SHAPES, KindShape
from claybridge.mapping.model import ActionSpec
from claybridge.mapping.types import coerce_as
from claybridge.records.batch import Batch


@dataclass(frozen=True, slots=True)
class Planned:
    """What one action will do with one row: ``apply`` with ``values`` (the kind's own
    type), or ``skipped`` with a reason."""

    action: Action
    status: str
    reason: str | None = None
    values: Any = None

    @property
    def kind(self) -> str:
        """The action's kind."""
        return self.action.kind


@dataclass(frozen=True, slots=True)
class Applying:
    """One event's plan being carried out, in its batch's transaction."""

    conn: sa.Connection
    batch: Batch
    source_id: str
    source_name: str | None
    event_name: str | None
    event_id: str | None
    now: datetime
    dry_run: bool
    base_url: str = ""  # where Clay reaches Claybridge (callback URLs)


class Action(ABC):
    """One action of a mapping, compiled (paths parsed, condition compiled)."""

    kind: ClassVar[str]
    __slots__ = ("condition", "fields", "index")

    def __init__(
        self, index: int, condition: Condition | None, fields: tuple[CompiledField, ...] = ()
    ) -> None:
        self.index = index
        self.condition = condition
        self.fields = fields

    @classmethod
    @abstractmethod
    def from_spec(cls, index: int, spec: ActionSpec, condition: Condition | None) -> Action:
        """The action ``spec`` describes (already validated against the kind's shape)."""

    @property
    def shape(self) -> KindShape:
        """What this kind takes (:data:`claybridge.mapping.kinds.SHAPES`)."""
        return SHAPES[self.kind]

    def plan(self, event: Event, date_order: str) -> Planned:
        """Skip (a false condition) or the values this row gives the action."""
        typed: dict[str, Any] | None = None
        if self.condition is not None:
            typed = {}
            reason = self._skip_reason(self.condition, event, typed)
            if reason is not None:
                return Planned(self, "skipped", reason)
        return Planned(self, "apply", values=self.values(event, date_order, typed))

    def _skip_reason(self, condition: Condition, event: Event, typed: dict[str, Any]) -> str | None:
        """Why the condition skips this action, or ``None``. The condition sees declared
        top-level body fields with their types (``typed`` keeps them for the values)."""
        names = {"body": view(event["body"]), "headers": view(event["headers"])}
        for f in self.fields:
            # (The view copies the top level only; nested objects are the event's own.)
            key = f.top_level
            if key is not None and f.type != "any":
                # An uncoercible value stays as sent; the action's validation reports it.
                try:
                    typed[f.name] = coerce_as(f.type, f.resolve(event))
                except ValueError:
                    continue
                names["body"][key] = typed[f.name]
        ok, error = condition.evaluate(names)
        if ok:
            return None
        return error or f"condition {condition.source!r} is false"

    @abstractmethod
    def values(self, event: Event, date_order: str, typed: dict[str, Any] | None) -> Any:
        """What this row gives the action, validated; ``typed``: values the condition
        already coerced."""

    def resolve(self, app: Applying, values: Any) -> Any:
        """The reads that can still refuse the event (none by default)."""
        return None

    @abstractmethod
    def apply(self, app: Applying, values: Any, resolved: Any) -> dict[str, Any]:
        """Carry the planned values out; the action's answer."""

    @abstractmethod
    def preview(self, app: Applying, values: Any, resolved: Any) -> dict[str, Any]:
        """What :meth:`apply` would do, reading only."""
