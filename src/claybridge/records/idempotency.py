"""Idempotency keys: claimed before an event is applied, kept only if it succeeds.

:func:`claim` is one atomic statement, ``INSERT … ON CONFLICT DO UPDATE … WHERE the key
has expired … RETURNING``: it returns ``None`` when this event now owns the key, or the
stored answer of the event that owns it. On PostgreSQL a second process claiming the
same key waits on the unique index until the first transaction ends, then sees its
outcome, so concurrent repeats across processes apply exactly once. A rejected event
calls :func:`release` in the same transaction: only successes keep their key.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from claybridge.storage.prepared import Prepared
from claybridge.storage.tables import idempotency_keys as keys


def _claim_statement(insert: Any) -> Any:
    base = insert(keys)
    return base.on_conflict_do_update(
        index_elements=[keys.c.source_id, keys.c.key],
        set_={
            "event_id": base.excluded.event_id,
            "response_body": sa.null(),
            "created_at": base.excluded.created_at,
            "expires_at": base.excluded.expires_at,
        },
        where=keys.c.expires_at <= base.excluded.created_at,
    ).returning(keys.c.event_id)


_COLUMNS = [c.key for c in keys.c]
# Prepared (see storage.prepared): these run on the ingest path of idempotent sources.
_CLAIM = {
    "sqlite": Prepared(_claim_statement(sqlite_insert), _COLUMNS, returning=[keys.c.event_id]),
    "postgresql": Prepared(_claim_statement(pg_insert), _COLUMNS, returning=[keys.c.event_id]),
}
_STORED = Prepared(
    sa.select(keys.c.event_id, keys.c.response_body).where(
        keys.c.source_id == sa.bindparam("source_id"), keys.c.key == sa.bindparam("key")
    ),
    ["source_id", "key"],
    returning=[keys.c.event_id, keys.c.response_body],
)
COMPLETE = Prepared(
    keys.update()
    .where(
        keys.c.source_id == sa.bindparam("match_source"), keys.c.key == sa.bindparam("match_key")
    )
    .values(response_body=sa.bindparam("new_body")),
    ["match_source", "match_key", "new_body"],
)


def claim(
    conn: sa.Connection,
    source_id: str,
    key: str,
    event_id: str,
    now: datetime,
    expires_at: datetime,
) -> dict[str, Any] | None:
    """Claim ``key`` for ``event_id``; ``None`` if claimed, else the owner's row."""
    values = {
        "source_id": source_id,
        "key": key,
        "event_id": event_id,
        "response_body": None,
        "created_at": now,
        "expires_at": expires_at,
    }
    claimed = _CLAIM[conn.dialect.name].execute(conn, values)
    if claimed is not None and claimed["event_id"] == event_id:
        return None
    row = _STORED.execute(conn, {"source_id": source_id, "key": key})
    assert row is not None  # the conflicting claim exists (we hold its lock or it committed)
    return row


def complete(conn: sa.Connection, source_id: str, key: str, response_body: str) -> None:
    """Store the answer repeats of ``key`` get back."""
    COMPLETE.execute(conn, complete_params(source_id, key, response_body))


def complete_params(source_id: str, key: str, response_body: str) -> dict[str, Any]:
    """Parameters of :data:`COMPLETE` (for writing many at once at the end of a batch)."""
    return {"match_source": source_id, "match_key": key, "new_body": response_body}


def release(conn: sa.Connection, source_id: str, key: str) -> None:
    """Give up a claim (the event was rejected)."""
    conn.execute(keys.delete().where(keys.c.source_id == source_id, keys.c.key == key))


def prune(conn: sa.Connection, now: datetime) -> int:
    """Delete expired keys; returns how many."""
    return int(conn.execute(keys.delete().where(keys.c.expires_at <= now)).rowcount or 0)
