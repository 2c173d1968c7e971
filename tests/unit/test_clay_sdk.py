"""The Clay SDK (httpx MockTransport, no network) and the pure Clay rules."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import orjson
import pytest

from claybridge.clay import (
    ClayClient,
    ClayError,
    ClayWebhookError,
    ClayWebhookExhaustedError,
    SyncClayClient,
)
from claybridge.core.clay_rules import PayloadTooLarge, check_size, content_id, encoded, prepare_row

URL = "https://api.clay.com/v3/sources/webhook/pull-in-data-from-a-webhook-1"


def client(handler: Any, **options: Any) -> ClayClient:
    options.setdefault("backoff", 0.01)
    return ClayClient(URL, transport=httpx.MockTransport(handler), **options)


def test_send_row_sends_the_auth_header() -> None:
    """A row is POSTed as JSON with the configured auth header."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True})

    async def go() -> dict[str, Any]:
        async with client(handler, auth_header_value="k") as clay:
            return await clay.send_row({"email": "a@b.co"})

    assert asyncio.run(go()) == {"ok": True}
    assert seen[0].headers["x-clay-webhook-auth"] == "k"
    assert orjson.loads(seen[0].content) == {"email": "a@b.co"}


def test_429_waits_for_retry_after_then_succeeds() -> None:
    """A 429 is retried after Retry-After seconds."""
    answers = [httpx.Response(429, headers={"Retry-After": "1"}), httpx.Response(200, json={})]
    times: list[float] = []

    def handler(_request: httpx.Request) -> httpx.Response:
        times.append(time.monotonic())
        return answers.pop(0)

    async def go() -> None:
        async with client(handler) as clay:
            await clay.send_row({"a": 1})

    asyncio.run(go())
    assert times[1] - times[0] >= 0.95


def test_network_errors_and_5xx_retry_with_backoff_then_give_up() -> None:
    """Network errors and 5xx are retried max_retries times, then raise with the status."""
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 1:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(503, text="busy")

    async def go() -> None:
        async with client(handler, max_retries=2) as clay:
            await clay.send_row({"a": 1})

    with pytest.raises(ClayWebhookError) as err:
        asyncio.run(go())
    assert err.value.status_code == 503
    assert calls["n"] == 3


def test_4xx_is_not_retried_and_exhaustion_is_typed() -> None:
    """A 400 raises at once; a limit-reached answer raises ClayWebhookExhaustedError."""

    def bad(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, text="bad row")

    def spent(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            403, json={"error": "webhook_limit_reached", "message": "submission limit reached"}
        )

    async def go(handler: Any) -> None:
        async with client(handler) as clay:
            await clay.send_row({"a": 1})

    with pytest.raises(ClayWebhookError) as err:
        asyncio.run(go(bad))
    assert err.value.status_code == 400
    assert not isinstance(err.value, ClayWebhookExhaustedError)
    with pytest.raises(ClayWebhookExhaustedError, match="create a new webhook"):
        asyncio.run(go(spent))


def test_send_batch_counts_and_lists_failures() -> None:
    """send_batch returns sent, failed and per-row errors by index."""

    def handler(request: httpx.Request) -> httpx.Response:
        row = orjson.loads(request.content)
        return httpx.Response(400 if row["n"] == 2 else 200, json={})

    result = SyncClayClient(
        webhook_url=URL, transport=httpx.MockTransport(handler), rate_limit=None
    ).send_batch([{"n": i} for i in range(5)])
    assert (result.sent, result.failed) == (4, 1)
    assert result.errors[0][0] == 2
    assert result.errors[0][1].status_code == 400


def test_client_side_rate_limit() -> None:
    """The client paces itself: 10/s with bursts of 2 makes 6 rows take ≥ 0.35 s."""

    def handler(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={})

    started = time.monotonic()
    SyncClayClient(
        webhook_url=URL, transport=httpx.MockTransport(handler), rate_limit=10, burst=2
    ).send_batch([{"n": i} for i in range(6)], concurrency=3)
    assert time.monotonic() - started >= 0.35


def test_enrichment_needs_a_key_before_any_call() -> None:
    """Without an API key, enrichment fails before touching the network."""

    def handler(_request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request may be made")

    with pytest.raises(ClayError, match="API key"):
        SyncClayClient(transport=httpx.MockTransport(handler)).enrich_person("a@b.co")


def test_enrichment_results_are_typed() -> None:
    """Person and company enrichment map Clay's fields to typed results."""

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == "Bearer key"
        if request.url.path == "/v1/people/enrich":
            return httpx.Response(
                200,
                json={
                    "data": {
                        "full_name": "Ada",
                        "title": "CTO",
                        "company": "AE",
                        "linkedin_url": "https://linkedin.com/in/ada",
                        "location": "London",
                    }
                },
            )
        assert request.url.path == "/v1/companies/enrich"
        return httpx.Response(
            200, json={"name": "AE", "industry": "Software", "employee_count": "250"}
        )

    clay = SyncClayClient(api_key="key", transport=httpx.MockTransport(handler))
    person = clay.enrich_person("ada@ae.co")
    assert (person.name, person.email, person.title, person.location) == (
        "Ada",
        "ada@ae.co",
        "CTO",
        "London",
    )
    company = clay.enrich_company("ae.co")
    assert (company.name, company.domain, company.employee_count) == ("AE", "ae.co", 250)


def test_prepare_row_adds_ids_without_overwriting() -> None:
    """Ids are added when absent; keys already in the payload win."""
    row = prepare_row({"request_id": "mine", "a": 1}, request_id="x", external_id="e")
    assert row == {"request_id": "mine", "a": 1, "external_id": "e"}


def test_size_limit_and_content_ids() -> None:
    """Rows over the limit are refused; content ids ignore key order."""
    with pytest.raises(PayloadTooLarge, match="100,000"):
        check_size(encoded({"x": "y" * 100_001}), 100_000)
    assert content_id({"a": 1, "b": 2}) == content_id({"b": 2, "a": 1})
    assert content_id({"a": 1}) != content_id({"a": 2})
