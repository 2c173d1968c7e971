"""``clay_submit``: queue the row for a Clay table's webhook (a Clay destination),
optionally asking for the enriched row back (``callback``)."""

from __future__ import annotations

from typing import Any

from claybridge.actions.base import Applying
from claybridge.actions.outbound import Sending, ToDestination
from claybridge.clay import submit
from claybridge.records.destinations import Destination


class ClaySubmit(ToDestination):
    """Queue a submission to the named Clay destination."""

    kind = "clay_submit"
    __slots__ = ()

    def apply(self, app: Applying, values: Sending, resolved: Destination) -> dict[str, Any]:
        """The submission, counted and queued (see :func:`claybridge.clay.submit.enqueue`)."""
        done = submit.enqueue(
            app.conn,
            resolved,
            values.payload,
            app.now,
            base_url=app.base_url,
            request_id=values.key,
            external_id=values.external_id,
            callback=self.callback,
            event_id=app.event_id,
            batch=app.batch,
        )
        return {"kind": self.kind, **done}

    def preview(self, app: Applying, values: Sending, resolved: Destination) -> dict[str, Any]:
        """Checks the destination is a Clay one, and names it."""
        submit.options(resolved)
        return {"kind": self.kind, "status": "would_queue", "destination": resolved.name}
