"""Alerts: one row per cause (kind + subject) while it is open or acknowledged.

Contract: :func:`observe` opens an alert for a cause, or counts a repeat on the one
already unresolved (a partial unique index keeps it to one, whichever process sees the
cause), so a cause that keeps happening never floods. A resolved alert stays as history;
the cause happening again opens a new one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from claybridge.errors import Conflict, InvalidField, NotFound
from claybridge.ids import new_id
from claybridge.storage.tables import alerts

OPEN, ACKNOWLEDGED, RESOLVED = "open", "acknowledged", "resolved"
STATUSES = (OPEN, ACKNOWLEDGED, RESOLVED)
UNRESOLVED = (OPEN, ACKNOWLEDGED)
AUTO = "auto"  # resolved_by when the cause cleared
# The key marking a delivery's payload as an alert notice (its value: opened/resolved).
ALERT_KEY = "claybridge_alert"


def notice_text(payload: Any) -> str | None:
    """The text of an alert notice payload; ``None`` for any other payload."""
    if isinstance(payload, dict) and ALERT_KEY in payload and isinstance(payload.get("text"), str):
        return str(payload["text"])
    return None


@dataclass(frozen=True)
class Observed:
    """The alert after an observation, and whether this observation opened it."""

    alert: dict[str, Any]
    opened: bool


def unresolved(conn: sa.Connection, kind: str, subject: str) -> dict[str, Any] | None:
    """The open or acknowledged alert for the cause, if any."""
    row = conn.execute(
        sa.select(alerts).where(
            alerts.c.kind == kind, alerts.c.subject == subject, alerts.c.status.in_(UNRESOLVED)
        )
    ).first()
    return None if row is None else dict(row._mapping)


def observe(
    conn: sa.Connection,
    kind: str,
    subject: str,
    message: str,
    now: datetime,
    *,
    count: int | None = None,
) -> Observed:
    """Record that the cause ``(kind, subject)`` is present. ``count``: the cause's own
    tally (dead deliveries now, say); when omitted, each observation adds one."""
    found = unresolved(conn, kind, subject)
    if found is None:
        row = {
            "id": new_id("alr"),
            "kind": kind,
            "subject": subject,
            "message": message,
            "status": OPEN,
            "count": 1 if count is None else count,
            "first_seen_at": now,
            "last_seen_at": now,
            "acknowledged_at": None,
            "resolved_at": None,
            "resolved_by": None,
        }
        try:
            with conn.begin_nested():
                conn.execute(alerts.insert().values(**row))
            return Observed(row, True)
        except sa.exc.IntegrityError:  # another process opened it first: count on it
            found = unresolved(conn, kind, subject)
            if found is None:
                raise
    tally = found["count"] + 1 if count is None else count
    if tally == found["count"] and message == found["message"]:
        return Observed(found, False)
    changes = {"count": tally, "message": message, "last_seen_at": now}
    conn.execute(alerts.update().where(alerts.c.id == found["id"]).values(**changes))
    return Observed({**found, **changes}, False)


def clear(conn: sa.Connection, kind: str, subject: str, now: datetime) -> dict[str, Any] | None:
    """The cause is gone: resolve its alert automatically (returns it, if there was one)."""
    found = unresolved(conn, kind, subject)
    if found is None:
        return None
    changes = {"status": RESOLVED, "resolved_at": now, "resolved_by": AUTO}
    conn.execute(alerts.update().where(alerts.c.id == found["id"]).values(**changes))
    return {**found, **changes}


def unresolved_subjects(conn: sa.Connection, kind: str) -> set[str]:
    """The subjects with an unresolved alert of ``kind``."""
    rows = conn.execute(
        sa.select(alerts.c.subject).where(alerts.c.kind == kind, alerts.c.status.in_(UNRESOLVED))
    )
    return set(rows.scalars())


def get(conn: sa.Connection, alert_id: str) -> dict[str, Any]:
    """One alert; :class:`NotFound` if there is none with that id."""
    row = conn.execute(sa.select(alerts).where(alerts.c.id == alert_id)).first()
    if row is None:
        raise NotFound(f"no alert {alert_id!r}", field="alert")
    return dict(row._mapping)


def acknowledge(conn: sa.Connection, alert_id: str, now: datetime) -> dict[str, Any]:
    """Someone is on it: the alert stays (repeats still count) but is no longer open."""
    row = get(conn, alert_id)
    if row["status"] == RESOLVED:
        raise Conflict(f"alert {alert_id} is already resolved", field="alert")
    changes = {"status": ACKNOWLEDGED, "acknowledged_at": row["acknowledged_at"] or now}
    conn.execute(alerts.update().where(alerts.c.id == alert_id).values(**changes))
    return {**row, **changes}


def resolve(conn: sa.Connection, alert_id: str, now: datetime, by: str) -> dict[str, Any]:
    """Resolve by hand; a resolved alert is left as it is."""
    row = get(conn, alert_id)
    if row["status"] == RESOLVED:
        return row
    changes = {"status": RESOLVED, "resolved_at": now, "resolved_by": by[:200]}
    conn.execute(alerts.update().where(alerts.c.id == alert_id).values(**changes))
    return {**row, **changes}


def list_(conn: sa.Connection, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Alerts, newest activity first; ``status`` ``unresolved`` means open or acknowledged."""
    query = sa.select(alerts).order_by(alerts.c.last_seen_at.desc(), alerts.c.id.desc())
    if status == "unresolved":
        query = query.where(alerts.c.status.in_(UNRESOLVED))
    elif status is not None:
        if status not in STATUSES:
            raise InvalidField(
                f"unknown status {status!r}; one of {', '.join(STATUSES)}, unresolved",
                field="status",
            )
        query = query.where(alerts.c.status == status)
    return [dict(r._mapping) for r in conn.execute(query.limit(limit))]


def count_unresolved(conn: sa.Connection) -> int:
    """How many alerts are open or acknowledged."""
    query = sa.select(sa.func.count()).where(alerts.c.status.in_(UNRESOLVED))
    return int(conn.execute(query).scalar() or 0)


def counts(conn: sa.Connection) -> dict[tuple[str, str], int]:
    """Unresolved alerts by (kind, status), for ``/metrics``."""
    query = (
        sa.select(alerts.c.kind, alerts.c.status, sa.func.count())
        .where(alerts.c.status.in_(UNRESOLVED))
        .group_by(alerts.c.kind, alerts.c.status)
    )
    return {(kind, status): int(n) for kind, status, n in conn.execute(query)}


def public(row: dict[str, Any]) -> dict[str, Any]:
    """An alert as the API, the CLI and notifications show it."""

    def stamp(value: datetime | None) -> str | None:
        return None if value is None else value.isoformat()

    return {
        "id": row["id"],
        "kind": row["kind"],
        "subject": row["subject"],
        "message": row["message"],
        "status": row["status"],
        "count": row["count"],
        "first_seen_at": stamp(row["first_seen_at"]),
        "last_seen_at": stamp(row["last_seen_at"]),
        "acknowledged_at": stamp(row["acknowledged_at"]),
        "resolved_at": stamp(row["resolved_at"]),
        "resolved_by": row["resolved_by"],
    }
