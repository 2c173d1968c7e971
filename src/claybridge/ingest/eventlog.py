"""How a request is written to the event log: its headers and body (secrets redacted),
its outcome and the exact answer sent."""

from __future__ import annotations

from typing import Any

import orjson

from claybridge.ingest.request import IngestRequest
from claybridge.records import events
from claybridge.records.sources import Source
from claybridge.redact import has_secrets, redact_body, redact_text

STORED_BODY_LIMIT = 65_536


def stored_body(
    raw: bytes | None, parsed: dict[str, Any] | None, secrets: bool | None = None
) -> str | None:
    """The body as the event log keeps it: redacted JSON, or bounded raw text (redacted
    as text when it is not JSON). A NUL character, which PostgreSQL cannot store in
    text, is kept as U+FFFD.

    ``secrets``: whether ``parsed`` has secret-named keys, when already known.
    """
    if parsed is None and raw is not None:
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            text = raw[:STORED_BODY_LIMIT].decode("utf-8", errors="replace")
            return redact_text(text).replace("\x00", "\ufffd")
        parsed = value if isinstance(value, dict) else None
        if parsed is None:
            return orjson.dumps(value).decode()[:STORED_BODY_LIMIT]
    if parsed is None:
        return None
    if secrets is None:
        secrets = has_secrets(parsed)
    if raw is not None and not secrets:
        # Nothing to hide: keep the body as sent (cheaper, and byte-for-byte faithful).
        kept = raw if len(raw) <= STORED_BODY_LIMIT else raw[:STORED_BODY_LIMIT]
        text = kept.decode("utf-8", "replace")
        return text if kept.find(b"\x00") == -1 else text.replace("\x00", "\ufffd")
    return orjson.dumps(redact_body(parsed)).decode()


def event_row(
    event_id: str,
    source: Source,
    req: IngestRequest,
    headers: dict[str, str],
    parsed: dict[str, Any] | None,
    secrets: bool | None,
    status_code: int,
    payload: bytes,
    customer_id: str | None,
) -> dict[str, Any]:
    """The ``events`` row for a request, accepted unless the caller says otherwise;
    ``secrets``: whether ``parsed`` has secret-named keys, if known."""
    return {
        "id": event_id,
        "source_id": source.id,
        "received_at": req.received_at,
        "status": events.ACCEPTED,
        "status_code": status_code,
        "error_code": None,
        "error_message": None,
        "error_field": None,
        "request_headers": headers,
        "request_body": stored_body(req.body, parsed, secrets),
        "response_body": payload.decode(),
        "customer_id": customer_id,
        "event_name": None,
        "note": None,
    }
