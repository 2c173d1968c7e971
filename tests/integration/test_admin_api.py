"""The admin API under /v1 on a real server (SQLite and PostgreSQL)."""

from __future__ import annotations

import httpx

from claybridge.records import api_keys
from claybridge.storage.database import Database
from tests.conftest import now

ROW = {"name": "Acme", "websiteUrl": "acme.com", "arr": "1000"}


def test_api_key_is_required(client: httpx.Client, db: Database) -> None:
    """No key, a wrong key and a revoked key are 401 with the error body."""
    for headers in (
        {},
        {"Authorization": "Bearer cbk_00000000_nope"},
        {"Authorization": "Bearer junk"},
    ):
        response = client.get("/v1/sources", headers=headers)
        assert response.status_code == 401
        assert response.json()["ok"] is False
    with db.write() as conn:
        row, key = api_keys.create(conn, "temp", now())
    assert client.get("/v1/sources", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    with db.write() as conn:
        api_keys.revoke(conn, row["id"], now())
    revoked = client.get("/v1/sources", headers={"Authorization": f"Bearer {key}"})
    assert revoked.status_code == 401
    assert revoked.json()["error"]["code"] == "invalid_api_key"


def test_source_lifecycle(admin: httpx.Client) -> None:
    """Create shows the token once; rotate issues a new one; disconnect revokes it."""
    created = admin.post("/v1/sources", json={"name": "Clay accounts"})
    assert created.status_code == 201, created.text
    body = created.json()
    token, source = body["token"], body["source"]
    assert source["url"] == f"http://clay.example.test/hooks/{source['key']}"
    assert body["clay_column"]["headers"]["Authorization"] == f"Bearer {token}"
    assert '"websiteUrl": "{{Domain}}"' in body["clay_column"]["body"]

    shown = admin.get(f"/v1/sources/{source['key']}").json()
    assert "token" not in shown
    assert token not in str(shown)

    row_auth = {"Authorization": f"Bearer {token}"}
    hook = f"/hooks/{source['key']}"
    assert admin.post(hook, json=ROW, headers=row_auth).status_code == 200

    rotated = admin.post(f"/v1/sources/{source['id']}/rotate-token").json()
    assert rotated["token"] != token
    assert admin.post(hook, json=ROW, headers=row_auth).status_code == 401
    new_auth = {"Authorization": f"Bearer {rotated['token']}"}
    assert admin.post(hook, json=ROW, headers=new_auth).status_code == 200

    disconnected = admin.post(f"/v1/sources/{source['name']}/disconnect").json()
    assert disconnected["source"]["status"] == "disconnected"
    after = admin.post(hook, json=ROW, headers=new_auth)
    assert after.status_code == 401
    assert after.json()["error"]["code"] == "source_disconnected"
    assert [s["name"] for s in admin.get("/v1/sources").json()["data"]] == ["Clay accounts"]


def test_source_errors(admin: httpx.Client) -> None:
    """Bad input to the sources API gets the error body with the right status."""
    admin.post("/v1/sources", json={"name": "Dup"})
    dup = admin.post("/v1/sources", json={"name": "Dup"})
    assert (dup.status_code, dup.json()["error"]["code"]) == (409, "conflict")
    bad = admin.post("/v1/sources", json={"name": "X", "template": "nope"})
    assert (bad.status_code, bad.json()["error"]["field"]) == (422, "template")
    missing = admin.post("/v1/sources", json={})
    assert (missing.status_code, missing.json()["error"]["code"]) == (422, "missing_field")
    assert missing.json()["error"]["field"] == "name"
    not_json = admin.post("/v1/sources", content=b"{", headers={"Content-Type": "application/json"})
    assert (not_json.status_code, not_json.json()["error"]["code"]) == (400, "invalid_json")
    assert not_json.json()["ok"] is False
    unknown = admin.get("/v1/sources/nope")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "not_found")


def test_owners_api(admin: httpx.Client) -> None:
    """Owners can be added, imported from CSV, listed and removed."""
    added = admin.post("/v1/owners", json={"name": "Ada Lovelace", "email": "ada@example.com"})
    assert added.status_code == 201
    bad = admin.post("/v1/owners", json={"name": "X", "email": "not-an-email"})
    assert (bad.status_code, bad.json()["error"]["field"]) == (422, "email")
    imported = admin.post(
        "/v1/owners/import", content=b"name,email\nGrace Hopper,grace@example.com\n"
    )
    assert imported.json()["added"] == ["grace@example.com"]
    refused = admin.post("/v1/owners/import", content=b"name,email\nNo Mail,\n")
    assert (refused.status_code, refused.json()["error"]["code"]) == (400, "invalid_csv")
    names = [o["name"] for o in admin.get("/v1/owners").json()["data"]]
    assert names == ["Ada Lovelace", "Grace Hopper"]
    assert admin.delete("/v1/owners/grace@example.com").status_code == 200
    assert len(admin.get("/v1/owners").json()["data"]) == 1


def test_customers_search_and_pagination(admin: httpx.Client) -> None:
    """Customers list newest first, page with a cursor, and search name and domain."""
    source = admin.post("/v1/sources", json={"name": "S"}).json()
    auth = {"Authorization": f"Bearer {source['token']}"}
    for i in range(5):
        body = {"name": f"Company {i}", "websiteUrl": f"company{i}.com"}
        assert (
            admin.post(f"/hooks/{source['source']['key']}", json=body, headers=auth).status_code
            == 200
        )
    page1 = admin.get("/v1/customers", params={"limit": 2}).json()
    assert [c["domain"] for c in page1["data"]] == ["company4.com", "company3.com"]
    page2 = admin.get("/v1/customers", params={"limit": 2, "cursor": page1["next_cursor"]}).json()
    assert [c["domain"] for c in page2["data"]] == ["company2.com", "company1.com"]
    page3 = admin.get("/v1/customers", params={"limit": 2, "cursor": page2["next_cursor"]}).json()
    assert [c["domain"] for c in page3["data"]] == ["company0.com"]
    assert page3["next_cursor"] is None
    found = admin.get("/v1/customers", params={"q": "COMPANY3"}).json()["data"]
    assert [c["domain"] for c in found] == ["company3.com"]
    one = admin.get("/v1/customers/company2.com").json()["customer"]
    assert one["name"] == "Company 2"
    assert admin.get("/v1/customers/nope.com").status_code == 404
    assert admin.get("/v1/customers", params={"limit": 0}).status_code == 422


def test_events_api(admin: httpx.Client) -> None:
    """Events list by source and status; one event shows redacted request and response."""
    source = admin.post("/v1/sources", json={"name": "S"}).json()
    key, token = source["source"]["key"], source["token"]
    admin.post(f"/hooks/{key}", json=ROW, headers={"Authorization": f"Bearer {token}"})
    admin.post(f"/hooks/{key}", json={"name": "x"}, headers={"Authorization": f"Bearer {token}"})
    everything = admin.get("/v1/events", params={"source": "S"}).json()["data"]
    assert [e["status"] for e in everything] == ["rejected", "accepted"]
    rejected = admin.get("/v1/events", params={"status": "rejected"}).json()["data"]
    assert len(rejected) == 1
    assert rejected[0]["error"]["code"] == "missing_field"
    detail = admin.get(f"/v1/events/{rejected[0]['id']}").json()["event"]
    assert detail["request"]["headers"]["authorization"] == "[redacted]"
    assert detail["request"]["body"] == {"name": "x"}
    assert detail["response"]["status_code"] == 400
    assert detail["response"]["body"]["error"]["field"] == "websiteUrl"
    assert token not in str(detail)
    assert admin.get("/v1/events", params={"status": "weird"}).status_code == 422
    assert admin.get("/v1/events/evt_nope").status_code == 404


def test_openapi_and_health(client: httpx.Client) -> None:
    """The OpenAPI document lists the admin API and the hook; health checks answer."""
    spec = client.get("/openapi.json").json()
    assert "/hooks/{source_key}" in spec["paths"]
    assert "/v1/sources" in spec["paths"]
    assert client.get("/healthz").json() == {"ok": True}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["ok"] is True
    missing = client.get("/nowhere")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
