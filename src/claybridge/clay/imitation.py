"""A local imitation of a Clay table's inbound webhook, faithful to its documented limits.

What it does, like a Clay table (figures are Clay's, configurable):

* checks the auth header when one is configured (``x-clay-webhook-auth`` by default):
  401 otherwise;
* rate-limits like a workspace: 10 records/s with bursts of 20; past that, 429 with
  ``Retry-After`` (whole seconds);
* refuses bodies over 100 KB (413) and bodies that are not a JSON object (400);
* counts accepted submissions and stops at the webhook's limit (50,000 for Clay; set it
  low to test): 403 ``webhook_limit_reached``, for good, as Clay does (deleting rows does
  not reset it);
* records every accepted row (``GET /rows``, ``GET /stats``); any other path is 404, so
  a client pointed at the wrong URL (an enrichment call) fails instead of being
  recorded as a row;
* optionally behaves like a table whose last HTTP API column sends the enriched row back:
  after ``callback_delay`` seconds it POSTs ``{...row, "enriched": {...}}`` to the row's
  ``callback_url`` with ``Authorization: Bearer <callback_token>``. Callbacks only go to
  loopback addresses: this is a local tool.

Run it with ``claybridge clay imitate`` or :func:`serve_in_thread` (tests).
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import uvicorn

CLAY_RATE = 10.0
CLAY_BURST = 20
CLAY_MAX_BYTES = 100_000
CLAY_SUBMISSION_LIMIT = 50_000


@dataclass
class ImitationConfig:
    """How the imitated table behaves (Clay's figures by default)."""

    auth_header: str = "x-clay-webhook-auth"
    auth_value: str | None = None
    rate: float | None = CLAY_RATE  # None: no rate limit
    burst: int = CLAY_BURST
    max_bytes: int = CLAY_MAX_BYTES
    submission_limit: int = CLAY_SUBMISSION_LIMIT
    callback_delay: float | None = None  # None: never call back
    callback_token: str | None = None


@dataclass
class TableState:
    """What the table has seen."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    submissions: int = 0
    rejected: dict[int, int] = field(default_factory=dict)
    callbacks_sent: int = 0
    callback_failures: list[str] = field(default_factory=list)


class _Bucket:
    """A token bucket: ``rate`` per second, ``burst`` at most."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self.tokens = float(burst)
        self.at = time.monotonic()

    def take(self) -> float:
        """0 if a token was taken, else seconds until one is available."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


def _enriched(row: dict[str, Any]) -> dict[str, Any]:
    """What the imitated enrichment adds: deterministic, derived from the row."""
    email = str(row.get("email") or "")
    domain = email.partition("@")[2] or str(row.get("domain") or row.get("company_domain") or "")
    return {
        "company_domain": domain or None,
        "company_name": domain.split(".")[0].title() if domain else None,
        "employee_count": 42,
        "icp_score": 50 + len(email) % 50,
    }


def _loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _is_webhook(path: str) -> bool:
    """``/webhook`` (what ``serve_in_thread`` and ``clay imitate`` print), or a path
    shaped like a real table webhook's (``/v3/sources/webhook/<name>``)."""
    return path == "/webhook" or path.startswith(("/webhook/", "/v3/sources/webhook/"))


class ClayTableImitation:
    """The ASGI app (see the module docstring)."""

    def __init__(self, config: ImitationConfig | None = None) -> None:
        self.config = config or ImitationConfig()
        self.state = TableState()
        self._bucket = _Bucket(self.config.rate, self.config.burst) if self.config.rate else None
        self._lock = threading.RLock()  # _reject takes it again under _handle
        self._tasks: set[asyncio.Task[None]] = set()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        status, payload, headers = self._handle(scope, body)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), *headers],
            }
        )
        await send({"type": "http.response.body", "body": orjson.dumps(payload)})

    def _reject(self, status: int, code: str, message: str) -> tuple[int, Any, list[Any]]:
        with self._lock:
            self.state.rejected[status] = self.state.rejected.get(status, 0) + 1
        return status, {"error": code, "message": message}, []

    def _route(self, method: str, path: str) -> tuple[int, Any, list[Any]] | None:
        """The answer to anything but a row posted to the webhook (``None`` for that)."""
        if method == "GET" and path in ("/rows", "/webhook/rows"):
            with self._lock:
                return 200, {"rows": list(self.state.rows)}, []
        if method == "GET" and path in ("/stats", "/webhook/stats", "/webhook", "/"):
            with self._lock:
                return 200, self.stats(), []
        if method == "POST" and _is_webhook(path):
            return None
        # Like Clay: only the table's webhook takes rows. An enrichment call (an SDK
        # pointed here) must fail, not be recorded as a row.
        message = (
            f"no {method} {path} here: this imitates a Clay table webhook "
            "(POST rows to /webhook; GET /rows, /stats)"
        )
        return 404, {"error": "not_found", "message": message}, []

    def _handle(self, scope: Any, body: bytes) -> tuple[int, Any, list[Any]]:
        routed = self._route(scope["method"], scope["path"])
        if routed is not None:
            return routed
        cfg = self.config
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        if cfg.auth_value is not None and headers.get(cfg.auth_header.lower()) != cfg.auth_value:
            return self._reject(401, "unauthorized", f"missing or wrong {cfg.auth_header}")
        if len(body) > cfg.max_bytes:
            return self._reject(
                413, "payload_too_large", f"rows are limited to {cfg.max_bytes} bytes"
            )
        with self._lock:
            if self.state.submissions >= cfg.submission_limit:
                return self._reject(
                    403,
                    "webhook_limit_reached",
                    f"this webhook has reached its limit of {cfg.submission_limit} submissions; "
                    "create a new webhook",
                )
            wait = self._bucket.take() if self._bucket else 0.0
        if wait > 0:
            status, payload, _ = self._reject(429, "rate_limited", "too many requests")
            return status, payload, [(b"retry-after", str(max(1, math.ceil(wait))).encode())]
        try:
            row = orjson.loads(body)
        except orjson.JSONDecodeError:
            return self._reject(400, "invalid_json", "the body is not JSON")
        if not isinstance(row, dict):
            return self._reject(400, "invalid_body", "the body must be a JSON object")
        with self._lock:
            if self.state.submissions >= cfg.submission_limit:
                return self._reject(403, "webhook_limit_reached", "limit reached")
            self.state.submissions += 1
            self.state.rows.append(row)
            number = self.state.submissions
        callback = row.get("callback_url")
        if cfg.callback_delay is not None and isinstance(callback, str) and _loopback(callback):
            task = asyncio.get_running_loop().create_task(self._call_back(callback, row))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return 200, {"ok": True, "record": number}, []

    async def _call_back(self, url: str, row: dict[str, Any]) -> None:
        await asyncio.sleep(self.config.callback_delay or 0)
        headers = {}
        if self.config.callback_token:
            headers["Authorization"] = f"Bearer {self.config.callback_token}"
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                response = await client.post(
                    url, json={**row, "enriched": _enriched(row)}, headers=headers
                )
            with self._lock:
                self.state.callbacks_sent += 1
                if response.status_code >= 300:
                    self.state.callback_failures.append(f"{response.status_code} {response.text}")
        except httpx.HTTPError as exc:
            with self._lock:
                self.state.callback_failures.append(repr(exc))

    def stats(self) -> dict[str, Any]:
        """Counts (call with or without the lock held by the caller's thread)."""
        return {
            "submissions": self.state.submissions,
            "rejected": {str(k): v for k, v in self.state.rejected.items()},
            "callbacks_sent": self.state.callbacks_sent,
            "callback_failures": list(self.state.callback_failures),
        }


@contextmanager
def serving(app: Any, *, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve the ASGI ``app`` with uvicorn in a thread on a loopback port; yields its base
    URL (``http://127.0.0.1:<port>``) once it accepts connections."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((host, port))
    base = f"http://{host}:{sock.getsockname()[1]}"
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=1)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{type(app).__name__} did not start")
        time.sleep(0.01)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


async def lifespan(receive: Any, send: Any) -> None:
    """Answer an ASGI lifespan scope (nothing to start or stop)."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


@contextmanager
def serve_in_thread(
    config: ImitationConfig | None = None, *, host: str = "127.0.0.1", port: int = 0
) -> Iterator[tuple[ClayTableImitation, str]]:
    """Run an imitation on a loopback port in a thread; yields it and its webhook URL."""
    app = ClayTableImitation(config)
    with serving(app, host=host, port=port) as base:
        yield app, f"{base}/webhook"
