"""Bad input on a real server answers a clear 4xx, is logged, and writes nothing else;
on SQLite and PostgreSQL alike."""

from __future__ import annotations

import socket
import time
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from claybridge.storage.database import Database
from claybridge.storage.tables import customers, events
from tests.conftest import LiveServer, SourceInfo

BASE = '{"name": "Acme", "websiteUrl": "acme.com"'


def _counts(db: Database) -> tuple[int, int]:
    with db.read() as conn:
        n_customers = conn.execute(sa.select(sa.func.count()).select_from(customers)).scalar()
        n_events = conn.execute(sa.select(sa.func.count()).select_from(events)).scalar()
    return int(n_customers or 0), int(n_events or 0)


def _last_event(db: Database) -> dict[str, Any]:
    with db.read() as conn:
        row = conn.execute(sa.select(events).order_by(events.c.id.desc()).limit(1)).one()
    return dict(row._mapping)


REFUSED = [
    (BASE + ', "arr": 1e308}', 422, "invalid_field", "arr"),
    (BASE + ', "arr": "1000000000000000000000000000000"}', 422, "invalid_field", "arr"),
    (BASE + ', "arr": "99999999999999999999"}', 422, "invalid_field", "arr"),
    (BASE + ', "arr": NaN}', 400, "invalid_json", None),
    (BASE + ', "arr": Infinity}', 400, "invalid_json", None),
    (BASE + ', "arr": -Infinity}', 400, "invalid_json", None),
    (BASE + ', "score": 1e400}', 422, "invalid_field", "score"),
    ('{"name": "x\\ud800", "websiteUrl": "acme.com"}', 422, "invalid_field", "name"),
    ('{"name": "x\\u0000y", "websiteUrl": "acme.com"}', 422, "invalid_field", "name"),
    ('{"name": "x\x00y", "websiteUrl": "acme.com"}', 422, "invalid_field", "name"),
    (BASE + ', "notes": {"a\\u0000": 1}}', 422, "invalid_field", "notes.a\\u0000"),
    (BASE + ', "n\\udc00": 1}', 422, "invalid_field", "n\\udc00"),
    (BASE + ', "arr": ' + "9" * 5000 + "}", 400, "invalid_json", None),
    (BASE + ', "big": 18446744073709551616}', 422, "invalid_field", "big"),
    (BASE + ', "event": "' + "e" * 201 + '"}', 422, "invalid_field", "body.event"),
]


@pytest.mark.parametrize(("body", "status", "code", "field"), REFUSED)
def test_unstorable_rows_are_refused_and_logged(
    client: httpx.Client,
    source: SourceInfo,
    db: Database,
    body: str,
    status: int,
    code: str,
    field: str | None,
) -> None:
    """Each unstorable row gets its 4xx and code, is stored as a rejected event, and
    creates no customer."""
    raw = body.encode("utf-8", "surrogatepass")
    answer = client.post(source.path, content=raw, headers=source.auth)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["code"] == code
    assert error.get("field") == field
    if code == "invalid_field" and field == "arr":
        assert "9,999,999,999,999,999.99" in error["message"]
    assert _counts(db) == (0, 1)
    logged = _last_event(db)
    assert logged["status"] == "rejected"
    assert logged["error_code"] == code
    assert "\x00" not in (logged["request_body"] or "")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32", "utf-32-be"])
def test_utf16_and_utf32_bodies_are_refused_by_name(
    client: httpx.Client, source: SourceInfo, db: Database, encoding: str
) -> None:
    """A UTF-16 or UTF-32 body is 400 invalid_json naming its encoding, and its rejected
    event is stored (its NUL bytes kept out of the log)."""
    answer = client.post(source.path, content=(BASE + "}").encode(encoding), headers=source.auth)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == "invalid_json"
    assert encoding[:6].upper() in answer.json()["error"]["message"]
    assert _counts(db) == (0, 1)


def test_the_largest_amount_is_accepted(
    client: httpx.Client, source: SourceInfo, db: Database
) -> None:
    """The largest amount named in the refusal is itself stored, exactly."""
    body = BASE + ', "arr": "9999999999999999.99"}'
    answer = client.post(source.path, content=body, headers=source.auth)
    assert answer.status_code == 200, answer.text
    assert answer.json()["customer"]["arr"] == 9999999999999999.99
    with db.read() as conn:
        stored = conn.execute(sa.select(customers.c.arr)).scalar_one()
    assert str(stored) == "9999999999999999.99"


def test_malformed_json_is_logged_with_secrets_redacted(
    client: httpx.Client, source: SourceInfo, db: Database
) -> None:
    """A body that is not JSON is kept in the log with secret-looking values redacted."""
    body = '{"password": "hunter2", "passwd": "x1", "private_key": "k", "x": }'
    answer = client.post(source.path, content=body, headers=source.auth)
    assert answer.status_code == 400
    stored = _last_event(db)["request_body"]
    for secret in ("hunter2", "x1", '"k"'):
        assert secret not in stored
    assert '"password": "[redacted]"' in stored


def test_admin_json_bodies_get_the_same_rule(admin: httpx.Client, source: SourceInfo) -> None:
    """Dry runs and runs refuse what ingest refuses: 422 naming the field, 400 for NaN."""
    answer = admin.post(
        f"/v1/sources/{source.key}/dry-run", content='{"body": {"x": 18446744073709551616}}'
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == {
        "code": "invalid_field",
        "message": answer.json()["error"]["message"],
        "field": "body.x",
    }
    created = admin.post(
        "/v1/workflows",
        json={"key": "wf", "steps": [{"kind": "forward", "destination": "nowhere"}]},
    )
    key = "wf" if created.status_code == 201 else "missing"
    for raw, status in (
        ('{"event": {"x": 18446744073709551616}}', 422),
        ('{"event": {"x": NaN}}', 400),
        ('{"event": {"x": "a\\u0000"}}', 422),
    ):
        answer = admin.post(f"/v1/workflows/{key}/runs", content=raw)
        assert answer.status_code == status, answer.text


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://[::1:8844/", "invalid_url"),
        ("http://2130706433:8844/", "invalid_url"),
        ("http://127.1:8844/", "invalid_url"),
        ("http://0x7f.0.0.1:8844/", "invalid_url"),
        ("http://host:notaport/", "invalid_url"),
    ],
)
def test_destination_urls_the_worker_cannot_send_are_refused(
    admin: httpx.Client, url: str, code: str
) -> None:
    """Malformed and shorthand-IPv4 URLs are refused when saved, even where the network
    is allowed, naming the url field."""
    answer = admin.post("/v1/destinations", json={"name": "d", "kind": "http", "url": url})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == code
    assert answer.json()["error"]["field"] == "url"


def test_a_5xx_leaves_the_keep_alive_connection_usable(
    admin: httpx.Client, server: LiveServer
) -> None:
    """After an error answered by the guard, the same connection serves the next request."""

    def broken() -> None:
        raise RuntimeError("a bug")

    server.app.admin.add_api_route("/v1/_broken", broken)
    server.app.admin.middleware_stack = server.app.admin.build_middleware_stack()
    with httpx.Client(base_url=server.url, headers=admin.headers) as one:
        first = one.get("/v1/_broken")
        assert first.status_code == 500
        assert first.json()["error"]["code"] == "internal_error"
        assert one.get("/healthz").status_code == 200


def _raw_post(server: LiveServer, path: str, head: str, chunks: list[bytes]) -> bytes:
    """Send a request's head and some body bytes, then close: what comes back, if anything."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(head.encode() + b"\r\n")
        for chunk in chunks:
            sock.sendall(chunk)
        sock.shutdown(socket.SHUT_WR)
        received = b""
        try:
            while data := sock.recv(65536):
                received += data
        except OSError:
            pass
    return received


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_truncated_body_is_never_applied(
    server: LiveServer, source: SourceInfo, db: Database, framing: str
) -> None:
    """A body cut off before its announced end is discarded: no customer, no event, no
    success answer."""
    row = b'{"name": "Acme", "websiteUrl": "acme.com", "arr": "100"}'
    lines = [f"POST {source.path} HTTP/1.1", "Host: x", f"Authorization: Bearer {source.token}"]
    if framing == "content-length":
        lines.append("Content-Length: 100000")
        chunks = [row]
    else:
        lines.append("Transfer-Encoding: chunked")
        chunks = [b"%x\r\n%s\r\n" % (len(row), row)]  # no closing 0-length chunk
    received = _raw_post(server, source.path, "\r\n".join(lines) + "\r\n", chunks)
    assert b" 200 " not in received.split(b"\r\n", 1)[0]
    time.sleep(0.3)  # anything wrongly applied would be committed by now
    assert _counts(db) == (0, 0)
