"""Destinations: secrets encrypted and masked, the SSRF guard, test sends (both databases)."""

from __future__ import annotations

import asyncio

import httpx
import sqlalchemy as sa

from claybridge.core.ssrf import guarded_session, parse_networks
from claybridge.delivery.sender import Attempt, send
from claybridge.records.targets import Target
from claybridge.storage.database import Database
from claybridge.storage.tables import destinations
from tests.integration.conftest import make_destination
from tests.receiver import Receiver

SLACK = "Hot lead from Clay: {{ first_name }} {{ last_name }} - ICP {{ icp_score }}"


def test_secrets_are_encrypted_at_rest_and_masked(
    api_only: httpx.Client, receiver: Receiver, db: Database
) -> None:
    """URL and header values are stored encrypted; the API shows them masked."""
    created = make_destination(
        api_only,
        f"{receiver.url}/hook?key=s3cret",
        headers={"Authorization": "Bearer crm-token", "X-Team": "revops"},
        signing_secret="generate",
    )
    shown = created["destination"]
    assert shown["url"] == f"{receiver.url}/hook?key=%2A%2A%2A%2A%2A%2A%2A%2A"
    assert shown["headers"] == {"Authorization": "********", "X-Team": "revops"}
    assert created["signing_secret"].startswith("whsec_")
    with db.read() as conn:
        row = conn.execute(sa.select(destinations)).one()
    assert row.url.startswith("enc:v1:")
    assert "s3cret" not in row.url
    assert all(v.startswith("enc:v1:") for v in row.headers.values())
    assert "crm-token" not in str(api_only.get("/v1/destinations").json())
    # A masked value sent back keeps the stored secret; the generated one is not shown again.
    again = api_only.patch(
        f"/v1/destinations/{shown['id']}",
        json={"headers": {"Authorization": "********", "X-Team": "ops"}, "timeout_seconds": 3},
    )
    assert again.status_code == 200, again.text
    assert "signing_secret" not in again.json()
    with db.read() as conn:
        after = conn.execute(sa.select(destinations)).one()
    assert after.headers["Authorization"] == row.headers["Authorization"]
    assert after.timeout_seconds == 3


def test_ssrf_guard_refuses_loopback_unless_allowed(
    client: httpx.Client, admin: httpx.Client, receiver: Receiver
) -> None:
    """Without an allow list a loopback URL is refused when saved, with a clear code."""
    response = admin.post(
        "/v1/destinations", json={"name": "x", "kind": "http", "url": f"{receiver.url}/h"}
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "blocked_url"
    assert "loopback" in error["message"]
    assert receiver.count() == 0


def test_ssrf_guard_checks_again_when_connecting(receiver: Receiver) -> None:
    """At send time a blocked name or literal is a permanent failure; an allowed one works."""
    port = receiver.url.rsplit(":", 1)[1]

    def attempt(url: str, allow: str) -> Attempt:
        target = Target(
            "dst_1", "t", "http", url, "POST", (), None, None, 2.0, None, 1, (0,), 5, 60.0
        )
        networks = parse_networks(allow)

        async def once() -> Attempt:
            async with guarded_session(networks) as session:
                return await send(session, target, {"a": 1}, "dlv_1", 1, networks)

        return asyncio.run(once())

    for url in (f"http://127.0.0.1:{port}/x", f"http://localhost:{port}/x"):
        refused = attempt(url, "")
        assert refused.permanent
        assert "SSRF guard" in (refused.error or "")
    assert receiver.count() == 0
    assert attempt(f"http://127.0.0.1:{port}/x", "127.0.0.1/32").status_code == 200
    assert attempt(f"http://localhost:{port}/x", "127.0.0.0/8, ::1/128").status_code == 200
    assert receiver.count() == 2


def test_invalid_destinations_are_refused_with_the_field(
    api_only: httpx.Client, receiver: Receiver
) -> None:
    """Bad templates, a slack destination without a message, bad schedules: 422 naming it."""
    cases = [
        ({"kind": "http", "template": "{{ oops "}, "template"),
        ({"kind": "slack"}, ""),
        ({"kind": "http", "retry_schedule": "0,5 minutes"}, "retry_schedule"),
        ({"kind": "http", "headers": {"Host": "x"}}, "headers"),
        ({"kind": "ftp"}, "kind"),
    ]
    for extra, field in cases:
        body = {"name": "bad", "url": f"{receiver.url}/h", **extra}
        response = api_only.post("/v1/destinations", json=body)
        assert response.status_code == 422, (extra, response.text)
        assert response.json()["ok"] is False
        assert field in (response.json()["error"].get("field") or "")
    assert api_only.get("/v1/destinations").json()["data"] == []


def test_lifecycle_pause_resume_delete_and_test_send(
    api_only: httpx.Client, receiver: Receiver
) -> None:
    """Create, list, pause, resume, test-send and delete a slack destination."""
    made = make_destination(api_only, f"{receiver.url}/slack", kind="slack", template=SLACK)
    ref = made["destination"]["name"]
    assert made["destination"]["url"].endswith("/********")
    assert api_only.post(f"/v1/destinations/{ref}/pause").json()["destination"]["status"] == (
        "paused"
    )
    assert api_only.post(f"/v1/destinations/{ref}/resume").json()["destination"]["status"] == (
        "active"
    )
    sent = api_only.post(
        f"/v1/destinations/{ref}/test",
        json={"payload": {"first_name": "Ada", "last_name": "L", "icp_score": 91}},
    )
    assert sent.json()["ok"] is True
    assert sent.json()["status_code"] == 200
    assert receiver.seen[-1].json() == {"text": "Hot lead from Clay: Ada L - ICP 91"}
    assert api_only.delete(f"/v1/destinations/{ref}").json()["ok"] is True
    missing = api_only.get(f"/v1/destinations/{ref}")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
