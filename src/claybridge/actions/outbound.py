"""What the outbound kinds share: a payload read from a path (the whole row by
default), an optional key, and a target named in the mapping.

Outbound actions only enqueue: a delivery written with the event, a queued run, a
completed request; workers do the sending.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from claybridge.actions.base import Action, Applying
from claybridge.actions.fields import Event, optional_key
from claybridge.errors import ClaybridgeError, MissingField
from claybridge.mapping.conditions import Condition
from claybridge.mapping.model import ActionSpec
from claybridge.mapping.paths import Path, parse_path
from claybridge.records.destinations import Destination

# An outbound action's answer with one of these statuses has queued work for a worker.
QUEUED = ("queued", "started", "completed")


@dataclass(frozen=True, slots=True)
class Sending:
    """An outbound action's planned values."""

    payload: Any
    key: str | None = None  # a workflow run's idempotency key, or a Clay request id
    external_id: str | None = None


class Outbound(Action):
    """An action that sends (or resumes) rather than writes a record."""

    __slots__ = ("callback", "external_id", "key", "payload", "target")
    default_key: str | None = None  # the key path when the mapping names none

    def __init__(
        self,
        index: int,
        condition: Condition | None,
        payload: Path,
        *,
        target: str | None = None,
        key: Path | None = None,
        external_id: Path | None = None,
        callback: bool = False,
    ) -> None:
        super().__init__(index, condition)
        self.payload = payload
        self.target = target  # a destination's name or a workflow's key
        self.key = key
        self.external_id = external_id
        self.callback = callback

    @classmethod
    def from_spec(cls, index: int, spec: ActionSpec, condition: Condition | None) -> Action:
        """Payload, target and key paths as the mapping names them."""
        key = spec.idempotency_key or spec.request_id or cls.default_key
        return cls(
            index,
            condition,
            parse_path(spec.payload or "body"),
            target=spec.destination or spec.workflow,
            key=parse_path(key) if key else None,
            external_id=parse_path(spec.external_id) if spec.external_id else None,
            callback=spec.callback,
        )

    def values(self, event: Event, date_order: str, typed: dict[str, Any] | None) -> Any:
        """The payload (never empty) and the keys, as :class:`Sending`."""
        payload = self.payload.resolve(event)
        if payload is None:
            label = str(self.payload)
            raise MissingField(f"{label} is empty: nothing to send", field=label)
        return Sending(
            payload, optional_key(self.key, event), optional_key(self.external_id, event)
        )


class ToDestination(Outbound):
    """An outbound action that names a destination (``forward``, ``clay_submit``)."""

    __slots__ = ()

    def resolve(self, app: Applying, values: Sending) -> Destination:
        """The destination (one that does not exist refuses the event)."""
        found = app.batch.destination(app.conn, self.target or "")
        if found is None:
            raise unknown("forwards to destination", self.target or "", "unknown_destination")
        return found


def unknown(what: str, name: str, code: str) -> ClaybridgeError:
    """The error for a mapping that names a destination or workflow that does not exist."""
    return ClaybridgeError(
        f"the mapping {what} {name!r}, which does not exist; create it or fix the mapping",
        code=code,
        status_code=422,
    )
