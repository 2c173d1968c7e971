"""Customer rows carried from one group commit to the next (SQLite's loop mode), and the
answers they give on either database."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from claybridge.ingest.committer import Committer, open_committer
from claybridge.ingest.fastpath import deferred_upserts
from claybridge.mapping.customer import CustomerInput
from claybridge.records import customers, sources
from claybridge.records.batch import Batch
from claybridge.storage.database import Database
from claybridge.storage.tables import customers as customers_table
from tests.conftest import now

Job = Callable[[sa.Connection, Batch], tuple[dict[str, Any], bool]]


def _source(db: Database) -> str:
    with db.write() as conn:
        source, _token = sources.create(conn, "Clay accounts", "clay-customers", now())
    return source.id


T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _upsert(source_id: str, domain: str, stage: str | None, second: int = 0) -> Job:
    """The customer action as ingest runs it: deferred where the batch allows it."""
    data = CustomerInput(
        name=domain.title(), website_url=f"https://{domain}", domain=domain, stage=stage
    )
    at = T0 + timedelta(seconds=second)

    def job(conn: sa.Connection, batch: Batch) -> tuple[dict[str, Any], bool]:
        return batch.customer_upsert(conn, batch, data, owner_id=None, source_id=source_id, now=at)

    return job


def _fail(conn: sa.Connection, batch: Batch) -> None:
    conn.exec_driver_sql("INSERT INTO no_such_table VALUES (1)")


def _batches(db: Database, *batches: list[Any], between: Any = None) -> list[list[Any]]:
    """Run each list of jobs as one batch, in order; ``between(i)`` runs after batch i."""
    committer = open_committer(db)
    committer.start()
    try:

        async def scenario() -> list[list[Any]]:
            done = []
            for i, jobs in enumerate(batches):
                submitted = (committer.submit(j) for j in jobs)
                done.append(await asyncio.gather(*submitted, return_exceptions=True))
                if between is not None:
                    between(i, committer)
            return done

        return asyncio.run(scenario())
    finally:
        committer.stop()


def _stage(db: Database, domain: str) -> str | None:
    with db.read() as conn:
        found = conn.execute(
            sa.select(customers_table.c.stage).where(customers_table.c.domain == domain)
        ).scalar_one()
    return found  # type: ignore[no-any-return]


def test_a_carried_customer_is_not_read_again(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second batch answers from the row the first batch wrote (no read by domain on
    SQLite), and the answer is what the stored row says on either database."""
    source_id = _source(db)
    reads: list[str] = []
    real = customers.by_domain

    def counted(conn: sa.Connection, domain: str) -> dict[str, Any] | None:
        reads.append(domain)
        return real(conn, domain)

    monkeypatch.setattr(customers, "by_domain", counted)
    first, second = _batches(
        db,
        [_upsert(source_id, "acme.com", "Lead")],
        [_upsert(source_id, "acme.com", None, 1), _upsert(source_id, "beta.io", None, 1)],
    )
    (row, created), (again, created_again), (_beta, beta_created) = first[0], *second
    assert (created, created_again, beta_created) == (True, False, True)
    assert again["id"] == row["id"]
    assert again["stage"] == "Lead"
    assert again["updated_at"] == row["updated_at"] + timedelta(seconds=1)
    if db.is_sqlite:
        assert reads == ["acme.com", "beta.io"], "acme.com was carried, beta.io was read"
    assert _stage(db, "acme.com") == "Lead"


def test_a_commit_by_another_connection_voids_what_was_carried(db: Database) -> None:
    """A change made between two batches by another connection is what the next batch
    answers with: the carried row is dropped because data_version moved."""
    source_id = _source(db)

    def edit_elsewhere(i: int, _committer: Committer) -> None:
        if i == 0:
            with db.write() as conn:
                conn.execute(
                    customers_table.update()
                    .where(customers_table.c.domain == "acme.com")
                    .values(stage="Churned")
                )

    _first, second = _batches(
        db,
        [_upsert(source_id, "acme.com", "Lead")],
        [_upsert(source_id, "acme.com", None, 1)],
        between=edit_elsewhere,
    )
    (row, created) = second[0]
    assert created is False
    assert row["stage"] == "Churned"
    assert _stage(db, "acme.com") == "Churned"


def test_a_failed_batch_carries_nothing(db: Database) -> None:
    """A batch that rolls back drops every carried row (it may hold merges that were
    never committed); its requests rerun alone and the next batch answers as stored."""
    source_id = _source(db)
    carried_after: list[dict[str, Any]] = []

    def look(_i: int, committer: Committer) -> None:
        carried_after.append(committer.carried())

    _first, failed, last = _batches(
        db,
        [_upsert(source_id, "acme.com", "Lead")],
        [_upsert(source_id, "acme.com", "Customer", 1), _fail],
        [_upsert(source_id, "acme.com", None, 2)],
        between=look,
    )
    assert isinstance(failed[1], sa.exc.DBAPIError)
    if db.is_sqlite:
        assert list(carried_after[0]) == ["acme.com"]
    assert carried_after[1] == {}
    assert last[0][0]["stage"] == "Customer"
    assert _stage(db, "acme.com") == "Customer"


def test_carried_rows_are_bounded_oldest_first(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past CARRY_MAX rows, the least recently upserted are dropped first."""
    monkeypatch.setattr(deferred_upserts, "CARRY_MAX", 2)
    source_id = _source(db)
    kept: list[list[str]] = []

    def look(_i: int, committer: Committer) -> None:
        kept.append(list(committer.carried()))

    _batches(
        db,
        [_upsert(source_id, d, None) for d in ("a.com", "b.com", "c.com")],
        [_upsert(source_id, "b.com", None, 1), _upsert(source_id, "d.com", None, 1)],
        between=look,
    )
    if db.is_sqlite:
        assert kept == [["b.com", "c.com"], ["b.com", "d.com"]]
    else:  # a writer thread carries nothing from batch to batch
        assert kept == [[], []]
