"""Shared fixtures: databases (SQLite and PostgreSQL), a real server on a loopback port.

PostgreSQL runs when ``CLAYBRIDGE_TEST_POSTGRES_URL`` is set (``.ci/run`` and
``scripts/test`` set it): a fresh database is created for the session, migrated once,
and its tables are emptied between tests. SQLite gets a fresh migrated file per test.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import uvicorn

from claybridge.app import create_app
from claybridge.config import Settings
from claybridge.records import api_keys, sources
from claybridge.records.sources import Source
from claybridge.storage import migrate
from claybridge.storage.database import Database
from claybridge.storage.tables import metadata

PG_URL = os.environ.get("CLAYBRIDGE_TEST_POSTGRES_URL")
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]


_REAL_GETADDRINFO = socket.getaddrinfo


def _loopback_only(
    host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
) -> Any:
    """``getaddrinfo`` for tests: numeric hosts and ``localhost`` only, so no test (a
    fuzzer's random host included) ever sends a DNS query off this machine."""
    name = host.decode() if isinstance(host, bytes) else host
    if name in (None, "localhost"):
        return _REAL_GETADDRINFO(host, port, family, type, proto, flags)
    try:
        return _REAL_GETADDRINFO(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError):
        raise socket.gaierror(
            socket.EAI_NONAME, f"tests resolve no name but localhost: {name}"
        ) from None


@pytest.fixture(autouse=True)
def _no_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test resolves only loopback names (see :func:`_loopback_only`)."""
    monkeypatch.setattr(socket, "getaddrinfo", _loopback_only)


@pytest.fixture(autouse=True)
def _own_home(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test reads or writes the real user's settings file or data directory."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.delenv("CLAYBRIDGE_CONFIG", raising=False)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip PostgreSQL cases, visibly, when no test server is configured."""
    if PG_URL:
        return
    skip = pytest.mark.skip(reason="set CLAYBRIDGE_TEST_POSTGRES_URL to run on PostgreSQL")
    for item in items:
        if "postgresql" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this session, dropped at the end."""
    assert PG_URL is not None
    admin_url = sa.make_url(PG_URL).set(drivername="postgresql+psycopg")
    name = f"claybridge_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    db = Database(url)
    migrate.upgrade(db)
    db.dispose()
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def empty_pg_url() -> Iterator[str]:
    """A PostgreSQL database of the test's own, without a schema, dropped afterwards
    (for the real `claybridge` command, which creates the schema itself)."""
    assert PG_URL is not None
    admin_url = sa.make_url(PG_URL).set(drivername="postgresql+psycopg")
    name = f"claybridge_cli_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies (faster than migrating each time)."""
    path = tmp_path_factory.mktemp("template") / "claybridge.db"
    db = Database(f"sqlite:///{path}")
    migrate.upgrade(db)
    db.dispose()
    return path


@pytest.fixture(params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> Iterator[str]:
    """The URL of an empty, migrated database: SQLite and PostgreSQL in turn."""
    if request.param == "sqlite":
        target = tmp_path / "data" / "claybridge.db"
        target.parent.mkdir()
        shutil.copy(sqlite_template, target)
        yield f"sqlite:///{target}"
        return
    yield request.getfixturevalue("pg_url")


def _truncate(url: str) -> None:
    """Empty every table of the session's PostgreSQL database."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        names = ", ".join(t.name for t in metadata.sorted_tables)
        conn.exec_driver_sql(f"TRUNCATE {names} CASCADE")
    engine.dispose()


@pytest.fixture
def pg_url(pg_database_url: str) -> Iterator[str]:
    """The session's migrated PostgreSQL database, emptied after the test."""
    yield pg_database_url
    _truncate(pg_database_url)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings for a test: its own data dir and database, port 0."""
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        host="127.0.0.1",
        port=0,
        public_url="http://clay.example.test",
        log_format="console",
    )


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    """A handle on the test database."""
    handle = Database(settings.resolved_database_url)
    yield handle
    handle.dispose()


class LiveServer:
    """A real uvicorn server running ``create_app(settings)`` on a loopback port."""

    def __init__(
        self, settings: Settings, *, worker: bool = False, public_url: str | None = None
    ) -> None:
        """``public_url``: where this server says Clay reaches it ("self": its own URL)."""
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        if public_url is not None:
            url = self.url if public_url == "self" else public_url
            settings = settings.model_copy(update={"public_url": url})
        self.app = create_app(settings, worker=worker)
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]})

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("test server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


@pytest.fixture
def server(settings: Settings) -> Iterator[LiveServer]:
    """A running server for the test's settings."""
    live = LiveServer(settings)
    live.start()
    yield live
    live.stop()


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    """An HTTP client pointed at the running server."""
    with httpx.Client(base_url=server.url, timeout=30) as http:
        yield http


@dataclass
class SourceInfo:
    """A source made for a test, with its plaintext token."""

    row: Source
    token: str

    @property
    def key(self) -> str:
        return self.row.key

    @property
    def path(self) -> str:
        return f"/hooks/{self.key}"

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def now() -> datetime:
    """The current UTC time."""
    return datetime.now(UTC)


@pytest.fixture
def source(db: Database) -> SourceInfo:
    """A ``clay-customers`` source."""
    with db.write() as conn:
        row, token = sources.create(conn, "Clay accounts", "clay-customers", now())
    return SourceInfo(row, token)


@pytest.fixture
def admin(db: Database, client: httpx.Client) -> httpx.Client:
    """The client, authenticated with a fresh admin API key."""
    with db.write() as conn:
        _row, key = api_keys.create(conn, "tests", now())
    client.headers["Authorization"] = f"Bearer {key}"
    return client


@contextmanager
def serve_process(env: dict[str, str]) -> Iterator[str]:
    """`claybridge serve --port 0` run as a user runs it; yields its URL once healthy."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "claybridge", "serve", "--port", "0"],
        env={**env, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    try:
        url = None
        for _ in range(50):
            match = re.search(r"listening on (http://\S+)", proc.stdout.readline())
            if match:
                url = match.group(1)
                break
        assert url, "serve did not print the URL it listens on"
        # Keep reading its output so a chatty server never blocks on a full pipe.
        threading.Thread(target=proc.stdout.read, daemon=True).start()
        with httpx.Client(base_url=url, timeout=10) as http:
            for _ in range(200):
                try:
                    if http.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.02)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()
