"""``forward``: queue the row (or the part a path names) for a destination; the
delivery is written with the event and sent by a worker."""

from __future__ import annotations

from typing import Any

from claybridge.actions.base import Applying
from claybridge.actions.outbound import Sending, ToDestination
from claybridge.records import deliveries
from claybridge.records.destinations import Destination


class Forward(ToDestination):
    """Queue a delivery to the named destination."""

    kind = "forward"
    __slots__ = ()

    def apply(self, app: Applying, values: Sending, resolved: Destination) -> dict[str, Any]:
        """A pending delivery, written at the batch's end."""
        row = deliveries.new_row(resolved.id, values.payload, app.now, event_id=app.event_id)
        app.batch.defer(deliveries.INSERT, row)
        return {
            "kind": self.kind,
            "status": "queued",
            "destination": resolved.name,
            "delivery_id": row["id"],
        }

    def preview(self, app: Applying, values: Sending, resolved: Destination) -> dict[str, Any]:
        """Names the destination it would queue for."""
        return {"kind": self.kind, "status": "would_queue", "destination": resolved.name}
