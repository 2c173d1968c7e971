"""Alerts: opened once per cause, counted, notified through the queue to real receivers,
resolved automatically or by hand; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from claybridge.config import Settings
from claybridge.delivery.service import report_crash, supervise
from claybridge.operations import alerts as alerting
from claybridge.records import alerts, api_keys, deliveries, processes, sources
from claybridge.storage.database import Database
from claybridge.storage.tables import clay_webhooks, events
from claybridge.storage.tables import deliveries as deliveries_table
from claybridge.storage.tables import destinations as destinations_table
from tests.conftest import LiveServer, now
from tests.integration.conftest import make_destination
from tests.receiver import Receiver, Reply, running_receiver, wait_until


@pytest.fixture
def watched(outbound_settings: Settings, db: Database) -> Iterator[tuple[httpx.Client, Settings]]:
    """A server with an in-process worker that looks for alert causes every 0.1 s."""
    cfg = outbound_settings.model_copy(update={"alert_interval": 0.1})
    live = LiveServer(cfg, worker=True)
    live.start()
    with db.write() as conn:
        _row, key = api_keys.create(conn, "tests", now())
    try:
        with httpx.Client(
            base_url=live.url, timeout=30, headers={"Authorization": f"Bearer {key}"}
        ) as client:
            yield client, cfg
    finally:
        live.stop()


def _queue(db: Database, destination_id: str, n: int) -> list[str]:
    rows = [deliveries.new_row(destination_id, {"n": i}, now()) for i in range(n)]
    with db.write() as conn:
        deliveries.enqueue(conn, rows)
    return [r["id"] for r in rows]


def _notices(receiver: Receiver, path: str) -> list[Any]:
    return [s.json() for s in list(receiver.seen) if s.path == path]


def test_dead_deliveries_open_one_alert_notify_and_resolve(
    watched: tuple[httpx.Client, Settings], db: Database, receiver: Receiver
) -> None:
    """Dead deliveries open one alert that counts them; the HTTP and Slack alert
    destinations each get one notice; replaying them resolves it, with a notice."""
    client, _cfg = watched
    with running_receiver() as failing:
        failing.reply_with(default=Reply(500))
        crm = make_destination(client, f"{failing.url}/crm", name="crm", retry_schedule=[0])
        make_destination(client, f"{receiver.url}/ops", name="ops", alerts=True)
        make_destination(
            client,
            f"{receiver.url}/slack",
            name="chat",
            kind="slack",
            template="{{ x }}",
            alerts=True,
        )
        crm_id = crm["destination"]["id"]
        first = _queue(db, crm_id, 1)
        wait_until(lambda: _notices(receiver, "/ops"))
        notice = _notices(receiver, "/ops")[0]
        assert notice["claybridge_alert"] == "alert.opened"
        assert notice["alert"]["kind"] == "delivery_dead"
        assert notice["alert"]["subject"] == crm_id
        assert "1 deliveries to crm are dead" in notice["text"]
        slack = wait_until(lambda: _notices(receiver, "/slack"))
        assert slack == [{"text": notice["text"]}]
        more = _queue(db, crm_id, 2)

        def counted() -> Any:
            found = client.get("/v1/alerts").json()["data"]
            return found if found and found[0]["count"] == 3 else None

        listed = wait_until(counted)
        assert len(listed) == 1
        assert listed[0]["status"] == "open"
        assert len(_notices(receiver, "/ops")) == 1  # repeats count; they do not notify
        failing.reply_with(default=Reply(200))
        for dead in [*first, *more]:
            assert client.post(f"/v1/deliveries/{dead}/replay").status_code == 202
        wait_until(lambda: client.get("/v1/alerts", params={"status": "resolved"}).json()["data"])
        resolved = client.get(f"/v1/alerts/{listed[0]['id']}").json()["alert"]
        assert resolved["resolved_by"] == "auto"
        last = wait_until(lambda: _notices(receiver, "/ops")[1:])
        assert last[0]["claybridge_alert"] == "alert.resolved"
        assert last[0]["text"].startswith("Resolved: ")


def test_ack_resolve_metrics_and_roles(
    watched: tuple[httpx.Client, Settings], db: Database
) -> None:
    """An alert can be acknowledged and resolved through the API (not by a viewer key);
    /metrics counts unresolved alerts by kind and status."""
    client, _cfg = watched
    with db.write() as conn:
        alert = alerting.report(conn, "requests_expired", "clay", "2 expired", now(), count=2)
    assert (
        'claybridge_alerts{kind="requests_expired",status="open"} 1.0'
        in client.get("/metrics").text
    )
    with db.write() as conn:
        _row, viewer = api_keys.create(conn, "viewer", now(), role="viewer")
    refused = client.post(
        f"/v1/alerts/{alert['id']}/acknowledge", headers={"Authorization": f"Bearer {viewer}"}
    )
    assert refused.status_code == 403
    acked = client.post(f"/v1/alerts/{alert['id']}/acknowledge").json()["alert"]
    assert acked["status"] == "acknowledged"
    assert 'kind="requests_expired",status="acknowledged"} 1.0' in client.get("/metrics").text
    done = client.post(f"/v1/alerts/{alert['id']}/resolve").json()["alert"]
    assert done["status"] == "resolved"
    assert done["resolved_by"] == "api key tests"
    again = client.post(f"/v1/alerts/{alert['id']}/acknowledge")
    assert again.status_code == 409
    assert client.get("/v1/alerts/alr_nope").json()["error"]["code"] == "not_found"
    assert client.get("/v1/alerts", params={"status": "bogus"}).status_code == 422


def test_one_alert_per_cause_until_resolved(db: Database) -> None:
    """Repeats of a cause count on its unresolved alert; after resolving, the cause
    opens a new one."""
    t0 = now()
    with db.write() as conn:
        first = alerts.observe(conn, "worker_crashed", "h:1", "crashed", t0)
        second = alerts.observe(conn, "worker_crashed", "h:1", "crashed", t0 + timedelta(seconds=1))
        other = alerts.observe(conn, "worker_crashed", "h:2", "crashed", t0)
    assert first.opened
    assert not second.opened
    assert second.alert["id"] == first.alert["id"]
    assert second.alert["count"] == 2
    assert other.opened
    with db.write() as conn:
        stored = alerts.get(conn, first.alert["id"])
        assert stored["count"] == 2
        assert stored["last_seen_at"] == t0 + timedelta(seconds=1)
        alerts.resolve(conn, first.alert["id"], t0, "cli")
        reopened = alerts.observe(conn, "worker_crashed", "h:1", "crashed", t0)
    assert reopened.opened
    assert reopened.alert["id"] != first.alert["id"]


def _dest(db: Database, name: str, **values: Any) -> str:
    dest_id = f"dst_{name}"
    row = {
        "id": dest_id,
        "name": name,
        "kind": "http",
        "url": "x",
        "url_hint": "x",
        "method": "POST",
        "headers": {},
        "template": None,
        "signing_secret": None,
        "timeout_seconds": 10,
        "rate_limit": None,
        "concurrency": 1,
        "retry_schedule": None,
        "status": "active",
        "status_reason": None,
        "circuit_state": "closed",
        "circuit_threshold": 3,
        "circuit_cooldown_seconds": 60,
        "consecutive_failures": 0,
        "circuit_opened_at": None,
        "probe_at": None,
        "clay": None,
        "alerts": False,
        "created_at": now(),
        "updated_at": now(),
        **values,
    }
    with db.write() as conn:
        conn.execute(destinations_table.insert().values(**row))
    return dest_id


def _unresolved(db: Database) -> dict[tuple[str, str], dict[str, Any]]:
    with db.read() as conn:
        return {(a["kind"], a["subject"]): a for a in alerts.list_(conn, "unresolved")}


def test_watch_sees_circuits_clay_webhooks_spikes_and_lost_processes(db: Database) -> None:
    """watch opens an alert for an open circuit, a Clay webhook past 90% or retired, a
    pool without room, a rejection spike (rotated tokens in plain words) and a process
    that stopped beating; the ones whose cause clears resolve themselves."""
    t0 = now()
    crm = _dest(db, "crm", circuit_state="open", consecutive_failures=3)
    table = _dest(db, "leads", kind="clay", clay={})
    hooks = [("wh_1", 1, 50_000, "exhausted"), ("wh_2", 2, 45_500, "active")]
    with db.write() as conn:
        for hook_id, position, used, status in hooks:
            conn.execute(
                clay_webhooks.insert().values(
                    id=hook_id,
                    destination_id=table,
                    position=position,
                    url="x",
                    url_hint="x",
                    submissions=used,
                    submission_limit=50_000,
                    status=status,
                    created_at=t0,
                )
            )
        source, _token = sources.create(conn, "Leads", "clay-leads", t0)
        conn.execute(
            events.insert(),
            [
                {
                    "id": f"evt_{i}",
                    "source_id": source.id,
                    "received_at": t0,
                    "status": "rejected",
                    "status_code": 401,
                    "error_code": "rotated_token",
                    "request_headers": {},
                    "response_body": "{}",
                }
                for i in range(alerting.SPIKE_THRESHOLD)
            ],
        )
        gone = processes.register(conn, "worker", t0 - timedelta(minutes=5), None)
        alerting.watch(conn, t0)
    found = _unresolved(db)
    assert "after 3 failures in a row" in found[("circuit_open", crm)]["message"]
    assert "45,500/50,000" in found[("clay_webhook_near_limit", "wh_2")]["message"]
    assert "retired (50,000/50,000)" in found[("clay_webhook_retired", "wh_1")]["message"]
    assert ("clay_pool_exhausted", table) not in found  # webhook 2 still has room
    spike = found[("rejections_spike", f"{source.id}:rotated_token")]
    assert "update the Clay column's Authorization header" in spike["message"]
    assert spike["count"] == alerting.SPIKE_THRESHOLD
    assert found[("worker_crashed", gone)]["message"].startswith("worker process")
    later = t0 + alerting.SPIKE_WINDOW + timedelta(seconds=1)
    with db.write() as conn:
        conn.execute(
            destinations_table.update()
            .where(destinations_table.c.id == crm)
            .values(circuit_state="closed")
        )
        conn.execute(
            clay_webhooks.update()
            .where(clay_webhooks.c.id == "wh_2")
            .values(submissions=50_000, status="exhausted")
        )
        alerting.watch(conn, later)
    found = _unresolved(db)
    assert ("circuit_open", crm) not in found
    assert ("rejections_spike", f"{source.id}:rotated_token") not in found
    assert ("clay_webhook_near_limit", "wh_2") not in found
    assert ("clay_webhook_retired", "wh_2") in found
    assert "no Clay webhook with room" in found[("clay_pool_exhausted", table)]["message"]
    assert ("worker_crashed", gone) in found  # a crash stays until someone resolves it


def test_expired_requests_accumulate_on_one_alert(db: Database) -> None:
    """Expired requests add up on one open alert."""
    with db.write() as conn:
        alerting.requests_expired(conn, 2, now())
        alert = alerting.requests_expired(conn, 3, now())
    assert alert["count"] == 5
    assert alert["message"].startswith("5 pending Clay requests expired")
    assert len(_unresolved(db)) == 1


def test_a_worker_crash_opens_an_alert(db: Database) -> None:
    """A supervised worker that crashes is restarted and reported as an alert."""
    from claybridge.clock import SystemClock

    attempts: list[int] = []

    class Boom:
        async def run(self, stop: asyncio.Event) -> None:
            attempts.append(1)
            if len(attempts) < 3:
                raise RuntimeError("bug in a job")
            stop.set()

    async def main() -> None:
        await supervise(
            lambda: Boom(),  # type: ignore[arg-type,return-value]
            asyncio.Event(),
            on_crash=report_crash(db, SystemClock()),
            first_pause=0.01,
        )

    asyncio.run(main())
    found = list(_unresolved(db).values())
    assert len(found) == 1
    assert found[0]["kind"] == "worker_crashed"
    assert found[0]["count"] == 2
    assert "RuntimeError('bug in a job')" in found[0]["message"]


def test_alerts_refuse_a_clay_destination(watched: tuple[httpx.Client, Settings]) -> None:
    """Alerts go to http or slack destinations only."""
    client, _cfg = watched
    answer = client.post(
        "/v1/destinations",
        json={"name": "t", "kind": "clay", "url": "http://127.0.0.1:9/w", "alerts": True},
    )
    assert answer.status_code == 422
    assert "alerts go to an http or slack destination" in answer.json()["error"]["message"]


def test_dead_notices_do_not_count_delivered_replays(db: Database) -> None:
    """A dead delivery that was replayed no longer counts toward the alert."""
    dest = _dest(db, "crm")
    ids = _queue(db, dest, 2)
    with db.write() as conn:
        conn.execute(deliveries_table.update().values(status="dead"))
        alerting.watch(conn, now())
    assert _unresolved(db)[("delivery_dead", dest)]["count"] == 2
    with db.write() as conn:
        conn.execute(
            deliveries_table.insert().values(
                **{
                    **deliveries.new_row(dest, {}, now()),
                    "replay_of": ids[0],
                    "status": "delivered",
                }
            )
        )
        alerting.watch(conn, now())
    assert _unresolved(db)[("delivery_dead", dest)]["count"] == 1


def test_a_retired_webhook_is_logged_once(db: Database) -> None:
    """Several batches reporting the same full webhook retire it once, with one warning."""
    from structlog.testing import capture_logs

    from claybridge.records import clay

    table = _dest(db, "leads", kind="clay", clay={})
    with db.write() as conn:
        conn.execute(
            clay_webhooks.insert().values(
                id="wh_1",
                destination_id=table,
                position=1,
                url="x",
                url_hint="x",
                submissions=10,
                submission_limit=10,
                status="active",
                created_at=now(),
            )
        )
    with capture_logs() as logs, db.write() as conn:
        for _ in range(3):
            clay.mark_exhausted(conn, "wh_1", now(), name="leads")
    assert [entry["event"] for entry in logs] == [
        "Clay webhook exhausted: moving to the next webhook of the pool"
    ]


def test_the_console_overview_lists_alerts_to_ack_and_resolve(
    admin_ui: httpx.Client, server: LiveServer, db: Database
) -> None:
    """The overview shows unresolved alerts (escaped); an admin acknowledges and resolves
    them with the session's CSRF token; a viewer cannot."""
    from tests.integration.conftest import console_session, csrf_of

    with db.write() as conn:
        alert = alerting.report(conn, "delivery_dead", "dst_x", "2 deliveries to <b>crm</b>", now())
    page = admin_ui.get("/ui/overview").text
    assert "2 deliveries to &lt;b&gt;crm&lt;/b&gt;" in page
    token = csrf_of(page)
    with console_session(server, db, role="viewer") as viewer:
        refused = viewer.post(
            f"/ui/alerts/{alert['id']}/acknowledge",
            data={"csrf_token": csrf_of(viewer.get("/ui/overview").text)},
        )
        assert refused.status_code == 403
    assert admin_ui.post(f"/ui/alerts/{alert['id']}/acknowledge").status_code == 403  # no CSRF
    acked = admin_ui.post(f"/ui/alerts/{alert['id']}/acknowledge", data={"csrf_token": token})
    assert acked.status_code == 303
    with db.read() as conn:
        assert alerts.get(conn, alert["id"])["status"] == "acknowledged"
    admin_ui.post(f"/ui/alerts/{alert['id']}/resolve", data={"csrf_token": token})
    with db.read() as conn:
        assert alerts.get(conn, alert["id"])["resolved_by"] == "console (admin)"
    assert "&lt;b&gt;crm" not in admin_ui.get("/ui/overview").text
