"""Pushes: one ``claybridge push`` of a file into a Clay destination, and its rows'
deliveries (``deliveries.push_id``).

Contract of :func:`cancel`: in one transaction, every delivery of the push not yet
claimed by a worker becomes ``cancelled``, so no process (the push's own worker or a
running server's) sends it; deliveries already in flight finish. Pushing the same file
again queues the cancelled rows anew (Clay has not accepted them).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from claybridge.errors import Conflict, NotFound
from claybridge.ids import new_id
from claybridge.records.deliveries import CANCELLED, DELIVERED, WAITING
from claybridge.storage.tables import deliveries, destinations, pushes

RUNNING, FINISHED = "running", "finished"
CANCELLED_PUSH = "cancelled"
NOT_SENT = "not sent"  # how the worker marks a row Clay had accepted already


def create(
    conn: sa.Connection,
    destination_id: str,
    file: str,
    counts: dict[str, int],
    now: datetime,
) -> dict[str, Any]:
    """Record a push starting: ``counts`` has rows, queued, skipped and bad."""
    row = {
        "id": new_id("psh"),
        "destination_id": destination_id,
        "file": file[:2000],
        "status": RUNNING,
        "created_at": now,
        "finished_at": None,
        **{k: counts.get(k, 0) for k in ("rows", "queued", "skipped", "bad")},
    }
    conn.execute(pushes.insert().values(**row))
    return row


def adopt(conn: sa.Connection, push_id: str, delivery_ids: Sequence[str]) -> None:
    """Make deliveries an earlier, cut-short push queued part of this push (cancelling
    this push then stops them too)."""
    for start in range(0, len(delivery_ids), 500):
        chunk = list(delivery_ids[start : start + 500])
        conn.execute(deliveries.update().where(deliveries.c.id.in_(chunk)).values(push_id=push_id))


def get(conn: sa.Connection, push_id: str) -> dict[str, Any]:
    """One push; :class:`NotFound` otherwise."""
    row = conn.execute(sa.select(pushes).where(pushes.c.id == push_id)).first()
    if row is None:
        raise NotFound(f"no push {push_id!r}", field="push")
    return dict(row._mapping)


def cancel(conn: sa.Connection, push_id: str, now: datetime) -> tuple[dict[str, Any], int]:
    """Cancel the push's unsent rows (module docstring); returns the push and how many
    rows were cancelled. A finished or cancelled push is 409 ``push_not_running``."""
    row = get(conn, push_id)
    if row["status"] != RUNNING:
        raise Conflict(
            f"push {push_id} is {row['status']}: nothing left to cancel", code="push_not_running"
        )
    cancelled = conn.execute(
        deliveries.update()
        .where(deliveries.c.push_id == push_id, deliveries.c.status.in_(WAITING))
        .values(status=CANCELLED, last_error="cancelled with its push", updated_at=now)
    ).rowcount
    changes = {"status": CANCELLED_PUSH, "finished_at": now}
    conn.execute(pushes.update().where(pushes.c.id == push_id).values(**changes))
    return {**row, **changes}, int(cancelled or 0)


def finish(conn: sa.Connection, push_id: str, now: datetime) -> None:
    """Record that every row of a running push has settled."""
    conn.execute(
        pushes.update()
        .where(pushes.c.id == push_id, pushes.c.status == RUNNING)
        .values(status=FINISHED, finished_at=now)
    )


def status(conn: sa.Connection, push_id: str) -> str:
    """The push's status (another process may have cancelled it)."""
    return str(conn.execute(sa.select(pushes.c.status).where(pushes.c.id == push_id)).scalar_one())


def counts(conn: sa.Connection, push_id: str) -> dict[str, int]:
    """The push's deliveries by status; ``already_accepted`` are rows the worker found
    Clay had taken already (not sent again)."""
    accepted_before = sa.and_(
        deliveries.c.status == DELIVERED,
        deliveries.c.last_status_code.is_(None),
        deliveries.c.last_error.startswith(NOT_SENT),
    )
    kind = sa.case((accepted_before, "already_accepted"), else_=deliveries.c.status)
    query = sa.select(kind, sa.func.count()).where(deliveries.c.push_id == push_id).group_by(kind)
    out = {str(state): int(n) for state, n in conn.execute(query)}
    return out


def list_(conn: sa.Connection, limit: int = 50) -> list[dict[str, Any]]:
    """Pushes, newest first, with their destination's name."""
    query = (
        sa.select(pushes, destinations.c.name.label("destination"))
        .join(destinations, destinations.c.id == pushes.c.destination_id)
        .order_by(pushes.c.created_at.desc(), pushes.c.id.desc())
        .limit(limit)
    )
    return [dict(r._mapping) for r in conn.execute(query)]


def public(row: dict[str, Any], by_status: dict[str, int]) -> dict[str, Any]:
    """A push as the CLI shows it."""
    return {
        "id": row["id"],
        "destination": row.get("destination", row["destination_id"]),
        "file": row["file"],
        "status": row["status"],
        "rows": row["rows"],
        "queued": row["queued"],
        "skipped": row["skipped"],
        "bad": row["bad"],
        "deliveries": by_status,
        "created_at": row["created_at"].isoformat(),
        "finished_at": row["finished_at"].isoformat() if row["finished_at"] else None,
    }
