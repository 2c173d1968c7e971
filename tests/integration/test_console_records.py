"""The console's requests, runs, records and settings pages on a real server, on both
databases."""

from __future__ import annotations

import re

import httpx
import pytest
from cryptography.fernet import Fernet

from claybridge.core.ssrf import parse_networks
from claybridge.records import api_keys, console, destinations, owners, sources
from claybridge.secretbox import SecretBox
from claybridge.storage.database import Database
from tests.conftest import LiveServer, SourceInfo, now
from tests.integration.conftest import csrf_of


def test_records_are_found_with_the_events_that_wrote_them(
    admin_ui: httpx.Client, client: httpx.Client, source: SourceInfo
) -> None:
    """A customer found by its domain shows the events that wrote it."""
    for stage in ("Lead", "Won"):
        row = {"name": "Acme", "websiteUrl": "acme.com", "stage": stage}
        assert client.post(source.path, json=row, headers=source.auth).status_code == 200
    found = admin_ui.get("/ui/records", params={"kind": "customers", "q": "acme"}).text
    link = re.search(r'href="(/ui/customers/cus_[0-9a-f]+)"', found)
    assert link
    page = admin_ui.get(link.group(1)).text
    assert page.count('data-id="evt_') == 2
    assert "Won" in page
    assert admin_ui.get("/ui/records", params={"kind": "nope"}).status_code == 422


def test_owners_and_api_keys_from_the_settings_page(
    admin_ui: httpx.Client, server: LiveServer, db: Database
) -> None:
    """Owners are added, imported and removed; a viewer key is created (shown once, and
    it works read-only) and revoked."""
    token = csrf_of(admin_ui.get("/ui/settings").text)
    added = admin_ui.post(
        "/ui/settings/owners",
        data={"csrf_token": token, "name": "Ada Lovelace", "email": "ada@example.com"},
    )
    assert added.status_code == 303
    imported = admin_ui.post(
        "/ui/settings/owners/import",
        data={"csrf_token": token, "csv": "name,email\nGrace Hopper,grace@example.com\n"},
    ).text
    assert "1 added" in imported
    with db.read() as conn:
        assert {o["email"] for o in owners.list_all(conn)} == {
            "ada@example.com",
            "grace@example.com",
        }
    made = admin_ui.post(
        "/ui/settings/api-keys", data={"csrf_token": token, "name": "dash", "role": "viewer"}
    ).text
    key = re.search(r'id="new-key-value">(cbk_[^<]+)<', made)
    assert key
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {key.group(1)}"}
    ) as api:
        assert api.get("/v1/sources").status_code == 200
        assert api.post("/v1/owners", json={"name": "X", "email": "x@x.co"}).status_code == 403
        with db.read() as conn:
            dash = next(k for k in api_keys.list_all(conn) if k["name"] == "dash")
        revoked = admin_ui.post(
            f"/ui/settings/api-keys/{dash['id']}/revoke", data={"csrf_token": token}
        )
        assert revoked.status_code == 303
        assert api.get("/v1/sources").status_code == 401


def test_requests_and_runs_pages(admin_ui: httpx.Client, server: LiveServer, db: Database) -> None:
    """A run started by the API is listed with its steps and can be cancelled."""
    with db.write() as conn:
        _row, key = api_keys.create(conn, "t", now())
        destinations.create(
            conn,
            {"name": "crm", "kind": "http", "url": "http://127.0.0.1:9/crm"},
            now(),
            SecretBox(Fernet.generate_key()),
            parse_networks("127.0.0.1/32"),
        )
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}) as api:
        steps = [{"kind": "forward", "destination": "crm"}]
        assert api.post("/v1/workflows", json={"key": "route", "steps": steps}).status_code == 201
        run = api.post("/v1/workflows/route/runs", json={"event": {"email": "a@b.co"}})
        assert run.status_code == 202, run.text
        run_id = run.json()["run"]["id"]
    listed = admin_ui.get("/ui/runs").text
    assert run_id in listed
    assert "route" in listed
    page = admin_ui.get(f"/ui/runs/{run_id}").text
    assert "a@b.co" in page
    cancelled = admin_ui.post(f"/ui/runs/{run_id}/cancel", data={"csrf_token": csrf_of(page)})
    assert cancelled.status_code == 303
    assert ">cancelled<" in admin_ui.get(f"/ui/runs/{run_id}").text
    assert admin_ui.get("/ui/requests").status_code == 200
    assert admin_ui.get("/ui/requests?status=nope").status_code == 422


def test_the_playground_tries_an_unsaved_mapping_and_save_applies_it(
    admin_ui: httpx.Client, client: httpx.Client, source: SourceInfo, db: Database
) -> None:
    """A row runs through the edited configuration without saving it; a bad key is shown
    at its path; saving makes it the source's; fields seen count what rows carried."""
    for body in (
        {"name": "A", "websiteUrl": "a.io", "stage": ""},
        {"name": "B", "websiteUrl": "b.io"},
    ):
        client.post(source.path, json=body, headers=source.auth)
    page = admin_ui.get(f"/ui/sources/{source.key}/mappings").text
    token = csrf_of(page)
    assert re.search(r"body\.stage</code></td><td>1</td><td>0 \(0%\)", page)
    edited = (
        "event_path: body.event\ndefault_event: lead.enriched\nstrict: false\n"
        "mappings:\n  lead.enriched:\n    - kind: identify_person\n"
        "      id: {path: body.email, type: email}\n"
    )
    row = '{"email": "ada@example.com", "name": "Ada"}'
    tried = admin_ui.post(
        f"/ui/sources/{source.key}/mappings",
        data={"csrf_token": token, "config": edited, "row": row, "action": "try"},
    ).text
    assert "identify_person" in tried
    assert "would_apply" in tried
    with db.read() as conn:  # not saved
        assert (
            "lead.enriched" not in sources.config_data(sources.find(conn, source.key))["mappings"]
        )
    bad = edited.replace("kind: identify_person", "kind: identify_persn")
    refused = admin_ui.post(
        f"/ui/sources/{source.key}/mappings",
        data={"csrf_token": token, "config": bad, "row": row, "action": "save"},
    ).text
    assert "mappings.lead.enriched[0]" in refused
    saved = admin_ui.post(
        f"/ui/sources/{source.key}/mappings",
        data={"csrf_token": token, "config": edited, "row": row, "action": "save"},
    ).text
    assert 'id="saved"' in saved
    answer = client.post(source.path, content=row, headers=source.auth).json()
    assert answer["actions"][0]["kind"] == "identify_person"


PAGES = [
    "/ui/overview",
    "/ui/events",
    "/ui/events?outcome=rejected&q=acme",
    "/ui/sources",
    "/ui/connect",
    "/ui/connect?template=clay-leads",
    "/ui/deliveries",
    "/ui/deliveries?status=dead",
    "/ui/destinations",
    "/ui/requests",
    "/ui/runs",
    "/ui/records",
    "/ui/records?kind=people&q=a",
    "/ui/settings",
]


@pytest.mark.parametrize("role", ["admin", "viewer"])
def test_every_page_answers_for_every_role(
    server: LiveServer, db: Database, client: httpx.Client, source: SourceInfo, role: str
) -> None:
    """Each console page (and a source's, an event's, its mappings) answers 200 with
    only same-origin assets; a viewer sees no form that changes anything."""
    event_id = client.post(
        source.path, json={"name": "Acme", "websiteUrl": "acme.com"}, headers=source.auth
    ).json()["event_id"]
    with db.write() as conn:
        token = console.create_link(conn, role, now())
    pages = [
        *PAGES,
        f"/ui/sources/{source.key}",
        f"/ui/events/{event_id}",
        f"/ui/sources/{source.key}/mappings",
    ]
    with httpx.Client(base_url=server.url, timeout=10) as http:
        assert http.post("/ui/login", data={"token": token}).status_code == 303
        for path in pages:
            answer = http.get(path)
            assert answer.status_code == 200, (path, answer.text[:300])
            for asset in re.findall(r'(?:src|href)="([^"#]+)"', answer.text):
                assert asset.startswith("/"), (path, asset)
            forms = re.findall(r'<form method="post" action="([^"]+)"', answer.text)
            if role == "viewer":
                assert forms in ([], ["/ui/logout"]), (path, forms)
