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

from claybridge.storage.tables import idempotency_keys as keys


def _claim_statement(insert: Any) -> Any:
    base = insert(keys)
    return base.on_conflict_do_update(
        index_elements=[keys.c.source_id, keys.c.key],
        set_={
            "event_id": base.excluded.event_id,
            "response_body": None,
            "created_at": base.excluded.created_at,
            "expires_at": base.excluded.expires_at,
        },
        where=keys.c.expires_at <= base.excluded.created_at,
    ).returning(keys.c.event_id)


_CLAIM = {"sqlite": _claim_statement(sqlite_insert), "postgresql": _claim_statement(pg_insert)}
_STORED = sa.select(keys.c.event_id, keys.c.response_body).where(
    keys.c.source_id == sa.bindparam("source_id"), keys.c.key == sa.bindparam("key")
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
    claimed = conn.execute(_CLAIM[conn.dialect.name].values(**values)).first()
    if claimed is not None and claimed.event_id == event_id:
        return None
    row = conn.execute(_STORED, {"source_id": source_id, "key": key}).one()
    return dict(row._mapping)


def complete(conn: sa.Connection, source_id: str, key: str, response_body: str) -> None:
    """Store the answer repeats of ``key`` get back."""
    conn.execute(
        keys.update()
        .where(keys.c.source_id == source_id, keys.c.key == key)
        .values(response_body=response_body)
    )


def release(conn: sa.Connection, source_id: str, key: str) -> None:
    """Give up a claim (the event was rejected)."""
    conn.execute(keys.delete().where(keys.c.source_id == source_id, keys.c.key == key))


def prune(conn: sa.Connection, now: datetime) -> int:
    """Delete expired keys; returns how many."""
    return int(conn.execute(keys.delete().where(keys.c.expires_at <= now)).rowcount or 0)
