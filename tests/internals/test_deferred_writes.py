"""Writes deferred to the end of a batch: multi-row statements and deferred upserts."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from claybridge.ingest.fastpath.deferred_upserts import DeferredUpserts
from claybridge.mapping.customer import CustomerInput
from claybridge.records import customers, events, owners, sources
from claybridge.records.batch import Batch, run_jobs_deferred
from claybridge.storage.database import Database
from claybridge.storage.prepared import Prepared, run_bound
from claybridge.storage.tables import customers as customers_table
from claybridge.storage.tables import events as events_table
from claybridge.storage.tables import owners as owners_table
from tests.conftest import now


def _owner_rows(n: int) -> list[dict[str, Any]]:
    return [
        {
            "id": f"own_{i:04d}",
            "name": f"Owner {i}",
            "name_key": f"owner {i}",
            "email": f"o{i}@x.io",
            "created_at": now(),
        }
        for i in range(n)
    ]


def test_multi_row_inserts_what_row_by_row_inserts(db: Database) -> None:
    """150 rows go in as multi-row statements of 64, 64, 16, 4 and 2 rows with every
    value converted as a single-row insert converts it; drivers with named binds refuse."""
    insert = Prepared(owners_table.insert(), [c.key for c in owners_table.c])
    rows = _owner_rows(150)
    with db.write() as conn:
        if not db.is_sqlite:  # psycopg binds by name: no multi-row form
            with pytest.raises(ValueError, match="positional"):
                insert.multi_row(conn, rows)
            return
        bound = insert.multi_row(conn, rows)
        assert [len(b.params) for b in bound] == [64 * 5, 64 * 5, 16 * 5, 4 * 5, 2 * 5]
        run_bound(conn, bound)
    with db.read() as conn:
        stored = conn.execute(sa.select(owners_table).order_by(owners_table.c.id)).all()
    assert [r.email for r in stored] == [r["email"] for r in rows]
    assert stored[0].created_at == rows[0]["created_at"]


def test_prepared_reads_every_row_with_fixed_binds_and_in_lists(db: Database) -> None:
    """all() returns every row, converted; a LIMIT the statement fixes keeps its value;
    an IN list of any length (padded on SQLite) matches exactly its values; IN () none."""
    insert = Prepared(owners_table.insert(), [c.key for c in owners_table.c])
    rows = _owner_rows(40)
    by_email = Prepared(
        sa.select(owners_table)
        .where(owners_table.c.email.in_(sa.bindparam("emails", expanding=True)))
        .order_by(owners_table.c.id)
        .limit(3),
        ["emails"],
        returning=list(owners_table.c),
    )
    in_list = Prepared(
        sa.select(owners_table.c.id).where(
            owners_table.c.name_key.in_(sa.bindparam("keys", expanding=True))
        ),
        ["keys"],
        returning=[owners_table.c.id],
    )
    with db.write() as conn:
        insert.execute_many(conn, rows)
    with db.read() as conn:
        limited = by_email.all(conn, {"emails": [r["email"] for r in rows[5:10]]})
        assert [r["id"] for r in limited] == ["own_0005", "own_0006", "own_0007"]
        assert limited[0]["created_at"] == rows[5]["created_at"]  # converted to UTC
        for size in (1, 3, 17, 33):
            wanted = [f"owner {i}" for i in range(size)] + ["nobody"]
            found = in_list.all(conn, {"keys": wanted})
            assert sorted(r["id"] for r in found) == [f"own_{i:04d}" for i in range(size)]
        assert in_list.all(conn, {"keys": []}) == []


def test_deferred_row_errors_are_sqlalchemy_errors(db: Database) -> None:
    """A constraint broken by deferred rows raises IntegrityError, whether they go as
    one multi-row statement (SQLite) or row by row (PostgreSQL)."""
    insert = Prepared(owners_table.insert(), [c.key for c in owners_table.c])
    rows = _owner_rows(2)
    rows[1]["email"] = rows[0]["email"]

    def write(conn: sa.Connection) -> None:
        if db.is_sqlite:
            run_bound(conn, insert.multi_row(conn, rows))
        else:
            insert.execute_many(conn, rows)

    with db.write() as conn, pytest.raises(sa.exc.IntegrityError):
        write(conn)


def _sequence(owner_id: str) -> list[tuple[CustomerInput, str | None]]:
    """Rows a Clay table might send: new, repeated, partly blank, another domain."""
    return [
        (
            CustomerInput(
                "Acme",
                "https://acme.com",
                "acme.com",
                stage="Lead",
                arr=Decimal("100"),
                renewal_date=date(2026, 3, 1),
            ),
            owner_id,
        ),
        (CustomerInput("Acme Inc", "https://www.acme.com", "acme.com", stage="Won"), None),
        (CustomerInput("Beta", "https://beta.io", "beta.io"), None),
        (CustomerInput("Acme Inc", "https://acme.com", "acme.com", arr=Decimal("2.5")), None),
        (CustomerInput("Beta", "https://beta.io", "beta.io", stage="Lead"), owner_id),
    ]


def _fixture(db: Database) -> tuple[str, str]:
    with db.write() as conn:
        owner = owners.add(conn, "Ada Lovelace", "ada@example.com", now())
        source, _token = sources.create(conn, "Clay accounts", "clay-customers", now())
    return owner["id"], source.id


def test_deferred_upserts_answer_and_store_what_upserts_do(db: Database) -> None:
    """Rows upserted at once and rows read, merged and deferred (one batch) give the
    same answers and leave the same customers, on either database."""
    owner_id, source_id = _fixture(db)
    at = now()
    immediate: list[tuple[dict[str, Any], bool]] = []
    with db.write() as conn:
        for i, (data, owner) in enumerate(_sequence(owner_id)):
            immediate.append(
                customers.upsert(
                    conn, data, owner_id=owner, source_id=source_id, now=at + timedelta(seconds=i)
                )
            )
        stored_immediate = _stored(conn)
        conn.execute(customers_table.delete())

    def job_for(i: int, data: CustomerInput, owner: str | None) -> Any:
        def job(conn: sa.Connection, batch: Batch) -> tuple[dict[str, Any], bool]:
            when = at + timedelta(seconds=i)
            return batch.customer_upsert(
                conn, batch, data, owner_id=owner, source_id=source_id, now=when
            )

        return job

    jobs = [job_for(i, data, owner) for i, (data, owner) in enumerate(_sequence(owner_id))]
    with db.write() as conn:
        deferred_answers, deferred = run_jobs_deferred(conn, jobs, Batch(DeferredUpserts().upsert))
        upsert = customers.deferred_upsert(conn)
        [(write, rows)] = deferred
        assert write is upsert
        if db.is_sqlite:
            run_bound(conn, upsert.multi_row(conn, rows))
        else:
            upsert.execute_many(conn, rows)
        stored_deferred = _stored(conn)

    def comparable(answers: list[tuple[dict[str, Any], bool]]) -> list[Any]:
        ids = {row["id"]: f"id{n}" for n, (row, created) in enumerate(answers) if created}
        return [({**row, "id": ids[row["id"]]}, created) for row, created in answers]

    assert comparable(deferred_answers) == comparable(immediate)
    assert [created for _row, created in deferred_answers] == [True, False, True, False, False]
    assert _without_ids(stored_deferred) == _without_ids(stored_immediate)
    assert {r["id"] for r, _c in deferred_answers} == {r["id"] for r in stored_deferred}


def _stored(conn: sa.Connection) -> list[dict[str, Any]]:
    query = sa.select(customers_table).order_by(customers_table.c.domain)
    return [dict(r._mapping) for r in conn.execute(query)]


def _without_ids(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != "id"} for r in rows]


def test_events_with_and_without_errors_share_a_batch(db: Database) -> None:
    """An accepted event (no error, no note: NULLs bound) and a
    rejected one, deferred in one batch, read back with every column as given."""
    _owner, source_id = _fixture(db)
    base = {
        "source_id": source_id,
        "received_at": now(),
        "status_code": 200,
        "request_headers": {"content-type": "application/json"},
        "request_body": '{"name": "Acme"}',
        "response_body": '{"ok": true}',
        "customer_id": None,
        "event_name": "customer.upsert",
        "error_code": None,
        "error_message": None,
        "error_field": None,
        "note": None,
    }
    accepted = {**base, "id": "evt_1", "status": "accepted"}
    rejected = {
        **base,
        "id": "evt_2",
        "status": "rejected",
        "status_code": 400,
        "error_code": "missing_field",
        "error_message": "name is required",
        "error_field": "name",
        "note": "a note",
    }

    def job(row: dict[str, Any]) -> Any:
        return lambda conn, batch: batch.defer(events.INSERT_PREPARED, row)

    with db.write() as conn:
        _answers, deferred = run_jobs_deferred(conn, [job(accepted), job(rejected)], Batch())
        for insert, rows in deferred:
            if db.is_sqlite:
                run_bound(conn, insert.multi_row(conn, rows))
            else:
                insert.execute_many(conn, rows)
    with db.read() as conn:
        stored = {
            r.id: dict(r._mapping)
            for r in conn.execute(sa.select(events_table).order_by(events_table.c.id))
        }
    assert stored["evt_1"] == accepted
    assert stored["evt_2"] == rejected
