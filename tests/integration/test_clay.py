"""Clay tables end to end against the Clay imitation: connecting, pools and limits,
submitting rows, callbacks, round trips through workflows, the bridge (both databases)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from claybridge.clay.imitation import ClayTableImitation, ImitationConfig, serve_in_thread
from claybridge.config import Settings
from claybridge.storage.database import Database
from claybridge.storage.tables import clay_webhooks
from tests.conftest import LiveServer
from tests.integration.conftest import admin_client, make_destination
from tests.receiver import Receiver, wait_until


@pytest.fixture
def clay_gateway(outbound_settings: Settings, db: Database) -> Iterator[httpx.Client]:
    """A server with a worker whose public URL is its own, so callbacks reach it."""
    live = LiveServer(outbound_settings, worker=True, public_url="self")
    live.start()
    try:
        with admin_client(live.url, db) as client:
            yield client
    finally:
        live.stop()


@contextmanager
def table(**config: Any) -> Iterator[tuple[ClayTableImitation, str]]:
    """A Clay table imitation with ``config``."""
    with serve_in_thread(ImitationConfig(**config)) as found:
        yield found


def clay_destination(
    client: httpx.Client, url: str, name: str = "enrich", **fields: Any
) -> dict[str, Any]:
    body = {"name": name, "kind": "clay", "webhook_url": url, **fields}
    response = client.post("/v1/destinations", json=body)
    assert response.status_code == 201, response.text
    return response.json()["destination"]  # type: ignore[no-any-return]


def callback_source(client: httpx.Client) -> dict[str, Any]:
    """A clay-callback source; returns the API's answer (with its token)."""
    made = client.post("/v1/sources", json={"name": "Clay callbacks", "template": "clay-callback"})
    assert made.status_code == 201, made.text
    return made.json()  # type: ignore[no-any-return]


def test_connect_shows_config_but_never_the_secret(api_only: httpx.Client, db: Database) -> None:
    """Both auth header parts or neither (400); the value is encrypted and never shown."""
    with table(auth_value="s3cret") as (_imitation, url):
        half = api_only.post(
            "/v1/destinations",
            json={"name": "t", "kind": "clay", "webhook_url": url, "auth_header_name": "x"},
        )
        assert half.status_code == 400
        assert half.json()["error"]["code"] == "invalid_auth_header"
        shown = clay_destination(
            api_only, url, auth_header_name="x-clay-webhook-auth", auth_header_value="s3cret"
        )
    assert shown["status"] == "active"
    assert shown["config"]["webhook_url"] == url
    assert shown["config"]["auth_header_name"] == "x-clay-webhook-auth"
    assert "s3cret" not in str(api_only.get("/v1/destinations/enrich").json())
    with db.read() as conn:
        stored = conn.execute(sa.select(clay_webhooks.c.auth_header_value)).scalar_one()
    assert stored.startswith("enc:v1:")


def test_rows_are_submitted_with_ids_added_never_overwritten(
    clay_gateway: httpx.Client,
) -> None:
    """request_id/external_id/callback_url are added when absent and kept when present."""
    with table(auth_value="k") as (imitation, url):
        clay_destination(
            clay_gateway, url, auth_header_name="x-clay-webhook-auth", auth_header_value="k"
        )
        response = clay_gateway.post(
            "/v1/destinations/enrich/rows",
            json={
                "rows": [
                    {"payload": {"email": "a@x.co"}, "request_id": "r1", "external_id": "crm-1"},
                    {"payload": {"email": "b@x.co", "request_id": "mine"}, "request_id": "r2"},
                ]
            },
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["sent"] == 2
        assert [r["ok"] for r in body["results"]] == [True, True]
        assert body["results"][0]["status_code"] == 200
        assert body["results"][0]["response"]["ok"] is True
        rows = {r["email"]: r for r in imitation.state.rows}  # sent concurrently: any order
    assert rows["a@x.co"] == {"email": "a@x.co", "request_id": "r1", "external_id": "crm-1"}
    assert rows["b@x.co"]["request_id"] == "mine"


def test_accepted_request_id_is_not_submitted_again(clay_gateway: httpx.Client) -> None:
    """A request_id Clay accepted is never sent twice (no duplicate row)."""
    with table() as (imitation, url):
        clay_destination(clay_gateway, url)
        row = {"payload": {"email": "a@x.co"}, "request_id": "once"}
        assert clay_gateway.post("/v1/destinations/enrich/rows", json=row).json()["sent"] == 1
        again = clay_gateway.post("/v1/destinations/enrich/rows", json=row).json()
        assert again["results"][0]["status"] == "already_accepted"
        assert imitation.state.submissions == 1


def test_refusals_before_sending_and_clay_errors(clay_gateway: httpx.Client) -> None:
    """An oversized row is refused before sending; Clay's own refusal is reported with
    its status and body."""
    with table(auth_value="right") as (imitation, url):
        clay_destination(
            clay_gateway, url, auth_header_name="x-clay-webhook-auth", auth_header_value="wrong"
        )
        big = {"payload": {"notes": "x" * 120_000}}
        result = clay_gateway.post("/v1/destinations/enrich/rows", json=big).json()["results"][0]
        assert result["ok"] is False
        assert result["error"]["code"] == "payload_too_large"
        assert imitation.state.rejected == {}
        refused = clay_gateway.post(
            "/v1/destinations/enrich/rows", json={"payload": {"a": 1}}
        ).json()["results"][0]
        assert refused["ok"] is False
        assert refused["status_code"] == 401
        assert refused["response"]["error"] == "unauthorized"
        assert refused["error"]["code"] == "clay_refused"


def test_pool_moves_on_at_the_limit_and_says_so(clay_gateway: httpx.Client) -> None:
    """Counts persist per webhook; at the limit the next webhook takes over; with none
    left the row fails with webhook_exhausted."""
    with table() as (first, url1), table() as (second, url2):
        clay_destination(clay_gateway, url1, clay={"submission_limit": 10})
        added = clay_gateway.post(
            "/v1/destinations/enrich/webhooks", json={"webhook_url": url2, "submission_limit": 3}
        )
        assert added.status_code == 201, added.text
        rows = [{"payload": {"n": i}} for i in range(12)]
        body = clay_gateway.post("/v1/destinations/enrich/rows", json={"rows": rows}).json()
        assert body["sent"] == 12
        assert first.state.submissions == 10
        assert second.state.submissions == 2
        shown = clay_gateway.get("/v1/destinations/enrich").json()["destination"]
        hooks = shown["config"]["webhooks"]
        assert [h["status"] for h in hooks] == ["exhausted", "active"]
        assert shown["config"]["webhook_url"] == url2
        assert any("66%" in w or "exhausted" in w for w in shown["warnings"])
        last = clay_gateway.post("/v1/destinations/enrich/rows", json={"rows": rows[:2]}).json()[
            "results"
        ]
        assert [r["ok"] for r in last] == [True, False]
        assert last[1]["error"]["code"] == "webhook_exhausted"
        assert "create a new webhook" in last[1]["error"]["message"]
        metrics = clay_gateway.get("/metrics").text
        assert "claybridge_clay_webhook_submissions{" in metrics


def test_clay_side_exhaustion_moves_to_the_next_webhook(clay_gateway: httpx.Client) -> None:
    """When Clay itself says the webhook is used up, Claybridge retires it and resends
    the row to the next webhook."""
    with table(submission_limit=1) as (first, url1), table() as (second, url2):
        clay_destination(clay_gateway, url1)
        clay_gateway.post("/v1/destinations/enrich/webhooks", json={"webhook_url": url2})
        rows = [{"payload": {"n": i}} for i in range(3)]
        body = clay_gateway.post("/v1/destinations/enrich/rows", json={"rows": rows}).json()
        assert body["sent"] == 3, body
        assert first.state.submissions == 1
        assert second.state.submissions == 2


def test_workspace_rate_limit_means_no_429(clay_gateway: httpx.Client) -> None:
    """Submissions are paced by the workspace limit, so the table never answers 429."""
    with table(rate=20, burst=5) as (imitation, url):
        clay_destination(
            clay_gateway, url, clay={"workspace_rate": 20, "workspace_burst": 2}, concurrency=20
        )
        started = time.monotonic()
        rows = [{"payload": {"n": i}} for i in range(30)]
        body = clay_gateway.post("/v1/destinations/enrich/rows", json={"rows": rows}).json()
        elapsed = time.monotonic() - started
    assert body["sent"] == 30
    assert imitation.state.rejected == {}
    assert elapsed >= 1.2  # 2 at once, then 28 at 20/s


def test_round_trip_through_a_callback_source(
    clay_gateway: httpx.Client, receiver: Receiver
) -> None:
    """A submitted row comes back enriched through the callback source and completes its
    pending request; unknown and repeated callbacks are answered 404 and 409."""
    made = callback_source(clay_gateway)
    hook = made["source"]["url"]
    with table(callback_delay=0.1, callback_token=made["token"]) as (_imitation, url):
        clay_destination(clay_gateway, url, clay={"callback_source": "Clay callbacks"})
        sent = clay_gateway.post(
            "/v1/destinations/enrich/rows",
            json={"payload": {"email": "ada@analytical.co"}, "callback": True},
        ).json()["results"][0]
        request_id = sent["request_id"]
        assert sent["callback_url"] == hook
        done = wait_until(
            lambda: (
                (r := clay_gateway.get(f"/v1/requests/{request_id}").json()["request"])["status"]
                == "completed"
                and r
            )
        )
    assert done["result"]["enriched"]["company_domain"] == "analytical.co"
    auth = {"Authorization": f"Bearer {made['token']}"}
    again = httpx.post(hook, json={"request_id": request_id}, headers=auth)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "request_already_completed"
    unknown = httpx.post(hook, json={"request_id": "req_nope"}, headers=auth)
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "unknown_request"
    rejected = clay_gateway.get("/v1/events", params={"status": "rejected"}).json()["data"]
    assert {e["error"]["code"] for e in rejected} == {
        "request_already_completed",
        "unknown_request",
    }


def test_workflow_waits_for_the_callback_then_continues(
    clay_gateway: httpx.Client, receiver: Receiver
) -> None:
    """clay_submit → wait_for_callback → forward: the run waits, then sends the enriched
    row on."""
    made = callback_source(clay_gateway)
    make_destination(clay_gateway, f"{receiver.url}/crm", name="crm")
    flow = {
        "key": "enrich-then-crm",
        "steps": [
            {"kind": "clay_submit", "destination": "enrich", "callback": True},
            {"kind": "wait_for_callback"},
            {
                "kind": "forward",
                "destination": "crm",
                "payload": "steps.1.result",
                "when": "steps[1].result.enriched.employee_count > 10",
            },
        ],
    }
    with table(callback_delay=0.5, callback_token=made["token"]) as (_imitation, url):
        clay_destination(clay_gateway, url, clay={"callback_source": "Clay callbacks"})
        assert clay_gateway.post("/v1/workflows", json=flow).status_code == 201
        run = clay_gateway.post(
            "/v1/workflows/enrich-then-crm/runs", json={"event": {"email": "ada@ae.co"}}
        ).json()["run"]
        wait_until(
            lambda: clay_gateway.get(f"/v1/runs/{run['id']}").json()["run"]["status"] == "waiting"
        )
        finished = wait_until(
            lambda: (
                (r := clay_gateway.get(f"/v1/runs/{run['id']}").json()["run"])["status"]
                == "completed"
                and r
            )
        )
    assert [s["status"] for s in finished["steps"]] == ["queued", "completed", "queued"]
    wait_until(lambda: receiver.count() == 1)
    assert receiver.seen[0].json()["enriched"]["company_domain"] == "ae.co"


def test_expired_request_fails_the_waiting_run(clay_gateway: httpx.Client) -> None:
    """No callback within the timeout: the request expires and the run fails, saying so."""
    callback_source(clay_gateway)
    flow = {
        "key": "w",
        "steps": [
            {"kind": "clay_submit", "destination": "enrich", "callback": True},
            {"kind": "wait_for_callback"},
        ],
    }
    with table() as (_imitation, url):
        clay_destination(
            clay_gateway, url, clay={"callback_source": "Clay callbacks", "callback_timeout": 0.5}
        )
        clay_gateway.post("/v1/workflows", json=flow)
        run = clay_gateway.post("/v1/workflows/w/runs", json={"event": {"a": 1}}).json()["run"]
        failed = wait_until(
            lambda: (
                (r := clay_gateway.get(f"/v1/runs/{run['id']}").json()["run"])["status"] == "failed"
                and r
            )
        )
    assert "timed out waiting for the callback" in failed["error"]
    request_id = failed["steps"][0]["request_id"]
    assert clay_gateway.get(f"/v1/requests/{request_id}").json()["request"]["status"] == "expired"


def test_bridge_answers_with_the_enriched_row_or_202(clay_gateway: httpx.Client) -> None:
    """The bridge holds the call until the callback; past the wait it answers 202 with a
    URL to poll, and the row still completes."""
    made = callback_source(clay_gateway)
    with table(callback_delay=0.2, callback_token=made["token"]) as (_imitation, url):
        clay_destination(clay_gateway, url, clay={"callback_source": "Clay callbacks"})
        answer = clay_gateway.post("/v1/bridge/enrich", json={"email": "ada@ae.co"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["enriched"]["company_domain"] == "ae.co"
        slow = clay_gateway.post("/v1/bridge/enrich", params={"wait": 0}, json={"email": "b@b.co"})
        assert slow.status_code == 202
        poll = slow.json()["poll_url"]
        assert poll.endswith(f"/v1/requests/{slow.json()['request_id']}")
        wait_until(lambda: clay_gateway.get(poll).json()["request"]["status"] == "completed")


def test_bridge_when_the_callback_lands_on_another_process(
    outbound_settings: Settings, db: Database
) -> None:
    """Server A holds the call; Clay calls back to server B (same database): A answers."""
    b = LiveServer(outbound_settings, worker=False, public_url="self")
    b.start()
    a = LiveServer(outbound_settings, worker=True, public_url=b.url)
    a.start()
    try:
        with admin_client(a.url, db) as client_a:
            made = callback_source(client_a)
            with table(callback_delay=0.3, callback_token=made["token"]) as (imitation, url):
                clay_destination(client_a, url, clay={"callback_source": "Clay callbacks"})
                answer = client_a.post("/v1/bridge/enrich", json={"email": "x@far.co"})
                assert answer.status_code == 200, answer.text
                assert answer.json()["enriched"]["company_domain"] == "far.co"
                assert imitation.state.rows[0]["callback_url"].startswith(b.url)
    finally:
        a.stop()
        b.stop()


def test_mapping_clay_submit_round_trip_and_cli(
    clay_gateway: httpx.Client,
    source: Any,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A source's clay_submit (callback: true) sends the row on; the enriched row comes
    back and `claybridge requests show` reports it."""
    from typer.testing import CliRunner

    from claybridge.cli import app

    made = callback_source(clay_gateway)
    with table(callback_delay=0.1, callback_token=made["token"]) as (imitation, url):
        clay_destination(clay_gateway, url, clay={"callback_source": "Clay callbacks"})
        config = {
            "mappings": {
                "lead.enriched": [
                    {
                        "kind": "clay_submit",
                        "destination": "enrich",
                        "external_id": "body.crm_id",
                        "callback": True,
                    }
                ]
            }
        }
        assert clay_gateway.put(f"/v1/sources/{source.key}/config", json=config).status_code == 200
        row = {"event": "lead.enriched", "email": "ada@ae.co", "crm_id": "c-1"}
        answer = clay_gateway.post(source.path, json=row, headers=source.auth).json()
        action = answer["actions"][0]
        assert action["status"] == "queued"
        request_id = action["request_id"]
        wait_until(
            lambda: (
                clay_gateway.get(f"/v1/requests/{request_id}").json()["request"]["status"]
                == "completed"
            )
        )
        sent = imitation.state.rows[0]
    assert sent["external_id"] == "c-1"
    assert sent["request_id"] == request_id
    monkeypatch.setenv("CLAYBRIDGE_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("CLAYBRIDGE_DATA_DIR", str(settings.data_dir))
    result = CliRunner().invoke(app, ["requests", "show", request_id, "--json"])
    assert result.exit_code == 0, result.output
    assert '"status": "completed"' in result.output
    assert '"company_domain": "ae.co"' in result.output


def test_ninety_percent_warning(clay_gateway: httpx.Client) -> None:
    """At 90% of a webhook's limit the API, the metrics and the log say so."""
    with table() as (_imitation, url):
        clay_destination(clay_gateway, url, clay={"submission_limit": 10})
        rows = [{"payload": {"n": i}} for i in range(9)]
        assert (
            clay_gateway.post("/v1/destinations/enrich/rows", json={"rows": rows}).json()["sent"]
            == 9
        )
        shown = clay_gateway.get("/v1/destinations/enrich").json()["destination"]
    assert shown["status"] == "active"
    assert shown["warnings"] == ["webhook 1: 90% of its 10 submissions used"]
    assert shown["config"]["webhooks"][0]["remaining"] == 1
    metrics = clay_gateway.get("/metrics").text
    assert 'claybridge_clay_webhook_state{destination="enrich",position="1"} 1.0' in metrics
    assert 'claybridge_clay_webhook_submissions{destination="enrich",position="1"} 9.0' in metrics


def test_a_request_id_queued_concurrently_reaches_clay_once(clay_gateway: httpx.Client) -> None:
    """Three concurrent submissions of one request_id to a paused Clay destination queue
    one delivery (each answer names it), and the table receives the row once."""
    with table() as (imitation, url):
        clay_destination(clay_gateway, url)
        assert clay_gateway.post("/v1/destinations/enrich/pause").status_code == 200
        row = {"rows": [{"payload": {"email": "a@x.co"}, "request_id": "twice"}]}
        with ThreadPoolExecutor(3) as pool:
            answers = list(
                pool.map(
                    lambda _i: clay_gateway.post("/v1/destinations/enrich/rows?wait=0", json=row),
                    range(3),
                )
            )
        assert [a.status_code for a in answers] == [202, 202, 202], [a.text for a in answers]
        ids = {a.json()["results"][0]["delivery_id"] for a in answers}
        assert len(ids) == 1
        assert clay_gateway.post("/v1/destinations/enrich/resume").status_code == 200
        wait_until(lambda: imitation.state.submissions >= 1)
        time.sleep(0.5)  # a second copy, if any, would have been sent by now
        assert imitation.state.submissions == 1
        listed = clay_gateway.get("/v1/deliveries", params={"destination": "enrich"}).json()
        assert len(listed["data"]) == 1
