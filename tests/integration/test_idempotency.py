"""Idempotency on a real server (SQLite and PostgreSQL; two processes on PostgreSQL)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from claybridge.ingest.job import IngestJob
from claybridge.ingest.pipeline import IngestRequest
from claybridge.records import idempotency
from claybridge.records.batch import run_jobs
from claybridge.records.retention import prune
from claybridge.storage.database import Database
from claybridge.storage.tables import events, idempotency_keys, metadata, people
from tests.conftest import now, serve_process

ROW = {"email": "ada@example.com", "full_name": "Ada", "clay_row_id": "row_1"}


def _source(admin: httpx.Client, mode: str = "key", **extra: Any) -> dict[str, Any]:
    idem: dict[str, Any] = {"mode": mode, **extra}
    if mode == "key":
        idem.setdefault("key_path", "body.clay_row_id")
    config = {
        "default_event": "lead.enriched",
        "idempotency": idem,
        "mappings": {"lead.enriched": [{"kind": "identify_person"}]},
    }
    body = admin.post(
        "/v1/sources", json={"name": f"idem {mode}", "template": "clay-leads", "config": config}
    ).json()
    return {
        "path": f"/hooks/{body['source']['key']}",
        "id": body["source"]["id"],
        "auth": {"Authorization": f"Bearer {body['token']}"},
    }


def _statuses(db: Database) -> list[str]:
    with db.read() as conn:
        return [r.status for r in conn.execute(sa.select(events.c.status).order_by(events.c.id))]


def test_repeat_replays_the_original_answer(admin: httpx.Client, db: Database) -> None:
    """A repeat applies nothing, answers the original body with Idempotent-Replayed."""
    src = _source(admin)
    first = admin.post(src["path"], json=ROW, headers=src["auth"])
    assert first.status_code == 200
    assert "idempotent-replayed" not in first.headers
    again = admin.post(src["path"], json={**ROW, "full_name": "Changed"}, headers=src["auth"])
    assert again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content
    assert admin.get("/v1/people/ada@example.com").json()["person"]["full_name"] == "Ada"
    assert _statuses(db) == ["accepted", "duplicate"]
    dup = admin.get("/v1/events", params={"status": "duplicate"}).json()["data"][0]
    assert dup["note"] == f"repeat of {first.json()['event_id']}"


def test_only_successes_claim_their_key(admin: httpx.Client, db: Database) -> None:
    """A rejected event does not claim its key: fixing the row and resending applies it."""
    src = _source(admin)
    bad = admin.post(src["path"], json={"clay_row_id": "row_9"}, headers=src["auth"])
    assert bad.status_code == 400
    good = admin.post(src["path"], json={**ROW, "clay_row_id": "row_9"}, headers=src["auth"])
    assert good.status_code == 200
    assert "idempotent-replayed" not in good.headers
    assert _statuses(db) == ["rejected", "accepted"]


def test_absent_or_invalid_key_is_processed_and_explained(
    admin: httpx.Client, db: Database
) -> None:
    """No key, a non-string key or one over 255 characters: processed, with a note why."""
    src = _source(admin)
    for key, reason in (
        (None, "no idempotency key"),
        ({"a": 1}, "not a string"),
        ("x" * 256, "longer than 255"),
    ):
        body = {**ROW, "clay_row_id": key}
        answer = admin.post(src["path"], json=body, headers=src["auth"])
        assert answer.status_code == 200
        assert reason in answer.json()["warnings"][0]
    notes = [e["note"] for e in admin.get("/v1/events").json()["data"]]
    assert all(n and "processed without idempotency" in n for n in notes)
    assert _statuses(db) == ["accepted"] * 3


def test_content_hash_mode(admin: httpx.Client) -> None:
    """content_hash treats the same body (any key order) as a repeat, a changed one not."""
    src = _source(admin, mode="content_hash")
    admin.post(src["path"], content=b'{"email": "a@b.io", "x": 1}', headers=src["auth"])
    same = admin.post(src["path"], content=b'{"x": 1, "email": "a@b.io"}', headers=src["auth"])
    assert same.headers.get("idempotent-replayed") == "true"
    other = admin.post(src["path"], json={"email": "a@b.io", "x": 2}, headers=src["auth"])
    assert "idempotent-replayed" not in other.headers


def test_window_expiry(admin: httpx.Client, db: Database) -> None:
    """After the window, the same key is processed again."""
    src = _source(admin, window_seconds=60)
    admin.post(src["path"], json=ROW, headers=src["auth"])
    with db.write() as conn:
        conn.execute(idempotency_keys.update().values(expires_at=now() - timedelta(seconds=1)))
    again = admin.post(src["path"], json=ROW, headers=src["auth"])
    assert "idempotent-replayed" not in again.headers
    assert _statuses(db) == ["accepted", "accepted"]
    with db.write() as conn:
        conn.execute(idempotency_keys.update().values(expires_at=now() - timedelta(seconds=1)))
        assert idempotency.prune(conn, now()) == 1


def test_retention_keeps_the_event_a_live_key_answers_with(
    admin: httpx.Client, db: Database
) -> None:
    """Pruning history never removes the event whose answer a live key replays."""
    src = _source(admin)
    first = admin.post(src["path"], json=ROW, headers=src["auth"])
    admin.post(src["path"], json={**ROW, "clay_row_id": "row_2"}, headers=src["auth"])
    with db.write() as conn:  # row_2's key has expired; row_1's is live
        conn.execute(
            idempotency_keys.update()
            .where(idempotency_keys.c.key == "row_2")
            .values(expires_at=now() - timedelta(seconds=1))
        )
    counts = prune(db, now() + timedelta(seconds=1), now())
    assert counts["idempotency_keys"] == 1
    assert counts["events"] == 1  # row_2's event; row_1's stays for its live key
    again = admin.post(src["path"], json=ROW, headers=src["auth"])
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content


def test_repeat_whose_first_event_is_gone_is_still_not_applied(
    admin: httpx.Client, db: Database
) -> None:
    """A live key whose event was deleted by hand still stops the repeat, and says so."""
    src = _source(admin)
    first = admin.post(src["path"], json=ROW, headers=src["auth"]).json()
    with db.write() as conn:
        conn.execute(events.delete())
    again = admin.post(src["path"], json={**ROW, "full_name": "Changed"}, headers=src["auth"])
    assert again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["event_id"] == first["event_id"]
    assert "no longer stored" in again.json()["note"]
    assert admin.get("/v1/people/ada@example.com").json()["person"]["full_name"] == "Ada"


def _request(src: dict[str, Any], body: dict[str, Any], token_ok: bool = True) -> Any:
    auth = src["auth"]["Authorization"] if token_ok else "Bearer wrong"
    return IngestRequest(
        source_key=src["path"].rsplit("/", 1)[1],
        headers=[("authorization", auth), ("content-type", "application/json")],
        body=json.dumps(body).encode(),
        received_at=now(),
        max_body_bytes=1 << 20,
        authorization=auth,
    )


def test_a_batch_reads_its_keys_in_one_query(
    admin: httpx.Client, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One batch: stored, new, repeated-in-batch, expired and unkeyed rows, one key query."""
    src = _source(admin)
    first = admin.post(src["path"], json=ROW, headers=src["auth"])
    admin.post(src["path"], json={**ROW, "clay_row_id": "old"}, headers=src["auth"])
    with db.write() as conn:
        conn.execute(
            idempotency_keys.update()
            .where(idempotency_keys.c.key == "old")
            .values(expires_at=now() - timedelta(seconds=1))
        )

    def alone(*_args: Any) -> None:
        raise AssertionError("a key the batch read together was read again alone")

    monkeypatch.setattr(idempotency, "lookup", alone)
    reads: list[list[str]] = []
    read_many = idempotency.LOOKUP_MANY.all

    def counted(conn: sa.Connection, params: dict[str, Any]) -> list[dict[str, Any]]:
        reads.append(params["keys"])
        return read_many(conn, params)

    monkeypatch.setattr(idempotency.LOOKUP_MANY, "all", counted)
    bodies = [
        (ROW, True),  # stored: a repeat
        ({**ROW, "clay_row_id": "row_2"}, True),  # new
        ({**ROW, "clay_row_id": "row_2", "full_name": "Twice"}, True),  # repeat in batch
        ({**ROW, "clay_row_id": "old"}, True),  # expired: applied again
        ({"email": "b@example.com"}, True),  # no key: applied, with a note
        ({**ROW, "clay_row_id": "row_3"}, False),  # wrong token
    ]
    jobs = [IngestJob(_request(src, body, ok)) for body, ok in bodies]
    with db.writer.begin() as conn:
        answers = run_jobs(conn, jobs)  # type: ignore[arg-type]
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 200, 401]
    replayed = [a.headers == [(b"idempotent-replayed", b"true")] for a in answers]
    assert replayed == [True, False, True, False, False, False]
    assert answers[0].payload == first.content
    assert answers[2].body["event_id"] == answers[1].body["event_id"]
    assert "without idempotency" in answers[4].body["warnings"][0]
    assert reads == [["row_1", "row_2", "row_2", "old"]]  # one query, every keyed row
    with db.read() as conn:
        claimed = conn.execute(sa.select(idempotency_keys.c.key)).scalars().all()
    assert sorted(claimed) == ["old", "row_1", "row_2"]


def test_fifty_concurrent_repeats_apply_once(admin: httpx.Client, db: Database) -> None:
    """The same key sent 50 times at once is applied exactly once."""
    src = _source(admin)

    def send(i: int) -> httpx.Response:
        return admin.post(src["path"], json={**ROW, "full_name": f"Ada {i}"}, headers=src["auth"])

    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(send, range(50)))
    assert all(a.status_code == 200 for a in answers)
    assert sum("idempotent-replayed" in a.headers for a in answers) == 49
    assert len({a.content for a in answers}) == 1
    assert sorted(_statuses(db)) == ["accepted"] + ["duplicate"] * 49
    with db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(people)).scalar() == 1


def test_config_refuses_key_mode_without_path(admin: httpx.Client) -> None:
    """mode key without key_path is refused when saved, naming the key."""
    answer = admin.post(
        "/v1/sources",
        json={"name": "x", "template": "clay-leads", "config": {"idempotency": {"mode": "key"}}},
    )
    assert answer.status_code == 422
    assert answer.json()["error"]["field"] == "idempotency"


def _empty(db: Database) -> None:
    with db.write() as conn:
        conn.exec_driver_sql(
            f"TRUNCATE {', '.join(t.name for t in metadata.sorted_tables)} CASCADE"
        )


@pytest.mark.postgresql
@pytest.mark.slow
def test_two_processes_apply_once(pg_url: str, tmp_path: Any) -> None:
    """Two API processes on one PostgreSQL: 50 concurrent repeats apply exactly once."""
    db = Database(pg_url)
    _empty(db)
    env = {
        **os.environ,
        "CLAYBRIDGE_DATABASE_URL": pg_url,
        "CLAYBRIDGE_DATA_DIR": str(tmp_path),
    }
    try:
        made = subprocess.run(
            [sys.executable, "-m", "claybridge", "api-keys", "create", "--name", "t", "--json"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        key = json.loads(made.stdout)["key"]
        with contextlib.ExitStack() as stack, httpx.Client(timeout=30) as http:
            urls = [stack.enter_context(serve_process(env)) for _ in range(2)]
            admin = stack.enter_context(
                httpx.Client(
                    base_url=urls[0], timeout=30, headers={"Authorization": f"Bearer {key}"}
                )
            )
            src = _source(admin)

            def send(i: int) -> httpx.Response:
                return http.post(urls[i % 2] + src["path"], json=ROW, headers=src["auth"])

            with ThreadPoolExecutor(max_workers=50) as pool:
                answers = list(pool.map(send, range(50)))
        failed = [(a.status_code, a.text) for a in answers if a.status_code != 200]
        assert not failed, failed
        assert sum("idempotent-replayed" in a.headers for a in answers) == 49
        with db.read() as conn:
            statuses = [r.status for r in conn.execute(sa.select(events.c.status))]
            assert conn.execute(sa.select(sa.func.count()).select_from(people)).scalar() == 1
        assert sorted(statuses) == ["accepted"] + ["duplicate"] * 49
    finally:
        _empty(db)  # this test shares the session database without the fixture's cleanup
        db.dispose()
