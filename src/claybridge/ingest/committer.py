"""Group commit: many concurrent ingest requests share one database transaction.

Why: an event must be durable before Claybridge answers, and a durable commit costs an
fsync (SQLite) or a WAL flush (PostgreSQL). The committer takes every request that is
waiting, runs them one after another in a single transaction and commits once, so the
flush is paid once per batch instead of once per request. With one request waiting, a
batch is that request alone: no added latency at low load.

Two implementations behind one interface (:class:`Committer`), chosen per database by
:func:`open_committer` (measured with ``bench/ingest.py``):

* :class:`~claybridge.ingest.committer_loop.LoopCommitter` (SQLite, mode ``loop``): the
  batch's statements run on the event loop thread, where SQLite's calls are short and
  CPU-bound (on a writer thread, the two threads traded the GIL on every SQLite call).
  The batch's deferred rows (events, idempotency keys, deliveries, and the customer
  upserts, see :class:`~claybridge.records.batch.Batch`) are written at its end as
  multi-row statements (:meth:`Prepared.multi_row`): one statement per table instead of
  one execution per row.

  The COMMIT alone goes to a thread of its own: one call that releases the GIL for its
  whole length (WAL page writes, the fsync and the occasional checkpoint); on the loop
  it stopped all HTTP for that long. Meanwhile the loop reads the next requests and
  answers nothing early: a batch's futures are settled only once its COMMIT returned,
  and the next batch starts only then (one writer). The loop lets go of the GIL once
  right after handing the COMMIT over, and the servers run with a short switch interval
  (:mod:`claybridge.tuning`), so the thread gets the GIL back soon after its fsync.
* :class:`~claybridge.ingest.committer_thread.ThreadCommitter` (PostgreSQL, mode
  ``thread``): a writer thread runs whole batches; each statement waits on
  the network with the GIL released, which must not block the event loop.

Each batch is a :class:`~claybridge.records.batch.Batch` made here and handed to every
job with the connection: what its jobs read (once per batch) and the writes they defer
to its end.

Isolation between requests in a batch: if the batch transaction fails (a unique
constraint raced by another process, a deadlock), it is rolled back and each request
is re-run alone in its own transaction (a fresh batch), retried a few times on
storage errors. Jobs must therefore be pure functions of the connection and batch they
are given.
"""

from __future__ import annotations

import asyncio
import threading
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

import sqlalchemy as sa
import structlog

from claybridge.config import Settings
from claybridge.records.batch import Batch
from claybridge.storage.database import Database

T = TypeVar("T")
Mode = Literal["loop", "thread"]
log = structlog.get_logger(__name__)

SOLO_ATTEMPTS = 3
Outcome = tuple[Any, BaseException | None]


@dataclass(slots=True)
class Item(Generic[T]):
    """One submitted job, the loop of its caller, and the future it awaits."""

    job: Callable[[sa.Connection, Batch], T]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[T]


def _abandoned(_conn: sa.Connection, _batch: Batch) -> None:
    """Stands in for the job of a caller that stopped waiting: it writes nothing."""


def live_jobs(batch: list[Item[Any]]) -> list[Callable[[sa.Connection, Batch], Any]]:
    """The batch's jobs, less those whose caller has stopped waiting (its future was
    cancelled: it answered 503 at its deadline), which must then not be written."""
    return [_abandoned if item.future.done() else item.job for item in batch]


def settle_all(settled: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    """Give each waiting caller its result or error."""
    for future, result, error in settled:
        if future.done():  # the caller went away (client disconnected, shutdown)
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)


def alone_attempts(first_error: Exception | None) -> int:
    """How many more times a job that failed in a batch is run alone: none when its error
    was a bug rather than contention (retrying will not help)."""
    if first_error is not None and not isinstance(first_error, sa.exc.DBAPIError):
        return 0
    return SOLO_ATTEMPTS - (1 if first_error is not None else 0)


async def run_alone(
    run: Callable[[], Awaitable[Outcome]], first_error: Exception | None = None
) -> Outcome:
    """Run one job in a transaction of its own, retried on storage errors (the batch it
    was in failed with ``first_error``, if any)."""
    error: BaseException | None = first_error
    for _ in range(alone_attempts(first_error)):
        try:
            return await run()
        except sa.exc.DBAPIError as exc:
            error = exc
        except Exception as exc:
            return None, exc
    return None, error


def run_alone_blocking(run: Callable[[], Outcome], first_error: Exception | None = None) -> Outcome:
    """:func:`run_alone` for a thread that may block."""
    error: BaseException | None = first_error
    for _ in range(alone_attempts(first_error)):
        try:
            return run()
        except sa.exc.DBAPIError as exc:
            error = exc
        except Exception as exc:
            return None, exc
    return None, error


class Committer(ABC):
    """Runs submitted jobs in grouped write transactions (see the module docstring)."""

    mode: Mode

    def __init__(
        self,
        db: Database,
        *,
        max_batch: int = Settings.model_fields["commit_batch_max"].default,
        lock_timeout: float = Settings.model_fields["storage_timeout"].default,
    ) -> None:
        """``lock_timeout``: how long a batch waits for SQLite's write lock."""
        self._db = db
        self._max_batch = max_batch
        self._lock_timeout = lock_timeout
        self._running = False
        self._loop_seen: tuple[asyncio.AbstractEventLoop | None, int] = (None, 0)
        self.batches = 0
        self.jobs = 0

    @abstractmethod
    def start(self) -> None:
        """Start accepting jobs (idempotent)."""

    @abstractmethod
    def stop(self, timeout: float = 10.0) -> None:
        """Stop accepting jobs; the jobs already submitted are finished first."""

    @abstractmethod
    def _enqueue(self, item: Item[Any]) -> None:
        """Hand ``item`` to the batches."""

    @abstractmethod
    def _settle(self, loop: asyncio.AbstractEventLoop, settled: list[Any]) -> None:
        """Settle futures that belong to ``loop`` (from whichever thread finished them)."""

    def submit(self, job: Callable[[sa.Connection, Batch], T]) -> asyncio.Future[T]:
        """Queue ``job`` for a write transaction: the future (await it on the running
        loop) holds its result, or its error, once the transaction has committed.

        A plain function returning the future, not a coroutine: every request awaits
        one, and a coroutine around it was one more object and frame to resume a row.
        """
        if not self._running:
            raise RuntimeError("the committer is not running")
        loop = self._running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._enqueue(Item(job, loop, future))
        return future

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        """The event loop running in this thread, as ``asyncio.get_running_loop()``.

        Why not that call every time: on Python 3.11 it checks ``getpid()``, a system
        call, once a request (see docs/performance.md). The loop last found is reused
        while it is running and was found in this thread: a thread runs one loop at a
        time, so it is the running one.
        """
        loop, thread = self._loop_seen
        if loop is None or thread != threading.get_ident() or not loop.is_running():
            loop = asyncio.get_running_loop()
            self._loop_seen = loop, threading.get_ident()
        return loop

    def _finish(self, batch: list[Item[Any]], outcomes: list[Outcome]) -> None:
        self.batches += 1
        self.jobs += len(batch)
        by_loop: dict[asyncio.AbstractEventLoop, list[Any]] = {}
        for item, (result, error) in zip(batch, outcomes, strict=True):
            by_loop.setdefault(item.loop, []).append((item.future, result, error))
        for loop, settled in by_loop.items():
            self._settle(loop, settled)

    def carried(self) -> dict[str, Any]:
        """A copy of the customer rows batches carry to the next, by domain; empty where
        the committer cannot vouch for them (on a thread)."""
        return {}

    def _log_stopped(self) -> None:
        log.info("committer stopped", mode=self.mode, batches=self.batches, jobs=self.jobs)


def open_committer(
    db: Database,
    *,
    mode: Mode | None = None,
    max_batch: int = Settings.model_fields["commit_batch_max"].default,
    lock_timeout: float = Settings.model_fields["storage_timeout"].default,
) -> Committer:
    """The committer for ``db``: on the loop for SQLite, on a thread for PostgreSQL
    (``mode`` overrides it, for tests)."""
    from claybridge.ingest.committer_loop import LoopCommitter
    from claybridge.ingest.committer_thread import ThreadCommitter

    chosen = mode or ("loop" if db.is_sqlite else "thread")
    kind = LoopCommitter if chosen == "loop" else ThreadCommitter
    return kind(db, max_batch=max_batch, lock_timeout=lock_timeout)
