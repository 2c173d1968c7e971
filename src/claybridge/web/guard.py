"""The admin app's outermost guard: what no route should have to repeat.

* **JSON bodies** of POST, PUT and PATCH requests (a JSON content type, or none and a
  body that starts with ``{`` or ``[``) are checked by the one rule for
  request bodies (:func:`claybridge.jsontext.loads`) before any route sees them: not
  JSON (``NaN``, an over-long integer literal, UTF-16) is 400 ``invalid_json``, a value
  no database can store (a NUL, a lone surrogate, an integer beyond 64 bits) is 422
  ``invalid_field`` naming it.
* **A body cut off** before its announced end (the client disconnected) is discarded:
  no route runs, nothing is written, nothing is answered.
* **Errors no route handled** answer here instead of escaping to the server: 503
  ``storage_unavailable`` when the database is unavailable (see
  :mod:`claybridge.storage.faults`), else 500 ``internal_error``, logged. Answering
  here (not re-raising) keeps the client's keep-alive connection usable.
"""

from __future__ import annotations

from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from claybridge.asgi import BodyCutOff, read_body, send_json
from claybridge.errors import ClaybridgeError, error_body
from claybridge.jsontext import loads
from claybridge.storage.faults import is_unavailable

log = structlog.get_logger(__name__)

_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


def _is_json(scope: Scope, body: bytes) -> bool:
    """Whether this request's body is JSON to check: a JSON content type, or none and a
    body that starts as JSON does (a route reading raw text, the owners CSV import, gets
    bodies without a content type too)."""
    for name, value in scope["headers"]:
        if name == b"content-type":
            media: bytes = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json" or media.endswith(b"+json")
    return body.lstrip()[:1] in (b"{", b"[")


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives ``body`` once, then whatever the client sends next."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


class AdminGuard:
    """ASGI middleware around the admin app (see the module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            if scope["method"] in _WITH_BODY:
                body = await read_body(receive)
                assert body is not None  # no limit given
                if body and _is_json(scope, body):
                    loads(body)
                receive = _replaying(body, receive)
            await self.app(scope, receive, tracked)
        except BodyCutOff:
            log.info("request body cut off; discarded", path=scope["path"])
        except ClaybridgeError as exc:  # from the body check: no route ran
            await send_json(send, exc.status_code, exc.to_body())
        except Exception as exc:
            if started:
                raise  # the answer is on its way: nothing else can be said
            await send_json(send, *fault_answer(exc, scope["path"]))


def fault_answer(exc: BaseException, path: str) -> tuple[int, dict[str, Any]]:
    """The status and body for an error nothing handled (and log it)."""
    if is_unavailable(exc):
        log.error("storage unavailable", path=path, error=repr(exc))
        return 503, error_body("storage_unavailable", "the database is unavailable; retry")
    log.error("unhandled error", path=path, exc_info=exc)
    return 500, error_body("internal_error", "internal error")
