"""The committer for SQLite: batches run on the event loop, each COMMIT on a thread of
its own, customer upserts deferred to the batch's end (see
:mod:`claybridge.ingest.committer` and :mod:`claybridge.ingest.fastpath.deferred_upserts`)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import sqlalchemy as sa

from claybridge.ingest.committer import (
    Committer,
    Item,
    Mode,
    Outcome,
    live_jobs,
    log,
    run_alone,
    settle_all,
)
from claybridge.ingest.fastpath.deferred_upserts import DeferredUpserts
from claybridge.records.batch import Batch, run_jobs, run_jobs_deferred
from claybridge.storage.database import SQLITE_BUSY_MS
from claybridge.storage.prepared import driver_error, run_bound


def _dbapi(conn: sa.Connection) -> Any:
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    return dbapi


class LoopCommitter(Committer):
    """Batches on the event loop (SQLite); see the module docstring."""

    mode: Mode = "loop"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pending: list[Item[Any]] = []
        self._draining = False
        self._commits: ThreadPoolExecutor | None = None
        self._conn: sa.Connection | None = None
        # The customer upserts of self._conn's batches, and the rows they carry.
        self._upserts = DeferredUpserts()

    def start(self) -> None:
        """Start accepting jobs (idempotent)."""
        self._running = True
        if self._commits is None:
            self._commits = ThreadPoolExecutor(1, thread_name_prefix="claybridge-commit")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop accepting jobs; a COMMIT under way finishes first."""
        self._running = False
        if self._commits is not None:
            self._commits.shutdown(wait=True)
            self._commits = None
        self._release()
        self._log_stopped()

    def carried(self) -> dict[str, Any]:
        """A copy of the customer rows batches carry to the next, by domain."""
        return dict(self._upserts.rows)

    def _enqueue(self, item: Item[Any]) -> None:
        self._pending.append(item)
        if not self._draining:
            self._draining = True
            loop = item.loop
            # call_soon: start after the requests already read in this loop iteration
            # have been submitted, so they share the batch.
            loop.call_soon(lambda: loop.create_task(self._drain()))

    def _settle(self, loop: asyncio.AbstractEventLoop, settled: list[Any]) -> None:
        settle_all(settled)  # on the loop already

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                self._finish(batch, await self._batch_on_loop(batch))
        finally:
            self._draining = False

    async def _batch_on_loop(self, batch: list[Item[Any]]) -> list[Outcome]:
        try:
            return await self._run_on_loop(batch)
        except Exception as exc:
            if len(batch) == 1:
                return [await self._alone(batch[0], first_error=exc)]
            log.info(
                "group commit failed; retrying requests alone", size=len(batch), error=repr(exc)
            )
            return [await self._alone(item) for item in batch]

    async def _alone(self, item: Item[Any], first_error: Exception | None = None) -> Outcome:
        """The job in a transaction of its own; the lock is waited for without blocking."""

        async def once() -> Outcome:
            return (await self._run_on_loop([item]))[0]

        return await run_alone(once, first_error)

    def _connect_on_loop(self) -> sa.Connection:
        """The batches' one connection; on SQLite it takes the write lock itself, in
        :meth:`_lock`, so its own busy timeout is 0 while the committer holds it."""
        # One connection for every batch: checking one out of the pool and back in
        # (with its reset) cost more than a small batch's own reads.
        if self._conn is None:
            if self._db.is_sqlite:
                self._conn = self._db.engine.execution_options(sqlite_begin="HELD").connect()
                _dbapi(self._conn).execute("PRAGMA busy_timeout=0")
            else:  # loop mode asked for explicitly (tests)
                self._conn = self._db.writer.connect()
        return self._conn

    async def _lock(self, conn: sa.Connection) -> None:
        """``BEGIN IMMEDIATE`` without blocking the event loop: tried at once, and while
        another connection holds the write lock, tried again after pauses that double
        from 1 ms to 50 ms (the loop serves other requests meanwhile) until
        ``lock_timeout``, when the database counts as unavailable."""
        dbapi = _dbapi(conn)
        deadline = time.monotonic() + self._lock_timeout
        pause = 0.001
        while True:
            try:
                dbapi.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                busy = getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY
                if not busy or time.monotonic() >= deadline:
                    raise driver_error(conn, "BEGIN IMMEDIATE", (), exc) from exc
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.05)

    async def _run_on_loop(self, batch: list[Item[Any]]) -> list[Outcome]:
        """One transaction for ``batch`` on the loop (its COMMIT on the commit thread)."""
        conn = self._connect_on_loop()
        try:
            if self._db.is_sqlite:
                await self._lock(conn)
            transaction = conn.begin()
            jobs = live_jobs(batch)  # (after the wait: a caller may have gone)
            try:
                if self._db.is_sqlite:
                    self._upserts.check(conn)
                    upserting = Batch(self._upserts.upsert)
                    results, deferred = run_jobs_deferred(conn, jobs, upserting)
                    run_bound(conn, [b for i, rows in deferred for b in i.multi_row(conn, rows)])
                else:  # loop mode asked for explicitly (tests)
                    results = run_jobs(conn, jobs)
            except BaseException:
                transaction.rollback()
                raise
            await self._commit(transaction)
        except BaseException:
            self._release()  # a failed batch does not leave its state for the next
            raise
        self._upserts.trim()
        return [(r, None) for r in results]

    def _release(self) -> None:
        """Give the batches' connection back to the pool (a new one is taken next time),
        and forget what was carried for it."""
        self._upserts.forget()
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if self._db.is_sqlite and not conn.invalidated:
            try:  # back to the pool as it came: waiting for the lock as usual
                _dbapi(conn).execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
            except sqlite3.Error:
                conn.invalidate()
        conn.close()

    async def _commit(self, transaction: sa.RootTransaction) -> None:
        """COMMIT on the commit thread; the loop serves HTTP meanwhile (module docstring)."""
        if self._commits is None:  # stopped while this batch ran
            transaction.commit()
            return
        done = self._commits.submit(transaction.commit)
        # Let go of the GIL once, so the commit thread takes it now and enters the COMMIT
        # (which releases it), rather than after the loop's next switch interval.
        time.sleep(0)  # noqa: ASYNC251 (sleep(0) only releases the GIL, it does not wait)
        try:
            await asyncio.wrap_future(done)
        except asyncio.CancelledError:
            done.result()  # the connection must not be closed under a running COMMIT
            raise
