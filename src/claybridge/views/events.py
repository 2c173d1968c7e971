"""An event of the log as the API, the CLI and the console show it."""

from __future__ import annotations

from typing import Any

from claybridge.records.events import Event, parsed_text


def event_json(event: Event, *, full: bool = False) -> dict[str, Any]:
    """``event`` as JSON; ``full`` adds the request's headers and body and the answer."""
    out: dict[str, Any] = {
        "id": event.id,
        "source_id": event.source_id,
        "source_name": event.source_name,
        "received_at": event.received_at.isoformat(),
        "status": event.status,
        "status_code": event.status_code,
        "error": (
            {"code": event.error_code, "message": event.error_message, "field": event.error_field}
            if event.error_code
            else None
        ),
        "customer_id": event.customer_id,
        "event_name": event.event_name,
        "note": event.note,
    }
    if full:
        out["request"] = {"headers": event.request_headers, "body": parsed_text(event.request_body)}
        out["response"] = {
            "status_code": event.status_code,
            "body": parsed_text(event.response_body),
        }
    return out
