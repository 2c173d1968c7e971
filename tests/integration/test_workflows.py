"""Workflows and runs: the run API's idempotency, ICP routing, triggers, cancel, prune."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from cryptography.fernet import Fernet

from claybridge.core.ssrf import parse_networks
from claybridge.records import deliveries, delivery_log, destinations
from claybridge.records.retention import prune
from claybridge.secretbox import SecretBox
from claybridge.storage.database import Database
from claybridge.workflows.executor import process_due
from tests.conftest import SourceInfo, now
from tests.integration.conftest import make_destination
from tests.integration.test_deliveries import settled
from tests.receiver import Receiver, wait_until

ICP = {
    "key": "route-lead",
    "name": "Route leads by ICP score",
    "steps": [
        {"kind": "forward", "destination": "outreach", "when": "event.icp_score >= 80"},
        {
            "kind": "forward",
            "destination": "nurture",
            "when": "event.icp_score >= 50 and event.icp_score < 80",
        },
    ],
}


def start(client: httpx.Client, event: dict[str, Any], key: str | None = None) -> httpx.Response:
    body: dict[str, Any] = {"event": event, "source": {"table": "Leads"}}
    if key is not None:
        body["idempotency_key"] = key
    return client.post("/v1/workflows/route-lead/runs", json=body)


def test_run_api_idempotency(api_only: httpx.Client, receiver: Receiver, db: Database) -> None:
    """New key → 202; same key while active → 200 same run; after it ended → 409."""
    make_destination(api_only, f"{receiver.url}/o", name="outreach")
    make_destination(api_only, f"{receiver.url}/n", name="nurture")
    assert api_only.post("/v1/workflows", json=ICP).status_code == 201
    first = start(api_only, {"icp_score": "91"}, "clay:row-1")
    assert first.status_code == 202
    run = first.json()["run"]
    assert run["status"] == "queued"
    repeat = start(api_only, {"icp_score": "91"}, "clay:row-1")
    assert repeat.status_code == 200
    assert repeat.json()["run"]["id"] == run["id"]
    with db.write() as conn:  # a worker's turn: carry the run out
        assert process_due(conn, now(), "test-worker") == 1
    ended = start(api_only, {"icp_score": "91"}, "clay:row-1")
    assert ended.status_code == 409
    error = ended.json()["error"]
    assert error["code"] == "idempotency_key_conflict"
    assert run["id"] in error["message"]
    assert "completed" in error["message"]
    shown = api_only.get(f"/v1/runs/{run['id']}").json()["run"]
    assert shown["status"] == "completed"
    assert [s["status"] for s in shown["steps"]] == ["queued", "skipped"]


def test_cancel_a_queued_run(api_only: httpx.Client, receiver: Receiver, db: Database) -> None:
    """A queued run can be cancelled once; a worker then leaves it alone."""
    make_destination(api_only, f"{receiver.url}/o", name="outreach")
    make_destination(api_only, f"{receiver.url}/n", name="nurture")
    assert api_only.post("/v1/workflows", json=ICP).status_code == 201
    run = start(api_only, {"icp_score": "99"}).json()["run"]
    cancelled = api_only.post(f"/v1/runs/{run['id']}/cancel")
    assert cancelled.json()["run"]["status"] == "cancelled"
    again = api_only.post(f"/v1/runs/{run['id']}/cancel")
    assert again.status_code == 409
    with db.write() as conn:
        assert process_due(conn, now(), "w") == 0
    listed = api_only.get("/v1/runs", params={"status": "cancelled"}).json()["data"]
    assert [r["id"] for r in listed] == [run["id"]]


def test_icp_rule_routes_through_real_deliveries(gateway: httpx.Client, receiver: Receiver) -> None:
    """≥ 80 reaches outreach, 50-79 nurture, lower nothing; each run records its steps."""
    make_destination(gateway, f"{receiver.url}/outreach", name="outreach")
    make_destination(gateway, f"{receiver.url}/nurture", name="nurture")
    gateway.post("/v1/workflows", json=ICP)
    ids = [
        start(gateway, {"icp_score": s, "email": f"{s}@x.co"}).json()["run"]["id"]
        for s in ("91", "65", "12")
    ]
    done = [
        wait_until(
            lambda i=i: (
                (r := gateway.get(f"/v1/runs/{i}").json()["run"])["status"] == "completed" and r
            )
        )
        for i in ids
    ]
    for run in done:
        for step in run["steps"]:
            if step["status"] == "queued":
                settled(gateway, step["delivery_id"])
    by_path = {s.path: s.json()["email"] for s in receiver.seen}
    assert by_path == {"/outreach": "91@x.co", "/nurture": "65@x.co"}
    assert [s["status"] for s in done[2]["steps"]] == ["skipped", "skipped"]


def test_trigger_workflow_from_a_mapping(
    gateway: httpx.Client, receiver: Receiver, source: SourceInfo
) -> None:
    """A mapping's trigger_workflow starts a run keyed by the row; a repeat starts none."""
    make_destination(gateway, f"{receiver.url}/outreach", name="outreach")
    make_destination(gateway, f"{receiver.url}/nurture", name="nurture")
    gateway.post("/v1/workflows", json=ICP)
    config = {
        "mappings": {
            "lead.enriched": [
                {
                    "kind": "trigger_workflow",
                    "workflow": "route-lead",
                    "idempotency_key": "body.clay_row_id",
                }
            ]
        }
    }
    assert gateway.put(f"/v1/sources/{source.key}/config", json=config).status_code == 200
    row = {"event": "lead.enriched", "clay_row_id": "r1", "icp_score": "88", "email": "a@b.co"}
    answer = gateway.post(source.path, json=row, headers=source.auth).json()
    action = answer["actions"][0]
    assert action["status"] == "started"
    run = wait_until(
        lambda: (
            (r := gateway.get(f"/v1/runs/{action['run_id']}").json()["run"])["status"]
            == "completed"
            and r
        )
    )
    assert run["event_id"] == answer["event_id"]
    assert run["source"]["event"] == "lead.enriched"
    settled(gateway, run["steps"][0]["delivery_id"])
    assert receiver.seen[0].json() == row
    repeat = gateway.post(source.path, json=row, headers=source.auth).json()["actions"][0]
    assert repeat["status"] == "exists"
    assert repeat["run_id"] == action["run_id"]


def test_unknown_workflow_and_missing_destination(
    api_only: httpx.Client, source: SourceInfo, receiver: Receiver, db: Database
) -> None:
    """A mapping triggering a missing workflow, or a step naming a missing destination,
    is refused when saved (422 naming the key); a workflow a mapping triggers is not
    deleted unless forced; a step whose destination was deleted by force fails its run
    with the reason."""
    config = {"mappings": {"x": [{"kind": "trigger_workflow", "workflow": "nope"}]}}
    refused = api_only.put(f"/v1/sources/{source.key}/config", json=config).json()["error"]
    assert refused["code"] == "unknown_workflow"
    assert refused["field"] == "mappings.x[0].workflow"
    saved = api_only.post("/v1/workflows", json=ICP).json()["error"]
    assert saved["code"] == "unknown_destination"
    assert saved["field"] == "steps[0].destination"
    make_destination(api_only, f"{receiver.url}/o", name="outreach")
    make_destination(api_only, f"{receiver.url}/n", name="nurture")
    assert api_only.post("/v1/workflows", json=ICP).status_code == 201
    config["mappings"]["x"][0]["workflow"] = ICP["key"]
    assert api_only.put(f"/v1/sources/{source.key}/config", json=config).status_code == 200
    in_use = api_only.delete(f"/v1/workflows/{ICP['key']}")
    assert in_use.status_code == 409
    assert in_use.json()["error"]["code"] == "workflow_in_use"
    gone = api_only.delete(f"/v1/workflows/{ICP['key']}", params={"force": True})
    assert gone.status_code == 200
    response = api_only.post(source.path, json={"event": "x"}, headers=source.auth)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "unknown_workflow"
    assert api_only.post("/v1/workflows", json=ICP).status_code == 201
    assert api_only.delete("/v1/destinations/outreach", params={"force": True}).status_code == 200
    run = start(api_only, {"icp_score": "95"}).json()["run"]
    with db.write() as conn:
        process_due(conn, now(), "w")
    failed = api_only.get(f"/v1/runs/{run['id']}").json()["run"]
    assert failed["status"] == "failed"
    assert "no destination named 'outreach'" in failed["error"]
    assert api_only.get("/v1/deliveries").json()["data"] == []


def test_prune_keeps_pending_work(db: Database) -> None:
    """Pruning removes old settled deliveries and their attempts, never pending ones."""
    box = SecretBox(Fernet.generate_key())
    t0 = now() - timedelta(days=40)
    with db.write() as conn:
        dest, _ = destinations.create(
            conn,
            {"name": "d", "kind": "http", "url": "http://127.0.0.1:9/h"},
            t0,
            box,
            allow=parse_networks("127.0.0.1/32"),
        )
        done = deliveries.new_row(dest.id, {"a": 1}, t0)
        done["status"] = deliveries.DELIVERED
        waiting = deliveries.new_row(dest.id, {"a": 2}, t0)
        deliveries.enqueue(conn, [done, waiting])
    counts = prune(db, now() - timedelta(days=30), now())
    assert counts["deliveries"] == 1
    with db.read() as conn:
        assert delivery_log.counts(conn) == {"pending": 1}
    assert prune(db, now() - timedelta(days=30), now())["deliveries"] == 0
