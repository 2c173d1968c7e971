"""The console's pages on a real server (SQLite and PostgreSQL): sign-in, sessions,
roles, CSRF, the event log, its live tail, an event's detail and replay."""

from __future__ import annotations

import json
import re
import threading
import time
from datetime import timedelta
from typing import Any

import httpx
import pytest

from claybridge.records import api_keys, console, events
from claybridge.storage.database import Database
from tests.conftest import LiveServer, SourceInfo, now
from tests.integration.conftest import console_session, csrf_of

XSS = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>']


def _link(db: Database, role: str = "admin", at: Any = None) -> str:
    with db.write() as conn:
        return console.create_link(conn, role, at or now())


def test_a_sign_in_link_works_once_and_sets_a_strict_cookie(
    server: LiveServer, db: Database
) -> None:
    """The link's page uses it on POST; the session cookie is HttpOnly, SameSite=Strict,
    limited to /ui (Secure behind HTTPS); the same link is refused the second time."""
    token = _link(db)
    with httpx.Client(base_url=server.url) as http:
        page = http.get("/ui/login", params={"token": token})
        assert page.status_code == 200
        assert "Sign in with this link" in page.text
        answer = http.post("/ui/login", data={"token": token, "next": "/ui/events"})
        assert answer.status_code == 303
        assert answer.headers["location"] == "/ui/events"
        cookie = answer.headers["set-cookie"].lower()
        for part in ("httponly", "samesite=strict", "path=/ui"):
            assert part in cookie
        assert "secure" not in cookie
        assert http.get("/ui/events").status_code == 200
    with httpx.Client(base_url=server.url) as other:
        again = other.post("/ui/login", data={"token": token})
        assert again.status_code == 401
        assert "used already or has expired" in again.text
        behind_https = other.post(
            "/ui/login", data={"token": _link(db)}, headers={"x-forwarded-proto": "https"}
        )
        assert "secure" in behind_https.headers["set-cookie"].lower()


def test_expired_links_and_no_session_lead_to_sign_in(server: LiveServer, db: Database) -> None:
    """A link older than 10 minutes is refused; a page without a session redirects to
    sign-in and comes back after it; an open redirect is not followed."""
    stale = _link(db, at=now() - timedelta(minutes=11))
    with httpx.Client(base_url=server.url) as http:
        assert http.post("/ui/login", data={"token": stale}).status_code == 401
        away = http.get("/ui/events?outcome=rejected")
        assert away.status_code == 303
        assert away.headers["location"] == "/ui/login?next=/ui/events"
        evil = http.post("/ui/login", data={"token": _link(db), "next": "//evil.example/"})
        assert evil.headers["location"] == "/ui/events"
    root = httpx.get(server.url + "/")
    assert root.status_code == 303
    assert root.headers["location"] == "/ui/events"


def test_an_api_key_signs_in_with_its_role(server: LiveServer, db: Database) -> None:
    """Pasting a viewer key opens a viewer session; a wrong key is refused."""
    with db.write() as conn:
        _row, key = api_keys.create(conn, "ops", now(), api_keys.VIEWER)
    with httpx.Client(base_url=server.url) as http:
        assert http.post("/ui/login", data={"api_key": "cbk_nope_x"}).status_code == 401
        assert http.post("/ui/login", data={"api_key": key}).status_code == 303
        assert "API key ops · viewer" in http.get("/ui/events").text


def test_rows_from_clay_render_as_text(
    server: LiveServer, db: Database, client: httpx.Client, source: SourceInfo
) -> None:
    """Cells holding markup render escaped in the log and the detail page."""
    for cell in XSS:
        client.post(source.path, json={"name": cell, "websiteUrl": "acme.com"}, headers=source.auth)
    client.post(source.path, json={"name": XSS[1]}, headers=source.auth)  # rejected
    with console_session(server, db) as http:
        log = http.get("/ui/events").text
        ids = re.findall(r'data-id="(evt_[0-9a-f]+)"', log)
        assert len(ids) == 3
        for event_id in ids:
            page = http.get(f"/ui/events/{event_id}").text
            for cell in XSS:
                assert cell not in page
            assert "&lt;" in page
        for cell in XSS:
            assert cell not in log


def test_the_event_log_filters_by_the_url(
    server: LiveServer, db: Database, client: httpx.Client, source: SourceInfo
) -> None:
    """Outcome, error code and search narrow the log; the filters stay in the URL."""
    client.post(source.path, json={"name": "A", "websiteUrl": "alpha.example"}, headers=source.auth)
    client.post(source.path, json={"websiteUrl": "beta.example"}, headers=source.auth)
    with console_session(server, db) as http:
        rejected = http.get("/ui/events", params={"outcome": "rejected"}).text
        assert rejected.count('data-id="evt_') == 1
        assert "missing_field" in rejected
        found = http.get("/ui/events", params={"q": "alpha.example"}).text
        assert found.count('data-id="evt_') == 1
        coded = http.get("/ui/events", params={"error_code": "missing_field"}).text
        assert coded.count('data-id="evt_') == 1
        assert "outcome=rejected" in http.get("/ui/events?outcome=rejected").text
        bad = http.get("/ui/events", params={"outcome": "nope"})
        assert bad.status_code == 422
        assert "outcome must be one of" in bad.text


def test_changes_need_the_csrf_token_and_an_admin(
    server: LiveServer, db: Database, client: httpx.Client, source: SourceInfo
) -> None:
    """A replay without the session's CSRF token is 403; a viewer's is 403 too; an
    admin's previews first, then replays as a new event."""
    answer = client.post(source.path, json={"name": "A", "websiteUrl": "a.io"}, headers=source.auth)
    event_id = answer.json()["event_id"]
    with console_session(server, db, "viewer") as viewer:
        token = csrf_of(viewer.get(f"/ui/events/{event_id}").text)
        refused = viewer.post(f"/ui/events/{event_id}/replay", data={"csrf_token": token})
        assert refused.status_code == 403
        assert "forbidden" in refused.text
    with console_session(server, db) as admin:
        token = csrf_of(admin.get(f"/ui/events/{event_id}").text)
        forged = admin.post(f"/ui/events/{event_id}/replay", data={"preview": "1"})
        assert forged.status_code == 403
        assert "csrf_failed" in forged.text
        preview = admin.post(
            f"/ui/events/{event_id}/replay", data={"csrf_token": token, "preview": "1"}
        )
        assert preview.status_code == 200
        assert "would_apply" in preview.text
        done = admin.post(f"/ui/events/{event_id}/replay", data={"csrf_token": token})
        assert done.status_code == 200
        assert "Replayed" in done.text
        assert admin.post("/ui/logout", data={"csrf_token": token}).status_code == 303
        assert admin.get("/ui/events").status_code == 303  # the session ended


def test_a_viewer_api_key_can_read_but_not_change(server: LiveServer, db: Database) -> None:
    """Every write with a viewer key is 403 forbidden; reads work."""
    with db.write() as conn:
        _row, key = api_keys.create(conn, "dash", now(), api_keys.VIEWER)
    auth = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=server.url, headers=auth) as http:
        assert http.get("/v1/sources").status_code == 200
        for method, path in (("POST", "/v1/sources"), ("DELETE", "/v1/owners/x")):
            answer = http.request(method, path, json={"name": "X"})
            assert answer.status_code == 403
            assert answer.json()["error"]["code"] == "forbidden"


def test_the_live_tail_streams_new_rows(
    server: LiveServer, db: Database, client: httpx.Client, source: SourceInfo
) -> None:
    """A row Clay sends reaches an open stream within 2 s, rendered and filtered."""
    received: list[str] = []
    with console_session(server, db) as http:
        opened = threading.Event()

        def read() -> None:
            with http.stream("GET", "/ui/events/stream", params={"outcome": "accepted"}) as s:
                assert s.headers["content-type"].startswith("text/event-stream")
                for line in s.iter_lines():
                    opened.set()
                    if line.startswith("data:"):
                        received.append(line)
                        return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        assert opened.wait(5)
        client.post(source.path, json={"websiteUrl": "x.io"}, headers=source.auth)  # rejected
        sent = time.monotonic()
        body = {"name": XSS[0], "websiteUrl": "live.example"}
        event_id = client.post(source.path, json=body, headers=source.auth).json()["event_id"]
        reader.join(5)
        assert time.monotonic() - sent < 2
    assert len(received) == 1
    data = json.loads(received[0].removeprefix("data:"))
    assert data["id"] == event_id
    assert data["status"] == "accepted"
    assert "<script>" not in data["html"]  # the row is markup: escaped
    assert data["answer"]["customer"]["name"] == XSS[0]  # data, shown with textContent


def test_the_api_docs_work_offline_and_take_an_api_key(server: LiveServer) -> None:
    """/docs loads its assets from Claybridge itself, and the OpenAPI document declares
    the bearer scheme on every /v1 operation."""
    with httpx.Client(base_url=server.url) as http:
        page = http.get("/docs").text
        assets = re.findall(r'(?:src|href)="([^"]+)"', page)
        assert assets
        for asset in assets:
            assert asset.startswith("/docs/assets/"), asset
            assert http.get(asset).status_code == 200
        schema = http.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
    operations = [
        op for p, item in schema["paths"].items() if p.startswith("/v1/") for op in item.values()
    ]
    assert operations
    assert all(op["security"] == [{"apiKey": []}] for op in operations)


def test_a_text_search_reads_a_bounded_window_and_continues(
    client: httpx.Client, source: SourceInfo, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A search page reads at most SEARCH_WINDOW events; its cursor continues from where
    it stopped, so an old match is found on a later page and nothing is skipped."""
    monkeypatch.setattr(events, "SEARCH_WINDOW", 3)
    for i in range(7):
        body = {"name": f"N{i}", "websiteUrl": f"site{i}.example"}
        client.post(source.path, json=body, headers=source.auth)
    found: list[str] = []
    cursor = None
    pages = 0
    with db.read() as conn:
        while True:
            page = events.search(conn, where=events.EventFilter(q="site1."), cursor=cursor)
            found += [r.request_body for r in page.items]
            pages += 1
            cursor = page.next_cursor
            if cursor is None:
                break
    assert len(found) == 1
    assert "site1.example" in found[0]
    assert pages == 3  # 7 events read 3 at a time


def test_an_events_actions_link_to_what_they_touched(
    server: LiveServer, db: Database, client: httpx.Client, source: SourceInfo
) -> None:
    """The detail links the customer an upsert wrote, and that page answers."""
    answer = client.post(source.path, json={"name": "A", "websiteUrl": "a.io"}, headers=source.auth)
    customer_id = answer.json()["customer"]["id"]
    with console_session(server, db) as http:
        page = http.get(f"/ui/events/{answer.json()['event_id']}").text
        assert f'href="/ui/customers/{customer_id}"' in page
        assert http.get(f"/ui/customers/{customer_id}").status_code == 200


def test_the_live_tails_filter_agrees_with_the_log_query(
    client: httpx.Client, source: SourceInfo, db: Database
) -> None:
    """EventFilter.matches (the live tail, in Python) keeps exactly the events its
    clauses (the log, in SQL) find, for each kind of filter."""
    rows = [
        {"name": "A", "websiteUrl": "alpha.example"},
        {"websiteUrl": "beta.example"},
        {"name": "C", "websiteUrl": "gamma.example", "event": "other"},
    ]
    for body in rows:
        client.post(source.path, json=body, headers=source.auth)
    with db.read() as conn:
        every = events.search(conn, limit=100).items
        start = min(r.received_at for r in every)
        filters = [
            events.EventFilter(source_id=source.row.id),
            events.EventFilter(status="rejected"),
            events.EventFilter(error_code="missing_field"),
            events.EventFilter(event_name="customer.upsert"),
            events.EventFilter(since=start + timedelta(microseconds=1)),
            events.EventFilter(until=start + timedelta(microseconds=1)),
            events.EventFilter(q="gamma.example"),
            events.EventFilter(q=every[0].id),
            events.EventFilter(status="accepted", q="alpha"),
        ]
        for flt in filters:
            found = {r.id for r in events.search(conn, where=flt, limit=100).items}
            assert found == {r.id for r in every if flt.matches(r)}, flt
            assert found, flt  # each filter keeps something
