"""Retention: deleting old history, never work still to do.

:func:`prune` deletes, older than a cutoff: events, settled deliveries (delivered or
dead, by creation time) with their attempts, attempts of any delivery, finished runs
(completed, failed, cancelled), and expired idempotency keys. Pending, in-flight and
failed-awaiting-retry deliveries, queued, running or waiting runs, and events whose
idempotency key is still live (a repeat is answered with that event's answer) are kept
however old they are. Each table is pruned in slices so a big backlog does not hold the
write lock for long.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from claybridge.records import deliveries as dq
from claybridge.records import runs as rq
from claybridge.storage.database import Database
from claybridge.storage.tables import (
    deliveries,
    delivery_attempts,
    events,
    idempotency_keys,
    runs,
)

SLICE = 5000


def _delete_slices(db: Database, table: sa.Table, where: Any) -> int:
    total = 0
    while True:
        with db.write() as conn:
            ids = [r[0] for r in conn.execute(sa.select(table.c.id).where(where).limit(SLICE))]
            if not ids:
                return total
            conn.execute(table.delete().where(table.c.id.in_(ids)))
        total += len(ids)
        if len(ids) < SLICE:
            return total


def prune(db: Database, cutoff: datetime, now: datetime) -> dict[str, int]:
    """Delete history older than ``cutoff`` (see the module docstring); counts by kind."""
    counts = {
        "attempts": _delete_slices(
            db, delivery_attempts, delivery_attempts.c.attempted_at < cutoff
        ),
        "deliveries": _delete_slices(
            db,
            deliveries,
            sa.and_(
                deliveries.c.created_at < cutoff,
                deliveries.c.status.in_((dq.DELIVERED, dq.DEAD)),
            ),
        ),
        "runs": _delete_slices(
            db,
            runs,
            sa.and_(runs.c.created_at < cutoff, runs.c.status.not_in(rq.ACTIVE)),
        ),
    }
    # Expired keys first: the keys left are live, and their events stay.
    with db.write() as conn:
        result = conn.execute(idempotency_keys.delete().where(idempotency_keys.c.expires_at < now))
        counts["idempotency_keys"] = int(result.rowcount or 0)
    live = sa.select(idempotency_keys.c.event_id)
    counts["events"] = _delete_slices(
        db, events, sa.and_(events.c.received_at < cutoff, events.c.id.not_in(live))
    )
    return counts
