"""The console's deliveries and destinations pages on a real server, on both databases."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa

from claybridge.config import Settings
from claybridge.records import api_keys, deliveries, events, sources
from claybridge.storage.database import Database
from claybridge.storage.tables import deliveries as deliveries_table
from tests.conftest import LiveServer, now
from tests.integration.conftest import csrf_of
from tests.receiver import Receiver


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Loopback receivers allowed."""
    return settings.model_copy(update={"allow_networks": "127.0.0.1/32"})


def _dead_deliveries(db: Database, destination_id: str, count: int) -> list[str]:
    rows = [deliveries.new_row(destination_id, {"n": i}, now()) for i in range(count)]
    with db.write() as conn:
        deliveries.enqueue(conn, rows)
        conn.execute(
            deliveries_table.update().values(status="dead", attempts=3, last_error="HTTP 500")
        )
    return [r["id"] for r in rows]


def _api(server: LiveServer, db: Database) -> httpx.Client:
    with db.write() as conn:
        _row, key = api_keys.create(conn, "t", now())
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"})


def test_dead_deliveries_are_listed_and_replayed(
    admin_ui: httpx.Client, server: LiveServer, db: Database, receiver: Receiver
) -> None:
    """The dead tab lists them; a bulk replay first shows the count the API's replay of
    the same filter gives, then replays them; one replays from its own page."""
    with _api(server, db) as api:
        made = api.post(
            "/v1/destinations", json={"name": "crm", "kind": "http", "url": receiver.url}
        )
        assert made.status_code == 201, made.text
        dest = made.json()["destination"]
        ids = _dead_deliveries(db, dest["id"], 3)
        dead = admin_ui.get("/ui/deliveries", params={"status": "dead"}).text
        assert dead.count('data-id="dlv_') == 3
        token = csrf_of(dead)
        counted = admin_ui.post(
            "/ui/deliveries/replay?status=dead", data={"csrf_token": token}
        ).text
        assert re.search(r'id="replay-count">3<', counted)
        one = admin_ui.post(f"/ui/deliveries/{ids[0]}/replay", data={"csrf_token": token})
        assert one.status_code == 303
        page = admin_ui.get(one.headers["location"]).text
        assert ids[0] in page  # the replay names what it replays
        done = admin_ui.post(
            "/ui/deliveries/replay?status=dead", data={"csrf_token": token, "confirm": "yes"}
        ).text
        assert re.search(r'id="replayed-count">3<', done)
        with db.read() as conn:
            pending = conn.execute(
                sa.select(sa.func.count()).where(deliveries_table.c.status == "pending")
            ).scalar()
        assert pending == 4  # one replayed alone, three in bulk
        api_count = api.post("/v1/deliveries/replay", json={"status": "dead"}).json()["replayed"]
        assert api_count == 3  # what the console counted for the same filter


def test_destination_page_pause_resume_and_test_send(
    admin_ui: httpx.Client, server: LiveServer, db: Database, receiver: Receiver
) -> None:
    """A destination shows its circuit and last hour; pause and resume work; a test row
    shows the receiver's answer."""
    with _api(server, db) as api:
        dest = api.post(
            "/v1/destinations", json={"name": "crm", "kind": "http", "url": receiver.url}
        ).json()["destination"]
    page = admin_ui.get(f"/ui/destinations/{dest['id']}").text
    assert "closed" in page
    token = csrf_of(page)
    paused = admin_ui.post(f"/ui/destinations/{dest['id']}/pause", data={"csrf_token": token})
    assert paused.status_code == 303
    assert ">paused<" in admin_ui.get(f"/ui/destinations/{dest['id']}").text
    admin_ui.post(f"/ui/destinations/{dest['id']}/resume", data={"csrf_token": token})
    assert ">active<" in admin_ui.get(f"/ui/destinations/{dest['id']}").text
    tested = admin_ui.post(f"/ui/destinations/{dest['id']}/test", data={"csrf_token": token})
    assert tested.status_code == 200
    assert "status_code" in tested.text
    assert receiver.count() == 1
    assert "crm" in admin_ui.get("/ui/destinations").text


def test_a_clay_destination_shows_its_pool(
    admin_ui: httpx.Client, server: LiveServer, db: Database
) -> None:
    """Each webhook's submissions against its limit, and a webhook added from the page."""
    with _api(server, db) as api:
        made = api.post(
            "/v1/destinations",
            json={"name": "enrich", "kind": "clay", "webhook_url": "http://127.0.0.1:9/a"},
        )
        assert made.status_code == 201, made.text
    dest_id = made.json()["destination"]["id"]
    page = admin_ui.get(f"/ui/destinations/{dest_id}").text
    assert "0 of 50,000" in page
    added = admin_ui.post(
        f"/ui/destinations/{dest_id}/webhooks",
        data={"csrf_token": csrf_of(page), "webhook_url": "http://127.0.0.1:9/b"},
    )
    assert added.status_code == 303
    pool = admin_ui.get(f"/ui/destinations/{dest_id}").text
    assert pool.count("of 50,000") == 2


def test_the_overview_counts_rows_per_source_and_hour(
    admin_ui: httpx.Client, server: LiveServer, db: Database, receiver: Receiver
) -> None:
    """Rows accepted and rejected this hour are drawn for their source; dead deliveries
    and the queue are counted; hours are labelled alike on both databases."""
    with db.write() as conn:
        row, token = sources.create(conn, "Clay accounts", "clay-customers", now())
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.url) as clay:
        for body in ({"name": "A", "websiteUrl": "a.io"}, {"name": "B", "websiteUrl": "b.io"}):
            assert clay.post(f"/hooks/{row.key}", json=body, headers=auth).status_code == 200
        assert clay.post(f"/hooks/{row.key}", json={}, headers=auth).status_code == 400
    with _api(server, db) as api:
        dest = api.post(
            "/v1/destinations", json={"name": "crm", "kind": "http", "url": receiver.url}
        ).json()["destination"]
    _dead_deliveries(db, dest["id"], 2)
    with db.read() as conn:
        counted = events.hourly(conn, now() - timedelta(hours=1))
    hour = now().strftime("%Y-%m-%d %H")
    assert sorted(counted) == [
        (row.id, hour, "accepted", 2),
        (row.id, hour, "rejected", 1),
    ]
    page = admin_ui.get("/ui/overview").text
    assert "Clay accounts</a>: 2 accepted, 1 rejected" in page
    assert re.search(r'id="dead-count">2<', page)
    assert page.count('class="acc"') == 24
