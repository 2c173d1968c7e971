"""Customers, keyed by normalised website domain."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from claybridge.errors import NotFound
from claybridge.ids import new_id
from claybridge.mapping.customer import CustomerInput
from claybridge.records.paging import Page, fetch_page
from claybridge.storage.prepared import Prepared
from claybridge.storage.tables import customers, owners


def public(row: dict[str, Any], owner: dict[str, Any] | None = None) -> dict[str, Any]:
    """A customer as the API, the CLI and the ingest answer show it."""
    arr = row["arr"]
    return {
        "id": row["id"],
        "name": row["name"],
        "domain": row["domain"],
        "website_url": row["website_url"],
        "owner": (
            {"id": owner["id"], "name": owner["name"], "email": owner["email"]} if owner else None
        ),
        "stage": row["stage"],
        "arr": float(arr) if arr is not None else None,
        # date/datetime objects: orjson and FastAPI render them as ISO 8601 text.
        "renewal_date": row["renewal_date"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


# The merge rule, stated once for the SQL upsert and for merged() (deferred writes, the
# dry run): a sent row always replaces these ...
REPLACED = ("name", "website_url", "source_id", "updated_at")
# ... and replaces these only with a value: None (a blank cell) keeps the stored one.
KEPT_WHEN_BLANK = ("owner_id", "stage", "arr", "renewal_date")
_CENT = Decimal("0.01")
_COLUMNS = [c.key for c in customers.c]


def _upsert(insert: Any, *, returning: bool = True) -> sa.ClauseElement:
    """``INSERT … ON CONFLICT (domain) DO UPDATE … [RETURNING *]``.

    One atomic statement on both databases (SQLite ≥ 3.35, PostgreSQL): no read-then-write
    race between processes, and half the round trips of SELECT + UPDATE. An optional
    column keeps its stored value when the row sent none: ``COALESCE(excluded.col, col)``.
    """
    base = insert(customers)
    always = {c: base.excluded[c] for c in REPLACED}
    kept = {c: sa.func.coalesce(base.excluded[c], customers.c[c]) for c in KEPT_WHEN_BLANK}
    stmt = base.on_conflict_do_update(index_elements=[customers.c.domain], set_={**always, **kept})
    done: sa.ClauseElement = stmt.returning(*customers.c) if returning else stmt
    return done


# The ON CONFLICT syntax is built by each dialect's own insert(); both prepared once.
_UPSERT = {
    "sqlite": Prepared(_upsert(sqlite_insert), _COLUMNS, returning=list(customers.c)),
    "postgresql": Prepared(_upsert(pg_insert), _COLUMNS, returning=list(customers.c)),
}


# The same upsert without RETURNING, for a batch that writes its upserts together at
# commit (see ingest.apply), where the batch holds the write lock from its first
# statement, so what it read is what the upsert will find. Written before the rows
# that point at customers (events).
_UPSERT_DEFERRED = {
    "sqlite": Prepared(_upsert(sqlite_insert, returning=False), _COLUMNS, write_order=0),
    "postgresql": Prepared(_upsert(pg_insert, returning=False), _COLUMNS, write_order=0),
}


def deferred_upsert(conn: sa.Connection) -> Prepared:
    """The upsert, without RETURNING, for :func:`merged` rows written at commit."""
    return _UPSERT_DEFERRED[conn.dialect.name]


_BY_DOMAIN = Prepared(
    sa.select(customers).where(customers.c.domain == sa.bindparam("domain")),
    ["domain"],
    returning=list(customers.c),
)


def upsert_params(
    data: CustomerInput,
    *,
    owner_id: str | None,
    source_id: str,
    now: datetime,
    known_id: str | None = None,
) -> dict[str, Any]:
    """The upsert's bind values for ``data``, with a newly generated id (used on insert),
    or ``known_id`` when the caller knows the row exists (the insert half is not used)."""
    return {
        "id": known_id or new_id("cus"),
        "domain": data.domain,
        "name": data.name,
        "website_url": data.website_url,
        "owner_id": owner_id,
        "stage": data.stage,
        "arr": data.arr,
        "renewal_date": data.renewal_date,
        "source_id": source_id,
        "created_at": now,
        "updated_at": now,
    }


def upsert(
    conn: sa.Connection,
    data: CustomerInput,
    *,
    owner_id: str | None,
    source_id: str,
    now: datetime,
) -> tuple[dict[str, Any], bool]:
    """Create or update the customer for ``data.domain``; returns the stored row and
    whether it was created. ``None`` values leave stored values unchanged.

    ``created`` is exact: the returned id is the one generated here only on insert.
    """
    params = upsert_params(data, owner_id=owner_id, source_id=source_id, now=now)
    row = _UPSERT[conn.dialect.name].execute(conn, params)
    assert row is not None  # RETURNING always yields the upserted row
    return row, row["id"] == params["id"]


def by_domain(conn: sa.Connection, domain: str) -> dict[str, Any] | None:
    """The stored customer with ``domain`` (typed as :func:`upsert` returns it), if any."""
    return _BY_DOMAIN.execute(conn, {"domain": domain})


def merged(existing: dict[str, Any] | None, params: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The row :func:`upsert` with ``params`` leaves when ``existing`` is stored (pure).

    The rule the SQL applies (:data:`REPLACED`, :data:`KEPT_WHEN_BLANK`): on insert
    every value as sent; on update the id and created_at stay. Values come back as the
    database would return them (amounts rounded to cents, times in UTC).
    """
    arr = params["arr"]
    sent = {
        **params,
        "arr": None if arr is None else Decimal(arr).quantize(_CENT),
        "created_at": _utc(params["created_at"]),
        "updated_at": _utc(params["updated_at"]),
    }
    if existing is None:
        return sent, True
    row = dict(existing)
    for column in REPLACED:
        row[column] = sent[column]
    for column in KEPT_WHEN_BLANK:
        if sent[column] is not None:
            row[column] = sent[column]
    return row, False


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is UTC else value.astimezone(UTC)


def preview(
    conn: sa.Connection,
    data: CustomerInput,
    *,
    owner_id: str | None,
    source_id: str,
    now: datetime,
) -> tuple[dict[str, Any], bool]:
    """The customer as :func:`upsert` would leave it, without writing (dry run): the
    same :func:`merged` rule; a customer not yet stored has no id or times."""
    params = upsert_params(data, owner_id=owner_id, source_id=source_id, now=now)
    row, created = merged(by_domain(conn, data.domain), params)
    if created:
        row.update(id=None, created_at=None, updated_at=None)
    return row, created


def get(conn: sa.Connection, ref: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """A customer by id or domain, with its owner; :class:`NotFound` otherwise."""
    row = conn.execute(
        sa.select(customers).where(sa.or_(customers.c.id == ref, customers.c.domain == ref.lower()))
    ).first()
    if row is None:
        raise NotFound(f"no customer {ref!r}")
    owner = None
    if row.owner_id:
        found = conn.execute(sa.select(owners).where(owners.c.id == row.owner_id)).first()
        owner = dict(found._mapping) if found else None
    return dict(row._mapping), owner


def search(
    conn: sa.Connection, *, q: str | None, cursor: str | None, limit: int
) -> tuple[Page[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Customers newest first, optionally those whose name or domain contains ``q``."""
    query = sa.select(customers)
    if q:
        pattern = f"%{q.lower()}%"
        query = query.where(
            sa.or_(sa.func.lower(customers.c.name).like(pattern), customers.c.domain.like(pattern))
        )
    page = fetch_page(conn, query, customers.c.id, cursor=cursor, limit=limit)
    owner_ids = {r["owner_id"] for r in page.items if r["owner_id"]}
    found = (
        conn.execute(sa.select(owners).where(owners.c.id.in_(owner_ids))).all() if owner_ids else []
    )
    return page, {o.id: dict(o._mapping) for o in found}
