"""Signed requests on a real server (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

import httpx
import orjson
import sqlalchemy as sa
from standardwebhooks import Webhook

from claybridge.storage.database import Database
from claybridge.storage.tables import sources

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
ROW = {"email": "ada@example.com", "full_name": "Ada"}


def _source(admin: httpx.Client, signature: dict[str, Any]) -> dict[str, Any]:
    config = {
        "default_event": "lead.enriched",
        "signature": signature,
        "mappings": {"lead.enriched": [{"kind": "identify_person"}]},
    }
    created = admin.post(
        "/v1/sources", json={"name": "signed", "template": "clay-leads", "config": config}
    )
    assert created.status_code == 201, created.text
    body = created.json()
    return {
        "path": f"/hooks/{body['source']['key']}",
        "id": body["source"]["id"],
        "auth": {"Authorization": f"Bearer {body['token']}"},
        "config": body["source"]["config"],
    }


def test_hmac_signed_source(admin: httpx.Client, db: Database) -> None:
    """An HMAC source accepts the right signature, refuses others, stores the secret encrypted."""
    src = _source(
        admin, {"scheme": "hmac_sha256", "header": "X-Hub-Signature-256", "secrets": ["s3cret"]}
    )
    assert src["config"]["signature"]["secrets"] == ["********"]
    raw = orjson.dumps(ROW)
    sig = "sha256=" + hmac.new(b"s3cret", raw, hashlib.sha256).hexdigest()
    ok = admin.post(src["path"], content=raw, headers={**src["auth"], "X-Hub-Signature-256": sig})
    assert ok.status_code == 200, ok.text
    bad = admin.post(
        src["path"], content=raw, headers={**src["auth"], "X-Hub-Signature-256": "sha256=00"}
    )
    assert (bad.status_code, bad.json()["error"]["code"]) == (401, "invalid_signature")
    missing = admin.post(src["path"], content=raw, headers=src["auth"])
    assert missing.status_code == 401
    with db.read() as conn:
        stored = conn.execute(sa.select(sources.c.config)).scalar_one()
    assert "s3cret" not in str(stored)
    assert stored["signature"]["secrets"][0].startswith("enc:v1:")


def test_standard_webhooks_source_with_rotation(admin: httpx.Client) -> None:
    """Standard Webhooks requests signed by the reference library verify; masks keep secrets."""
    src = _source(admin, {"scheme": "standard_webhooks", "secrets": [SECRET]})
    raw = orjson.dumps(ROW)
    now = int(time.time())
    from datetime import UTC, datetime

    signature = Webhook(SECRET).sign("msg_1", datetime.fromtimestamp(now, tz=UTC), raw.decode())
    headers = {
        **src["auth"],
        "webhook-id": "msg_1",
        "webhook-timestamp": str(now),
        "webhook-signature": signature,
    }
    assert admin.post(src["path"], content=raw, headers=headers).status_code == 200
    stale = {**headers, "webhook-timestamp": str(now - 600)}
    assert admin.post(src["path"], content=raw, headers=stale).status_code == 401
    config = admin.get(f"/v1/sources/{src['id']}").json()["source"]["config"]
    config["signature"]["secrets"] = ["********", "whsec_bmV3c2VjcmV0"]
    assert admin.put(f"/v1/sources/{src['id']}/config", json=config).status_code == 200
    assert admin.post(src["path"], content=raw, headers=headers).status_code == 200
    unknown = {
        **config,
        "signature": {
            "scheme": "standard_webhooks",
            "secrets": ["********", "********", "********"],
        },
    }
    refused = admin.put(f"/v1/sources/{src['id']}/config", json=unknown)
    assert (refused.status_code, refused.json()["error"]["field"]) == (422, "signature.secrets[2]")
