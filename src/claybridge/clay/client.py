"""The Clay SDK: send rows to a Clay table webhook, and call Clay's enrichment API.

Usable on its own, without the Claybridge server::

    from claybridge.clay import SyncClayClient

    clay = SyncClayClient(webhook_url="https://api.clay.com/v3/sources/webhook/…",
                          auth_header_value="…")
    clay.send_row({"email": "ada@example.com"})
    result = clay.send_batch(rows)           # result.sent, result.failed, result.errors

Behaviour: a client-side rate limit (10 rows/s, bursts of 20: a Clay workspace's), retries
on 429 (waiting ``Retry-After``) and on network errors and 5xx (exponential backoff,
``max_retries``), and typed errors: :class:`ClayWebhookError` (with ``status_code``) for a
refused row, :class:`ClayWebhookExhaustedError` when the webhook has used its lifetime
submissions (Clay's 50,000; a new webhook must be created in Clay). A Clay webhook has no
idempotency key: a retried row that Clay had in fact accepted becomes a duplicate row.

Enrichment (``enrich_person(email)``, ``enrich_company(domain)``) calls
``POST {base_url}/v1/people/enrich`` and ``/v1/companies/enrich`` with the API key as a
bearer token; without an API key they fail before any network call.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

DEFAULT_BASE_URL = "https://api.clay.com"
DEFAULT_AUTH_HEADER = "x-clay-webhook-auth"


class ClayError(Exception):
    """Anything the SDK could not do; the message says what and why."""


class ClayWebhookError(ClayError):
    """Clay refused a row (or kept failing): ``status_code`` is Clay's answer (None when
    the network failed) and ``body`` its text."""

    def __init__(self, message: str, status_code: int | None, body: str | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.body = body


class ClayWebhookExhaustedError(ClayWebhookError):
    """The webhook has reached its lifetime submission limit: create a new one in Clay."""


def is_exhausted(status_code: int, body: str) -> bool:
    """Whether Clay's answer says the webhook's submission limit is reached (a 403/410/429
    whose body mentions the limit)."""
    text = body.lower()
    return (
        status_code in (403, 410, 429)
        and "limit" in text
        and ("submission" in text or "webhook" in text)
    )


@dataclass(frozen=True)
class SendResult:
    """The outcome of a batch: counts and, per failed row, its index and error."""

    sent: int
    failed: int
    errors: list[tuple[int, ClayWebhookError]] = field(default_factory=list)


@dataclass(frozen=True)
class PersonEnrichment:
    """A person as Clay's enrichment returns it."""

    name: str | None
    email: str | None
    title: str | None
    company: str | None
    linkedin_url: str | None
    location: str | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class CompanyEnrichment:
    """A company as Clay's enrichment returns it."""

    name: str | None
    domain: str | None
    industry: str | None
    employee_count: int | None
    linkedin_url: str | None
    location: str | None
    description: str | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


class RateLimiter:
    """An in-process token bucket (``rate`` per second, ``burst`` at most)."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, max(1, burst)
        self._tokens = float(self.burst)
        self._at = time.monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
                self._at = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                await asyncio.sleep((1 - self._tokens) / self.rate)


def _get(data: dict[str, Any], *names: str) -> Any:
    for name in names:
        if data.get(name) not in (None, ""):
            return data[name]
    return None


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


class ClayClient:
    """Async Clay client (see the module docstring). Use as ``async with``."""

    def __init__(
        self,
        webhook_url: str | None = None,
        *,
        auth_header_name: str = DEFAULT_AUTH_HEADER,
        auth_header_value: str | None = None,
        api_key: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        max_retries: int = 5,
        timeout: float = 30.0,
        rate_limit: float | None = 10.0,
        burst: int = 20,
        backoff: float = 0.5,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.webhook_url = webhook_url
        self.auth_header_name = auth_header_name
        self.auth_header_value = auth_header_value
        self.api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.max_retries = max_retries
        self.backoff = backoff
        self._limiter = RateLimiter(rate_limit, burst) if rate_limit else None
        self._http = httpx.AsyncClient(timeout=timeout, transport=transport)

    async def __aenter__(self) -> ClayClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def _delay(self, attempt: int) -> float:
        return float(self.backoff * (2**attempt) * (0.5 + random.random()))  # noqa: S311

    async def send_row(self, data: dict[str, Any]) -> dict[str, Any]:
        """Send one row; returns Clay's JSON answer (``{}`` if none). Raises
        :class:`ClayWebhookError` / :class:`ClayWebhookExhaustedError`."""
        if not self.webhook_url:
            raise ClayError("no webhook_url: copy it from the Clay table's webhook source")
        headers = {}
        if self.auth_header_value is not None:
            headers[self.auth_header_name] = self.auth_header_value
        last: ClayWebhookError | None = None
        for attempt in range(self.max_retries + 1):
            if self._limiter is not None:
                await self._limiter.acquire()
            try:
                response = await self._http.post(self.webhook_url, json=data, headers=headers)
            except httpx.TransportError as exc:
                last = ClayWebhookError(f"network error: {exc!r}", None)
                await asyncio.sleep(self._delay(attempt))
                continue
            if response.is_success:
                try:
                    parsed = response.json()
                except ValueError:
                    return {}
                return parsed if isinstance(parsed, dict) else {"response": parsed}
            body = response.text
            if is_exhausted(response.status_code, body):
                raise ClayWebhookExhaustedError(
                    "this Clay webhook has reached its submission limit; create a new webhook "
                    "in the Clay table and use its URL",
                    response.status_code,
                    body,
                )
            last = ClayWebhookError(
                f"Clay answered {response.status_code}: {body[:500]}", response.status_code, body
            )
            if response.status_code == 429:
                await asyncio.sleep(_retry_after(response) or self._delay(attempt))
            elif response.status_code >= 500:
                await asyncio.sleep(self._delay(attempt))
            else:
                raise last
        assert last is not None
        raise last

    async def send_batch(
        self, rows: Iterable[dict[str, Any]], *, concurrency: int = 5
    ) -> SendResult:
        """Send every row (``concurrency`` at once, under the rate limit); never raises for
        a row: failures are counted and listed. An exhausted webhook stops the batch."""
        queue = list(enumerate(rows))
        errors: list[tuple[int, ClayWebhookError]] = []
        sent = 0
        exhausted = False

        async def worker() -> None:
            nonlocal sent, exhausted
            while queue and not exhausted:
                index, row = queue.pop(0)
                try:
                    await self.send_row(row)
                    sent += 1
                except ClayWebhookExhaustedError as exc:
                    exhausted = True
                    errors.append((index, exc))
                except ClayWebhookError as exc:
                    errors.append((index, exc))

        await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))
        for index, _row in queue:  # left unsent after exhaustion
            errors.append((index, ClayWebhookExhaustedError("not sent: webhook exhausted", None)))
        errors.sort(key=lambda e: e[0])
        return SendResult(sent, len(errors), errors)

    async def _enrich(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        if not self.api_key:
            raise ClayError("enrichment needs an API key: ClayClient(api_key=…)")
        response = await self._http.post(
            f"{self.base_url}{path}",
            json=body,
            headers={"Authorization": f"Bearer {self.api_key}"},
        )
        if not response.is_success:
            raise ClayWebhookError(
                f"Clay answered {response.status_code}: {response.text[:500]}",
                response.status_code,
                response.text,
            )
        data = response.json()
        if not isinstance(data, dict):
            raise ClayError("Clay's enrichment answer is not an object")
        inner = data.get("data")
        return inner if isinstance(inner, dict) else data

    async def enrich_person(self, email: str) -> PersonEnrichment:
        """Clay's person enrichment for ``email``."""
        data = await self._enrich("/v1/people/enrich", {"email": email})
        return PersonEnrichment(
            name=_get(data, "name", "full_name"),
            email=_get(data, "email") or email,
            title=_get(data, "title", "job_title"),
            company=_get(data, "company", "company_name"),
            linkedin_url=_get(data, "linkedin_url", "linkedin"),
            location=_get(data, "location"),
            raw=data,
        )

    async def enrich_company(self, domain: str) -> CompanyEnrichment:
        """Clay's company enrichment for ``domain``."""
        data = await self._enrich("/v1/companies/enrich", {"domain": domain})
        return CompanyEnrichment(
            name=_get(data, "name", "company_name"),
            domain=_get(data, "domain") or domain,
            industry=_get(data, "industry"),
            employee_count=_int(_get(data, "employee_count", "employees")),
            linkedin_url=_get(data, "linkedin_url", "linkedin"),
            location=_get(data, "location"),
            description=_get(data, "description"),
            raw=data,
        )


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


class SyncClayClient:
    """The same client for synchronous code (runs its own event loop per call)."""

    def __init__(self, **options: Any) -> None:
        self._options = options

    def _run(self, method: str, *args: Any, **kwargs: Any) -> Any:
        async def call() -> Any:
            async with ClayClient(**self._options) as client:
                return await getattr(client, method)(*args, **kwargs)

        return asyncio.run(call())

    def send_row(self, data: dict[str, Any]) -> dict[str, Any]:
        """See :meth:`ClayClient.send_row`."""
        return self._run("send_row", data)  # type: ignore[no-any-return]

    def send_batch(self, rows: Iterable[dict[str, Any]], *, concurrency: int = 5) -> SendResult:
        """See :meth:`ClayClient.send_batch`."""
        return self._run("send_batch", list(rows), concurrency=concurrency)  # type: ignore[no-any-return]

    def enrich_person(self, email: str) -> PersonEnrichment:
        """See :meth:`ClayClient.enrich_person`."""
        return self._run("enrich_person", email)  # type: ignore[no-any-return]

    def enrich_company(self, domain: str) -> CompanyEnrichment:
        """See :meth:`ClayClient.enrich_company`."""
        return self._run("enrich_company", domain)  # type: ignore[no-any-return]
