"""The delivery queue end to end: a real server with a worker, a real receiver."""

from __future__ import annotations

import re
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook

from claybridge.storage.database import Database
from tests.conftest import SourceInfo
from tests.integration.conftest import make_destination
from tests.receiver import Receiver, Reply, wait_until

ROW = {"event": "lead.enriched", "email": "ada@example.com", "first_name": "Ada", "icp_score": "91"}


def forward_config(destination: str = "receiver", **action: Any) -> dict[str, Any]:
    """A source configuration that forwards every lead.enriched row to ``destination``."""
    return {
        "mappings": {"lead.enriched": [{"kind": "forward", "destination": destination, **action}]}
    }


def post_row(client: httpx.Client, source: SourceInfo, row: dict[str, Any]) -> dict[str, Any]:
    response = client.post(source.path, json=row, headers=source.auth)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def delivery(client: httpx.Client, delivery_id: str) -> dict[str, Any]:
    return client.get(f"/v1/deliveries/{delivery_id}").json()["delivery"]  # type: ignore[no-any-return]


def settled(client: httpx.Client, delivery_id: str, status: str = "delivered") -> dict[str, Any]:
    """Wait until the delivery reaches ``status``; return it."""
    return wait_until(  # type: ignore[no-any-return]
        lambda: (d := delivery(client, delivery_id))["status"] == status and d
    )


def setup_forward(client: httpx.Client, source: SourceInfo, **action: Any) -> None:
    response = client.put(f"/v1/sources/{source.key}/config", json=forward_config(**action))
    assert response.status_code == 200, response.text


def test_forwarded_row_is_delivered_and_logged(
    gateway: httpx.Client, receiver: Receiver, source: SourceInfo
) -> None:
    """An accepted row is answered at once and then delivered, with its attempt logged."""
    make_destination(gateway, f"{receiver.url}/crm")
    setup_forward(gateway, source)
    answer = post_row(gateway, source, ROW)
    action = answer["actions"][0]
    assert action["status"] == "queued"
    done = settled(gateway, action["delivery_id"])
    assert receiver.seen[0].path == "/crm"
    assert receiver.seen[0].json() == ROW
    assert done["event_id"] == answer["event_id"]
    assert [a["status_code"] for a in done["attempt_log"]] == [200]
    assert done["attempt_log"][0]["response_excerpt"] == '{"ok": true}'


def test_retries_follow_the_schedule_until_delivered(
    gateway: httpx.Client, receiver: Receiver, source: SourceInfo
) -> None:
    """500, 500, then 200: three attempts spaced by the destination's schedule."""
    make_destination(gateway, f"{receiver.url}/h", retry_schedule=[0, 0.3, 0.3, 0.3])
    setup_forward(gateway, source)
    receiver.reply_with(Reply(500), Reply(502))
    action = post_row(gateway, source, ROW)["actions"][0]
    done = settled(gateway, action["delivery_id"])
    assert done["attempts"] == 3
    assert [a["status_code"] for a in done["attempt_log"]] == [500, 502, 200]
    gaps = [b.at - a.at for a, b in zip(receiver.seen, receiver.seen[1:], strict=False)]
    assert all(gap >= 0.3 * 0.8 - 0.02 for gap in gaps), gaps


def test_retry_pause_counts_from_the_end_of_a_slow_attempt(
    gateway: httpx.Client, receiver: Receiver, source: SourceInfo
) -> None:
    """A receiver that takes 0.5 s to fail still gets the 0.3 s pause after its answer."""
    make_destination(gateway, f"{receiver.url}/h", retry_schedule=[0, 0.3])
    setup_forward(gateway, source)
    receiver.reply_with(Reply(500, hang=0.5))
    action = post_row(gateway, source, ROW)["actions"][0]
    settled(gateway, action["delivery_id"])
    gap = receiver.seen[1].at - receiver.seen[0].at
    assert gap >= 0.5 + 0.3 * 0.8 - 0.02, gap


def test_retry_after_is_honoured_on_429(
    gateway: httpx.Client, receiver: Receiver, source: SourceInfo
) -> None:
    """A 429 with Retry-After: 1 waits a second, though the schedule says 0.05 s."""
    make_destination(gateway, f"{receiver.url}/h", retry_schedule=[0, 0.05, 0.05])
    setup_forward(gateway, source)
    receiver.reply_with(Reply(429, {"Retry-After": "1"}))
    action = post_row(gateway, source, ROW)["actions"][0]
    settled(gateway, action["delivery_id"])
    assert receiver.seen[1].at - receiver.seen[0].at >= 0.95


def test_permanent_failure_is_dead_after_one_attempt(
    gateway: httpx.Client, receiver: Receiver, source: SourceInfo
) -> None:
    """A 422 from the receiver is not retried: the delivery is dead with the reason."""
    make_destination(gateway, f"{receiver.url}/h", retry_schedule=[0, 0.05, 0.05])
    setup_forward(gateway, source)
    receiver.reply_with(Reply(422, body=b'{"error": "bad email"}'))
    action = post_row(gateway, source, ROW)["actions"][0]
    dead = settled(gateway, action["delivery_id"], "dead")
    assert dead["attempts"] == 1
    assert "permanent" in dead["last_error"]
    assert dead["attempt_log"][0]["response_excerpt"] == '{"error": "bad email"}'
    assert receiver.count() == 1


def test_a_hanging_receiver_times_out_and_is_retried(
    gateway: httpx.Client, receiver: Receiver, source: SourceInfo
) -> None:
    """A receiver that hangs past the timeout counts as a failed attempt, then succeeds."""
    make_destination(gateway, f"{receiver.url}/h", timeout_seconds=0.3, retry_schedule=[0, 0.1])
    setup_forward(gateway, source)
    receiver.reply_with(Reply(hang=2.0))
    action = post_row(gateway, source, ROW)["actions"][0]
    done = settled(gateway, action["delivery_id"])
    first = done["attempt_log"][0]
    assert first["status_code"] is None
    assert "timed out" in first["error"]
    assert done["attempt_log"][1]["status_code"] == 200


def test_schedule_spent_makes_it_dead(
    gateway: httpx.Client, receiver: Receiver, source: SourceInfo
) -> None:
    """After the last scheduled attempt fails the delivery is dead."""
    make_destination(gateway, f"{receiver.url}/h", retry_schedule=[0, 0.05])
    setup_forward(gateway, source)
    receiver.reply_with(default=Reply(503))
    action = post_row(gateway, source, ROW)["actions"][0]
    dead = settled(gateway, action["delivery_id"], "dead")
    assert dead["attempts"] == 2
    assert "gave up after 2 attempts" in dead["last_error"]


def test_circuit_breaker_pauses_then_probes_and_resumes(
    gateway: httpx.Client, receiver: Receiver, source: SourceInfo
) -> None:
    """Failures in a row open the circuit; waiting work is not burned; a probe reopens it."""
    make_destination(
        gateway,
        f"{receiver.url}/h",
        concurrency=1,
        retry_schedule=[0] + [0.05] * 20,
        circuit_threshold=3,
        circuit_cooldown=1.0,
    )
    setup_forward(gateway, source)
    receiver.reply_with(default=Reply(500))
    ids = [post_row(gateway, source, ROW)["actions"][0]["delivery_id"] for _ in range(10)]
    wait_until(
        lambda: (
            gateway.get("/v1/destinations/receiver").json()["destination"]["circuit"]["state"]
            == "open"
        )
    )
    seen_when_open = receiver.count()
    assert 3 <= seen_when_open <= 4  # the threshold, plus at most one already in flight
    metrics = gateway.get("/metrics").text
    assert 'claybridge_destination_circuit_open{destination="receiver"} 1.0' in metrics
    receiver.reply_with(default=Reply(200))
    for delivery_id in ids:
        settled(gateway, delivery_id)
    circuit = gateway.get("/v1/destinations/receiver").json()["destination"]["circuit"]
    assert circuit["state"] == "closed"
    # While open, only probes went out: one per cooldown, not a burst of retries.
    assert receiver.count() <= seen_when_open + 1 + len(ids)


def test_replay_one_and_by_filter(
    gateway: httpx.Client, receiver: Receiver, source: SourceInfo
) -> None:
    """Dead deliveries are replayed as new deliveries; the originals keep their history."""
    make_destination(gateway, f"{receiver.url}/h", retry_schedule=[0])
    setup_forward(gateway, source)
    receiver.reply_with(Reply(400), Reply(400), Reply(400))
    ids = [post_row(gateway, source, ROW)["actions"][0]["delivery_id"] for _ in range(3)]
    for delivery_id in ids:
        settled(gateway, delivery_id, "dead")
    one = gateway.post(f"/v1/deliveries/{ids[0]}/replay")
    assert one.status_code == 202
    new_id = one.json()["deliveries"][0]
    assert settled(gateway, new_id)["replay_of"] == ids[0]
    assert delivery(gateway, ids[0])["status"] == "dead"
    bulk = gateway.post("/v1/deliveries/replay", json={"status": "dead", "destination": "receiver"})
    assert bulk.json()["replayed"] == 3
    for replayed in bulk.json()["deliveries"]:
        settled(gateway, replayed)
    refused = gateway.post("/v1/deliveries/replay", json={})
    assert refused.status_code == 422


def test_paused_destination_holds_its_work(
    gateway: httpx.Client, receiver: Receiver, source: SourceInfo
) -> None:
    """While paused nothing is sent; on resume everything waiting goes out."""
    make_destination(gateway, f"{receiver.url}/h")
    setup_forward(gateway, source)
    gateway.post("/v1/destinations/receiver/pause")
    ids = [post_row(gateway, source, ROW)["actions"][0]["delivery_id"] for _ in range(3)]
    import time

    time.sleep(0.4)
    assert receiver.count() == 0
    assert {delivery(gateway, i)["status"] for i in ids} == {"pending"}
    gateway.post("/v1/destinations/receiver/resume")
    for delivery_id in ids:
        settled(gateway, delivery_id)


def test_signed_deliveries_verify(
    gateway: httpx.Client, receiver: Receiver, source: SourceInfo
) -> None:
    """Signed deliveries carry Standard Webhooks headers that verify with the shown secret."""
    made = make_destination(gateway, f"{receiver.url}/h", signing_secret="generate")
    setup_forward(gateway, source)
    action = post_row(gateway, source, ROW)["actions"][0]
    settled(gateway, action["delivery_id"])
    seen = receiver.seen[0]
    assert seen.headers["webhook-id"] == action["delivery_id"]
    assert Webhook(made["signing_secret"]).verify(seen.body, seen.headers) == ROW


def test_rate_limit_spaces_requests(
    gateway: httpx.Client, receiver: Receiver, source: SourceInfo
) -> None:
    """5/s with bursts of 5: ten deliveries take about a second, never faster."""
    make_destination(gateway, f"{receiver.url}/h", rate_limit=5)
    setup_forward(gateway, source)
    ids = [post_row(gateway, source, ROW)["actions"][0]["delivery_id"] for _ in range(10)]
    for delivery_id in ids:
        settled(gateway, delivery_id)
    times = sorted(s.at for s in receiver.seen)
    # Slots: five at once, then one every 0.2 s (the last at +1.0 s). The first request
    # may arrive late (a new connection), so the checks leave it that slack.
    assert times[-1] - times[0] >= 0.7
    assert sum(1 for t in times if t < times[0] + 0.3) <= 7


def test_a_mapping_to_an_unknown_destination_is_refused_when_saved(
    gateway: httpx.Client, receiver: Receiver, source: SourceInfo
) -> None:
    """Saving a mapping that forwards to a missing destination is 422 naming the key;
    deleting a destination a mapping uses is 409 naming the mapping, unless forced."""
    answer = gateway.put(
        f"/v1/sources/{source.key}/config", json=forward_config(destination="nowhere")
    )
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "unknown_destination"
    assert error["field"] == "mappings.lead.enriched[0].destination"
    assert "no destination 'nowhere'" in error["message"]
    make_destination(gateway, f"{receiver.url}/crm", name="crm")
    setup_forward(gateway, source, destination="crm")
    refused = gateway.delete("/v1/destinations/crm")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "destination_in_use"
    assert (
        "source 'Clay accounts' at mappings.lead.enriched[0].destination"
        in (refused.json()["error"]["message"])
    )
    renamed = gateway.patch("/v1/destinations/crm", json={"name": "crm2"})
    assert renamed.status_code == 409


def test_a_destination_deleted_by_force_rejects_the_row_and_writes_nothing(
    gateway: httpx.Client, receiver: Receiver, source: SourceInfo, db: Database
) -> None:
    """A mapping whose destination was deleted by force answers 422 naming it."""
    make_destination(gateway, f"{receiver.url}/crm", name="nowhere")
    setup_forward(gateway, source, destination="nowhere")
    assert gateway.delete("/v1/destinations/nowhere", params={"force": True}).status_code == 200
    response = gateway.post(source.path, json=ROW, headers=source.auth)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "unknown_destination"
    assert "nowhere" in response.json()["error"]["message"]
    assert gateway.get("/v1/deliveries").json()["data"] == []


def test_event_replay_reruns_the_mapping(
    gateway: httpx.Client, receiver: Receiver, source: SourceInfo
) -> None:
    """Replaying a logged event runs it through the current mapping as a new event."""
    make_destination(gateway, f"{receiver.url}/h")
    setup_forward(gateway, source)
    first = post_row(gateway, source, ROW)
    settled(gateway, first["actions"][0]["delivery_id"])
    again = gateway.post(f"/v1/events/{first['event_id']}/replay")
    assert again.status_code == 200, again.text
    assert again.json()["event_id"] != first["event_id"]
    settled(gateway, again.json()["actions"][0]["delivery_id"])
    assert receiver.count() == 2
    logged = gateway.get(f"/v1/events/{again.json()['event_id']}").json()["event"]
    assert logged["note"] == f"replay of {first['event_id']}"


def test_metrics_expose_queue_and_latency(
    gateway: httpx.Client, receiver: Receiver, source: SourceInfo
) -> None:
    """/metrics has events, deliveries by status, depth, oldest age and latency."""
    make_destination(gateway, f"{receiver.url}/h")
    setup_forward(gateway, source)
    settled(gateway, post_row(gateway, source, ROW)["actions"][0]["delivery_id"])
    text = gateway.get("/metrics").text
    assert 'claybridge_events{outcome="accepted",source="Clay accounts"} 1.0' in text
    assert 'claybridge_deliveries{status="delivered"} 1.0' in text
    assert "claybridge_queue_depth 0.0" in text
    assert "claybridge_oldest_due_delivery_age_seconds 0.0" in text
    assert "claybridge_delivery_attempt_latency_seconds_count 1.0" in text
    assert 'claybridge_runs{status="queued"} 0.0' in text


def test_metrics_count_this_process_group_commits(
    gateway: httpx.Client, source: SourceInfo
) -> None:
    """/metrics counts the group commits and the ingest requests they carried."""

    def counter(text: str, name: str) -> float:
        return float(re.search(rf"^{name}_total (\S+)$", text, re.M).group(1))  # type: ignore[union-attr]

    before = gateway.get("/metrics").text
    for _ in range(3):
        post_row(gateway, source, ROW)
    after = gateway.get("/metrics").text
    jobs = counter(after, "claybridge_ingest_commit_jobs")
    assert jobs - counter(before, "claybridge_ingest_commit_jobs") == 3
    batches = counter(after, "claybridge_ingest_commit_batches")
    assert 1 <= batches - counter(before, "claybridge_ingest_commit_batches") <= 3
