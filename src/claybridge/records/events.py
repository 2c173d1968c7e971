"""The event log: every request a source received, with its outcome."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa

from claybridge.errors import NotFound
from claybridge.records.paging import Page, fetch_page
from claybridge.storage.prepared import Prepared
from claybridge.storage.tables import events, sources

__all__ = [
    "ACCEPTED",
    "DRY_RUN",
    "DUPLICATE",
    "FIELD_LENGTH",
    "INSERT_PREPARED",
    "REJECTED",
    "STATUSES",
    "Event",
    "EventFilter",
    "error_count",
    "events",
    "get",
    "hourly",
    "latest_id",
    "newer_than",
    "outcome_counts",
    "parsed_text",
    "search",
]

ACCEPTED = "accepted"
REJECTED = "rejected"
DRY_RUN = "dry_run"
DUPLICATE = "duplicate"
STATUSES = (ACCEPTED, REJECTED, DRY_RUN, DUPLICATE)
FIELD_LENGTH = events.c.error_field.type.length  # type: ignore[attr-defined]

# Events are written by the ingest path, in bulk at the end of its batch (Batch.defer).
INSERT_PREPARED = Prepared(events.insert(), [c.key for c in events.c])


def parsed_text(text: str | None) -> Any:
    """Stored JSON text as its value (text that is not JSON as itself)."""
    if text is None:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


@dataclass(frozen=True, slots=True)
class Event:
    """One logged request, as stored, with its source's name."""

    id: str
    source_id: str
    source_name: str | None
    received_at: datetime
    status: str
    status_code: int
    error_code: str | None
    error_message: str | None
    error_field: str | None
    request_headers: dict[str, str]
    request_body: str | None  # redacted JSON, or the raw text when it was not JSON
    response_body: str  # the answer exactly as sent
    customer_id: str | None
    event_name: str | None
    note: str | None

    @classmethod
    def of(cls, row: Mapping[str, Any] | sa.RowMapping) -> Event:
        """The event of a result row of :func:`_select`."""
        return cls(**{name: row[name] for name in _FIELDS})


_FIELDS = tuple(Event.__dataclass_fields__)


def _events(rows: Any) -> list[Event]:
    return [Event.of(r._mapping) for r in rows]


def _select() -> sa.Select[Any]:
    return sa.select(events, sources.c.name.label("source_name")).join(
        sources, sources.c.id == events.c.source_id
    )


@dataclass(frozen=True)
class EventFilter:
    """What the event log is narrowed to (every part optional)."""

    source_id: str | None = None
    status: str | None = None
    error_code: str | None = None
    event_name: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    # An event id, or text the stored body contains (an email, a domain, a request or
    # row id): matched as a substring.
    q: str | None = None

    def clauses(self) -> list[Any]:
        """The WHERE clauses of this filter."""
        found: list[Any] = []
        if self.source_id:
            found.append(events.c.source_id == self.source_id)
        if self.status:
            found.append(events.c.status == self.status)
        if self.error_code:
            found.append(events.c.error_code == self.error_code)
        if self.event_name:
            found.append(events.c.event_name == self.event_name)
        if self.since:
            found.append(events.c.received_at >= self.since)
        if self.until:
            found.append(events.c.received_at < self.until)
        if self.q:
            found.append(self.text_match())
        return found

    def text_match(self, columns: Any = events.c) -> Any:
        """The search's clause: the event id, or a substring of the stored body
        (``columns``: of the events table, or of a subquery over it)."""
        text = (self.q or "").strip()
        return sa.or_(columns.id == text, columns.request_body.contains(text, autoescape=True))

    def matches(self, event: Event) -> bool:
        """Whether an event passes this filter: :meth:`clauses` in Python, for the live
        tail, which filters events it has already read."""
        checks = (
            (self.source_id, event.source_id),
            (self.status, event.status),
            (self.error_code, event.error_code),
            (self.event_name, event.event_name),
        )
        if any(wanted and wanted != value for wanted, value in checks):
            return False
        if self.since and event.received_at < self.since:
            return False
        if self.until and event.received_at >= self.until:
            return False
        if self.q:
            text = self.q.strip()
            return event.id == text or text in (event.request_body or "")
        return True


# A text search reads at most this many events (newest first, within the other filters)
# per page, so that a page answers in bounded time however large the log is; its cursor
# then continues from where the reading stopped.
SEARCH_WINDOW = 25_000


def search(
    conn: sa.Connection,
    *,
    source_id: str | None = None,
    status: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
    where: EventFilter | None = None,
) -> Page[Event]:
    """Events newest first (a page of :class:`Event`), filtered by source and status,
    or by ``where``.

    With a text search (``where.q``), a page reads at most :data:`SEARCH_WINDOW` events:
    when fewer than ``limit`` match in them, ``next_cursor`` is where the reading stopped
    (``None`` once the log's start was reached), so the next page searches older ones.
    """
    where = where or EventFilter(source_id=source_id, status=status)
    if where.q:
        page = _text_search(conn, where, cursor, limit)
    else:
        query = _select().where(*where.clauses())
        page = fetch_page(conn, query, events.c.id, cursor=cursor, limit=limit)
    return Page([Event.of(row) for row in page.items], page.next_cursor)


def _text_search(
    conn: sa.Connection, where: EventFilter, cursor: str | None, limit: int
) -> Page[dict[str, Any]]:
    plain = replace(where, q=None).clauses()
    if cursor:
        plain.append(events.c.id < cursor)
    # The window is a subquery of its own, matched from the outside: its LIMIT then
    # bounds what is read (as ``id IN (window)``, PostgreSQL read the whole log).
    window = (
        sa.select(events).where(*plain).order_by(events.c.id.desc()).limit(SEARCH_WINDOW)
    ).subquery()
    matches = (
        sa.select(window, sources.c.name.label("source_name"))
        .join(sources, sources.c.id == window.c.source_id)
        .where(where.text_match(window.c))
    )
    page = fetch_page(conn, matches, window.c.id, cursor=None, limit=limit)
    if page.next_cursor is not None:
        return page
    ids = (
        sa.select(events.c.id).where(*plain).order_by(events.c.id.desc()).limit(SEARCH_WINDOW)
    ).subquery()
    read, oldest = conn.execute(sa.select(sa.func.count(), sa.func.min(ids.c.id))).one()
    return Page(page.items, str(oldest) if read >= SEARCH_WINDOW else None)


def outcome_counts(
    conn: sa.Connection, since: datetime, source_id: str | None = None
) -> dict[str, int]:
    """How many events of each outcome arrived since ``since`` (on one source)."""
    query = sa.select(events.c.status, sa.func.count()).where(events.c.received_at >= since)
    if source_id:
        query = query.where(events.c.source_id == source_id)
    found = dict.fromkeys(STATUSES, 0)
    found.update({status: int(n) for status, n in conn.execute(query.group_by(events.c.status))})
    return found


def _hour_label(conn: sa.Connection) -> Any:
    """The hour of ``received_at`` as text ``YYYY-MM-DD HH`` (UTC), on either database
    (SQLite stores ``YYYY-MM-DD HH:MM:SS.ffffff`` in UTC)."""
    if conn.dialect.name == "postgresql":
        return sa.func.to_char(sa.func.timezone("UTC", events.c.received_at), "YYYY-MM-DD HH24")
    return sa.func.substr(events.c.received_at, 1, 13)


def hourly(conn: sa.Connection, since: datetime) -> list[tuple[str, str, str, int]]:
    """Events since ``since`` counted by (source id, hour ``YYYY-MM-DD HH``, outcome),
    where the outcome is ``rejected``, ``dry_run`` or ``accepted`` (duplicates included);
    hours without events of an outcome are left out.

    Two reads that each stay in an index: every event per source and hour from the
    (source_id, received_at) index alone (``source_id IN …`` makes it one range per
    source), then the few rejected and dry-run ones from the (status, received_at) index;
    accepted is the difference. (Grouping every event by its status read each one's
    row; figures in docs/performance.md.)
    """
    hour = _hour_label(conn).label("hour")
    totals = conn.execute(
        sa.select(events.c.source_id, hour, sa.func.count())
        .where(events.c.source_id.in_(sa.select(sources.c.id)), events.c.received_at >= since)
        .group_by(events.c.source_id, hour)
    ).all()
    others = conn.execute(
        sa.select(events.c.source_id, hour, events.c.status, sa.func.count())
        .where(events.c.status.in_((REJECTED, DRY_RUN)), events.c.received_at >= since)
        .group_by(events.c.source_id, hour, events.c.status)
    ).all()
    found = [(s, str(h), st, int(n)) for s, h, st, n in others]
    not_accepted: dict[tuple[str, str], int] = {}
    for source_id, h, _status, n in found:
        not_accepted[(source_id, h)] = not_accepted.get((source_id, h), 0) + n
    for source_id, h, n in totals:
        accepted = int(n) - not_accepted.get((source_id, str(h)), 0)
        if accepted:
            found.append((source_id, str(h), ACCEPTED, accepted))
    return found


def error_count(conn: sa.Connection, source_id: str, code: str, since: datetime) -> int:
    """How many of a source's events since ``since`` were refused with ``code``."""
    found = conn.execute(
        sa.select(sa.func.count()).where(
            events.c.source_id == source_id,
            events.c.error_code == code,
            events.c.received_at >= since,
        )
    ).scalar()
    return int(found or 0)


def newer_than(conn: sa.Connection, after: str, limit: int = 200) -> list[Event]:
    """Events with an id after ``after`` (ids sort by time), oldest first: the live tail."""
    query = _select().where(events.c.id > after).order_by(events.c.id).limit(limit)
    return _events(conn.execute(query))


def latest_id(conn: sa.Connection) -> str:
    """The newest event's id ("" when there is none): where a live tail starts."""
    found = conn.execute(sa.select(sa.func.max(events.c.id))).scalar()
    return str(found or "")


def get(conn: sa.Connection, event_id: str) -> Event:
    """One event; :class:`NotFound` otherwise."""
    row = conn.execute(_select().where(events.c.id == event_id)).first()
    if row is None:
        raise NotFound(f"no event {event_id!r}")
    return Event.of(row._mapping)
