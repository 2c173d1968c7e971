"""Assembling a worker from settings, and running one as its own process.

The worker's extra jobs: carrying out due workflow runs every round, and, when
``CLAYBRIDGE_RETENTION_DAYS`` is set, pruning old history once an hour (whichever
worker gets there; pruning twice is harmless).
"""

from __future__ import annotations

import asyncio
import signal
from datetime import datetime, timedelta

import structlog

from claybridge.clock import Clock, SystemClock
from claybridge.config import Settings
from claybridge.delivery.worker import Job, Worker
from claybridge.records import runs
from claybridge.records.retention import prune
from claybridge.secretbox import SecretBox, load_key
from claybridge.storage.database import Database
from claybridge.workflows.executor import process_due

log = structlog.get_logger(__name__)
PRUNE_EVERY = timedelta(hours=1)


def _pruner(db: Database, days: float) -> Job:
    last: list[datetime] = []

    def prune_job(_db: Database, now: datetime, _worker: str) -> int:
        if last and now - last[0] < PRUNE_EVERY:
            return 0
        last[:] = [now]
        counts = prune(db, now - timedelta(days=days), now)
        log.info("pruned old history", older_than_days=days, **counts)
        return sum(counts.values())

    return prune_job


def run_due_runs(db: Database, now: datetime, worker: str) -> int:
    """Worker job: carry out due workflow runs (a read first, the write lock only if any)."""
    with db.read() as conn:
        if not runs.anything_due(conn, now):
            return 0
    with db.write() as conn:
        return process_due(conn, now, worker)


def build_worker(settings: Settings, db: Database, box: SecretBox, clock: Clock) -> Worker:
    """A worker configured from ``settings``."""
    jobs: list[Job] = [run_due_runs]
    if settings.retention_days:
        jobs.append(_pruner(db, settings.retention_days))
    return Worker(
        db,
        box,
        clock=clock,
        concurrency=settings.worker_concurrency,
        batch=settings.worker_batch,
        lease_seconds=settings.lease_seconds,
        poll_interval=settings.poll_interval,
        allow=settings.allowed_networks,
        jobs=jobs,
    )


def run_forever(settings: Settings, db: Database, clock: Clock | None = None) -> None:
    """Run one worker until SIGINT or SIGTERM, then shut it down gracefully."""
    box = SecretBox(lambda: load_key(settings.data_dir, settings.secret_key))
    worker = build_worker(settings, db, box, clock or SystemClock())

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await worker.run(stop)

    asyncio.run(main())
