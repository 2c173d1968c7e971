"""Database faults on a real server: a held SQLite write lock never stalls the event
loop, a PostgreSQL network partition answers 503 fast and heals by itself, and an
unreachable database is 503 ``storage_unavailable`` on the admin API."""

from __future__ import annotations

import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from claybridge.config import Settings
from claybridge.records import api_keys, sources
from claybridge.storage.database import Database
from claybridge.storage.tables import customers, deliveries
from tests.conftest import LiveServer, SourceInfo, now
from tests.integration.test_deliveries import setup_forward
from tests.proxy import running_proxy
from tests.receiver import Receiver, wait_until

ROW = {"name": "Acme", "websiteUrl": "acme.com"}


def _timed(client: httpx.Client, method: str, path: str, **kwargs: Any) -> tuple[float, Any]:
    started = time.monotonic()
    answer = client.request(method, path, **kwargs)
    return time.monotonic() - started, answer


def _sqlite_copy(tmp_path: Path, template: Path) -> tuple[Path, str]:
    """A migrated SQLite database of the test's own: its data dir and URL."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "claybridge.db").write_bytes(template.read_bytes())
    return data, f"sqlite:///{data / 'claybridge.db'}"


def test_a_held_sqlite_write_lock_does_not_stall_the_loop(
    tmp_path: Path, sqlite_template: Path
) -> None:
    """While another connection holds the write lock for 2 s, /healthz and reads answer
    in under 50 ms, and the row waiting for the lock is answered once it is released."""
    data, url = _sqlite_copy(tmp_path, sqlite_template)
    db = Database(url)
    with db.write() as conn:
        row, token = sources.create(conn, "Clay", "clay-customers", now())
        _key_row, key = api_keys.create(conn, "t", now())
    db.dispose()
    server = LiveServer(
        Settings(data_dir=data, database_url=url, port=0, log_format="console"), worker=True
    )
    server.start()
    holder = sqlite3.connect(data / "claybridge.db", isolation_level=None)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http, ThreadPoolExecutor(2) as pool:
            http.get("/healthz")
            holder.execute("BEGIN IMMEDIATE")
            held_at = time.monotonic()
            auth = {"Authorization": f"Bearer {token}"}
            waiting = pool.submit(http.post, f"/hooks/{row.key}", json=ROW, headers=auth)
            time.sleep(0.1)  # the row's batch is now waiting for the lock
            worst = 0.0
            while time.monotonic() - held_at < 1.8:
                took, answer = _timed(http, "GET", "/healthz")
                assert answer.status_code == 200
                worst = max(worst, took)
                took, answer = _timed(
                    http, "GET", "/v1/sources", headers={"Authorization": f"Bearer {key}"}
                )
                assert answer.status_code == 200
                worst = max(worst, took)
                time.sleep(0.02)
            assert not waiting.done()
            holder.execute("COMMIT")
            answer = waiting.result(10)
            assert answer.status_code == 200, answer.text
            assert worst < 0.05, f"a request waited {worst * 1000:.0f} ms"
    finally:
        holder.close()
        server.stop()


def test_sqlite_lock_past_storage_timeout_answers_503_and_writes_nothing(
    tmp_path: Path, sqlite_template: Path
) -> None:
    """A lock held past ``storage_timeout`` answers 503 storage_unavailable, and the row
    is not written later when the lock is released."""
    data, url = _sqlite_copy(tmp_path, sqlite_template)
    db = Database(url)
    with db.write() as conn:
        row, token = sources.create(conn, "Clay", "clay-customers", now())
    server = LiveServer(
        Settings(data_dir=data, database_url=url, port=0, log_format="console", storage_timeout=0.5)
    )
    server.start()
    holder = sqlite3.connect(data / "claybridge.db", isolation_level=None)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            holder.execute("BEGIN IMMEDIATE")
            took, answer = _timed(
                http,
                "POST",
                f"/hooks/{row.key}",
                json=ROW,
                headers={"Authorization": f"Bearer {token}"},
            )
            assert answer.status_code == 503
            assert answer.json()["error"]["code"] == "storage_unavailable"
            assert took < 2
            time.sleep(0.3)
            holder.execute("COMMIT")
            time.sleep(0.5)
            with db.read() as conn:
                assert conn.execute(sa.select(sa.func.count()).select_from(customers)).scalar() == 0
    finally:
        holder.close()
        server.stop()
        db.dispose()


def test_admin_routes_answer_503_while_the_database_is_unreachable(
    settings: Settings, tmp_path: Path
) -> None:
    """With PostgreSQL refusing connections, the admin API answers 503
    storage_unavailable (not 500), and the same keep-alive connection goes on working."""
    down = settings.model_copy(
        update={"database_url": "postgresql://postgres@127.0.0.1:9/none", "storage_timeout": 2}
    )
    server = LiveServer(down)
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            auth = {"Authorization": "Bearer cbk_nothing"}
            for _ in range(2):
                answer = http.get("/v1/sources", headers=auth)
                assert answer.status_code == 503, answer.text
                assert answer.json()["error"]["code"] == "storage_unavailable"
            assert http.get("/healthz").status_code == 200
            assert http.get("/readyz").status_code == 503
    finally:
        server.stop()


@pytest.mark.postgresql
def test_a_network_partition_answers_503_fast_and_heals(
    pg_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    """Through a proxy that stops forwarding: ingest and /readyz answer 503 within a few
    seconds; once the network is back, ingest, /readyz and the worker recover within
    seconds, and every acknowledged row is stored and delivered."""
    target = sa.make_url(pg_url)
    with running_proxy((target.host or "127.0.0.1", target.port or 5432)) as proxy:
        url = target.set(host="127.0.0.1", port=proxy.port).render_as_string(False)
        settings = Settings(
            data_dir=tmp_path / "data",
            database_url=url,
            port=0,
            log_format="console",
            storage_timeout=2,
            database_connect_timeout=2,
            allow_networks="127.0.0.1/32",
            poll_interval=0.05,
            lease_seconds=2,
        )
        db = Database(pg_url)
        with db.write() as conn:
            row, token = sources.create(conn, "Clay", "clay-customers", now())
            _k, key = api_keys.create(conn, "t", now())
        source = SourceInfo(row, token)
        server = LiveServer(settings, worker=True)
        server.start()
        acknowledged: list[str] = []
        try:
            with httpx.Client(base_url=server.url, timeout=30) as http:
                admin = httpx.Client(
                    base_url=server.url, timeout=30, headers={"Authorization": f"Bearer {key}"}
                )
                made = admin.post(
                    "/v1/destinations",
                    json={
                        "name": "receiver",
                        "kind": "http",
                        "url": receiver.url,
                    },
                )
                assert made.status_code == 201, made.text
                setup_forward(admin, source)

                def post(i: int) -> httpx.Response:
                    body = {"event": "lead.enriched", "email": f"p{i}@example.com"}
                    answer = http.post(source.path, json=body, headers=source.auth)
                    if answer.status_code == 200:
                        acknowledged.append(answer.json()["event_id"])
                    return answer

                assert post(0).status_code == 200
                proxy.partition()
                took, answer = _timed(
                    http,
                    "POST",
                    source.path,
                    headers=source.auth,
                    json={"event": "lead.enriched", "email": "lost@example.com"},
                )
                assert answer.status_code == 503, answer.text
                assert took < 5, took
                took, answer = _timed(http, "GET", "/readyz")
                assert answer.status_code == 503
                assert took < 5, took
                proxy.heal()
                healed = time.monotonic()
                wait_until(lambda: post(1).status_code == 200, timeout=15)
                assert http.get("/readyz").status_code == 200
                recovered = time.monotonic() - healed
                assert recovered < 10, recovered
                wait_until(lambda: receiver.count() >= len(acknowledged), timeout=20)
        finally:
            server.stop()
            admin.close()
        with db.read() as conn:
            statuses = conn.execute(sa.select(deliveries.c.status)).scalars().all()
        db.dispose()
        assert len(statuses) == len(acknowledged)
        assert set(statuses) == {"delivered"}
