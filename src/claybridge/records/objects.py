"""Objects: free-form records keyed by (collection, key), e.g. accounts by domain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from claybridge.errors import NotFound
from claybridge.records.keyed import Keyed, create_or_merge
from claybridge.records.merge import merge_properties
from claybridge.records.paging import Page, fetch_page
from claybridge.storage.prepared import Prepared
from claybridge.storage.tables import objects

_BY_KEY = sa.select(objects).where(
    objects.c.collection == sa.bindparam("collection"), objects.c.key == sa.bindparam("key")
)
# The ingest path's statements, prepared (see storage.prepared).
_FIND = Prepared(_BY_KEY, ["collection", "key"], returning=list(objects.c))
_INSERT = Prepared(objects.insert(), [c.key for c in objects.c])
_UPDATE = Prepared(
    objects.update()
    .where(objects.c.id == sa.bindparam("match_id"))
    .values(
        properties=sa.bindparam("new_properties", type_=objects.c.properties.type),
        source_id=sa.bindparam("new_source_id"),
        updated_at=sa.bindparam("new_updated_at", type_=objects.c.updated_at.type),
    ),
    ["match_id", "new_properties", "new_source_id", "new_updated_at"],
)
_OBJECTS = Keyed(_FIND, _INSERT, _UPDATE, "obj")


def public(row: dict[str, Any]) -> dict[str, Any]:
    """An object as the API, the CLI and ingest answers show it."""
    return {
        "id": row["id"],
        "collection": row["collection"],
        "key": row["key"],
        "properties": row["properties"],
        "created_at": row.get("created_at"),
        "updated_at": row.get("updated_at"),
    }


def preview(
    conn: sa.Connection, collection: str, key: str, properties: dict[str, Any]
) -> tuple[dict[str, Any], bool]:
    """The object as :func:`set_object` would leave it, without writing (dry run)."""
    existing = conn.execute(_BY_KEY, {"collection": collection, "key": key}).first()
    base = (
        dict(existing._mapping)
        if existing
        else {"id": None, "collection": collection, "key": key, "properties": {}}
    )
    return {**base, "properties": merge_properties(base["properties"] or {}, properties)}, (
        existing is None
    )


def set_object(
    conn: sa.Connection,
    collection: str,
    key: str,
    properties: dict[str, Any],
    *,
    source_id: str | None,
    now: datetime,
) -> tuple[dict[str, Any], bool]:
    """Create or merge the object; returns the stored row and ``created``."""
    lookup = {"collection": collection, "key": key}
    return create_or_merge(conn, _OBJECTS, lookup, {}, properties, source_id=source_id, now=now)


def get(conn: sa.Connection, collection: str, key: str) -> dict[str, Any]:
    """One object by collection and key (or id); :class:`NotFound` otherwise."""
    row = conn.execute(
        sa.select(objects).where(
            objects.c.collection == collection, sa.or_(objects.c.key == key, objects.c.id == key)
        )
    ).first()
    if row is None:
        raise NotFound(f"no object {key!r} in {collection!r}")
    return dict(row._mapping)


def search(
    conn: sa.Connection, collection: str, *, q: str | None, cursor: str | None, limit: int
) -> Page[dict[str, Any]]:
    """Objects of ``collection`` newest first, optionally whose key contains ``q``."""
    query = sa.select(objects).where(objects.c.collection == collection)
    if q:
        query = query.where(sa.func.lower(objects.c.key).like(f"%{q.lower()}%"))
    return fetch_page(conn, query, objects.c.id, cursor=cursor, limit=limit)
