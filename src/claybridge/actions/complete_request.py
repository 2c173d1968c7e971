"""``complete_request``: an enriched row that Clay sent back completes the request it
answers (by default ``body.request_id``), and resumes the run waiting for it."""

from __future__ import annotations

from typing import Any

from claybridge.actions.base import Applying
from claybridge.actions.fields import Event
from claybridge.actions.outbound import Outbound, Sending
from claybridge.errors import MissingField
from claybridge.records import requests, runs


class CompleteRequest(Outbound):
    """Complete a pending Clay request with the row."""

    kind = "complete_request"
    __slots__ = ()
    default_key = "body.request_id"

    def values(self, event: Event, date_order: str, typed: dict[str, Any] | None) -> Any:
        """As every outbound action, and the request id is required."""
        sending: Sending = super().values(event, date_order, typed)
        if sending.key is None:
            label = str(self.key)
            raise MissingField(
                f"{label} is required: which request this row completes", field=label
            )
        return sending

    def apply(self, app: Applying, values: Sending, resolved: Any) -> dict[str, Any]:
        """The request completed; the run waiting for it resumed."""
        assert values.key is not None
        done = requests.complete(app.conn, values.key, values.payload, app.now, app.event_id)
        resumed = (
            runs.resume_waiting(app.conn, done["run_id"], app.now) if done["run_id"] else False
        )
        return {
            "kind": self.kind,
            "status": "completed",
            "request_id": values.key,
            "run_resumed": resumed,
        }

    def preview(self, app: Applying, values: Sending, resolved: Any) -> dict[str, Any]:
        """The request's status now."""
        assert values.key is not None
        found = requests.get_request(app.conn, values.key)
        return {"kind": self.kind, "status": "would_complete", "request": found["status"]}
