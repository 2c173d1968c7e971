"""Cursor pagination over sortable ids (UUIDv7 ids sort by creation time)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import sqlalchemy as sa

MAX_LIMIT = 500
T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of rows and the cursor for the next page (``None`` on the last)."""

    items: list[T]
    next_cursor: str | None


def fetch_page(
    conn: sa.Connection,
    query: sa.Select[Any],
    id_column: sa.ColumnElement[str],
    *,
    cursor: str | None,
    limit: int,
    newest_first: bool = True,
) -> Page[dict[str, Any]]:
    """Run ``query`` ordered by ``id_column`` from ``cursor`` (exclusive), ``limit`` rows."""
    limit = max(1, min(limit, MAX_LIMIT))
    if cursor:
        query = query.where(id_column < cursor if newest_first else id_column > cursor)
    order = id_column.desc() if newest_first else id_column.asc()
    rows = [dict(r._mapping) for r in conn.execute(query.order_by(order).limit(limit + 1))]
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, rows[-1]["id"] if more and rows else None)
