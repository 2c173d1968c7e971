"""People, keyed by the mapping's id path (the email by default)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from claybridge.errors import NotFound
from claybridge.records.keyed import Keyed, create_or_merge
from claybridge.records.merge import changed_fields, merge_properties
from claybridge.records.paging import Page, fetch_page
from claybridge.storage.prepared import Prepared
from claybridge.storage.tables import people

FIELDS = ("full_name", "email", "phone_number", "avatar_url")
_BY_KEY = sa.select(people).where(people.c.key == sa.bindparam("key"))
# The ingest path's statements, prepared (see storage.prepared): a sent field replaces the
# stored one, an unsent (NULL) one keeps it.
_FIND = Prepared(_BY_KEY, ["key"], returning=list(people.c))
_INSERT = Prepared(people.insert(), [c.key for c in people.c])
_UPDATE = Prepared(
    people.update()
    .where(people.c.id == sa.bindparam("match_id"))
    .values(
        properties=sa.bindparam("new_properties", type_=people.c.properties.type),
        source_id=sa.bindparam("new_source_id"),
        updated_at=sa.bindparam("new_updated_at", type_=people.c.updated_at.type),
        **{
            f: sa.func.coalesce(sa.bindparam(f"new_{f}", type_=people.c[f].type), people.c[f])
            for f in FIELDS
        },
    ),
    [
        "match_id",
        "new_properties",
        "new_source_id",
        "new_updated_at",
        *(f"new_{f}" for f in FIELDS),
    ],
)
_PEOPLE = Keyed(_FIND, _INSERT, _UPDATE, "per", FIELDS)


def public(row: dict[str, Any]) -> dict[str, Any]:
    """A person as the API, the CLI and ingest answers show it."""
    return {
        "id": row["id"],
        "key": row["key"],
        **{f: row[f] for f in FIELDS},
        "properties": row["properties"],
        "created_at": row.get("created_at"),
        "updated_at": row.get("updated_at"),
    }


def preview(
    conn: sa.Connection, key: str, values: dict[str, Any], properties: dict[str, Any]
) -> tuple[dict[str, Any], bool]:
    """The person as :func:`identify` would leave it, without writing (dry run)."""
    existing = conn.execute(_BY_KEY, {"key": key}).first()
    base = (
        dict(existing._mapping)
        if existing
        else {"id": None, "key": key, "properties": {}, **dict.fromkeys(FIELDS)}
    )
    merged = {**base, **changed_fields(values)}
    merged["properties"] = merge_properties(base["properties"] or {}, properties)
    return merged, existing is None


def identify(
    conn: sa.Connection,
    key: str,
    values: dict[str, Any],
    properties: dict[str, Any],
    *,
    source_id: str | None,
    now: datetime,
) -> tuple[dict[str, Any], bool]:
    """Create or merge the person with ``key``; returns the stored row and ``created``."""
    return create_or_merge(
        conn, _PEOPLE, {"key": key}, values, properties, source_id=source_id, now=now
    )


def get(conn: sa.Connection, ref: str) -> dict[str, Any]:
    """A person by id or key; :class:`NotFound` otherwise."""
    row = conn.execute(
        sa.select(people).where(sa.or_(people.c.id == ref, people.c.key == ref))
    ).first()
    if row is None:
        raise NotFound(f"no person {ref!r}")
    return dict(row._mapping)


def search(
    conn: sa.Connection, *, q: str | None, cursor: str | None, limit: int
) -> Page[dict[str, Any]]:
    """People newest first, optionally those whose key, name or email contains ``q``."""
    query = sa.select(people)
    if q:
        pattern = f"%{q.lower()}%"
        query = query.where(
            sa.or_(
                sa.func.lower(people.c.key).like(pattern),
                sa.func.lower(people.c.full_name).like(pattern),
                sa.func.lower(people.c.email).like(pattern),
            )
        )
    return fetch_page(conn, query, people.c.id, cursor=cursor, limit=limit)
