"""Idempotency keys: looked up before an event is applied, written when it succeeds.

Protocol (one transaction per batch, see ``ingest.committer``):

1. :func:`lookup` reads the key. A live key means a repeat: answer with the answer of
   the event that claimed it. An expired key is deleted here and treated as absent.
2. The event is applied. Only if it succeeds is the key row written, by the batch's
   bulk insert at commit (:data:`INSERT`, :func:`insert_params`).
3. Two processes applying the same new key at once (PostgreSQL): the second insert
   violates the primary key, its whole transaction (the event's writes included) rolls
   back, and the committer retries each request alone, when :func:`lookup` finds the
   first one's key and the repeat is answered as such. So a key is applied exactly
   once, and a rejected event never holds a key.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from claybridge.storage.prepared import Prepared
from claybridge.storage.tables import events
from claybridge.storage.tables import idempotency_keys as keys

# The answer a repeat gets is the claiming event's own ``response_body``, read with a
# join: the key row does not store a second copy. Why: every keyed request writes its key
# row, while few are repeated; the copy (~0.5 KB) was a third of the bytes a keyed
# request added to the commit. The event and its key row are committed together, so the
# answer is there for as long as the event is (see records.retention, which keeps events
# whose key is live). ``keys.response_body`` stays for rows written before this.
_COLUMNS = ["source_id", "key", "event_id", "created_at", "expires_at"]
INSERT = Prepared(keys.insert(), _COLUMNS)
_LOOKUP = Prepared(
    sa.select(
        keys.c.event_id,
        sa.func.coalesce(events.c.response_body, keys.c.response_body).label("response_body"),
        keys.c.expires_at,
    )
    .select_from(keys.outerjoin(events, events.c.id == keys.c.event_id))
    .where(keys.c.source_id == sa.bindparam("source_id"), keys.c.key == sa.bindparam("key")),
    ["source_id", "key"],
    returning=[keys.c.event_id, keys.c.response_body, keys.c.expires_at],
)
_DELETE = Prepared(
    keys.delete().where(
        keys.c.source_id == sa.bindparam("source_id"), keys.c.key == sa.bindparam("key")
    ),
    ["source_id", "key"],
)


def lookup(conn: sa.Connection, source_id: str, key: str, now: datetime) -> dict[str, Any] | None:
    """The live key's ``event_id`` and ``response_body`` (the claiming event's answer;
    ``None`` if that event is gone), or ``None`` when there is no live key (expired
    ones are deleted)."""
    found = _LOOKUP.execute(conn, {"source_id": source_id, "key": key})
    return live(conn, source_id, key, found, now)


def live(
    conn: sa.Connection, source_id: str, key: str, found: dict[str, Any] | None, now: datetime
) -> dict[str, Any] | None:
    """``found`` (a row :func:`lookup` or :func:`lookup_many` read) if still live; an
    expired one is deleted and ``None`` returned."""
    if found is None:
        return None
    if found["expires_at"] <= now:
        _DELETE.execute(conn, {"source_id": source_id, "key": key})
        return None
    return found


LOOKUP_MANY = Prepared(
    sa.select(
        keys.c.key,
        keys.c.event_id,
        sa.func.coalesce(events.c.response_body, keys.c.response_body).label("response_body"),
        keys.c.expires_at,
    )
    .select_from(keys.outerjoin(events, events.c.id == keys.c.event_id))
    .where(
        keys.c.source_id == sa.bindparam("source_id"),
        keys.c.key.in_(sa.bindparam("keys", expanding=True)),
    ),
    ["source_id", "keys"],
    returning=[keys.c.key, keys.c.event_id, keys.c.response_body, keys.c.expires_at],
)


def lookup_many(
    conn: sa.Connection, source_id: str, wanted: list[str]
) -> dict[str, dict[str, Any]]:
    """The stored rows of those of ``wanted`` keys that exist (live or not), by key: one
    query for a whole batch, instead of one per request (see ``ingest.pipeline``)."""
    rows = LOOKUP_MANY.all(conn, {"source_id": source_id, "keys": wanted})
    return {row.pop("key"): row for row in rows}


def insert_params(
    source_id: str, key: str, event_id: str, now: datetime, expires_at: datetime
) -> dict[str, Any]:
    """One row for :data:`INSERT`: ``event_id`` claims ``key`` until ``expires_at``."""
    return {
        "source_id": source_id,
        "key": key,
        "event_id": event_id,
        "created_at": now,
        "expires_at": expires_at,
    }


def prune(conn: sa.Connection, now: datetime) -> int:
    """Delete expired keys; returns how many."""
    return int(conn.execute(keys.delete().where(keys.c.expires_at <= now)).rowcount or 0)
