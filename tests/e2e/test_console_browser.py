"""The console in a real headless Chromium (Debian's package, driven by Playwright):
sign-in by link, the live tail, inert markup, CSRF, a viewer, and no request to any
other origin. Screenshots go to ``$CLAYBRIDGE_SCREENSHOTS`` when it is set."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from claybridge.records import api_keys, console, deliveries
from claybridge.storage.database import Database
from claybridge.storage.tables import clay_webhooks
from claybridge.storage.tables import deliveries as deliveries_table
from tests.conftest import LiveServer, SourceInfo, now

CHROMIUM = "/usr/bin/chromium"
XSS = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>']


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium; skipped where it is not installed, except in CI."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if sync_playwright is None or not shutil.which(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail("CI must install playwright and Debian's chromium (see .ci/run)")
        pytest.skip("needs playwright and /usr/bin/chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield launched
        launched.close()


@pytest.fixture
def server(settings: Any) -> Iterator[LiveServer]:
    """A running server whose public URL is its own (so the wizard's URL is reachable),
    allowed to send to loopback receivers."""
    live = LiveServer(
        settings.model_copy(update={"allow_networks": "127.0.0.1/32"}), public_url="self"
    )
    live.start()
    yield live
    live.stop()


@pytest.fixture
def page(browser: Any, server: LiveServer) -> Iterator[Any]:
    """A fresh browser page that records every request it makes and every dialog."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    tab = context.new_page()
    tab.requested = []
    tab.dialogs = []
    tab.on("request", lambda request: tab.requested.append(request.url))
    tab.on("dialog", lambda dialog: (tab.dialogs.append(dialog.message), dialog.dismiss()))
    yield tab
    context.close()


def _sign_in(page: Any, server: LiveServer, db: Database, role: str = "admin") -> None:
    with db.write() as conn:
        token = console.create_link(conn, role, now())
    page.goto(f"{server.url}/ui/login?token={token}")
    page.click("#use-link")
    page.wait_for_url(f"{server.url}/ui/events")


def _screenshot(page: Any, name: str) -> None:
    folder = os.environ.get("CLAYBRIDGE_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def test_live_tail_shows_a_clay_row_within_2s_and_markup_stays_inert(
    page: Any, server: LiveServer, db: Database, source: SourceInfo
) -> None:
    """Signed in by link, with the live tail on, rows POSTed by a Clay-like client appear
    within 2 s; cells holding markup show as text and run nothing; the page asks no
    other origin for anything."""
    _sign_in(page, server, db)
    page.click("#live-toggle")
    page.wait_for_selector("#live-toggle[aria-pressed='true']")
    time.sleep(0.4)  # the stream is open
    with httpx.Client(base_url=server.url) as clay:
        for cell in XSS:
            sent = time.monotonic()
            body = {"name": cell, "websiteUrl": "acme.com", "stage": "Closed Won"}
            event_id = clay.post(source.path, json=body, headers=source.auth).json()["event_id"]
            page.wait_for_selector(f"tr[data-id='{event_id}']", timeout=2000)
            assert time.monotonic() - sent < 2
        clay.post(source.path, json={"name": "No domain"}, headers=source.auth)
    page.wait_for_selector("tr.outcome-rejected", timeout=2000)
    _screenshot(page, "event-log")
    page.click(f"tr[data-id='{event_id}'] a")
    page.wait_for_selector("#cell-answer")
    assert XSS[1] in page.inner_text("#request-body")
    assert page.dialogs == []
    assert page.locator("img[src='x']").count() == 0
    _screenshot(page, "event-detail")
    assert all(url.startswith(server.url) for url in page.requested), page.requested


def test_changes_need_csrf_and_an_admin_in_the_browser(
    page: Any, server: LiveServer, db: Database, source: SourceInfo, client: httpx.Client
) -> None:
    """A POST from the page without the CSRF token is refused; a viewer sees no replay
    button and its replay is refused; an admin's replay runs after its preview."""
    answer = client.post(source.path, json={"name": "A", "websiteUrl": "a.io"}, headers=source.auth)
    event_id = answer.json()["event_id"]
    _sign_in(page, server, db, "viewer")
    page.goto(f"{server.url}/ui/events/{event_id}")
    assert page.locator("text=Replay through the current mapping").count() == 0
    status = page.evaluate(
        """async (url) => {
            const token = document.querySelector('meta[name="csrf-token"]').content;
            const form = new URLSearchParams({csrf_token: token});
            return (await fetch(url, {method: 'POST', body: form})).status;
        }""",
        f"/ui/events/{event_id}/replay",
    )
    assert status == 403
    page.context.clear_cookies()
    _sign_in(page, server, db, "admin")
    page.goto(f"{server.url}/ui/events/{event_id}")
    forged = page.evaluate(
        "async (url) => (await fetch(url, {method: 'POST', body: 'preview=1'})).status",
        f"/ui/events/{event_id}/replay",
    )
    assert forged == 403
    page.click("text=Replay through the current mapping")
    page.wait_for_selector("#replay-preview")
    assert "would_apply" in page.inner_text("#replay-preview")
    page.click("#confirm-replay")
    page.wait_for_selector("text=Replayed")


def test_the_wizard_connects_a_table_and_sees_its_first_row(
    page: Any, server: LiveServer, db: Database
) -> None:
    """Template → mappings → URL and token → Clay column → a real POST of a Clay-like
    row to the printed URL turns "waiting" green with the answer within 2 s; then a
    rotation refuses the old token and the source page says it is still in use."""
    _sign_in(page, server, db)
    page.goto(f"{server.url}/ui/sources")
    page.click("#connect-table")
    page.click("#template-clay-customers")
    assert "upsert_customer" in page.inner_text("#template-mappings")
    page.fill("#source-name", "Clay accounts")
    page.click("#create-source")
    url = page.inner_text("#source-url")
    token = page.inner_text("#source-token")
    page.check("#stored-it")
    page.wait_for_selector("#clay-step", state="visible")
    assert page.inner_text("#setup-header") == f"Authorization: Bearer {token}"
    _screenshot(page, "wizard")
    time.sleep(0.4)  # the wizard's stream is open
    row = {"name": "Acme", "websiteUrl": "https://www.acme.com", "arr": "$120,000"}
    sent = time.monotonic()
    answer = httpx.post(url, json=row, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200
    page.wait_for_selector("#first-row.arrived", timeout=2000)
    assert time.monotonic() - sent < 2
    assert "acme.com" in page.inner_text("#first-row-answer")
    _screenshot(page, "wizard-first-row")
    page.goto(f"{server.url}/ui/events")
    assert page.locator(f"tr[data-id='{answer.json()['event_id']}']").count() == 1
    page.click("a:has-text('Sources')")
    page.click("text=Clay accounts")
    page.click("#rotate")
    page.click("#confirm")
    new_token = page.inner_text("#source-token")
    assert new_token != token
    old = httpx.post(url, json=row, headers={"Authorization": f"Bearer {token}"})
    assert old.status_code == 401
    assert old.json()["error"]["code"] == "rotated_token"
    fresh = httpx.post(url, json=row, headers={"Authorization": f"Bearer {new_token}"})
    assert fresh.status_code == 200
    page.click("text=Go to the source's page")
    assert "1 request in the last hour used the old token" in page.inner_text("#old-token")
    assert all(u.startswith(server.url) for u in page.requested), page.requested


def test_dead_deliveries_replayed_from_the_console(
    page: Any, server: LiveServer, db: Database, client: httpx.Client
) -> None:
    """A dead delivery is replayed from its page; the bulk replay's count is the API's
    count for the same filter; a Clay destination shows its pool."""
    with db.write() as conn:
        _row, key = api_keys.create(conn, "t", now())
    api = {"Authorization": f"Bearer {key}"}
    made = client.post(
        "/v1/destinations",
        json={"name": "enrich", "kind": "clay", "webhook_url": "http://127.0.0.1:9/w"},
        headers=api,
    )
    assert made.status_code == 201, made.text
    dest_id = made.json()["destination"]["id"]
    rows = [deliveries.new_row(dest_id, {"email": f"p{i}@x.co"}, now()) for i in range(4)]
    with db.write() as conn:
        deliveries.enqueue(conn, rows)
        conn.execute(deliveries_table.update().values(status="dead", attempts=1))
    _sign_in(page, server, db)
    page.goto(f"{server.url}/ui/deliveries")
    page.click("#tab-dead")
    page.click(f"tr[data-id='{rows[0]['id']}'] a")
    page.click("#replay-delivery")
    page.wait_for_selector("#delivery-status")
    assert "pending" in page.inner_text("#delivery-status")
    page.goto(f"{server.url}/ui/deliveries?status=dead")
    page.click("#bulk-replay")
    shown_count = int(page.inner_text("#replay-count"))
    with db.write() as conn:  # a webhook near its limit, as after months of use
        conn.execute(clay_webhooks.update().values(submissions=46_210))
    page.goto(f"{server.url}/ui/destinations/{dest_id}")
    page.fill("input[name='webhook_url']", "http://127.0.0.1:9/next")
    page.click("text=Add the webhook")
    page.wait_for_selector("#pool tr:nth-child(2)")
    _screenshot(page, "clay-pool")
    assert "92.4%" in page.inner_text("#pool")
    assert "of 50,000" in page.inner_text("#pool")
    api_count = client.post("/v1/deliveries/replay", json={"status": "dead"}, headers=api).json()[
        "replayed"
    ]
    assert shown_count == api_count == 4
