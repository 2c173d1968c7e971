"""The delivery queue: rows in ``deliveries``, claimed by workers, settled with attempts.

Life of a delivery: ``pending`` (enqueued, due at ``next_attempt_at``) → ``in_flight``
(claimed by one worker under a lease) → ``delivered``, or ``failed`` (an attempt failed;
due again at ``next_attempt_at``) → … → ``dead`` (permanent failure or schedule spent).

Claiming (:func:`claim`) happens in one write transaction: on PostgreSQL the due rows are
locked with ``FOR UPDATE SKIP LOCKED`` so concurrent workers take disjoint sets; on
SQLite the transaction holds the database's write lock. Each claimed row gets a lease
(``lease_owner``, ``lease_expires_at``); a worker that dies leaves leases that expire,
and the next claim takes those rows again. :func:`settle` only touches rows whose lease
the worker still holds, so a worker that lost its lease cannot overwrite the newer
owner's result. The at-least-once duplicate window is therefore one lease.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from claybridge.ids import new_id
from claybridge.records import rate_limits as ratelimit
from claybridge.storage.prepared import Prepared
from claybridge.storage.tables import deliveries, delivery_attempts, destinations

PENDING = "pending"
IN_FLIGHT = "in_flight"
FAILED = "failed"
DELIVERED = "delivered"
DEAD = "dead"
CANCELLED = "cancelled"  # its push was cancelled before it was sent
STATUSES = (PENDING, IN_FLIGHT, FAILED, DELIVERED, DEAD, CANCELLED)
WAITING = (PENDING, FAILED)
UNFINISHED = (PENDING, IN_FLIGHT, FAILED)
RATE_HORIZON = 1.0  # seconds: claim rate-limited work due this soon, leave the rest queued
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
class Claimed:
    """A delivery a worker now holds."""

    id: str
    destination_id: str
    payload: Any
    attempts: int
    event_id: str | None
    run_id: str | None
    lease_expires_at: datetime
    request_id: str | None = None
    send_at: float = 0.0  # epoch seconds: the rate limit's slot (0: at once)


def _pg(conn: sa.Connection) -> bool:
    return conn.dialect.name == "postgresql"


def _probe_targets(conn: sa.Connection, now: datetime) -> list[str]:
    """Destinations whose open circuit is due a probe; moves each one's next probe on, so
    only one worker probes at a time."""
    due = conn.execute(
        sa.select(destinations.c.id, destinations.c.circuit_cooldown_seconds).where(
            destinations.c.status == "active",
            destinations.c.circuit_state == "open",
            destinations.c.probe_at <= now,
        )
    ).all()
    taken: list[str] = []
    for dest_id, cooldown in due:
        moved = conn.execute(
            destinations.update()
            .where(destinations.c.id == dest_id, destinations.c.probe_at <= now)
            .values(probe_at=now + timedelta(seconds=cooldown))
        )
        if moved.rowcount:
            taken.append(dest_id)
    return taken


def claim(
    conn: sa.Connection,
    *,
    worker: str,
    now: datetime,
    limit: int,
    lease_seconds: float,
    held: Mapping[str, int] | None = None,
) -> list[Claimed]:
    """Take up to ``limit`` due deliveries for ``worker`` (see the module docstring).

    Order: expired leases first (their worker died), then due work oldest first. Only
    destinations that are active with a closed circuit are served, apart from one probe
    delivery per open circuit whose probe is due. ``exclude``: destinations this worker
    has no room for (its concurrency cap is reached). Rate-limited destinations get only
    the slots due within a second; the rest of their work is moved to its slot.

    ``held``: how many deliveries of each destination this worker holds already; a
    destination gets no more than its ``concurrency`` minus that, so a worker never
    holds work it cannot start (and a circuit that opens stops its destination at once).
    """
    held = held or {}
    base = sa.select(
        deliveries.c.id,
        deliveries.c.destination_id,
        destinations.c.rate_limit,
        destinations.c.timeout_seconds,
        destinations.c.concurrency,
        destinations.c.kind,
        destinations.c.clay,
    ).join(destinations, destinations.c.id == deliveries.c.destination_id)
    serving = sa.and_(destinations.c.status == "active", destinations.c.circuit_state == "closed")
    for dest_id, count in held.items():  # skip destinations this worker has no room for
        serving = sa.and_(
            serving,
            sa.or_(deliveries.c.destination_id != dest_id, destinations.c.concurrency > count),
        )

    def locked(query: sa.Select[Any]) -> sa.Select[Any]:
        return query.with_for_update(of=deliveries, skip_locked=True) if _pg(conn) else query

    picked: list[Any] = []
    for dest_id in _probe_targets(conn, now):
        picked += conn.execute(
            locked(
                base.where(
                    deliveries.c.destination_id == dest_id,
                    deliveries.c.status.in_(WAITING),
                )
                .order_by(deliveries.c.next_attempt_at)
                .limit(1)
            )
        ).all()
    if len(picked) < limit:
        picked += conn.execute(
            locked(
                base.where(
                    serving,
                    LEASED,
                    deliveries.c.lease_expires_at < now,
                )
                .order_by(deliveries.c.lease_expires_at)
                .limit(limit - len(picked))
            )
        ).all()
    if len(picked) < limit:
        picked += conn.execute(
            locked(
                base.where(
                    serving,
                    DUE,
                    deliveries.c.next_attempt_at <= now,
                )
                .order_by(deliveries.c.next_attempt_at)
                .limit(limit - len(picked))
            )
        ).all()
    if not picked:
        return []
    room: dict[str, int] = {}
    capped = []
    for row in picked:
        left = room.setdefault(
            row.destination_id, row.concurrency - held.get(row.destination_id, 0)
        )
        if left > 0:
            room[row.destination_id] = left - 1
            capped.append(row)
    chosen, slots = _apply_rate_limits(conn, capped, now)
    if not chosen:
        return []
    leases: dict[datetime, list[str]] = {}
    for row in chosen:
        expires = now + timedelta(seconds=lease_seconds + row.timeout_seconds)
        leases.setdefault(expires, []).append(row.id)
    for expires, ids in leases.items():
        conn.execute(
            deliveries.update()
            .where(deliveries.c.id.in_(ids))
            .values(status=IN_FLIGHT, lease_owner=worker, lease_expires_at=expires, updated_at=now)
        )
    ids = [row.id for row in chosen]
    rows = conn.execute(
        sa.select(
            deliveries.c.id,
            deliveries.c.destination_id,
            deliveries.c.payload,
            deliveries.c.attempts,
            deliveries.c.event_id,
            deliveries.c.run_id,
            deliveries.c.lease_expires_at,
            deliveries.c.request_id,
        ).where(deliveries.c.id.in_(ids))
    ).all()
    by_id = {r.id: r for r in rows}
    return [Claimed(*by_id[i], send_at=slots.get(i, 0.0)) for i in ids if i in by_id]


def _apply_rate_limits(
    conn: sa.Connection, picked: list[Any], now: datetime
) -> tuple[list[Any], dict[str, float]]:
    """Keep what each shared rate limit allows within the horizon, with each one's slot
    time; move the rest of its work to its next free slot.

    Limiters: a destination's own ``rate_limit``; for Clay table destinations, their Clay
    workspace's (``clay-workspace:<name>``, shared by every destination of the workspace).
    """
    limited: dict[str, list[Any]] = {}
    limits: dict[str, ratelimit.Limit] = {}
    chosen: list[Any] = []
    slots: dict[str, float] = {}
    for row in picked:
        if row.kind == "clay" and row.clay:
            key = f"clay-workspace:{row.clay.get('workspace', 'default')}"
            limits[key] = ratelimit.Limit(
                float(row.clay.get("workspace_rate", 10.0)),
                int(row.clay.get("workspace_burst", 10)),
            )
        elif row.rate_limit:
            key = f"destination:{row.destination_id}"
            limits[key] = ratelimit.Limit(row.rate_limit, burst=max(1, int(row.rate_limit)))
        else:
            chosen.append(row)
            continue
        limited.setdefault(key, []).append(row)
    epoch = now.timestamp()
    for key, rows in limited.items():
        times, free_at = ratelimit.take(conn, key, limits[key], epoch, len(rows), RATE_HORIZON)
        for row, at in zip(rows, times, strict=False):
            chosen.append(row)
            slots[row.id] = at
        later = [r.id for r in rows[len(times) :]]
        if later:
            conn.execute(
                deliveries.update()
                .where(deliveries.c.id.in_(later))
                .values(next_attempt_at=datetime.fromtimestamp(free_at, now.tzinfo))
            )
    return chosen, slots


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
