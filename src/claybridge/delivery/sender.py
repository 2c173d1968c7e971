"""Building and sending one delivery's HTTP request.

:func:`build_request` is pure: a decrypted destination, a payload, a message id and a
time in; method, URL, headers and body out. :func:`send` does the I/O with an
``httpx.AsyncClient`` (whose transport is the SSRF guard) and reports what happened as
an :class:`Attempt`, never raising for anything the receiver or the network did.

Bodies: an ``http`` destination without a template sends the row as JSON; with one, the
rendered text, as JSON when it parses as JSON and as plain text otherwise. A ``slack``
destination sends ``{"text": <rendered template>}`` as Slack incoming webhooks expect.
Signed destinations add Standard Webhooks headers: ``webhook-id`` is the delivery id
(the same on every retry, so receivers can deduplicate), ``webhook-timestamp`` the
attempt time, ``webhook-signature`` ``v1,<base64 HMAC-SHA256>``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from claybridge import __version__
from claybridge.delivery.render import RenderError, render
from claybridge.delivery.ssrf import BlockedConnect
from claybridge.ingest.signatures import sign_standard
from claybridge.records.destinations import Target

USER_AGENT = f"Claybridge/{__version__}"
EXCERPT = 2048
JSON = "application/json"


@dataclass(frozen=True, slots=True)
class Request:
    """An outbound request, ready to send."""

    method: str
    url: str
    headers: list[tuple[str, str]]
    body: bytes


def _looks_json(text: str) -> bool:
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError:
        return False
    return True


def build_request(target: Target, payload: Any, msg_id: str, timestamp: int) -> Request:
    """The request for ``payload``; raises :class:`RenderError` if the template fails."""
    row = payload if isinstance(payload, dict) else {"value": payload}
    if target.kind == "slack":
        body = orjson.dumps({"text": render(target.template or "", row)})
        content_type = JSON
    elif target.template is None:
        body = orjson.dumps(payload)
        content_type = JSON
    else:
        text = render(target.template, row)
        body = text.encode()
        content_type = JSON if _looks_json(text) else "text/plain; charset=utf-8"
    headers = [("content-type", content_type), ("user-agent", USER_AGENT)]
    headers += list(target.headers)
    if target.signing_secret:
        headers += [
            ("webhook-id", msg_id),
            ("webhook-timestamp", str(timestamp)),
            ("webhook-signature", sign_standard(target.signing_secret, msg_id, timestamp, body)),
        ]
    return Request(target.method, target.url, headers, body)


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one attempt got: a status (``None`` without an answer), timing and why."""

    status_code: int | None
    latency_ms: float
    error: str | None
    excerpt: str | None
    retry_after: str | None = None
    permanent: bool = False  # failed in a way no retry can fix (template, SSRF guard)


async def send(
    client: httpx.AsyncClient, target: Target, payload: Any, msg_id: str, timestamp: int
) -> Attempt:
    """Send once; every outcome (including network errors and timeouts) is an Attempt."""
    try:
        request = build_request(target, payload, msg_id, timestamp)
    except RenderError as exc:
        return Attempt(None, 0.0, str(exc), None, permanent=True)
    started = time.perf_counter()
    try:
        response = await client.request(
            request.method,
            request.url,
            headers=request.headers,
            content=request.body,
            timeout=target.timeout,
        )
    except BlockedConnect as exc:
        return Attempt(
            None, _ms(started), f"refused by the SSRF guard: {exc}", None, permanent=True
        )
    except httpx.TimeoutException:
        return Attempt(None, _ms(started), f"timed out after {target.timeout:g} s", None)
    except httpx.HTTPError as exc:
        return Attempt(None, _ms(started), f"{type(exc).__name__}: {exc}".rstrip(": "), None)
    latency = _ms(started)
    excerpt = response.content[:EXCERPT].decode("utf-8", errors="replace") or None
    error = None if response.is_success else f"HTTP {response.status_code}"
    return Attempt(
        response.status_code, latency, error, excerpt, response.headers.get("retry-after")
    )


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0
