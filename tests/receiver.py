"""A real HTTP receiver on a loopback port, for outbound tests.

It records every request (time, path, headers, body) and answers from a script: a list
of :class:`Reply` consumed in order, then ``default``. A reply can be a status with
headers (``Retry-After``), or a hang for some seconds before answering.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson

from claybridge.clay.imitation import lifespan, serving


@dataclass
class Reply:
    """One scripted answer."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    hang: float = 0.0
    body: bytes = b'{"ok": true}'


@dataclass
class Seen:
    """One request the receiver got."""

    at: float
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


class Receiver:
    """The ASGI app plus its recorded requests."""

    def __init__(self) -> None:
        self.script: list[Reply] = []
        self.default = Reply()
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        self.url = ""

    def reply_with(self, *replies: Reply, default: Reply | None = None) -> None:
        with self.lock:
            self.script = list(replies)
            if default is not None:
                self.default = default

    def count(self) -> int:
        with self.lock:
            return len(self.seen)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        with self.lock:
            self.seen.append(Seen(time.monotonic(), scope["path"], headers, body))
            reply = self.script.pop(0) if self.script else self.default
        if reply.hang:
            await asyncio.sleep(reply.hang)
        await send(
            {
                "type": "http.response.start",
                "status": reply.status,
                "headers": [(b"content-type", b"application/json")]
                + [(k.encode(), v.encode()) for k, v in reply.headers.items()],
            }
        )
        await send({"type": "http.response.body", "body": reply.body})


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    """A receiver served by uvicorn on 127.0.0.1 in a thread."""
    app = Receiver()
    with serving(app) as base:
        app.url = base
        yield app


def wait_until(predicate: Any, timeout: float = 15.0, interval: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)
