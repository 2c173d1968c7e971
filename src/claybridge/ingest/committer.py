"""Group commit: many concurrent ingest requests share one database transaction.

Why: an event must be durable before Claybridge answers, and a durable commit costs an
fsync (SQLite) or a WAL flush (PostgreSQL). Under load, one writer thread takes every
request that is waiting, runs them one after another in a single transaction and
commits once, so the flush is paid once per batch instead of once per request. With
one request waiting, a batch is that request alone: no added latency at low load.

Per-batch scratchpad: :func:`batch_scope` gives jobs a dict that lives for one
transaction, so a job can reuse what an earlier job of the same batch read (the same
snapshot), and :func:`defer_insert` queues rows that are written together with one
``executemany`` just before the commit.

Isolation between requests in a batch: if the batch transaction fails (a unique
constraint raced by another process, a deadlock), it is rolled back and each request
is re-run alone in its own transaction, retried a few times on storage errors. Jobs
must therefore be pure functions of the connection they are given.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
import structlog

from claybridge.storage.database import Database
from claybridge.storage.prepared import Prepared

T = TypeVar("T")
log = structlog.get_logger(__name__)

_STOP = object()
SOLO_ATTEMPTS = 3


_SCOPE = "claybridge.batch"


def batch_scope(conn: sa.Connection) -> dict[str, Any]:
    """The scratchpad of the current transaction (empty at its start)."""
    scope: dict[str, Any] = conn.info.setdefault(_SCOPE, {})
    return scope


def defer_insert(conn: sa.Connection, insert: Prepared, row: dict[str, Any]) -> None:
    """Run the prepared ``insert`` for ``row`` at the end of the transaction, in bulk."""
    pending: dict[Prepared, list[dict[str, Any]]] = batch_scope(conn).setdefault("inserts", {})
    pending.setdefault(insert, []).append(row)


def _transaction(db: Database, jobs: list[Callable[[sa.Connection], T]]) -> list[T]:
    """Run ``jobs`` in one write transaction with a fresh scratchpad; flush deferred rows."""
    with db.write() as conn:
        conn.info[_SCOPE] = {}
        try:
            results = [job(conn) for job in jobs]
            for insert, rows in batch_scope(conn).get("inserts", {}).items():
                insert.execute_many(conn, rows)
        finally:
            conn.info.pop(_SCOPE, None)
    return results


@dataclass
class _Item(Generic[T]):
    job: Callable[[sa.Connection], T]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[T]


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # the caller went away (client disconnected, shutdown)
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class Committer:
    """A writer thread that runs submitted jobs in grouped transactions."""

    def __init__(self, db: Database, *, max_batch: int = 256) -> None:
        self._db = db
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self.batches = 0
        self.jobs = 0

    def start(self) -> None:
        """Start the writer thread (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="claybridge-committer", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the jobs already submitted, then stop the thread."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout)
            self._thread = None
            log.info("committer stopped", batches=self.batches, jobs=self.jobs)

    async def submit(self, job: Callable[[sa.Connection], T]) -> T:
        """Run ``job`` in a write transaction and return its result once committed."""
        if self._thread is None:
            raise RuntimeError("the committer is not running")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Item(job, loop, future))
        return await future

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch: list[_Item[Any]] = [first]
            stop_after = False
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop_after = True
                    break
                batch.append(item)
            self._execute(batch)
            if stop_after:
                return

    def _execute(self, batch: list[_Item[Any]]) -> None:
        outcomes: list[tuple[Any, BaseException | None]]
        try:
            results = _transaction(self._db, [item.job for item in batch])
            outcomes = [(r, None) for r in results]
        except Exception as exc:
            if len(batch) == 1:
                outcomes = [self._solo(batch[0], first_error=exc)]
            else:
                log.info(
                    "group commit failed; retrying requests alone", size=len(batch), error=repr(exc)
                )
                outcomes = [self._solo(item) for item in batch]
        self.batches += 1
        self.jobs += len(batch)
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any, Any]]] = {}
        for item, (result, error) in zip(batch, outcomes, strict=True):
            by_loop.setdefault(item.loop, []).append((item.future, result, error))
        for loop, settled in by_loop.items():
            try:
                loop.call_soon_threadsafe(_settle_all, settled)
            except RuntimeError:  # that event loop is closed: nobody is waiting
                continue

    def _solo(
        self, item: _Item[Any], first_error: BaseException | None = None
    ) -> tuple[Any, BaseException | None]:
        error = first_error
        attempts = SOLO_ATTEMPTS - (1 if first_error is not None else 0)
        if first_error is not None and not isinstance(first_error, sa.exc.DBAPIError):
            return None, first_error  # a bug, not contention: retrying will not help
        for _ in range(attempts):
            try:
                return _transaction(self._db, [item.job])[0], None
            except sa.exc.DBAPIError as exc:
                error = exc
            except Exception as exc:
                return None, exc
        return None, error


def _settle_all(settled: list[tuple[asyncio.Future[Any], Any, Any]]) -> None:
    for future, result, error in settled:
        _settle(future, result, error)
