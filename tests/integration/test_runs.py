"""A run's lease on a real database (SQLite and PostgreSQL): only the worker holding a run
may record what became of it."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from claybridge.records import runs
from claybridge.storage.database import Database
from claybridge.storage.tables import workflows
from tests.conftest import now


def _claimed(db: Database, worker: str) -> str:
    """A run of a fresh workflow, claimed by ``worker``; its id."""
    at = now()
    with db.write() as conn:
        conn.execute(
            workflows.insert().values(
                id="wf_1", key="w", name="w", steps=[], created_at=at, updated_at=at
            )
        )
        run, created = runs.start(conn, {"id": "wf_1"}, {"email": "ada@example.com"}, at)
        taken = runs.claim(conn, worker=worker, now=at, limit=10, lease_seconds=30)
    assert created
    assert [r["id"] for r in taken] == [run["id"]]
    return str(run["id"])


def _complete(conn: sa.Connection, run_id: str, worker: str) -> None:
    """``worker`` records the run as completed, with one step done."""
    runs.finish(
        conn, run_id, status=runs.COMPLETED, steps=[{"ok": 1}], error=None, now=now(), worker=worker
    )


def test_the_holder_finishes_its_run(db: Database) -> None:
    """The worker holding the lease records the outcome, and the lease is dropped."""
    run_id = _claimed(db, "w1")
    with db.write() as conn:
        _complete(conn, run_id, "w1")
        row = runs.get(conn, run_id)
    assert row["status"] == runs.COMPLETED
    assert row["steps"] == [{"ok": 1}]
    assert row["finished_at"] is not None
    assert (row["lease_owner"], row["lease_expires_at"]) == (None, None)


def test_a_run_cancelled_while_running_stays_cancelled(db: Database) -> None:
    """A worker that finishes (or suspends) a run cancelled meanwhile changes nothing."""
    run_id = _claimed(db, "w1")
    with db.write() as conn:
        runs.cancel(conn, run_id, now())
        _complete(conn, run_id, "w1")
        runs.wait(conn, run_id, steps=[{"ok": 1}], now=now(), worker="w1")
        row = runs.get(conn, run_id)
    assert row["status"] == runs.CANCELLED
    assert row["steps"] == []


def test_a_worker_whose_lease_was_taken_over_changes_nothing(db: Database) -> None:
    """After an expired lease passes the run to another worker, the first one's late
    outcome is ignored and the new holder's is kept."""
    run_id = _claimed(db, "w1")
    later = now() + timedelta(seconds=31)
    with db.write() as conn:
        taken = runs.claim(conn, worker="w2", now=later, limit=10, lease_seconds=30)
        assert [r["id"] for r in taken] == [run_id]
        runs.finish(
            conn, run_id, status=runs.FAILED, steps=[], error="late", now=later, worker="w1"
        )
        assert runs.get(conn, run_id)["status"] == runs.RUNNING
        runs.wait(conn, run_id, steps=[{"waiting": "callback"}], now=later, worker="w2")
        row = runs.get(conn, run_id)
    assert row["status"] == runs.WAITING
    assert row["steps"] == [{"waiting": "callback"}]
    assert row["error"] is None
