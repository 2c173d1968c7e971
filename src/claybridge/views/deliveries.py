"""A delivery as the API, the CLI and the console show it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from claybridge.records.delivery_log import Delivery


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def delivery_json(delivery: Delivery, *, full: bool = False) -> dict[str, Any]:
    """``delivery`` as JSON; ``full`` adds the payload and the attempts."""
    out: dict[str, Any] = {
        "id": delivery.id,
        "destination_id": delivery.destination_id,
        "destination": delivery.destination_name,
        "event_id": delivery.event_id,
        "run_id": delivery.run_id,
        "replay_of": delivery.replay_of,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "next_attempt_at": _iso(delivery.next_attempt_at) if delivery.unfinished else None,
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "created_at": _iso(delivery.created_at),
        "delivered_at": _iso(delivery.delivered_at),
    }
    if full:
        out["payload"] = delivery.payload
        out["attempt_log"] = [
            {
                "attempted_at": _iso(a.attempted_at),
                "status_code": a.status_code,
                "latency_ms": round(a.latency_ms, 2),
                "error": a.error,
                "response_excerpt": a.response_excerpt,
                "worker": a.worker,
            }
            for a in delivery.attempt_log
        ]
    return out
