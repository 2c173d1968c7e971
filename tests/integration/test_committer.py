"""Group commit on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from claybridge.ingest.committer import Committer, open_committer
from claybridge.records.batch import Batch
from claybridge.storage.database import Database
from claybridge.storage.tables import owners
from tests.conftest import now


def _insert_owner(email: str) -> object:
    def job(conn: sa.Connection, batch: Batch) -> str:
        conn.execute(
            owners.insert().values(
                id=f"own_{email}", name=email, name_key=email, email=email, created_at=now()
            )
        )
        return email

    return job


class _Hold:
    """A job that keeps the writer busy until released, so the next jobs queue behind it.

    In thread mode it waits on ``gate`` in the writer thread. In loop mode (SQLite) the
    event loop itself runs it, so waiting would only stall the loop: it returns at once,
    and the jobs submitted while its commit is under way still queue behind it.
    """

    def __init__(
        self, committer: Committer, then: Callable[[sa.Connection, Batch], object] | None = None
    ) -> None:
        self.committer = committer
        self.then = then
        self.entered = threading.Event()
        self.gate = threading.Event()

    def __call__(self, conn: sa.Connection, batch: Batch) -> int:
        self.entered.set()
        if self.committer.mode == "thread":
            assert self.gate.wait(5), "never released"
        if self.then is not None:
            self.then(conn, batch)
        return 0

    async def taken(self) -> None:
        """Return once the writer has taken this job (its batch is closed)."""
        deadline = asyncio.get_running_loop().time() + 5
        while not self.entered.is_set():
            assert asyncio.get_running_loop().time() < deadline, "the writer never took it"
            await asyncio.sleep(0.002)


async def _run_batch(committer: Committer, jobs: list[object]) -> list[object]:
    return await asyncio.gather(
        *(committer.submit(j) for j in jobs),  # type: ignore[arg-type]
        return_exceptions=True,
    )


def test_failed_job_does_not_sink_its_batch(db: Database) -> None:
    """One job hitting a unique violation fails alone; the rest of its batch commits."""
    committer = open_committer(db)
    hold = _Hold(committer)
    committer.start()
    try:

        async def scenario() -> list[object]:
            blocker = asyncio.ensure_future(committer.submit(hold))
            await hold.taken()  # the writer is now busy: the next jobs queue up
            jobs = [
                _insert_owner("a@x.io"),
                _insert_owner("dup@x.io"),
                _insert_owner("dup@x.io"),
                _insert_owner("b@x.io"),
            ]
            pending = asyncio.ensure_future(_run_batch(committer, jobs))
            await asyncio.sleep(0)  # submits all four
            hold.gate.set()
            await blocker
            return await pending

        results = asyncio.run(scenario())
    finally:
        committer.stop()
    assert results[0] == "a@x.io"
    assert results[3] == "b@x.io"
    outcomes = results[1:3]
    assert sum(isinstance(r, sa.exc.IntegrityError) for r in outcomes) == 1
    assert "dup@x.io" in outcomes
    with db.read() as conn:
        emails = {r.email for r in conn.execute(sa.select(owners.c.email))}
    assert emails == {"a@x.io", "b@x.io", "dup@x.io"}
    assert committer.jobs == 5
    assert committer.batches == 2, "the four queued jobs shared one transaction"


def test_a_batch_lives_for_one_transaction(db: Database) -> None:
    """Jobs in one transaction are handed one batch; the next transaction a new one."""
    committer = open_committer(db)
    committer.start()
    seen: list[Batch] = []
    hold = _Hold(committer, then=lambda conn, batch: seen.append(batch))

    def bump(conn: sa.Connection, batch: Batch) -> int:
        seen.append(batch)
        return sum(b is batch for b in seen)

    try:

        async def scenario() -> tuple[object, list[object], object]:
            first = asyncio.ensure_future(committer.submit(hold))
            await hold.taken()
            batch = asyncio.ensure_future(_run_batch(committer, [bump, bump, bump]))
            await asyncio.sleep(0)  # submits all three
            hold.gate.set()
            await first
            done = await batch
            return await first, done, await committer.submit(bump)

        _, batch, alone = asyncio.run(scenario())
    finally:
        committer.stop()
    assert batch == [1, 2, 3]
    assert alone == 1


def test_submit_requires_a_running_committer(db: Database) -> None:
    """Submitting before start() is an error, not a hang."""
    committer = open_committer(db)
    with pytest.raises(RuntimeError, match="not running"):
        asyncio.run(committer.submit(lambda conn, batch: None))


def test_prepared_statements_raise_sqlalchemy_errors(db: Database) -> None:
    """A driver error on a prepared statement surfaces as SQLAlchemy's IntegrityError."""
    from claybridge.storage.prepared import Prepared

    insert = Prepared(owners.insert(), [c.key for c in owners.c])
    row = {"id": "own_1", "name": "A", "name_key": "a", "email": "a@x.io", "created_at": now()}
    with db.write() as conn:
        insert.execute(conn, row)
    with db.write() as conn, pytest.raises(sa.exc.IntegrityError):
        insert.execute(conn, {**row, "id": "own_2"})
    with db.write() as conn, pytest.raises(sa.exc.IntegrityError):
        insert.execute_many(conn, [{**row, "id": "own_3"}])


def test_a_failed_batch_leaves_the_committer_usable(db: Database) -> None:
    """After a batch rolls back (a duplicate inside it), the next batch commits: the
    batches' connection is handed back and a fresh one taken."""
    committer = open_committer(db)
    committer.start()
    try:

        async def scenario() -> tuple[list[object], object]:
            batch = await _run_batch(
                committer, [_insert_owner("same@x.io"), _insert_owner("same@x.io")]
            )
            return batch, await committer.submit(_insert_owner("next@x.io"))  # type: ignore[arg-type]

        batch, after = asyncio.run(scenario())
    finally:
        committer.stop()
    assert sum(isinstance(r, sa.exc.IntegrityError) for r in batch) == 1
    assert after == "next@x.io"
    with db.read() as conn:
        emails = {r.email for r in conn.execute(sa.select(owners.c.email))}
    assert emails == {"same@x.io", "next@x.io"}


def test_begin_on_a_locked_sqlite_database_raises_sqlalchemys_error(tmp_path: object) -> None:
    """BEGIN IMMEDIATE, issued on the driver, still fails as SQLAlchemy's OperationalError
    (which the committer retries) when another connection holds the write lock."""
    url = f"sqlite:///{tmp_path}/locked.db"
    holder, waiter = Database(url), Database(url)

    @sa.event.listens_for(waiter.engine, "connect")
    def _short_wait(dbapi_connection: object, _record: object) -> None:
        dbapi_connection.execute("PRAGMA busy_timeout=50")  # type: ignore[attr-defined]

    try:
        with holder.write() as held:
            held.exec_driver_sql("CREATE TABLE t (x INTEGER)")
            with pytest.raises(sa.exc.OperationalError, match="locked"), waiter.write():
                pass
    finally:
        holder.dispose()
        waiter.dispose()
