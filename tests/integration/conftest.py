"""Fixtures for outbound tests: a loopback receiver and a gateway running a worker."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from claybridge.config import Settings
from claybridge.records import api_keys, console
from claybridge.storage.database import Database
from tests.conftest import LiveServer, now
from tests.receiver import Receiver, running_receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP receiver on 127.0.0.1 with a scriptable answer."""
    with running_receiver() as app:
        yield app


@pytest.fixture
def outbound_settings(settings: Settings) -> Settings:
    """Settings that let outbound requests reach 127.0.0.1 and keep worker waits short."""
    return settings.model_copy(
        update={"allow_networks": "127.0.0.1/32", "poll_interval": 0.05, "lease_seconds": 2.0}
    )


def admin_client(url: str, db: Database) -> httpx.Client:
    with db.write() as conn:
        _row, key = api_keys.create(conn, "tests", now())
    return httpx.Client(base_url=url, timeout=30, headers={"Authorization": f"Bearer {key}"})


@pytest.fixture
def gateway(outbound_settings: Settings, db: Database) -> Iterator[httpx.Client]:
    """An admin client for a real server that runs a delivery worker in-process."""
    live = LiveServer(outbound_settings, worker=True)
    live.start()
    try:
        with admin_client(live.url, db) as client:
            yield client
    finally:
        live.stop()


@pytest.fixture
def api_only(outbound_settings: Settings, db: Database) -> Iterator[httpx.Client]:
    """An admin client for a real server without a worker (queued work stays queued)."""
    live = LiveServer(outbound_settings, worker=False)
    live.start()
    try:
        with admin_client(live.url, db) as client:
            yield client
    finally:
        live.stop()


def make_destination(client: httpx.Client, url: str, **fields: Any) -> dict[str, Any]:
    """Create a destination through the API; fail the test with the body if refused."""
    body = {"name": fields.pop("name", "receiver"), "kind": "http", "url": url, **fields}
    response = client.post("/v1/destinations", json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def csrf_of(page: str) -> str:
    """The CSRF token a console page carries (in its ``csrf-token`` meta tag)."""
    found = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert found, "the page carries no CSRF token"
    return found.group(1)


@contextmanager
def console_session(
    server: LiveServer, db: Database, role: str = "admin"
) -> Iterator[httpx.Client]:
    """A browser-like client signed in to the console with a sign-in link for ``role``."""
    with db.write() as conn:
        token = console.create_link(conn, role, now())
    with httpx.Client(base_url=server.url, timeout=10) as http:
        answer = http.post("/ui/login", data={"token": token})
        assert answer.status_code == 303, answer.text
        yield http


@pytest.fixture
def admin_ui(server: LiveServer, db: Database) -> Iterator[httpx.Client]:
    """A signed-in admin console session."""
    with console_session(server, db) as http:
        yield http
