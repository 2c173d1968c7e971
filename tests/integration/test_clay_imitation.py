"""The Clay imitation behaves like a Clay table webhook (a real server on loopback)."""

from __future__ import annotations

import httpx
import pytest

from claybridge.clay import ClayWebhookExhaustedError, SyncClayClient
from claybridge.clay.imitation import ImitationConfig, serve_in_thread


def test_auth_size_rate_and_limit() -> None:
    """401 without the auth header, 413 over 100 KB, 429 with Retry-After past the burst,
    403 at the submission limit; accepted rows are recorded."""
    config = ImitationConfig(auth_value="k", rate=1, burst=2, submission_limit=3)
    with serve_in_thread(config) as (imitation, url):
        auth = {"x-clay-webhook-auth": "k"}
        assert httpx.post(url, json={"a": 1}).status_code == 401
        assert httpx.post(url, json={"a": "x" * 100_001}, headers=auth).status_code == 413
        assert httpx.post(url, json={"n": 1}, headers=auth).status_code == 200
        assert httpx.post(url, json={"n": 2}, headers=auth).status_code == 200
        limited = httpx.post(url, json={"n": 3}, headers=auth)
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
        assert httpx.post(url, content=b"[1]", headers=auth).status_code in (400, 429)
        imitation.config.rate = None
        imitation._bucket = None
        assert httpx.post(url, json={"n": 3}, headers=auth).status_code == 200
        spent = httpx.post(url, json={"n": 4}, headers=auth)
        assert spent.status_code == 403
        assert [r["n"] for r in httpx.get(url.rsplit("/", 1)[0] + "/rows").json()["rows"]] == [
            1,
            2,
            3,
        ]


def test_sdk_against_the_imitation() -> None:
    """The SDK sends rows, waits out 429s, and reports exhaustion as its typed error."""
    with serve_in_thread(ImitationConfig(rate=5, burst=2, submission_limit=6)) as (imitation, url):
        clay = SyncClayClient(webhook_url=url, rate_limit=None, backoff=0.05)
        result = clay.send_batch([{"n": i} for i in range(8)], concurrency=2)
    assert result.sent == 6
    assert imitation.state.submissions == 6
    assert imitation.state.rejected.get(429, 0) >= 1  # the SDK's limiter was off: Clay paced it
    assert all(isinstance(e, ClayWebhookExhaustedError) for _, e in result.errors)


def test_other_paths_are_404_and_enrichment_fails_clearly() -> None:
    """Only the webhook path takes rows: an enrichment call pointed at the imitation
    fails with the 404 and records nothing."""
    from claybridge.clay import ClayWebhookError

    with serve_in_thread(ImitationConfig()) as (imitation, url):
        base = url.rsplit("/", 1)[0]
        missing = httpx.post(f"{base}/v1/people/enrich", json={"email": "a@b.co"})
        assert missing.status_code == 404
        assert "this imitates a Clay table webhook" in missing.json()["message"]
        assert httpx.get(f"{base}/nope").status_code == 404
        clay = SyncClayClient(webhook_url=url, api_key="k", base_url=base)
        with pytest.raises(ClayWebhookError, match="Clay answered 404"):
            clay.enrich_person("a@b.co")
        assert imitation.state.submissions == 0
        assert httpx.post(f"{base}/v3/sources/webhook/t-1", json={"a": 1}).status_code == 200
