"""Pending requests: rows sent to a Clay table with a ``request_id`` and a callback URL,
waiting for the enriched row to come back (then ``completed``), or ``expired``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from claybridge.errors import ClaybridgeError, NotFound
from claybridge.storage.tables import pending_requests

PENDING = "pending"
COMPLETED = "completed"
EXPIRED = "expired"


def new_pending(
    request_id: str,
    destination_id: str,
    now: datetime,
    timeout: float,
    *,
    delivery_id: str | None = None,
    run_id: str | None = None,
) -> dict[str, Any]:
    """A pending request row, expiring ``timeout`` seconds from ``now``."""
    return {
        "request_id": request_id,
        "destination_id": destination_id,
        "delivery_id": delivery_id,
        "run_id": run_id,
        "status": PENDING,
        "result": None,
        "callback_event_id": None,
        "created_at": now,
        "expires_at": now + timedelta(seconds=timeout),
        "completed_at": None,
    }


def add_pending(conn: sa.Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert pending requests; a request id already in use is refused (409)."""
    if not rows:
        return
    ids = [r["request_id"] for r in rows]
    taken = conn.execute(
        sa.select(pending_requests.c.request_id).where(pending_requests.c.request_id.in_(ids))
    ).first()
    if taken is not None or len(set(ids)) != len(ids):
        raise ClaybridgeError(
            f"request_id {taken[0] if taken else ids[0]!r} is already in use",
            code="duplicate_request_id",
            status_code=409,
            field="request_id",
        )
    conn.execute(pending_requests.insert(), list(rows))


def get_request(conn: sa.Connection, request_id: str) -> dict[str, Any]:
    """A pending (or finished) request; 404 ``unknown_request`` otherwise."""
    row = conn.execute(
        sa.select(pending_requests).where(pending_requests.c.request_id == request_id)
    ).first()
    if row is None:
        raise NotFound(f"no request {request_id!r}", code="unknown_request")
    return dict(row._mapping)


def complete(
    conn: sa.Connection, request_id: str, result: Any, now: datetime, event_id: str | None
) -> dict[str, Any]:
    """Store the callback's row and mark the request completed.

    404 ``unknown_request``; 409 ``request_already_completed`` / ``request_expired``.
    """
    row = get_request(conn, request_id)
    if row["status"] == COMPLETED:
        raise ClaybridgeError(
            f"request {request_id!r} was already completed at {row['completed_at'].isoformat()}",
            code="request_already_completed",
            status_code=409,
            field="request_id",
        )
    if row["status"] == EXPIRED:
        raise ClaybridgeError(
            f"request {request_id!r} expired at {row['expires_at'].isoformat()}; "
            "whatever waited for it has given up",
            code="request_expired",
            status_code=409,
            field="request_id",
        )
    values = {
        "status": COMPLETED,
        "result": result,
        "completed_at": now,
        "callback_event_id": event_id,
    }
    done = conn.execute(
        pending_requests.update()
        .where(pending_requests.c.request_id == request_id, pending_requests.c.status == PENDING)
        .values(**values)
    )
    if not done.rowcount:  # completed by a racing callback meanwhile
        raise ClaybridgeError(
            f"request {request_id!r} was already completed",
            code="request_already_completed",
            status_code=409,
            field="request_id",
        )
    return {**row, **values}


def expire_due(conn: sa.Connection, now: datetime) -> list[dict[str, Any]]:
    """Mark every pending request past its time expired; returns them."""
    rows = [
        dict(r._mapping)
        for r in conn.execute(
            sa.select(pending_requests).where(
                pending_requests.c.status == PENDING, pending_requests.c.expires_at < now
            )
        )
    ]
    if rows:
        conn.execute(
            pending_requests.update()
            .where(pending_requests.c.request_id.in_([r["request_id"] for r in rows]))
            .values(status=EXPIRED)
        )
    return rows


def public_request(row: dict[str, Any]) -> dict[str, Any]:
    """A request as the API and CLI show it."""
    return {
        "request_id": row["request_id"],
        "status": row["status"],
        "destination_id": row["destination_id"],
        "delivery_id": row["delivery_id"],
        "run_id": row["run_id"],
        "result": row["result"],
        "created_at": row["created_at"].isoformat(),
        "expires_at": row["expires_at"].isoformat(),
        "completed_at": row["completed_at"].isoformat() if row["completed_at"] else None,
    }


def pending_count(conn: sa.Connection) -> int:
    """How many requests wait for their enriched row to come back."""
    found = conn.execute(
        sa.select(sa.func.count()).where(pending_requests.c.status == PENDING)
    ).scalar()
    return int(found or 0)


def recent_requests(
    conn: sa.Connection, status: str | None = None, limit: int = 100, run_id: str | None = None
) -> list[dict[str, Any]]:
    """The latest requests (of one status, or of one run), newest first."""
    query = sa.select(pending_requests).order_by(pending_requests.c.created_at.desc())
    if status:
        query = query.where(pending_requests.c.status == status)
    if run_id:
        query = query.where(pending_requests.c.run_id == run_id)
    return [dict(r._mapping) for r in conn.execute(query.limit(limit))]
