"""Runs: one execution of a workflow each, started by an event or by the run API.

Statuses: ``queued`` (waiting for a worker) → ``running`` → ``completed`` or ``failed``;
``waiting`` (suspended until something external happens) and ``cancelled`` (by a person)
also exist. A run started with an idempotency key holds it for its workflow forever:
:func:`start` returns the existing run while it is still active, and raises 409
``idempotency_key_conflict`` once it has ended (the key was used; pick a new one).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from claybridge.errors import ClaybridgeError, Conflict, InvalidField, NotFound
from claybridge.ids import new_id
from claybridge.records.paging import Page, fetch_page
from claybridge.storage.tables import runs, workflows

QUEUED = "queued"
RUNNING = "running"
WAITING = "waiting"
COMPLETED = "completed"
FAILED = "failed"
CANCELLED = "cancelled"
STATUSES = (QUEUED, RUNNING, WAITING, COMPLETED, FAILED, CANCELLED)
ACTIVE = (QUEUED, RUNNING, WAITING)
MAX_KEY = 255


def new_row(
    workflow_id: str,
    event: Any,
    now: datetime,
    *,
    source: Any = None,
    idempotency_key: str | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """A queued run, due now."""
    return {
        "id": new_id("run"),
        "workflow_id": workflow_id,
        "status": QUEUED,
        "idempotency_key": idempotency_key,
        "event": event,
        "source": source,
        "event_id": event_id,
        "steps": [],
        "error": None,
        "next_attempt_at": now,
        "lease_owner": None,
        "lease_expires_at": None,
        "created_at": now,
        "updated_at": now,
        "finished_at": None,
    }


def by_key(conn: sa.Connection, workflow_id: str, key: str) -> dict[str, Any] | None:
    """The run holding ``key`` for the workflow, if any."""
    row = conn.execute(
        sa.select(runs).where(runs.c.workflow_id == workflow_id, runs.c.idempotency_key == key)
    ).first()
    return dict(row._mapping) if row else None


def start(
    conn: sa.Connection,
    workflow: dict[str, Any],
    event: Any,
    now: datetime,
    *,
    source: Any = None,
    idempotency_key: str | None = None,
    event_id: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """Start a run (or find the active one holding ``idempotency_key``).

    Returns the run and whether it was created. A racing start with the same key on
    another connection fails on the unique constraint; the caller's transaction is then
    rolled back and the retry finds the winner's run.
    """
    if idempotency_key is not None:
        idempotency_key = idempotency_key.strip()
        if not idempotency_key or len(idempotency_key) > MAX_KEY:
            raise InvalidField(
                f"idempotency_key must be 1 to {MAX_KEY} characters", field="idempotency_key"
            )
        found = by_key(conn, workflow["id"], idempotency_key)
        if found is not None:
            if found["status"] in ACTIVE:
                return found, False
            raise ClaybridgeError(
                f"idempotency key {idempotency_key!r} was used by run {found['id']}, "
                f"which is {found['status']}; use a new key to start another run",
                code="idempotency_key_conflict",
                status_code=409,
                field="idempotency_key",
            )
    row = new_row(
        workflow["id"],
        event,
        now,
        source=source,
        idempotency_key=idempotency_key,
        event_id=event_id,
    )
    conn.execute(runs.insert().values(**row))
    return row, True


def _select() -> sa.Select[Any]:
    return sa.select(runs, workflows.c.key.label("workflow_key")).join(
        workflows, workflows.c.id == runs.c.workflow_id
    )


def get(conn: sa.Connection, run_id: str) -> dict[str, Any]:
    """One run; :class:`NotFound` otherwise."""
    row = conn.execute(_select().where(runs.c.id == run_id)).first()
    if row is None:
        raise NotFound(f"no run {run_id!r}")
    return dict(row._mapping)


def search(
    conn: sa.Connection,
    *,
    workflow_id: str | None,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> Page[dict[str, Any]]:
    """Runs, newest first, filtered by workflow and status."""
    query = _select()
    if workflow_id:
        query = query.where(runs.c.workflow_id == workflow_id)
    if status:
        if status not in STATUSES:
            raise InvalidField(
                f"unknown status {status!r}; one of {', '.join(STATUSES)}", field="status"
            )
        query = query.where(runs.c.status == status)
    return fetch_page(conn, query, runs.c.id, cursor=cursor, limit=limit)


def cancel(conn: sa.Connection, run_id: str, now: datetime) -> dict[str, Any]:
    """Cancel an active run (409 if it already ended). Deliveries it already queued are
    not recalled: they are independent work with their own history."""
    row = get(conn, run_id)
    if row["status"] not in ACTIVE:
        raise Conflict(f"run {run_id} is {row['status']}; only an active run can be cancelled")
    values = {
        "status": CANCELLED,
        "finished_at": now,
        "updated_at": now,
        "lease_owner": None,
        "lease_expires_at": None,
    }
    conn.execute(runs.update().where(runs.c.id == run_id).values(**values))
    return {**row, **values}


def anything_due(conn: sa.Connection, now: datetime) -> bool:
    """Whether a queued run is due or a running run's lease expired (a cheap read)."""
    query = (
        sa.select(runs.c.id)
        .where(
            sa.or_(
                sa.and_(runs.c.status == QUEUED, runs.c.next_attempt_at <= now),
                sa.and_(runs.c.status == RUNNING, runs.c.lease_expires_at < now),
            )
        )
        .limit(1)
    )
    return conn.execute(query).first() is not None


def claim(
    conn: sa.Connection, *, worker: str, now: datetime, limit: int, lease_seconds: float
) -> list[dict[str, Any]]:
    """Take due queued runs (and running ones whose worker's lease expired)."""
    query = (
        sa.select(runs.c.id)
        .where(
            sa.or_(
                sa.and_(runs.c.status == QUEUED, runs.c.next_attempt_at <= now),
                sa.and_(runs.c.status == RUNNING, runs.c.lease_expires_at < now),
            )
        )
        .order_by(runs.c.next_attempt_at)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    ids = [r[0] for r in conn.execute(query)]
    if not ids:
        return []
    conn.execute(
        runs.update()
        .where(runs.c.id.in_(ids))
        .values(
            status=RUNNING,
            lease_owner=worker,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
            updated_at=now,
        )
    )
    return [dict(r._mapping) for r in conn.execute(_select().where(runs.c.id.in_(ids)))]


def finish(
    conn: sa.Connection,
    run_id: str,
    *,
    status: str,
    steps: list[dict[str, Any]],
    error: str | None,
    now: datetime,
    worker: str,
) -> None:
    """Record a run's outcome."""
    _let_go(
        conn,
        run_id,
        worker,
        status=status,
        steps=steps,
        error=error,
        finished_at=now if status in (COMPLETED, FAILED) else None,
        updated_at=now,
    )


def _let_go(conn: sa.Connection, run_id: str, worker: str, **values: Any) -> None:
    """Write ``values`` and drop the lease, only while ``worker`` still holds the run:
    a run cancelled (or taken over after an expired lease) meanwhile is left as it is."""
    conn.execute(
        runs.update()
        .where(runs.c.id == run_id, runs.c.status == RUNNING, runs.c.lease_owner == worker)
        .values(**values, lease_owner=None, lease_expires_at=None)
    )


def resume_waiting(conn: sa.Connection, run_id: str, now: datetime) -> bool:
    """Queue a waiting run again (what it waited for happened); False if not waiting."""
    done = conn.execute(
        runs.update()
        .where(runs.c.id == run_id, runs.c.status == WAITING)
        .values(status=QUEUED, next_attempt_at=now, updated_at=now)
    )
    return bool(done.rowcount)


def wait(
    conn: sa.Connection, run_id: str, *, steps: list[dict[str, Any]], now: datetime, worker: str
) -> None:
    """Suspend a running run (status waiting) with the steps done so far."""
    _let_go(conn, run_id, worker, status=WAITING, steps=steps, updated_at=now)


def counts(conn: sa.Connection) -> dict[str, int]:
    """Runs by status."""
    rows = conn.execute(sa.select(runs.c.status, sa.func.count()).group_by(runs.c.status)).all()
    return {status: int(n) for status, n in rows}


def public(row: dict[str, Any]) -> dict[str, Any]:
    """A run as the API and CLI show it."""
    return {
        "id": row["id"],
        "workflow": row.get("workflow_key"),
        "workflow_id": row["workflow_id"],
        "status": row["status"],
        "idempotency_key": row["idempotency_key"],
        "event": row["event"],
        "source": row["source"],
        "event_id": row["event_id"],
        "steps": row["steps"],
        "error": row["error"],
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
        "finished_at": row["finished_at"].isoformat() if row["finished_at"] else None,
    }
