"""Group commit: many concurrent ingest requests share one database transaction.

Why: an event must be durable before Claybridge answers, and a durable commit costs an
fsync (SQLite) or a WAL flush (PostgreSQL). The committer takes every request that is
waiting, runs them one after another in a single transaction and commits once, so the
flush is paid once per batch instead of once per request. With one request waiting, a
batch is that request alone: no added latency at low load.

Two ways to run a batch, chosen per database (measured with ``bench/ingest.py``):

* ``loop`` (SQLite): the batch's statements run on the event loop thread, where
  SQLite's calls are short and CPU-bound. Running them on a writer thread made the two
  threads trade the GIL on every SQLite call (SQLite releases it per step): 4.5-5.1k
  against 5.5-5.9k rows/s, and a worse p99. The batch's deferred rows (events,
  idempotency keys, deliveries, and the customer upserts, see ``ingest.apply``) are
  written at its end as multi-row statements (:meth:`Prepared.multi_row`): one
  statement per table instead of one execution per row.

  The COMMIT alone goes to a thread of its own: one call that releases the GIL for its
  whole length (WAL page writes, the fsync and, every ~1,000 pages, a checkpoint that
  copies the WAL into the database file). On the loop it stopped all HTTP for that
  long, and the checkpoints set the p99: in paired runs of ``bench/ingest.py``
  (customers) 154-157 ms on the loop against 58-65 ms on the thread. Meanwhile the loop
  reads the next requests and answers nothing early: a batch's futures are settled
  only once its COMMIT returned, and the next batch starts only then (one writer). The
  price is two hand-overs of the GIL per batch, which cost throughput while the thread
  waited for the interpreter's switch interval (at 2 ms: a ratio to the bare app of
  0.199 against 0.213 with the COMMIT on the loop, same run). So the loop lets go of
  the GIL once right after handing the COMMIT over, and the servers run with a
  :data:`SWITCH_INTERVAL` of 0.5 ms, so the thread gets it back soon after the fsync
  (0.212 in that run).
* ``thread`` (PostgreSQL): a writer thread runs whole batches; each statement waits on
  the network with the GIL released, which must not block the event loop.

Per-batch scratchpad: :func:`batch_scope` gives jobs a dict that lives for one
transaction, so a job can reuse what an earlier job of the same batch read (the same
snapshot), and :func:`defer_insert` queues rows that are written together just before
the commit (one ``executemany``, or multi-row statements in ``loop`` mode).

Carried across batches (``loop`` mode): :func:`carried` gives jobs a dict that outlives
the batch while the committer can vouch that it still matches the database: its
batches hold the write lock from their ``BEGIN IMMEDIATE``, so only a commit by another
connection (another process, the admin API's pool) can change what an earlier batch
read or wrote, and SQLite counts those in ``PRAGMA data_version``. Each batch reads it
under the lock and starts from empty dicts if it moved; a failed batch, a new
connection or a full dict (:data:`CARRY_MAX` entries, oldest dropped) also drop
entries. Why: a customer row re-sent by Clay (a re-run column, an auto-update) was
read by its domain on every row; carried, the read is paid once per customer.

Isolation between requests in a batch: if the batch transaction fails (a unique
constraint raced by another process, a deadlock), it is rolled back and each request
is re-run alone in its own transaction, retried a few times on storage errors. Jobs
must therefore be pure functions of the connection they are given.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

import sqlalchemy as sa
import structlog

from claybridge.storage.database import SQLITE_BUSY_MS, Database
from claybridge.storage.prepared import Prepared, driver_error, run_bound

T = TypeVar("T")
Mode = Literal["loop", "thread"]
log = structlog.get_logger(__name__)

_STOP = object()
# In a batch's scratchpad: jobs may defer upserts (see run_jobs_deferred).
DEFER_UPSERTS = "defer_upserts"
# The interpreter's switch interval the servers run with (see the module docstring): the
# commit thread waits at most about this long for the GIL once its fsync is done (the
# default is 5 ms). 0.1 ms measured no better than 0.5 ms.
SWITCH_INTERVAL = 0.0005
_SCOPE = "_claybridge_batch"
# In a batch's scratchpad: the committer's dicts that outlive the batch (see carried()).
_CARRY = "_carry"
# Most entries a carried dict keeps (per name); beyond it the oldest go. A customer row
# held this way is ~1.5 KB, so 10,000 of them cost ~15 MB.
CARRY_MAX = 10_000
SOLO_ATTEMPTS = 3


def batch_scope(conn: sa.Connection) -> dict[str, Any]:
    """The scratchpad of the current transaction (empty at its start)."""
    # An attribute of the Connection object rather than an entry of ``conn.info`` (a
    # property that reaches through to the pooled connection): jobs ask for it several
    # times a row.
    scope: dict[str, Any] | None = getattr(conn, _SCOPE, None)
    if scope is None:
        scope = {}
        setattr(conn, _SCOPE, scope)
    return scope


def carried(conn: sa.Connection, name: str) -> dict[Any, Any]:
    """A dict of the scratchpad named ``name`` that later batches see again, as long as
    nothing else has written to the database (module docstring); where the committer
    cannot vouch for that (``thread`` mode, a request run alone), it lives for this
    transaction only, like any other entry of :func:`batch_scope`.

    Jobs keep only what is true of the database after their batch commits (a row as
    read, or as the batch's own write leaves it); a batch that fails takes it all away.
    """
    scope = batch_scope(conn)
    found: dict[Any, Any] | None = scope.get(name)
    if found is None:
        keep: dict[str, dict[Any, Any]] | None = scope.get(_CARRY)
        found = scope[name] = {} if keep is None else keep.setdefault(name, {})
    return found


# Deferred writes of a batch: statement -> its rows, in the order first deferred.
Deferred = dict[Prepared, list[dict[str, Any]]]


def defer_insert(conn: sa.Connection, insert: Prepared, row: dict[str, Any]) -> None:
    """Run the prepared ``insert`` (or any write that nothing in the batch reads back
    from the database) for ``row`` at the end of the transaction, with the others."""
    pending: Deferred = batch_scope(conn).setdefault("inserts", {})
    pending.setdefault(insert, []).append(row)


def run_jobs(conn: sa.Connection, jobs: list[Callable[[sa.Connection], Any]]) -> list[Any]:
    """Run ``jobs`` with a fresh scratchpad, then flush their deferred inserts.

    A job may have a ``prepare_batch(conn, jobs)`` (static) method: it runs once for
    all the batch's jobs that share it, before the first job, to read together what
    they would each read alone (it must not change what any job decides).
    """
    results, deferred = run_jobs_deferred(conn, jobs)
    for insert, rows in deferred.items():
        insert.execute_many(conn, rows)
    return results


def run_jobs_deferred(
    conn: sa.Connection,
    jobs: list[Callable[[sa.Connection], Any]],
    *,
    upserts: bool = False,
    carry: dict[str, dict[Any, Any]] | None = None,
) -> tuple[list[Any], Deferred]:
    """:func:`run_jobs` without the flush: also returns the deferred writes, in their
    :attr:`Prepared.write_order`, for the caller to write before it commits.

    ``upserts``: jobs may defer upserts too (:data:`DEFER_UPSERTS`), reading what they
    need first; only where the transaction holds the write lock from its start (SQLite's
    ``BEGIN IMMEDIATE``), so nothing changes between the read and the deferred write.
    ``carry``: the dicts :func:`carried` hands out, kept by the caller across batches
    (only with ``upserts``, for the same reason).
    """
    scope: dict[str, Any] = {}
    if upserts:
        scope[DEFER_UPSERTS] = True
        if carry is not None:
            scope[_CARRY] = carry
    setattr(conn, _SCOPE, scope)
    try:
        groups: dict[Any, list[Any]] = {}
        for job in jobs:
            prepare = getattr(type(job), "prepare_batch", None)
            if prepare is not None:
                groups.setdefault(prepare, []).append(job)
        for prepare, group in groups.items():
            prepare(conn, group)
        results = [job(conn) for job in jobs]
        pending: Deferred = batch_scope(conn).get("inserts", {})
        deferred = dict(sorted(pending.items(), key=lambda item: item[0].write_order))
    finally:
        setattr(conn, _SCOPE, None)
    return results, deferred


@dataclass(slots=True)
class _Item(Generic[T]):
    job: Callable[[sa.Connection], T]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[T]


Outcome = tuple[Any, BaseException | None]


def _abandoned(_conn: sa.Connection) -> None:
    """Stands in for the job of a caller that stopped waiting: it writes nothing."""


def _live_jobs(batch: list[_Item[Any]]) -> list[Callable[[sa.Connection], Any]]:
    """The batch's jobs, less those whose caller has stopped waiting (its future was
    cancelled: it answered 503 at its deadline), which must then not be written."""
    return [_abandoned if item.future.done() else item.job for item in batch]


def _dbapi(conn: sa.Connection) -> Any:
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    return dbapi


def _settle_all(settled: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for future, result, error in settled:
        if future.done():  # the caller went away (client disconnected, shutdown)
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)


class Committer:
    """Runs submitted jobs in grouped write transactions (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        *,
        max_batch: int = 256,
        mode: Mode | None = None,
        lock_timeout: float = SQLITE_BUSY_MS / 1000,
    ) -> None:
        """``lock_timeout``: how long a ``loop`` batch waits for SQLite's write lock."""
        self._db = db
        self._max_batch = max_batch
        self._lock_timeout = lock_timeout
        self.mode: Mode = mode or ("loop" if db.is_sqlite else "thread")
        self._running = False
        # thread mode
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        # loop mode
        self._pending: list[_Item[Any]] = []
        self._loop_seen: tuple[asyncio.AbstractEventLoop | None, int] = (None, 0)
        self._draining = False
        self._commits: ThreadPoolExecutor | None = None
        self._conn: sa.Connection | None = None
        # What carried() keeps for self._conn, and the data_version it was true at.
        self._carry: dict[str, dict[Any, Any]] = {}
        self._data_version: int | None = None
        self.batches = 0
        self.jobs = 0

    def start(self) -> None:
        """Start accepting jobs (idempotent)."""
        self._running = True
        if self.mode == "loop" and self._commits is None:
            self._commits = ThreadPoolExecutor(1, thread_name_prefix="claybridge-commit")
        if self.mode == "thread" and self._thread is None:
            self._thread = threading.Thread(
                target=self._thread_main, name="claybridge-committer", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop accepting jobs; the thread finishes the jobs already submitted first."""
        self._running = False
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout)
            self._thread = None
        if self._commits is not None:
            self._commits.shutdown(wait=True)  # a COMMIT under way finishes first
            self._commits = None
        self._release()
        log.info("committer stopped", mode=self.mode, batches=self.batches, jobs=self.jobs)

    def submit(self, job: Callable[[sa.Connection], T]) -> asyncio.Future[T]:
        """Queue ``job`` for a write transaction: the future (await it on the running
        loop) holds its result, or its error, once the transaction has committed.

        A plain function returning the future, not a coroutine: every request awaits
        one, and a coroutine around it was one more object and frame to resume a row.
        """
        if not self._running:
            raise RuntimeError("the committer is not running")
        loop = self._running_loop()
        future: asyncio.Future[T] = loop.create_future()
        item = _Item(job, loop, future)
        if self.mode == "thread":
            self._queue.put(item)
        else:
            self._pending.append(item)
            if not self._draining:
                self._draining = True
                # call_soon: start after the requests already read in this loop
                # iteration have been submitted, so they share the batch.
                loop.call_soon(lambda: loop.create_task(self._drain()))
        return future

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        """The event loop running in this thread, as ``asyncio.get_running_loop()``.

        Why not that call every time: on Python 3.11 it checks ``getpid()``, a system
        call, and py-spy put 2.8% of the ingest benchmark's loop thread on it (one call
        a request). The loop last found is reused while it is running and was found in
        this thread: a thread runs one loop at a time, so it is the running one.
        """
        loop, thread = self._loop_seen
        if loop is None or thread != threading.get_ident() or not loop.is_running():
            loop = asyncio.get_running_loop()
            self._loop_seen = loop, threading.get_ident()
        return loop

    # -- loop mode ---------------------------------------------------------------------

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                self._finish(batch, await self._batch_on_loop(batch))
        finally:
            self._draining = False

    async def _batch_on_loop(self, batch: list[_Item[Any]]) -> list[Outcome]:
        try:
            return await self._run_on_loop(batch)
        except Exception as exc:
            if len(batch) == 1:
                return [await self._solo_on_loop(batch[0], first_error=exc)]
            log.info(
                "group commit failed; retrying requests alone", size=len(batch), error=repr(exc)
            )
            return [await self._solo_on_loop(item) for item in batch]

    async def _solo_on_loop(
        self, item: _Item[Any], first_error: Exception | None = None
    ) -> Outcome:
        """:meth:`_solo` for ``loop`` mode: the lock is waited for without blocking."""
        if first_error is not None and not isinstance(first_error, sa.exc.DBAPIError):
            return None, first_error  # a bug, not contention: retrying will not help
        error: BaseException | None = first_error
        for _ in range(SOLO_ATTEMPTS - (1 if first_error is not None else 0)):
            try:
                return (await self._run_on_loop([item]))[0]
            except sa.exc.DBAPIError as exc:
                error = exc
            except Exception as exc:
                return None, exc
        return None, error

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

    async def _run_on_loop(self, batch: list[_Item[Any]]) -> list[Outcome]:
        """One transaction for ``batch`` on the loop (its COMMIT on the commit thread)."""
        conn = self._connect_on_loop()
        try:
            if self._db.is_sqlite:
                await self._lock(conn)
            transaction = conn.begin()
            jobs = _live_jobs(batch)  # (after the wait: a caller may have gone)
            try:
                if self._db.is_sqlite:
                    self._check_carry(conn)
                    results, deferred = run_jobs_deferred(
                        conn, jobs, upserts=True, carry=self._carry
                    )
                    run_bound(
                        conn, [b for i, rows in deferred.items() for b in i.multi_row(conn, rows)]
                    )
                else:  # loop mode asked for explicitly (tests)
                    results = run_jobs(conn, jobs)
            except BaseException:
                transaction.rollback()
                raise
            await self._commit(transaction)
        except BaseException:
            self._release()  # a failed batch does not leave its state for the next
            raise
        for kept in self._carry.values():
            for _ in range(len(kept) - CARRY_MAX):
                del kept[next(iter(kept))]  # the oldest first
        return [(r, None) for r in results]

    def _check_carry(self, conn: sa.Connection) -> None:
        """Drop what earlier batches carried if another connection has committed since
        (``PRAGMA data_version`` moved). Runs under the batch's write lock, so nothing
        else can commit between this check and the batch's own COMMIT."""
        dbapi = conn.connection.dbapi_connection
        assert dbapi is not None
        version = dbapi.execute("PRAGMA data_version").fetchone()[0]
        if version != self._data_version:
            self._carry.clear()
            self._data_version = version

    def _release(self) -> None:
        """Give the batches' connection back to the pool (a new one is taken next time),
        and forget what was carried for it."""
        self._carry.clear()
        self._data_version = None
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

    # -- thread mode -------------------------------------------------------------------

    def _thread_main(self) -> None:
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
            self._finish(batch, self._batch_in_thread(batch))
            if stop_after:
                return

    def _batch_in_thread(self, batch: list[_Item[Any]]) -> list[Outcome]:
        try:
            with self._db.write() as conn:
                results = run_jobs(conn, _live_jobs(batch))
            return [(r, None) for r in results]
        except Exception as exc:
            return self._fallback(batch, exc)

    # -- shared ------------------------------------------------------------------------

    def _fallback(self, batch: list[_Item[Any]], exc: Exception) -> list[Outcome]:
        if len(batch) == 1:
            return [self._solo(batch[0], first_error=exc)]
        log.info("group commit failed; retrying requests alone", size=len(batch), error=repr(exc))
        return [self._solo(item) for item in batch]

    def _solo(self, item: _Item[Any], first_error: Exception | None = None) -> Outcome:
        if first_error is not None and not isinstance(first_error, sa.exc.DBAPIError):
            return None, first_error  # a bug, not contention: retrying will not help
        error: BaseException | None = first_error
        attempts = SOLO_ATTEMPTS - (1 if first_error is not None else 0)
        for _ in range(attempts):
            try:
                with self._db.write() as conn:
                    return run_jobs(conn, _live_jobs([item]))[0], None
            except sa.exc.DBAPIError as exc:
                error = exc
            except Exception as exc:
                return None, exc
        return None, error

    def _finish(self, batch: list[_Item[Any]], outcomes: list[Outcome]) -> None:
        self.batches += 1
        self.jobs += len(batch)
        by_loop: dict[asyncio.AbstractEventLoop, list[Any]] = {}
        for item, (result, error) in zip(batch, outcomes, strict=True):
            by_loop.setdefault(item.loop, []).append((item.future, result, error))
        for loop, settled in by_loop.items():
            if self.mode == "loop":
                _settle_all(settled)
                continue
            try:
                loop.call_soon_threadsafe(_settle_all, settled)
            except RuntimeError:  # that event loop is closed: nobody is waiting
                continue
