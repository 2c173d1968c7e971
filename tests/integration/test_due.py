"""The idle worker's one read (records.due.anything_due), kind by kind, and its polling."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from claybridge.core.ssrf import parse_networks
from claybridge.delivery.worker import Worker
from claybridge.records import deliveries, destinations, due
from claybridge.secretbox import SecretBox
from claybridge.storage.database import Database
from claybridge.storage.tables import deliveries as deliveries_table
from claybridge.storage.tables import destinations as destinations_table
from claybridge.storage.tables import pending_requests, runs, workflows
from tests.conftest import now

HOUR = timedelta(hours=1)


def _destination(conn: sa.Connection) -> str:
    dest, _ = destinations.create(
        conn,
        {"name": "d", "kind": "http", "url": "http://127.0.0.1:9/h"},
        now(),
        SecretBox(Fernet.generate_key()),
        allow=parse_networks("127.0.0.1/32"),
    )
    return dest.id


def _delivery(status: str, **times: Any) -> Callable[[sa.Connection, bool], None]:
    def add(conn: sa.Connection, due_now: bool) -> None:
        row = deliveries.new_row(_destination(conn), {"a": 1}, now())
        when = now() + (-HOUR if due_now else HOUR)
        row.update(status=status, **{k: when for k in times})
        deliveries.enqueue(conn, [row])

    return add


def _probe(conn: sa.Connection, due_now: bool) -> None:
    dest = _destination(conn)
    conn.execute(
        destinations_table.update()
        .where(destinations_table.c.id == dest)
        .values(circuit_state="open", probe_at=now() + (-HOUR if due_now else HOUR))
    )


def _run(status: str, column: str) -> Callable[[sa.Connection, bool], None]:
    def add(conn: sa.Connection, due_now: bool) -> None:
        at = now()
        conn.execute(
            workflows.insert().values(
                id="wf_1", key="w", name="w", steps=[], created_at=at, updated_at=at
            )
        )
        when = at + (-HOUR if due_now else HOUR)
        values: dict[str, Any] = {
            "id": "run_1",
            "workflow_id": "wf_1",
            "status": status,
            "event": {},
            "steps": [],
            "next_attempt_at": at + HOUR,
            "created_at": at,
            "updated_at": at,
        }
        values[column] = when
        conn.execute(runs.insert().values(**values))

    return add


def _request(conn: sa.Connection, due_now: bool) -> None:
    at = now()
    conn.execute(
        pending_requests.insert().values(
            request_id="req_1",
            destination_id=_destination(conn),
            status="pending",
            created_at=at,
            expires_at=at + (-HOUR if due_now else HOUR),
        )
    )


KINDS = {
    "delivery due": _delivery(deliveries.PENDING, next_attempt_at=True),
    "retry due": _delivery(deliveries.FAILED, next_attempt_at=True),
    "lease expired": _delivery(deliveries.IN_FLIGHT, lease_expires_at=True),
    "probe due": _probe,
    "run due": _run("queued", "next_attempt_at"),
    "run lease expired": _run("running", "lease_expires_at"),
    "request expired": _request,
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_kind_of_work_is_due_only_once_its_time_came(db: Database, kind: str) -> None:
    """Nothing stored, or work due later: not due. The same work due now: due."""
    with db.read() as conn:
        assert not due.anything_due(conn, now())
    with db.write() as conn:
        KINDS[kind](conn, False)
    with db.read() as conn:
        assert not due.anything_due(conn, now()), "due only later"
    with db.write() as conn:
        for table in (pending_requests, runs, workflows, deliveries_table, destinations_table):
            conn.execute(table.delete())
        KINDS[kind](conn, True)
    with db.read() as conn:
        assert due.anything_due(conn, now())


def test_a_kept_connection_sees_each_commit(db: Database) -> None:
    """Polling on one connection again and again answers from the latest commit."""
    kept = db.engine.connect()
    try:
        assert not due.anything_due(kept, now())
        with db.write() as conn:
            KINDS["delivery due"](conn, True)
        assert due.anything_due(kept, now()), "the second poll saw the first one's snapshot"
    finally:
        kept.close()


def test_the_poll_holds_no_read_transaction_on_sqlite(db: Database) -> None:
    """After a poll, the WAL can be checkpointed and rewound at once (no reader left)."""
    if not db.is_sqlite:
        pytest.skip("a SQLite property: a reader's snapshot keeps the WAL from rewinding")
    kept = db.engine.connect()
    try:
        with db.write() as conn:
            KINDS["delivery due"](conn, False)
        assert not due.anything_due(kept, now())
        path = db.engine.url.database
        assert path is not None
        other = sqlite3.connect(path, timeout=0.2)
        try:
            busy, _frames, _done = other.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            other.close()
        assert busy == 0
    finally:
        kept.close()


def test_an_idle_worker_holds_one_connection_on_sqlite_and_returns_it(db: Database) -> None:
    """Idle polls reuse one connection on SQLite (none between polls on PostgreSQL); a
    stopped worker gives it back to the pool."""
    worker = Worker(db, SecretBox(Fernet.generate_key()), poll_interval=0.02)

    def checked_out() -> int:
        return int(db.engine.pool.checkedout())  # type: ignore[attr-defined]

    async def idle_then_stop() -> list[int]:
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        deadline = asyncio.get_running_loop().time() + 5
        # Until the first poll has taken its connection (SQLite), or a few polls (PG).
        while asyncio.get_running_loop().time() < deadline and not task.done():
            await asyncio.sleep(0.02)
            if checked_out() == 1 or not db.is_sqlite:
                break
        await asyncio.sleep(0.06)
        held = []
        for _ in range(20):  # samples spread over about seven polls
            held.append(checked_out())
            await asyncio.sleep(0.007)
        stop.set()
        await task
        return held

    held = asyncio.run(idle_then_stop())
    if db.is_sqlite:
        assert set(held) == {1}
    else:  # a sample may land inside a poll (run in a thread); between polls none is held
        assert 0 in held
        assert max(held) <= 1
    assert checked_out() == 0


def test_a_storage_error_in_a_round_does_not_stop_the_worker(db: Database) -> None:
    """A poll that fails on the database is logged and tried again after error_pause:
    the worker keeps polling instead of ending (in serve, nothing would deliver)."""

    class FlakyWorker(Worker):
        polls = 0

        async def _anything_due(self, now: Any) -> bool:
            self.polls += 1
            if self.polls == 1:  # the database briefly unavailable
                raise sa.exc.OperationalError("SELECT", {}, Exception("database is locked"))
            return await super()._anything_due(now)

    worker = FlakyWorker(db, SecretBox(Fernet.generate_key()), poll_interval=0.02, error_pause=0.05)

    async def scenario() -> tuple[bool, int]:
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        deadline = asyncio.get_running_loop().time() + 5  # ~0.15 s on an idle machine
        while worker.polls < 4 and not task.done():
            if asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.01)
        alive = not task.done()
        stop.set()
        await task  # a clean stop, no exception
        return alive, worker.polls

    alive, polls = asyncio.run(scenario())
    assert alive
    assert polls >= 4, "polled again after the failed one"
