"""Shared rate limits: the generic cell rate algorithm (GCRA), kept in the database.

Why GCRA: its whole state is one number per limiter, the theoretical arrival time
(``tat``) of the next request, so it fits one row that every worker process updates
inside the transaction that claims work. On PostgreSQL the row lock serialises workers,
on SQLite the write lock does; a limit therefore holds across every worker sharing the
database, not per process.

A limiter allows ``rate`` requests per second with bursts of ``burst``. Instead of a
yes/no answer, :func:`schedule` hands out send times: the worker sends what is due
within its horizon and leaves the rest queued until its slot.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from claybridge.storage.tables import rate_limits


@dataclass(frozen=True, slots=True)
class Limit:
    """``rate`` requests per second, bursts of up to ``burst``."""

    rate: float
    burst: int = 1

    @property
    def interval(self) -> float:
        return 1.0 / self.rate


def schedule(tat: float, now: float, limit: Limit, count: int) -> tuple[list[float], float]:
    """Send times (epoch seconds) for ``count`` requests and the new ``tat``. Pure."""
    interval = limit.interval
    tau = (max(limit.burst, 1) - 1) * interval
    times: list[float] = []
    for _ in range(count):
        send_at = max(now, tat - tau)
        tat = max(tat, send_at) + interval
        times.append(send_at)
    return times, tat


def next_free(tat: float, now: float, limit: Limit) -> float:
    """When the next request would be allowed, without taking the slot."""
    return max(now, tat - (max(limit.burst, 1) - 1) * limit.interval)


def take(
    conn: sa.Connection, key: str, limit: Limit, now: float, count: int, horizon: float
) -> tuple[list[float], float]:
    """Take up to ``count`` slots due within ``horizon`` seconds, in ``conn``'s transaction.

    Returns the send time of each slot taken (the caller waits until then) and when the
    next untaken slot frees up. Slots are only consumed for requests that will be sent,
    so a request left queued does not push later ones back.
    """
    query = sa.select(rate_limits.c.tat).where(rate_limits.c.key == key)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    tat = conn.execute(query).scalar()
    if tat is None:  # first use: create the row without racing another worker
        insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        conn.execute(insert(rate_limits).values(key=key, tat=now).on_conflict_do_nothing())
        tat = conn.execute(query).scalar_one()
    current = float(tat)
    times, _ = schedule(current, now, limit, count)
    taken = [t for t in times if t <= now + horizon]
    if taken:
        _, current = schedule(current, now, limit, len(taken))
        conn.execute(sa.update(rate_limits).where(rate_limits.c.key == key).values(tat=current))
    return taken, next_free(current, now, limit)
