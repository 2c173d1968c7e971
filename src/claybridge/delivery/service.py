"""Assembling a worker from settings, supervising it, and running one as its own process.

Supervision (:func:`supervise`): a worker that fails on the database retries by itself
(see ``delivery.worker``); anything else it raises is a bug, and before this a bug ended
the in-process worker of ``claybridge serve`` silently: the API went on accepting events
that nothing delivered until a restart. Now the crash is logged with its traceback and a
new worker starts after a pause that doubles from ``first_pause`` up to ``max_pause``
(back to ``first_pause`` once a worker has run ``settle`` seconds), so a bug that
strikes at once does not spin. The queue lives in the database, so nothing is lost: the
crashed worker's unfinished deliveries were released by its shutdown, or their leases
expire. ``claybridge worker`` runs under the same supervisor.

The worker's extra jobs: carrying out due workflow runs every round, and, when
``CLAYBRIDGE_RETENTION_DAYS`` is set, pruning old history once an hour (whichever
worker gets there; pruning twice is harmless).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
import structlog

from claybridge.clock import Clock, SystemClock
from claybridge.config import Settings
from claybridge.delivery.worker import Job, Worker
from claybridge.operations import alerts as alerting
from claybridge.operations.presence import keep_present
from claybridge.records import requests, runs
from claybridge.records.retention import prune
from claybridge.secretbox import SecretBox, load_key
from claybridge.storage.database import Database
from claybridge.storage.tables import pending_requests
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


def _runs_job(base_url: str) -> Job:
    def run_due_runs(db: Database, now: datetime, worker: str) -> int:
        """Carry out due workflow runs (a read first; the write lock only if any)."""
        with db.read() as conn:
            if not runs.anything_due(conn, now):
                return 0
        with db.write() as conn:
            return process_due(conn, now, worker, base_url)

    return run_due_runs


def expire_requests(db: Database, now: datetime, _worker: str) -> int:
    """Expire pending requests past their time; queue the runs that waited on them (they
    then fail with a timeout)."""
    with db.read() as conn:
        due = conn.execute(
            sa.select(pending_requests.c.request_id)
            .where(pending_requests.c.status == "pending", pending_requests.c.expires_at < now)
            .limit(1)
        ).first()
    if due is None:
        return 0
    with db.write() as conn:
        expired = requests.expire_due(conn, now)
        for row in expired:
            if row["run_id"]:
                runs.resume_waiting(conn, row["run_id"], now)
        if expired:
            alerting.requests_expired(conn, len(expired), now)
    log.info("pending requests expired", count=len(expired))
    return len(expired)


def _watcher(every: float) -> Job:
    last: list[datetime] = []

    def watch_job(db: Database, now: datetime, _worker: str) -> int:
        """Look for the causes of alerts (see operations.alerts) every ``every`` s."""
        if last and (now - last[0]).total_seconds() < every:
            return 0
        last[:] = [now]
        with db.write() as conn:
            alerting.watch(conn, now)
        return 0

    return watch_job


def report_crash(db: Database, clock: Clock) -> Callable[[BaseException], None]:
    """What a supervisor calls when its worker crashed: open (or count on) the alert."""

    def crashed(exc: BaseException) -> None:
        try:
            with db.write() as conn:
                alerting.worker_crashed(conn, repr(exc)[:500], clock.now())
        except sa.exc.SQLAlchemyError:
            log.exception("cannot record the worker crash as an alert")

    return crashed


def build_worker(settings: Settings, db: Database, box: SecretBox, clock: Clock) -> Worker:
    """A worker configured from ``settings``."""
    jobs: list[Job] = [
        _runs_job(settings.base_url),
        expire_requests,
        _watcher(settings.alert_interval),
    ]
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
        idle_jobs_every=settings.alert_interval,
    )


PAUSES_KEPT = 100


@dataclass
class Supervision:
    """What :func:`supervise` reports: how many times the worker crashed, the last
    crash, and the latest pauses before a restart (for ``/metrics`` and tests)."""

    crashes: int = 0
    last_error: str | None = None
    # The wait before each restart, oldest first; bounded, since serve runs for months.
    pauses: deque[float] = field(default_factory=lambda: deque(maxlen=PAUSES_KEPT))


async def supervise(
    make: Callable[[], Worker],
    stop: asyncio.Event,
    *,
    on_start: Callable[[Worker], None] = lambda _worker: None,
    on_crash: Callable[[BaseException], None] = lambda _exc: None,
    report: Supervision | None = None,
    first_pause: float = 1.0,
    max_pause: float = 30.0,
    settle: float = 60.0,
) -> None:
    """Run ``make()``'s worker until ``stop`` is set, starting a new one after a crash
    (module docstring). ``on_start`` is told of each worker as it starts (to wake it)."""
    report = report or Supervision()
    pause = first_pause
    while not stop.is_set():
        started = time.monotonic()
        try:
            worker = make()  # (a worker that cannot even be built is a crash too)
            on_start(worker)
            await worker.run(stop)
            return
        except Exception as exc:
            report.crashes += 1
            report.last_error = repr(exc)
            if time.monotonic() - started >= settle:
                pause = first_pause
            report.pauses.append(pause)
            log.exception("worker crashed; starting a new one", pause=pause, crashes=report.crashes)
            await asyncio.to_thread(on_crash, exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), pause)
        pause = min(pause * 2, max_pause)


def run_forever(settings: Settings, db: Database, clock: Clock | None = None) -> None:
    """Run a supervised worker until SIGINT or SIGTERM, then shut it down gracefully."""
    box = SecretBox(lambda: load_key(settings.data_dir, settings.secret_key))
    clock = clock or SystemClock()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        present = asyncio.create_task(keep_present(db, clock, "worker", None, stop))
        await supervise(
            lambda: build_worker(settings, db, box, clock),
            stop,
            on_crash=report_crash(db, clock),
        )
        stop.set()
        await present

    asyncio.run(main())
