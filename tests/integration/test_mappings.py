"""Mappings end to end on a real server (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

import httpx
import sqlalchemy as sa

from claybridge.storage.database import Database
from claybridge.storage.tables import events, objects, people

LEAD = {
    "event": "lead.enriched",
    "email": "Ada@Example.com",
    "full_name": "Ada Lovelace",
    "phone_number": "+44 20 7946 0000",
    "avatar_url": "https://img.example.com/ada.png",
    "job_title": "Engineer",
    "icp_score": "87",
}


def _source(admin: httpx.Client, template: str = "clay-leads", **extra: Any) -> dict[str, Any]:
    created = admin.post(
        "/v1/sources", json={"name": f"S {template}", "template": template, **extra}
    )
    assert created.status_code == 201, created.text
    body = created.json()
    return {
        "path": f"/hooks/{body['source']['key']}",
        "id": body["source"]["id"],
        "auth": {"Authorization": f"Bearer {body['token']}"},
    }


def _count(db: Database, table: sa.Table) -> int:
    with db.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_clay_leads_identifies_and_merges_people(admin: httpx.Client, db: Database) -> None:
    """lead.enriched creates a person keyed by email; later rows merge, blanks keep values."""
    src = _source(admin)
    first = admin.post(src["path"], json=LEAD, headers=src["auth"])
    assert first.status_code == 200, first.text
    action = first.json()["actions"][0]
    assert (action["kind"], action["status"], action["created"]) == (
        "identify_person",
        "applied",
        True,
    )
    assert action["person"]["key"] == "ada@example.com"
    assert action["person"]["properties"]["job_title"] == "Engineer"

    update = {
        "event": "contact.updated",
        "email": "ada@example.com",
        "job_title": "",
        "company_name": "Analytical Engines",
        "full_name": "",
    }
    second = admin.post(src["path"], json=update, headers=src["auth"]).json()
    person = second["actions"][0]["person"]
    assert second["actions"][0]["created"] is False
    assert person["full_name"] == "Ada Lovelace"
    assert person["properties"]["job_title"] == "Engineer"
    assert person["properties"]["company_name"] == "Analytical Engines"
    assert _count(db, people) == 1
    listed = admin.get("/v1/people", params={"q": "lovelace"}).json()["data"]
    assert [p["key"] for p in listed] == ["ada@example.com"]
    assert admin.get("/v1/people/ada@example.com").json()["person"]["phone_number"]


def test_account_enriched_sets_an_object(admin: httpx.Client) -> None:
    """account.enriched keeps accounts as objects keyed by normalised domain."""
    src = _source(admin)
    body = {"event": "account.enriched", "domain": "https://www.Acme.com/", "industry": "AI"}
    answer = admin.post(src["path"], json=body, headers=src["auth"]).json()
    assert answer["actions"][0]["object"]["key"] == "acme.com"
    got = admin.get("/v1/objects/accounts/acme.com").json()["object"]
    assert got["properties"]["industry"] == "AI"
    assert [o["key"] for o in admin.get("/v1/objects/accounts").json()["data"]] == ["acme.com"]
    assert admin.get("/v1/objects/accounts/nope.com").status_code == 404


def test_conditions_headers_and_order(admin: httpx.Client) -> None:
    """A condition skips one action; header paths read Clay's headers; order is kept."""
    config = {
        "default_event": "row",
        "mappings": {
            "row": [
                {"kind": "identify_person", "when": "body.icp_score >= 80 and body.email"},
                {"kind": "set_object", "collection": "tables", "id": "headers.x-clay-table-id"},
            ]
        },
    }
    src = _source(admin, template="clay-leads", config=config)
    headers = {**src["auth"], "X-Clay-Table-Id": "t_123"}
    cold = admin.post(
        src["path"], json={"email": "a@b.io", "icp_score": "42"}, headers=headers
    ).json()
    assert [a["status"] for a in cold["actions"]] == ["skipped", "applied"]
    assert "false" in cold["actions"][0]["reason"]
    assert cold["actions"][1]["object"]["key"] == "t_123"
    hot = admin.post(
        src["path"], json={"email": "a@b.io", "icp_score": "91"}, headers=headers
    ).json()
    assert [a["status"] for a in hot["actions"]] == ["applied", "applied"]


def test_missing_required_path_writes_nothing(admin: httpx.Client, db: Database) -> None:
    """A required field resolving to nothing rejects the event and writes no record."""
    config = {
        "default_event": "row",
        "mappings": {
            "row": [
                {"kind": "set_object", "collection": "accounts", "id": "body.domain"},
                {
                    "kind": "identify_person",
                    "fields": {"email": {"path": "body.email", "required": True}},
                },
            ]
        },
    }
    src = _source(admin, config=config)
    answer = admin.post(src["path"], json={"domain": "acme.com"}, headers=src["auth"])
    assert answer.status_code == 400
    assert answer.json()["error"] == {
        "code": "missing_field",
        "message": "body.email is required",
        "field": "body.email",
    }
    assert _count(db, objects) == 0
    assert _count(db, people) == 0


def test_unmapped_event_warns_or_fails_when_strict(admin: httpx.Client) -> None:
    """Unmapped events answer 200 with a warning, or 422 on a strict source."""
    src = _source(admin)
    loose = admin.post(src["path"], json={"event": "mystery"}, headers=src["auth"])
    assert loose.status_code == 200
    assert loose.json()["actions"] == []
    assert "no mapping" in loose.json()["warnings"][0]
    assert admin.patch(f"/v1/sources/{src['id']}", json={"strict": True}).status_code == 200
    strict = admin.post(src["path"], json={"event": "mystery"}, headers=src["auth"])
    assert (strict.status_code, strict.json()["error"]["code"]) == (422, "unmapped_event")


def test_dry_run_writes_only_a_dry_run_event(admin: httpx.Client, db: Database) -> None:
    """?dry_run=true (and the admin dry-run) answer what would happen and write nothing."""
    src = _source(admin)
    answer = admin.post(f"{src['path']}?dry_run=true", json=LEAD, headers=src["auth"]).json()
    assert answer["dry_run"] is True
    assert answer["actions"][0]["status"] == "would_apply"
    assert answer["actions"][0]["created"] is True
    assert answer["actions"][0]["person"]["full_name"] == "Ada Lovelace"
    via_api = admin.post(f"/v1/sources/{src['id']}/dry-run", json={"body": LEAD}).json()
    assert via_api["actions"][0]["person"]["key"] == "ada@example.com"
    assert _count(db, people) == 0
    with db.read() as conn:
        statuses = [r.status for r in conn.execute(sa.select(events.c.status))]
    assert statuses == ["dry_run", "dry_run"]
    bad = admin.post(
        f"{src['path']}?dry_run=true", json={"event": "lead.enriched"}, headers=src["auth"]
    )
    assert bad.status_code == 400


def test_mapping_crud_validates_on_save(admin: httpx.Client) -> None:
    """Mappings are created, read, replaced and deleted; bad ones are refused when saved."""
    src = _source(admin)
    base = f"/v1/sources/{src['id']}/mappings"
    assert set(admin.get(base).json()["mappings"]) == {
        "lead.enriched",
        "contact.updated",
        "account.enriched",
    }
    actions = [{"kind": "set_object", "collection": "deals", "id": "body.deal_id"}]
    assert admin.put(f"{base}/deal.won", json=actions).status_code == 200
    assert admin.get(f"{base}/deal.won").json()["actions"][0]["collection"] == "deals"
    bad = admin.put(
        f"{base}/deal.won",
        json=[{"kind": "set_object", "collection": "d", "id": "body.x", "when": "body.x >"}],
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "mappings.deal.won[0].when"
    unknown = admin.put(f"{base}/x", json=[{"kind": "launch_rocket"}])
    assert unknown.status_code == 422
    assert admin.delete(f"{base}/deal.won").status_code == 200
    assert admin.get(f"{base}/deal.won").status_code == 404
    whole = admin.put(f"/v1/sources/{src['id']}/config", json={"event_path": "nope"})
    assert (whole.status_code, whole.json()["error"]["field"]) == (422, "event_path")
    assert admin.delete(f"/v1/sources/{src['id']}").status_code == 200
    assert admin.get(f"/v1/sources/{src['id']}").status_code == 404


def test_hostile_bodies_get_clear_answers(admin: httpx.Client, db: Database) -> None:
    """Deep nesting, non-UTF-8 bytes and duplicate keys get a 4xx or the documented rule."""
    src = _source(admin)
    deep = b'{"event": "lead.enriched", "x": ' + b"[" * 100 + b"]" * 100 + b"}"
    nested = admin.post(src["path"], content=deep, headers=src["auth"])
    assert (nested.status_code, nested.json()["error"]["code"]) == (400, "invalid_body")
    latin = admin.post(src["path"], content=b'{"email": "caf\xe9@x.io"}', headers=src["auth"])
    assert (latin.status_code, latin.json()["error"]["code"]) == (400, "invalid_json")
    assert "UTF-8" in latin.json()["error"]["message"]
    dup = admin.post(
        src["path"], content=b'{"email": "a@x.io", "email": "b@x.io"}', headers=src["auth"]
    )
    assert dup.json()["actions"][0]["person"]["key"] == "b@x.io"  # the last one wins
    assert _count(db, people) == 1
