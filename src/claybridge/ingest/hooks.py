"""``POST /hooks/{source_key}``: the hot path, as a bare ASGI endpoint.

Why not a FastAPI route: this path runs for every Clay row, and request-object
construction, dependency resolution and response-model validation cost more than the
few things it needs (path, one header, the body). The benchmark in ``bench/`` measures
it against a bare ASGI app. The rest of the API stays on FastAPI.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from urllib.parse import parse_qs

import structlog
from starlette.types import ASGIApp, Receive, Scope, Send

from claybridge.asgi import BodyCutOff, read_body, send_json
from claybridge.clock import Clock
from claybridge.config import Settings
from claybridge.errors import error_body
from claybridge.ingest.caches import IngestCaches
from claybridge.ingest.committer import Committer
from claybridge.ingest.job import IngestJob
from claybridge.ingest.pipeline import IngestRequest, IngestResponse
from claybridge.secretbox import SecretBox
from claybridge.storage.faults import StorageTimeout, is_unavailable

PREFIX = "/hooks/"
log = structlog.get_logger(__name__)


async def _not_found(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "http":
        await send_json(send, 404, error_body("not_found", "no such path"))


class HooksEndpoint:
    """The ASGI callable for every path under ``/hooks/``; anything else (other paths,
    the lifespan) goes to ``other``.

    Why it routes at all: it is the top-level app (``claybridge.app``), so a Clay row
    passes through no dispatcher's coroutine first: every await of a row's request
    resumes each frame of its chain.
    """

    def __init__(
        self,
        settings: Settings,
        committer: Committer,
        clock: Clock,
        box: SecretBox,
        wake: Callable[[], None] = lambda: None,
        other: ASGIApp = _not_found,
        caches: IngestCaches | None = None,
    ) -> None:
        self._other = other
        self._caches = caches or IngestCaches()  # the app's (see claybridge.state)
        self._settings = settings
        # Read once: settings do not change while the app runs, and these are read on
        # every request (base_url is a computed property).
        self._limit = settings.max_body_bytes
        self._date_order = settings.date_order
        self._base_url = settings.base_url
        # PostgreSQL: a request gives up after storage_timeout (a partitioned network
        # never answers). SQLite needs no timer per request (a cost on every row): the
        # committer bounds its own wait for the write lock by the same timeout.
        self._deadline = settings.storage_timeout if committer.mode == "thread" else None
        self._committer = committer
        self._clock = clock
        self._box = box
        self._wake = wake  # an accepted event may have queued outbound work

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PREFIX):
            await self._other(scope, receive, send)
            return
        received_at = self._clock.now()
        if scope["method"] != "POST":
            refusal = error_body("method_not_allowed", "sources accept POST only")
            await send_json(send, 405, refusal, [(b"allow", b"POST")])
            return
        key = scope["path"][len(PREFIX) :].rstrip("/")
        headers, authorization, declared = _headers(scope)
        try:
            body = None if declared > self._limit else await read_body(receive, self._limit)
        except BodyCutOff:  # never act on part of a row
            log.info("request body cut off; discarded", source_key=key)
            return
        request = IngestRequest(
            source_key=key,
            headers=headers,
            body=body,
            received_at=received_at,
            max_body_bytes=self._limit,
            date_order=self._date_order,
            authorization=authorization,
            dry_run=_dry_run(scope.get("query_string", b"")),
            box=self._box,
            base_url=self._base_url,
            caches=self._caches,
        )
        job = IngestJob(request)
        try:
            future = self._committer.submit(job)
            if self._deadline is None:
                response = await future
            else:
                response = await _within(future, self._deadline)
        except Exception as exc:
            response = _failure(exc, key)
        if response.queued:
            self._wake()
        extra = [(b"connection", b"close")] if body is None else []
        if response.headers:
            extra.extend(response.headers)
        if response.status_code >= 400:
            _log_refused(key, response)
        await send_json(send, response.status_code, response.body, extra, response.payload)


def _failure(exc: Exception, key: str) -> IngestResponse:
    """The answer when a job did not complete: 503 when the database is not there (Clay
    retries it; nothing was acknowledged), 500 for a bug (logged with its traceback)."""
    if is_unavailable(exc):
        log.error("storage error on ingest", source_key=key, error=repr(exc))
        body = error_body("storage_unavailable", "the database is unavailable; retry")
        return IngestResponse(503, body)
    log.exception("unexpected error on ingest", source_key=key)
    return IngestResponse(500, error_body("internal_error", "internal error"))


def _headers(scope: Scope) -> tuple[list[tuple[str, str]], str | None, int]:
    """The request's headers, its Authorization value, and its declared Content-Length."""
    authorization: str | None = None
    declared = 0
    headers: list[tuple[str, str]] = []
    for raw_name, raw_value in scope["headers"]:
        name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
        headers.append((name, value))
        if raw_name == b"authorization":
            authorization = value
        elif raw_name == b"content-length" and value.isdigit():
            declared = int(value)
    return headers, authorization, declared


def _log_refused(key: str, response: IngestResponse) -> None:
    error = response.body.get("error", {})
    log.info(
        "event rejected",
        source_key=key,
        status=response.status_code,
        code=error.get("code"),
        field=error.get("field"),
    )


async def _within(future: asyncio.Future[IngestResponse], seconds: float) -> IngestResponse:
    """``future``'s result, or :class:`StorageTimeout` after ``seconds``; a batch that
    has not taken the job by then skips it (ingest.committer), so a 503 never leaves its
    row behind."""
    timer = future.get_loop().call_later(seconds, _give_up, future)
    try:
        return await future
    finally:
        timer.cancel()


def _give_up(future: asyncio.Future[IngestResponse]) -> None:
    if not future.done():
        future.set_exception(StorageTimeout("the database did not answer in time"))


def _dry_run(query: bytes) -> bool:
    """Whether the query string asks for a dry run (``dry_run=true``, ``1`` or ``yes``)."""
    if not query:
        return False
    values = parse_qs(query.decode("latin-1")).get("dry_run", [])
    return any(v.lower() in ("true", "1", "yes") for v in values)
