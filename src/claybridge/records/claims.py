"""Claiming due deliveries for a worker: which ones (one probe per open circuit, expired
leases, due work), how many (each destination's concurrency and shared rate limit), and
their leases. Everything happens in the caller's write transaction; the life of a
delivery and the lease rules are in :mod:`claybridge.records.deliveries`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from claybridge.records import rate_limits as ratelimit
from claybridge.records.deliveries import DUE, IN_FLIGHT, LEASED, WAITING
from claybridge.storage.tables import deliveries, destinations

RATE_HORIZON = 1.0  # seconds: claim rate-limited work due this soon, leave the rest queued


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
    picked = _pick(conn, now, limit, held)
    if not picked:
        return []
    chosen, slots = _apply_rate_limits(conn, _within_concurrency(picked, held), now)
    if not chosen:
        return []
    _lease(conn, chosen, worker=worker, now=now, lease_seconds=lease_seconds)
    return _claimed(conn, [row.id for row in chosen], slots)


_PICKED = (
    deliveries.c.id,
    deliveries.c.destination_id,
    destinations.c.rate_limit,
    destinations.c.timeout_seconds,
    destinations.c.concurrency,
    destinations.c.kind,
    destinations.c.clay,
)


def _pick(conn: sa.Connection, now: datetime, limit: int, held: Mapping[str, int]) -> list[Any]:
    """Candidates in claim order: one probe per open circuit whose probe is due, then
    expired leases, then due work, oldest first, of destinations being served."""
    base = sa.select(*_PICKED).join(destinations, destinations.c.id == deliveries.c.destination_id)
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
        probe = base.where(deliveries.c.destination_id == dest_id, deliveries.c.status.in_(WAITING))
        picked += conn.execute(locked(probe.order_by(deliveries.c.next_attempt_at).limit(1))).all()
    queues = (
        (sa.and_(LEASED, deliveries.c.lease_expires_at < now), deliveries.c.lease_expires_at),
        (sa.and_(DUE, deliveries.c.next_attempt_at <= now), deliveries.c.next_attempt_at),
    )
    for condition, order in queues:
        if len(picked) < limit:
            query = base.where(serving, condition).order_by(order).limit(limit - len(picked))
            picked += conn.execute(locked(query)).all()
    return picked


def _within_concurrency(picked: list[Any], held: Mapping[str, int]) -> list[Any]:
    """The candidates each destination has room for (its concurrency less what this
    worker holds)."""
    room: dict[str, int] = {}
    capped = []
    for row in picked:
        left = room.setdefault(
            row.destination_id, row.concurrency - held.get(row.destination_id, 0)
        )
        if left > 0:
            room[row.destination_id] = left - 1
            capped.append(row)
    return capped


def _lease(
    conn: sa.Connection, chosen: list[Any], *, worker: str, now: datetime, lease_seconds: float
) -> None:
    """Mark the chosen deliveries in flight for ``worker``, each leased for the lease plus
    its destination's timeout."""
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


def _claimed(conn: sa.Connection, ids: list[str], slots: dict[str, float]) -> list[Claimed]:
    """The leased deliveries as the worker takes them, in claim order."""
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
