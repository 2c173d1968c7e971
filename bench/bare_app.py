"""The baseline for the ingest benchmark: an ASGI app that reads the body and answers 202.

Run with the same server and settings as Claybridge (uvicorn, one process) so the
ratio measures what Claybridge adds: authentication, parsing, coercion, the upsert
and a durable commit.
"""

from __future__ import annotations

from typing import Any


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Read the whole body, answer 202 with a tiny JSON body."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send(
        {
            "type": "http.response.start",
            "status": 202,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"11")],
        }
    )
    await send({"type": "http.response.body", "body": b'{"ok":true}'})
