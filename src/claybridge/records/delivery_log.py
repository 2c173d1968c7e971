"""The delivery log: reading deliveries and their attempts, filters, and replays.

Queue operations (enqueue, claim, settle, release) live in ``records.deliveries``;
this module is what people look at and act on afterwards.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from claybridge.errors import Conflict, InvalidField, NotFound
from claybridge.records.deliveries import (
    DUE,
    IN_FLIGHT,
    STATUSES,
    UNFINISHED,
    enqueue,
    new_row,
)
from claybridge.records.paging import Page, fetch_page
from claybridge.storage.tables import deliveries, delivery_attempts, destinations


def _select() -> sa.Select[Any]:
    return sa.select(deliveries, destinations.c.name.label("destination_name")).join(
        destinations, destinations.c.id == deliveries.c.destination_id
    )


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try at sending a delivery."""

    attempted_at: datetime
    status_code: int | None
    latency_ms: float
    error: str | None
    response_excerpt: str | None
    worker: str


@dataclass(frozen=True, slots=True)
class Delivery:
    """A delivery as stored, with its destination's name (and, from :func:`get`, its
    attempts, oldest first)."""

    id: str
    destination_id: str
    destination_name: str | None
    event_id: str | None
    run_id: str | None
    replay_of: str | None
    request_id: str | None
    payload: Any
    status: str
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    attempt_log: tuple[Attempt, ...] = ()

    @classmethod
    def of(
        cls, row: Mapping[str, Any] | sa.RowMapping, attempts: tuple[Attempt, ...] = ()
    ) -> Delivery:
        """The delivery of a result row of :func:`_select`."""
        return cls(**{name: row[name] for name in _FIELDS}, attempt_log=attempts)

    @property
    def unfinished(self) -> bool:
        """Still to be sent (pending, in flight or failed with a retry due)."""
        return self.status in UNFINISHED


_FIELDS = tuple(f for f in Delivery.__dataclass_fields__ if f != "attempt_log")
_ATTEMPT_FIELDS = tuple(Attempt.__dataclass_fields__)


def get(conn: sa.Connection, delivery_id: str) -> Delivery:
    """One delivery with its attempts, oldest first; :class:`NotFound` otherwise."""
    row = conn.execute(_select().where(deliveries.c.id == delivery_id)).first()
    if row is None:
        raise NotFound(f"no delivery {delivery_id!r}")
    attempts = conn.execute(
        sa.select(*(delivery_attempts.c[name] for name in _ATTEMPT_FIELDS))
        .where(delivery_attempts.c.delivery_id == delivery_id)
        .order_by(delivery_attempts.c.attempted_at, delivery_attempts.c.id)
    )
    return Delivery.of(row._mapping, tuple(Attempt(**a._mapping) for a in attempts))


@dataclass(frozen=True, slots=True)
class Filter:
    """Which deliveries a listing or a bulk replay covers."""

    destination_id: str | None = None
    status: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    event_id: str | None = None
    run_id: str | None = None

    def clauses(self) -> list[Any]:
        if self.status is not None and self.status not in STATUSES:
            raise InvalidField(
                f"unknown status {self.status!r}; one of {', '.join(STATUSES)}", field="status"
            )
        out: list[Any] = []
        if self.destination_id:
            out.append(deliveries.c.destination_id == self.destination_id)
        if self.status:
            out.append(deliveries.c.status == self.status)
        if self.since:
            out.append(deliveries.c.created_at >= self.since)
        if self.until:
            out.append(deliveries.c.created_at < self.until)
        if self.event_id:
            out.append(deliveries.c.event_id == self.event_id)
        if self.run_id:
            out.append(deliveries.c.run_id == self.run_id)
        return out


def search(conn: sa.Connection, flt: Filter, *, limit: int, cursor: str | None) -> Page[Delivery]:
    """Deliveries matching ``flt``, newest first, a page at a time."""
    page = fetch_page(
        conn, _select().where(*flt.clauses()), deliveries.c.id, cursor=cursor, limit=limit
    )
    return Page([Delivery.of(row) for row in page.items], page.next_cursor)


MAX_REPLAY = 10_000


def replay(conn: sa.Connection, ids: Sequence[str], now: datetime) -> list[dict[str, Any]]:
    """A new pending delivery for each of ``ids`` (same destination and payload), linked by
    ``replay_of``; the originals keep their history. In-flight ones are refused (409)."""
    rows = conn.execute(sa.select(deliveries).where(deliveries.c.id.in_(list(ids)))).all()
    found = {r.id: r for r in rows}
    missing = [i for i in ids if i not in found]
    if missing:
        raise NotFound(f"no delivery {missing[0]!r}")
    busy = [i for i in ids if found[i].status == IN_FLIGHT]
    if busy:
        raise Conflict(f"delivery {busy[0]} is being sent right now; replay it once it settles")
    new = [
        new_row(
            found[i].destination_id,
            found[i].payload,
            now,
            event_id=found[i].event_id,
            run_id=found[i].run_id,
            replay_of=i,
        )
        for i in ids
    ]
    enqueue(conn, new)
    return new


def matching_ids(conn: sa.Connection, flt: Filter) -> list[str]:
    """Ids of settled deliveries matching ``flt`` (for a bulk replay), oldest first."""
    query = (
        sa.select(deliveries.c.id)
        .where(*flt.clauses(), deliveries.c.status.not_in(UNFINISHED))
        .order_by(deliveries.c.id)
        .limit(MAX_REPLAY + 1)
    )
    ids = [r[0] for r in conn.execute(query)]
    if len(ids) > MAX_REPLAY:
        raise InvalidField(
            f"more than {MAX_REPLAY} deliveries match; narrow the filter (time range, status)",
            field="filter",
        )
    return ids


def counts(conn: sa.Connection, statuses: Sequence[str] | None = None) -> dict[str, int]:
    """Deliveries by status (only ``statuses`` when given: counting just the few unsettled
    and dead ones reads a small part of the (destination_id, status) index, where
    counting delivered ones reads most of it)."""
    query = sa.select(deliveries.c.status, sa.func.count()).group_by(deliveries.c.status)
    if statuses is not None:
        query = query.where(deliveries.c.status.in_(list(statuses)))
    return {status: int(n) for status, n in conn.execute(query).all()}


def oldest_due(conn: sa.Connection, now: datetime) -> datetime | None:
    """When the longest-waiting due delivery became due (``None`` if none is due)."""
    value = conn.execute(
        sa.select(sa.func.min(deliveries.c.next_attempt_at)).where(
            DUE, deliveries.c.next_attempt_at <= now
        )
    ).scalar()
    return value


def destination_stats(conn: sa.Connection, since: datetime) -> dict[str, dict[str, Any]]:
    """Per destination, attempts since ``since``: how many, how many succeeded (2xx), and
    their mean latency in ms."""
    ok = sa.case((delivery_attempts.c.status_code.between(200, 299), 1), else_=0)
    query = (
        sa.select(
            deliveries.c.destination_id,
            sa.func.count(),
            sa.func.sum(ok),
            sa.func.avg(delivery_attempts.c.latency_ms),
        )
        .join(deliveries, deliveries.c.id == delivery_attempts.c.delivery_id)
        .where(delivery_attempts.c.attempted_at >= since)
        .group_by(deliveries.c.destination_id)
    )
    return {
        dest: {"attempts": int(n), "succeeded": int(good or 0), "latency_ms": float(ms or 0)}
        for dest, n, good, ms in conn.execute(query)
    }
