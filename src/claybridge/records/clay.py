"""Clay table destinations in the database: the webhook pool and its counts, and the
request ids Clay accepted (pending requests: ``records.requests``).

Counting: a submission counts once Clay accepted it (2xx), in the transaction that
records the attempt, so the count survives restarts and is shared by every worker.
A webhook reaching 90% of its limit is flagged (``warned_at``; log, metric, API); at its
limit it is ``exhausted`` and never used again (Clay never resets it); the next webhook of
the pool, in order, takes over.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.dialects import postgresql, sqlite

from claybridge.core.clay_rules import WARN_AT
from claybridge.errors import ClaybridgeError
from claybridge.ids import new_id
from claybridge.secretbox import SecretBox
from claybridge.storage.tables import (
    clay_submissions,
    clay_webhooks,
    destinations,
)

log = structlog.get_logger(__name__)
ACTIVE = "active"
EXHAUSTED = "exhausted"


def check_auth_pair(name: str | None, value: str | None) -> None:
    """Both the auth header name and value, or neither: 400 otherwise."""
    if bool(name) != bool(value):
        raise ClaybridgeError(
            "give both auth_header_name and auth_header_value, or neither",
            code="invalid_auth_header",
            status_code=400,
            field="auth_header_value" if name else "auth_header_name",
        )


def add_webhook(
    conn: sa.Connection,
    destination_id: str,
    url: str,
    *,
    auth_header_name: str | None,
    auth_header_value: str | None,
    submission_limit: int,
    now: datetime,
    box: SecretBox,
) -> dict[str, Any]:
    """Append a webhook (already SSRF-checked) to the destination's pool."""
    check_auth_pair(auth_header_name, auth_header_value)
    last = conn.execute(
        sa.select(sa.func.max(clay_webhooks.c.position)).where(
            clay_webhooks.c.destination_id == destination_id
        )
    ).scalar()
    row = {
        "id": new_id("whk"),
        "destination_id": destination_id,
        "position": (last or 0) + 1,
        "url": box.encrypt(url),
        "url_hint": url,
        "auth_header_name": auth_header_name,
        "auth_header_value": box.encrypt(auth_header_value) if auth_header_value else None,
        "submissions": 0,
        "submission_limit": submission_limit,
        "status": ACTIVE,
        "warned_at": None,
        "exhausted_at": None,
        "created_at": now,
    }
    conn.execute(clay_webhooks.insert().values(**row))
    return row


def update_webhook(
    conn: sa.Connection,
    webhook_id: str,
    url: str,
    *,
    auth_header_name: str | None,
    auth_header_value: str | None,
    submission_limit: int,
    box: SecretBox,
) -> None:
    """Change a webhook's URL (already SSRF-checked), auth header or limit; its count
    stays. A retired webhook with room under a raised limit is active again."""
    check_auth_pair(auth_header_name, auth_header_value)
    row = conn.execute(sa.select(clay_webhooks).where(clay_webhooks.c.id == webhook_id)).one()
    status = ACTIVE if row.submissions < submission_limit else row.status
    conn.execute(
        clay_webhooks.update()
        .where(clay_webhooks.c.id == webhook_id)
        .values(
            url=box.encrypt(url),
            url_hint=url,
            auth_header_name=auth_header_name,
            auth_header_value=box.encrypt(auth_header_value) if auth_header_value else None,
            submission_limit=submission_limit,
            status=status,
        )
    )


def webhooks(conn: sa.Connection, destination_id: str) -> list[dict[str, Any]]:
    """The destination's pool, in order."""
    rows = conn.execute(
        sa.select(clay_webhooks)
        .where(clay_webhooks.c.destination_id == destination_id)
        .order_by(clay_webhooks.c.position)
    )
    return [dict(r._mapping) for r in rows]


def public_webhook(row: dict[str, Any]) -> dict[str, Any]:
    """A webhook as the API shows it (never the auth header's value)."""
    used = row["submissions"] / row["submission_limit"] if row["submission_limit"] else 1.0
    warning = None
    if row["status"] == EXHAUSTED:
        warning = "exhausted: create a new webhook in Clay"
    elif used >= WARN_AT:
        warning = f"{used:.0%} of its {row['submission_limit']:,} submissions used"
    return {
        "id": row["id"],
        "position": row["position"],
        "webhook_url": row["url_hint"],
        "auth_header_name": row["auth_header_name"],
        "status": row["status"],
        "submissions": row["submissions"],
        "submission_limit": row["submission_limit"],
        "remaining": max(row["submission_limit"] - row["submissions"], 0),
        "warning": warning,
    }


@dataclass(frozen=True, slots=True)
class Route:
    """Where one submission goes: a webhook with its decrypted credentials."""

    webhook_id: str
    url: str
    header_name: str | None
    header_value: str | None


def choose(
    pool: Sequence[dict[str, Any]],
    box: SecretBox,
    reserved: dict[str, int],
    routes: dict[str, Route] | None = None,
) -> Route | None:
    """The first active webhook of ``pool`` (rows from :func:`webhooks`) with room,
    counting ``reserved`` in-flight submissions (which this call increments); ``None``
    when the pool is exhausted. ``routes`` caches decrypted routes by webhook id."""
    for row in pool:
        if row["status"] != ACTIVE:
            continue
        if row["submissions"] + reserved.get(row["id"], 0) >= row["submission_limit"]:
            continue
        reserved[row["id"]] = reserved.get(row["id"], 0) + 1
        found = routes.get(row["id"]) if routes is not None else None
        if found is None:
            value = row["auth_header_value"]
            found = Route(
                row["id"],
                box.decrypt(row["url"]),
                row["auth_header_name"],
                box.decrypt(value) if value else None,
            )
            if routes is not None:
                routes[row["id"]] = found
        return found
    return None


def accepted(conn: sa.Connection, destination_id: str, request_ids: Sequence[str]) -> set[str]:
    """Which of ``request_ids`` Clay already accepted for this destination."""
    if not request_ids:
        return set()
    rows = conn.execute(
        sa.select(clay_submissions.c.request_id).where(
            clay_submissions.c.destination_id == destination_id,
            clay_submissions.c.request_id.in_(list(request_ids)),
        )
    )
    return {r[0] for r in rows}


def record_accepted(
    conn: sa.Connection,
    destination_id: str,
    webhook_id: str,
    request_ids: Sequence[str | None],
    now: datetime,
    *,
    delivery_ids: Sequence[str | None] | None = None,
    name: str = "",
) -> None:
    """Count ``len(request_ids)`` accepted submissions on the webhook, remember their ids,
    and flag the webhook at 90% and at its limit (logged)."""
    count = len(request_ids)
    if not count:
        return
    conn.execute(
        clay_webhooks.update()
        .where(clay_webhooks.c.id == webhook_id)
        .values(submissions=clay_webhooks.c.submissions + count)
    )
    ids = [
        {
            "destination_id": destination_id,
            "request_id": rid,
            "webhook_id": webhook_id,
            "delivery_id": (delivery_ids or [None] * count)[i],
            "accepted_at": now,
        }
        for i, rid in enumerate(request_ids)
        if rid
    ]
    if ids:
        insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        conn.execute(insert(clay_submissions).on_conflict_do_nothing(), ids)
    row = conn.execute(sa.select(clay_webhooks).where(clay_webhooks.c.id == webhook_id)).one()
    if row.submissions >= row.submission_limit and row.status == ACTIVE:
        mark_exhausted(conn, webhook_id, now, name=name)
    elif row.submissions >= WARN_AT * row.submission_limit and row.warned_at is None:
        conn.execute(
            clay_webhooks.update().where(clay_webhooks.c.id == webhook_id).values(warned_at=now)
        )
        log.warning(
            "Clay webhook at 90% of its submission limit: create the next webhook in Clay",
            destination=name,
            webhook=webhook_id,
            submissions=row.submissions,
            limit=row.submission_limit,
        )


def mark_exhausted(conn: sa.Connection, webhook_id: str, now: datetime, *, name: str = "") -> None:
    """Retire a webhook for good; the next one in the pool takes over. Logged once: the
    batches in flight when Clay said "full" each report it, but only the first retires."""
    retired = conn.execute(
        clay_webhooks.update()
        .where(clay_webhooks.c.id == webhook_id, clay_webhooks.c.status == ACTIVE)
        .values(
            status=EXHAUSTED,
            exhausted_at=now,
            warned_at=sa.func.coalesce(clay_webhooks.c.warned_at, now),
        )
    ).rowcount
    if not retired:
        return
    log.warning(
        "Clay webhook exhausted: moving to the next webhook of the pool",
        destination=name,
        webhook=webhook_id,
    )


def near_limit(conn: sa.Connection) -> list[dict[str, Any]]:
    """Webhooks past :data:`WARN_AT` of their limit or exhausted, with their destination."""
    rows = conn.execute(
        sa.select(clay_webhooks, destinations.c.name.label("destination_name"))
        .join(destinations, destinations.c.id == clay_webhooks.c.destination_id)
        .where(
            sa.or_(
                clay_webhooks.c.status == EXHAUSTED,
                clay_webhooks.c.submissions >= clay_webhooks.c.submission_limit * WARN_AT,
            )
        )
        .order_by(clay_webhooks.c.destination_id, clay_webhooks.c.position)
    )
    return [{**public_webhook(dict(r._mapping)), "destination": r.destination_name} for r in rows]
