"""Small ASGI helpers shared by the ingest endpoint and the admin guard: reading a whole
request body (and telling a cut-off one apart) and sending a complete JSON answer."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.types import Receive, Send


class BodyCutOff(Exception):
    """The client disconnected before its request body was complete."""


async def read_body(receive: Receive, limit: int | None = None) -> bytes | None:
    """The whole request body; ``None`` as soon as it grows past ``limit``.

    Raises :class:`BodyCutOff` when the client disconnects before the body's end (a
    ``Content-Length`` not reached, a chunked body without its last chunk): such a body
    must never be acted on, even when the part that arrived is valid JSON.
    """
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise BodyCutOff
        chunk = message.get("body", b"")
        size += len(chunk)
        if limit is not None and size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def send_json(
    send: Send,
    status: int,
    body: dict[str, Any],
    extra: list[tuple[bytes, bytes]] | None = None,
    payload: bytes | None = None,
) -> None:
    """Send a complete JSON response (``payload``: ``body`` already serialised)."""
    if payload is None:
        payload = orjson.dumps(body)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
