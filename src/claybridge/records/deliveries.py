"""The delivery queue: rows in ``deliveries``, claimed by workers, settled with attempts.

Life of a delivery: ``pending`` (enqueued, due at ``next_attempt_at``) → ``in_flight``
(claimed by one worker under a lease) → ``delivered``, or ``failed`` (an attempt failed;
due again at ``next_attempt_at``) → … → ``dead`` (permanent failure or schedule spent).

Claiming (``records.claims.claim``) happens in one write transaction: on PostgreSQL the
due rows are locked with ``FOR UPDATE SKIP LOCKED`` so concurrent workers take disjoint sets; on
SQLite the transaction holds the database's write lock. Each claimed row gets a lease
(``lease_owner``, ``lease_expires_at``); a worker that dies leaves leases that expire,
and the next claim takes those rows again. :func:`settle` only touches rows whose lease
the worker still holds, so a worker that lost its lease cannot overwrite the newer
owner's result. The at-least-once duplicate window is therefore one lease.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from claybridge.ids import new_id
from claybridge.storage.prepared import Prepared
from claybridge.storage.tables import deliveries, delivery_attempts

PENDING = "pending"
IN_FLIGHT = "in_flight"
FAILED = "failed"
DELIVERED = "delivered"
DEAD = "dead"
CANCELLED = "cancelled"  # its push was cancelled before it was sent
STATUSES = (PENDING, IN_FLIGHT, FAILED, DELIVERED, DEAD, CANCELLED)
WAITING = (PENDING, FAILED)
UNFINISHED = (PENDING, IN_FLIGHT, FAILED)
# The claim queries' status tests, written exactly as the partial indexes' WHERE clauses
# (storage.tables): the planners only use a partial index when the query's condition
# matches it, which bound parameters (status IN (?, ?)) do not.
DUE = sa.text("deliveries.status IN ('pending', 'failed')")
LEASED = sa.text("deliveries.status = 'in_flight'")

INSERT = Prepared(deliveries.insert(), [c.key for c in deliveries.c])


def new_row(
    destination_id: str,
    payload: Any,
    now: datetime,
    *,
    event_id: str | None = None,
    run_id: str | None = None,
    replay_of: str | None = None,
    request_id: str | None = None,
    push_id: str | None = None,
) -> dict[str, Any]:
    """A pending delivery row, due now."""
    return {
        "id": new_id("dlv"),
        "destination_id": destination_id,
        "event_id": event_id,
        "run_id": run_id,
        "replay_of": replay_of,
        "push_id": push_id,
        "request_id": request_id,
        "payload": payload,
        "status": PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "lease_owner": None,
        "lease_expires_at": None,
        "last_status_code": None,
        "last_error": None,
        "created_at": now,
        "updated_at": now,
        "delivered_at": None,
    }


def enqueue(conn: sa.Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert delivery rows (from :func:`new_row`) in the caller's transaction."""
    if rows:
        INSERT.execute_many(conn, list(rows))


@dataclass(frozen=True, slots=True)
class Settled:
    """The end of one attempt, ready to write."""

    delivery_id: str
    worker: str
    attempted_at: datetime
    status: str  # delivered | failed | dead
    attempts: int
    next_attempt_at: datetime
    status_code: int | None
    latency_ms: float
    error: str | None
    response_excerpt: str | None


_SETTLE = (
    deliveries.update()
    .where(
        deliveries.c.id == sa.bindparam("b_id"),
        deliveries.c.lease_owner == sa.bindparam("b_worker"),
        deliveries.c.status == IN_FLIGHT,
    )
    .values(
        status=sa.bindparam("b_status"),
        attempts=sa.bindparam("b_attempts"),
        next_attempt_at=sa.bindparam("b_next"),
        last_status_code=sa.bindparam("b_code"),
        last_error=sa.bindparam("b_error"),
        lease_owner=None,
        lease_expires_at=None,
        updated_at=sa.bindparam("b_now"),
        delivered_at=sa.bindparam("b_delivered"),
    )
)


def settle(conn: sa.Connection, results: Sequence[Settled], now: datetime) -> None:
    """Record attempts and move their deliveries on (only where the lease still holds)."""
    if not results:
        return
    conn.execute(
        _SETTLE,
        [
            {
                "b_id": r.delivery_id,
                "b_worker": r.worker,
                "b_status": r.status,
                "b_attempts": r.attempts,
                "b_next": r.next_attempt_at,
                "b_code": r.status_code,
                "b_error": r.error,
                "b_now": now,
                "b_delivered": r.attempted_at if r.status == DELIVERED else None,
            }
            for r in results
        ],
    )
    conn.execute(
        delivery_attempts.insert(),
        [
            {
                "id": new_id("att"),
                "delivery_id": r.delivery_id,
                "attempted_at": r.attempted_at,
                "status_code": r.status_code,
                "latency_ms": r.latency_ms,
                "error": r.error,
                "response_excerpt": r.response_excerpt,
                "worker": r.worker,
            }
            for r in results
        ],
    )


def queued_for_request(conn: sa.Connection, destination_id: str, request_id: str) -> str | None:
    """The delivery of ``request_id`` still waiting to be sent to the destination, if any."""
    found = conn.execute(
        sa.select(deliveries.c.id).where(
            deliveries.c.destination_id == destination_id,
            deliveries.c.request_id == request_id,
            deliveries.c.status.in_(UNFINISHED),
        )
    ).scalar()
    return None if found is None else str(found)


def release(conn: sa.Connection, worker: str, ids: Sequence[str], now: datetime) -> int:
    """Hand back held deliveries untried (graceful shutdown): due again at once."""
    if not ids:
        return 0
    result = conn.execute(
        deliveries.update()
        .where(
            deliveries.c.id.in_(list(ids)),
            deliveries.c.lease_owner == worker,
            deliveries.c.status == IN_FLIGHT,
        )
        .values(
            status=sa.case((deliveries.c.attempts == 0, PENDING), else_=FAILED),
            lease_owner=None,
            lease_expires_at=None,
            next_attempt_at=now,
            updated_at=now,
        )
    )
    return int(result.rowcount or 0)
