"""A process's presence in the ``processes`` table, kept while it runs (see
:mod:`claybridge.records.processes`).

Presence is best effort: a database that cannot be reached is logged and tried again at
the next beat; it never stops the process it describes.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from sqlalchemy.exc import SQLAlchemyError

from claybridge.clock import Clock
from claybridge.records import processes
from claybridge.storage.database import Database

log = structlog.get_logger(__name__)
STOP_WAIT = 2.0  # seconds a clean stop waits to be recorded


async def keep_present(
    db: Database,
    clock: Clock,
    kind: str,
    public_url: str | None,
    stop: asyncio.Event,
    *,
    every: float = processes.BEAT,
) -> None:
    """Register this process, beat every ``every`` seconds until ``stop``, then record
    a clean stop."""
    process_id: str | None = None
    while not stop.is_set():
        try:
            process_id = await asyncio.to_thread(
                _register_or_beat, db, clock, kind, public_url, process_id
            )
        except SQLAlchemyError as exc:
            log.warning("cannot record this process's presence", error=str(exc))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
    if process_id is not None:
        # Bounded: shutting down must not wait on a database that is gone.
        with contextlib.suppress(SQLAlchemyError, TimeoutError):
            await asyncio.wait_for(asyncio.to_thread(_stop, db, clock, process_id), STOP_WAIT)


def _register_or_beat(
    db: Database, clock: Clock, kind: str, public_url: str | None, process_id: str | None
) -> str:
    with db.write() as conn:
        if process_id is None:
            return processes.register(conn, kind, clock.now(), public_url)
        processes.beat(conn, process_id, clock.now())
        return process_id


def _stop(db: Database, clock: Clock, process_id: str) -> None:
    with db.write() as conn:
        processes.stop(conn, process_id, clock.now())
