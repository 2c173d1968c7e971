"""The event log: every request a source received, with its outcome."""

from __future__ import annotations

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
    "events",
    "get",
    "public",
    "search",
]

ACCEPTED = "accepted"
REJECTED = "rejected"
DRY_RUN = "dry_run"
DUPLICATE = "duplicate"
STATUSES = (ACCEPTED, REJECTED, DRY_RUN, DUPLICATE)
FIELD_LENGTH = events.c.error_field.type.length  # type: ignore[attr-defined]

# Events are written by the ingest path, in bulk at commit (ingest.committer.defer_insert).
INSERT_PREPARED = Prepared(events.insert(), [c.key for c in events.c])


def _body(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def public(row: dict[str, Any], *, full: bool = False) -> dict[str, Any]:
    """An event as the API and CLI show it; ``full`` adds headers and bodies."""
    out: dict[str, Any] = {
        "id": row["id"],
        "source_id": row["source_id"],
        "source_name": row.get("source_name"),
        "received_at": row["received_at"].isoformat(),
        "status": row["status"],
        "status_code": row["status_code"],
        "error": (
            {
                "code": row["error_code"],
                "message": row["error_message"],
                "field": row["error_field"],
            }
            if row["error_code"]
            else None
        ),
        "customer_id": row["customer_id"],
        "event_name": row.get("event_name"),
        "note": row.get("note"),
    }
    if full:
        out["request"] = {"headers": row["request_headers"], "body": _body(row["request_body"])}
        out["response"] = {"status_code": row["status_code"], "body": _body(row["response_body"])}
    return out


def _select() -> sa.Select[Any]:
    return sa.select(events, sources.c.name.label("source_name")).join(
        sources, sources.c.id == events.c.source_id
    )


def search(
    conn: sa.Connection,
    *,
    source_id: str | None = None,
    status: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page:
    """Events newest first, filtered by source and status."""
    query = _select()
    if source_id:
        query = query.where(events.c.source_id == source_id)
    if status:
        query = query.where(events.c.status == status)
    return fetch_page(conn, query, events.c.id, cursor=cursor, limit=limit)


def get(conn: sa.Connection, event_id: str) -> dict[str, Any]:
    """One event; :class:`NotFound` otherwise."""
    row = conn.execute(_select().where(events.c.id == event_id)).first()
    if row is None:
        raise NotFound(f"no event {event_id!r}")
    return dict(row._mapping)
