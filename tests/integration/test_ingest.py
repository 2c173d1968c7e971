"""``POST /hooks/{key}`` on a real server, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import orjson
import sqlalchemy as sa

from claybridge.config import Settings
from claybridge.records import owners, sources
from claybridge.storage.database import Database
from claybridge.storage.tables import customers, events
from tests.conftest import SourceInfo, now

ROW = {
    "name": "Acme",
    "websiteUrl": "https://www.Acme.com/about",
    "owner": "Ada Lovelace",
    "stage": "Closed Won",
    "arr": "$120,000",
    "renewalDate": "03/01/2026",
}


def _count(db: Database, table: sa.Table, *where: Any) -> int:
    with db.read() as conn:
        return int(
            conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one()
        )


def _add_ada(db: Database) -> dict[str, Any]:
    with db.write() as conn:
        return owners.add(conn, "Ada Lovelace", "ada@example.com", now())


def _last_event(db: Database) -> dict[str, Any]:
    with db.read() as conn:
        row = conn.execute(sa.select(events).order_by(events.c.id.desc()).limit(1)).one()
    return dict(row._mapping)


def test_row_creates_then_updates_customer(
    client: httpx.Client, source: SourceInfo, db: Database
) -> None:
    """The first row creates the customer, the same domain again updates it."""
    ada = _add_ada(db)
    first = client.post(source.path, json=ROW, headers=source.auth)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["ok"] is True
    customer = body["customer"]
    assert customer["created"] is True
    assert customer["domain"] == "acme.com"
    assert customer["owner"] == {
        "id": ada["id"],
        "name": "Ada Lovelace",
        "email": "ada@example.com",
    }
    assert customer["arr"] == 120000
    assert customer["renewal_date"] == "2026-03-01"

    second = client.post(
        source.path,
        json={"name": "Acme Inc", "websiteUrl": "acme.com", "arr": ""},
        headers=source.auth,
    )
    assert second.status_code == 200
    again = second.json()["customer"]
    assert again["created"] is False
    assert again["id"] == customer["id"]
    assert again["name"] == "Acme Inc"
    assert again["arr"] == 120000, "an empty cell must not erase the stored value"
    assert again["owner"]["email"] == "ada@example.com"
    assert _count(db, customers) == 1
    assert _count(db, events, events.c.status == "accepted") == 2


def test_owner_email_wins_over_owner(
    client: httpx.Client, source: SourceInfo, db: Database
) -> None:
    """With both owner and ownerEmail, the email decides."""
    _add_ada(db)
    with db.write() as conn:
        owners.add(conn, "Grace Hopper", "grace@example.com", now())
    response = client.post(
        source.path, json={**ROW, "ownerEmail": "grace@example.com"}, headers=source.auth
    )
    assert response.json()["customer"]["owner"]["name"] == "Grace Hopper"


def test_raw_line_break_in_a_cell_is_accepted(client: httpx.Client, source: SourceInfo) -> None:
    """A raw control character inside a JSON string (a multi-line cell) is accepted."""
    raw = b'{"name": "Acme\nHoldings", "websiteUrl": "acme.com", "stage": "a\tb"}'
    response = client.post(source.path, content=raw, headers=source.auth)
    assert response.status_code == 200, response.text
    assert response.json()["customer"]["name"] == "Acme\nHoldings"


def _assert_rejected(
    response: httpx.Response, status: int, code: str, field: str | None = None
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["ok"] is False
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    if field is not None:
        assert body["error"]["field"] == field
    return body


def test_validation_errors_write_nothing_but_the_event(
    client: httpx.Client, source: SourceInfo, db: Database
) -> None:
    """Each bad row gets its status and code; only a rejected event is stored."""
    with db.write() as conn:
        owners.add(conn, "Sam Lee", "sam1@example.com", now())
        owners.add(conn, "Sam Lee", "sam2@example.com", now())
    cases = [
        ({"websiteUrl": "acme.com"}, 400, "missing_field", "name"),
        ({"name": "", "websiteUrl": "acme.com"}, 400, "missing_field", "name"),
        ({"name": "Acme", "websiteUrl": ""}, 400, "missing_field", "websiteUrl"),
        ({**ROW, "owner": "Sam Lee"}, 422, "ambiguous_owner", "owner"),
        ({**ROW, "owner": "Nobody"}, 422, "unknown_owner", "owner"),
        ({**ROW, "ownerEmail": "nobody@example.com"}, 422, "unknown_owner", "ownerEmail"),
        ({**ROW, "owner": "", "arr": "lots"}, 422, "invalid_field", "arr"),
        ({**ROW, "owner": "", "renewalDate": "someday"}, 422, "invalid_field", "renewalDate"),
        ({**ROW, "owner": "", "websiteUrl": "n/a"}, 422, "invalid_field", "websiteUrl"),
        ({**ROW, "owner": "", "arr": "€95.000"}, 422, "invalid_field", "arr"),
    ]
    for body, status, code, field in cases:
        response = client.post(source.path, json=body, headers=source.auth)
        answer = _assert_rejected(response, status, code, field)
        if code == "ambiguous_owner":
            assert "ownerEmail" in answer["error"]["message"]
        event = _last_event(db)
        assert event["id"] == answer["event_id"]
        assert (event["status"], event["status_code"], event["error_code"]) == (
            "rejected",
            status,
            code,
        )
        assert event["error_field"] == field
    assert _count(db, customers) == 0
    assert _count(db, events, events.c.status == "rejected") == len(cases)


def test_body_errors(client: httpx.Client, source: SourceInfo, db: Database) -> None:
    """Non-JSON and non-object bodies are 400 and logged as rejected."""
    _assert_rejected(
        client.post(source.path, content=b"nope", headers=source.auth), 400, "invalid_json"
    )
    _assert_rejected(
        client.post(source.path, content=b"[1]", headers=source.auth), 400, "invalid_body"
    )
    _assert_rejected(
        client.post(source.path, content=b"", headers=source.auth), 400, "invalid_json"
    )
    assert _count(db, events, events.c.status == "rejected") == 3
    assert _count(db, customers) == 0


def test_body_over_the_limit_is_413(client: httpx.Client, source: SourceInfo, db: Database) -> None:
    """A body past max_body_bytes is refused with 413, declared or streamed."""
    big = {"name": "Acme", "websiteUrl": "acme.com", "notes": "x" * 1_100_000}
    _assert_rejected(
        client.post(source.path, json=big, headers=source.auth), 413, "payload_too_large"
    )

    def chunks() -> Any:
        for _ in range(12):
            yield b"x" * 100_000

    streamed = client.post(source.path, content=chunks(), headers=source.auth)
    _assert_rejected(streamed, 413, "payload_too_large")
    assert _count(db, customers) == 0


def test_authentication(client: httpx.Client, source: SourceInfo, db: Database) -> None:
    """No token, a wrong token, or another scheme is 401; an unknown key is 404."""
    _assert_rejected(client.post(source.path, json=ROW), 401, "missing_token")
    _assert_rejected(
        client.post(source.path, json=ROW, headers={"Authorization": "Bearer wrong"}),
        401,
        "invalid_token",
    )
    _assert_rejected(
        client.post(source.path, json=ROW, headers={"Authorization": f"Basic {source.token}"}),
        401,
        "missing_token",
    )
    _assert_rejected(
        client.post("/hooks/nope", json=ROW, headers=source.auth), 404, "unknown_source"
    )
    assert _count(db, customers) == 0
    assert _count(db, events, events.c.error_code == "invalid_token") == 1


def test_rotation_and_disconnect_take_effect_at_once(
    client: httpx.Client, source: SourceInfo, db: Database
) -> None:
    """After rotate-token the old token is 401; after disconnect every request is 401."""
    row = {"name": "Acme", "websiteUrl": "acme.com"}
    assert client.post(source.path, json=row, headers=source.auth).status_code == 200
    with db.write() as conn:
        _, new_token = sources.rotate_token(conn, source.key, now())
    _assert_rejected(client.post(source.path, json=row, headers=source.auth), 401, "rotated_token")
    new_auth = {"Authorization": f"Bearer {new_token}"}
    assert client.post(source.path, json=row, headers=new_auth).status_code == 200
    with db.write() as conn:
        sources.disconnect(conn, source.key, now())
    body = _assert_rejected(
        client.post(source.path, json=row, headers=new_auth), 401, "source_disconnected"
    )
    assert "disconnected" in body["error"]["message"]


def test_event_log_redacts_secrets(client: httpx.Client, source: SourceInfo, db: Database) -> None:
    """Stored headers and body hide the bearer token and secret-named fields."""
    client.post(
        source.path,
        json={"name": "Acme", "websiteUrl": "acme.com", "api_key": "sk_live_123"},
        headers={**source.auth, "X-Clay-Webhook-Auth": "hush"},
    )
    event = _last_event(db)
    stored = str(event["request_headers"]) + str(event["request_body"])
    assert source.token not in stored
    assert "sk_live_123" not in stored
    assert "hush" not in stored
    assert event["request_headers"]["authorization"] == "[redacted]"
    assert json.loads(event["response_body"])["ok"] is True


def test_wrong_method_is_405(client: httpx.Client, source: SourceInfo) -> None:
    """GET on a source URL answers 405 with the error body."""
    _assert_rejected(client.get(source.path), 405, "method_not_allowed")


def test_concurrent_rows_for_one_domain_make_one_customer(
    client: httpx.Client, source: SourceInfo, db: Database
) -> None:
    """50 rows for one new domain at once: one customer, one `created`, 50 events."""

    def send(i: int) -> httpx.Response:
        body = {"name": f"Acme {i}", "websiteUrl": "https://acme.com", "arr": str(i)}
        return client.post(source.path, json=body, headers=source.auth)

    with ThreadPoolExecutor(max_workers=25) as pool:
        responses = list(pool.map(send, range(50)))
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    created = [r.json()["customer"]["created"] for r in responses]
    assert created.count(True) == 1
    assert len({r.json()["customer"]["id"] for r in responses}) == 1
    assert _count(db, customers) == 1
    assert _count(db, events) == 50


def test_the_hooks_endpoint_hands_other_paths_on(settings: Settings) -> None:
    """As the top-level app, the hooks endpoint passes every other path (and any other
    scope type) to the app behind it; standing alone, it answers those with a JSON 404."""
    from claybridge.app import create_app
    from claybridge.ingest.hooks import HooksEndpoint

    app = create_app(settings)
    seen: list[str] = []

    async def behind(scope: dict[str, Any], _receive: Any, _send: Any) -> None:
        seen.append(f"{scope['type']} {scope.get('path', '')}")

    routed = HooksEndpoint(
        settings, app.state.committer, app.state.clock, app.state.box, other=behind
    )
    alone = HooksEndpoint(settings, app.state.committer, app.state.clock, app.state.box)
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def scenario() -> None:
        await routed({"type": "http", "path": "/v1/sources", "method": "GET"}, receive, send)
        await routed({"type": "lifespan"}, receive, send)
        await alone({"type": "http", "path": "/v1/sources", "method": "GET"}, receive, send)

    asyncio.run(scenario())
    assert seen == ["http /v1/sources", "lifespan "]
    assert sent[0]["status"] == 404
    assert orjson.loads(sent[1]["body"])["error"]["code"] == "not_found"
