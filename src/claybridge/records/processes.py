"""Running Claybridge processes: each long-running command registers itself, beats every
:data:`BEAT` seconds, and marks itself stopped on a clean exit.

What this gives: ``claybridge status`` lists the workers seen recently, and every CLI
command learns the server's public URL from the newest ``serve``/``api`` row, so the
URLs it prints are the server's, not the CLI's own defaults. A row that stops beating
without a stop is a process that died.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from claybridge import __version__
from claybridge.ids import new_id
from claybridge.storage.tables import processes

BEAT = 10.0  # seconds between heartbeats
SEEN_RECENTLY = timedelta(seconds=3 * BEAT)
SERVER_KINDS = ("serve", "api")
WORKER_KINDS = ("serve", "worker", "push")
KEPT = timedelta(days=7)  # stopped rows older than this are deleted on register


def register(conn: sa.Connection, kind: str, now: datetime, public_url: str | None) -> str:
    """Record a starting process; returns its id."""
    conn.execute(processes.delete().where(processes.c.seen_at < now - KEPT))
    process_id = new_id("proc")
    conn.execute(
        processes.insert().values(
            id=process_id,
            kind=kind,
            hostname=socket.gethostname()[:255],
            pid=os.getpid(),
            version=__version__,
            public_url=public_url,
            started_at=now,
            seen_at=now,
        )
    )
    return process_id


def beat(conn: sa.Connection, process_id: str, now: datetime) -> None:
    """Record that the process is alive."""
    conn.execute(processes.update().where(processes.c.id == process_id).values(seen_at=now))


def stop(conn: sa.Connection, process_id: str, now: datetime) -> None:
    """Record a clean exit."""
    conn.execute(
        processes.update().where(processes.c.id == process_id).values(seen_at=now, stopped_at=now)
    )


def server_url(conn: sa.Connection) -> str | None:
    """The public URL of the newest server (``serve`` or ``api``) that registered."""
    return conn.execute(
        sa.select(processes.c.public_url)
        .where(processes.c.kind.in_(SERVER_KINDS), processes.c.public_url.is_not(None))
        .order_by(processes.c.started_at.desc())
        .limit(1)
    ).scalar()


def running(conn: sa.Connection, now: datetime) -> list[dict[str, Any]]:
    """Processes seen within :data:`SEEN_RECENTLY` and not stopped, newest first."""
    rows = conn.execute(
        sa.select(processes)
        .where(processes.c.stopped_at.is_(None), processes.c.seen_at >= now - SEEN_RECENTLY)
        .order_by(processes.c.started_at.desc())
    )
    return [dict(r._mapping) for r in rows]


def vanished(conn: sa.Connection, now: datetime) -> list[dict[str, Any]]:
    """Processes that stopped beating without a clean stop (they died)."""
    rows = conn.execute(
        sa.select(processes).where(
            processes.c.stopped_at.is_(None), processes.c.seen_at < now - SEEN_RECENTLY
        )
    )
    return [dict(r._mapping) for r in rows]


def forget(conn: sa.Connection, process_id: str, now: datetime) -> None:
    """Mark a vanished process as accounted for (its alert is open)."""
    conn.execute(processes.update().where(processes.c.id == process_id).values(stopped_at=now))


def public(row: dict[str, Any]) -> dict[str, Any]:
    """A process as ``status`` shows it."""
    return {
        "id": row["id"],
        "kind": row["kind"],
        "host": row["hostname"],
        "pid": row["pid"],
        "version": row["version"],
        "public_url": row["public_url"],
        "started_at": row["started_at"].isoformat(),
        "seen_at": row["seen_at"].isoformat(),
    }
