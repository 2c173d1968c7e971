"""One inbound request, start to finish, inside one database transaction.

Contract of :func:`handle`: given an :class:`IngestRequest` it authenticates, parses,
validates and applies the source's action, records an event (accepted or rejected)
and returns the response to send. It raises only for storage failures; every error a
user can cause becomes a response with the JSON error body. All validation, including
owner resolution (a read), happens before the first write, so a rejected row never
leaves a half-written record: only its rejected event is stored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa

from claybridge.actions.upsert_customer import parse_customer
from claybridge.errors import ClaybridgeError, PayloadTooLarge, Unauthorized, error_body
from claybridge.ids import new_id
from claybridge.ingest.committer import batch_scope, defer_insert
from claybridge.ingest.parse import parse_object
from claybridge.records import customers, events, owners, sources
from claybridge.redact import has_secrets, redact_body, redact_headers
from claybridge.security import bearer_token, matches

SOURCE_KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
STORED_BODY_LIMIT = 65_536


@dataclass(slots=True)
class IngestRequest:
    """What the HTTP layer hands the pipeline. ``body`` is ``None`` when over the limit."""

    source_key: str
    headers: list[tuple[str, str]]
    body: bytes | None
    received_at: datetime
    max_body_bytes: int
    date_order: str = "MDY"
    authorization: str | None = field(default=None)


@dataclass(slots=True)
class IngestResponse:
    """Status and JSON body to answer with; ``payload`` is ``body`` serialised, when known."""

    status_code: int
    body: dict[str, Any]
    payload: bytes | None = None


def _stored_body(raw: bytes | None, parsed: dict[str, Any] | None) -> str | None:
    """The body as the event log keeps it: redacted JSON, or bounded raw text."""
    if parsed is None and raw is not None:
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return raw[:STORED_BODY_LIMIT].decode("utf-8", errors="replace")
        parsed = value if isinstance(value, dict) else None
        if parsed is None:
            return orjson.dumps(value).decode()[:STORED_BODY_LIMIT]
    if parsed is None:
        return None
    if raw is not None and not has_secrets(parsed):
        # Nothing to hide: keep the body as sent (cheaper, and byte-for-byte faithful).
        return raw[:STORED_BODY_LIMIT].decode("utf-8", errors="replace")
    return orjson.dumps(redact_body(parsed)).decode()


def handle(conn: sa.Connection, req: IngestRequest) -> IngestResponse:
    """Process ``req`` in the caller's transaction (see module docstring)."""
    if not SOURCE_KEY.match(req.source_key):
        return IngestResponse(404, error_body("unknown_source", "no source has this URL"))
    # One read per source per batch: every job in a batch shares one transaction (one
    # snapshot), so a rotation committed before the batch is seen by all of it.
    cache = batch_scope(conn).setdefault("sources", {})
    if req.source_key not in cache:
        cache[req.source_key] = sources.by_key(conn, req.source_key)
    source = cache[req.source_key]
    if source is None:
        return IngestResponse(404, error_body("unknown_source", "no source has this URL"))
    event_id = new_id("evt")
    parsed: dict[str, Any] | None = None
    try:
        _authenticate(source, req.authorization, batch_scope(conn).setdefault("tokens", set()))
        if req.body is None:
            raise PayloadTooLarge(f"the request body is larger than {req.max_body_bytes} bytes")
        parsed = parse_object(req.body)
        data = parse_customer(parsed, date_order=req.date_order)
        owner = _resolve_owner(conn, data.owner_name, data.owner_email)
        row, created = customers.upsert(
            conn,
            data,
            owner_id=owner["id"] if owner else None,
            source_id=source["id"],
            now=req.received_at,
        )
    except ClaybridgeError as exc:
        response = {**exc.to_body(), "event_id": event_id}
        payload = orjson.dumps(response)
        defer_insert(
            conn,
            events.INSERT_PREPARED,
            _event_row(event_id, source, req, parsed, exc.status_code, payload, None)
            | {
                "status": events.REJECTED,
                "error_code": exc.code,
                "error_message": exc.message,
                "error_field": exc.field,
            },
        )
        return IngestResponse(exc.status_code, response, payload)
    if owner is None and row["owner_id"]:
        owner = owners.get(conn, row["owner_id"])  # kept from an earlier row: show it
    customer = customers.public(row, owner)
    customer["created"] = created
    response = {"ok": True, "event_id": event_id, "action": "upsert_customer", "customer": customer}
    payload = orjson.dumps(response)
    defer_insert(
        conn,
        events.INSERT_PREPARED,
        _event_row(event_id, source, req, parsed, 200, payload, row["id"]),
    )
    return IngestResponse(200, response, payload)


def _resolve_owner(
    conn: sa.Connection, name: str | None, email: str | None
) -> dict[str, Any] | None:
    """``owners.resolve``, remembered for the rest of the batch (same snapshot)."""
    if name is None and email is None:
        return None
    cache = batch_scope(conn).setdefault("owners", {})
    key = (name, email)
    if key not in cache:
        try:
            cache[key] = owners.resolve(conn, name=name, email=email)
        except ClaybridgeError as exc:
            cache[key] = exc
    found = cache[key]
    if isinstance(found, ClaybridgeError):
        raise found
    return found  # type: ignore[no-any-return]


def _authenticate(
    source: dict[str, Any], authorization: str | None, verified: set[tuple[str, str]]
) -> None:
    """Raise :class:`Unauthorized` unless ``authorization`` carries the source's token.

    ``verified`` remembers tokens already checked against this source in this batch
    (same snapshot), so a burst from one Clay column hashes its token once.
    """
    if source["status"] == sources.DISCONNECTED:
        raise Unauthorized(
            "this source is disconnected; rotate its token to reconnect it, "
            "then update the Authorization header in the Clay column",
            code="source_disconnected",
        )
    token = bearer_token(authorization)
    if token is None:
        raise Unauthorized(
            "missing bearer token: add the header Authorization: Bearer <token>",
            code="missing_token",
        )
    if (source["id"], token) in verified:
        return
    if matches(token, source["token_hash"]):
        verified.add((source["id"], token))
    else:
        raise Unauthorized(
            "the bearer token is wrong or has been rotated; "
            "update the Authorization header in the Clay column",
            code="invalid_token",
        )


def _event_row(
    event_id: str,
    source: dict[str, Any],
    req: IngestRequest,
    parsed: dict[str, Any] | None,
    status_code: int,
    payload: bytes,
    customer_id: str | None,
) -> dict[str, Any]:
    return {
        "id": event_id,
        "source_id": source["id"],
        "received_at": req.received_at,
        "status": events.ACCEPTED,
        "status_code": status_code,
        "error_code": None,
        "error_message": None,
        "error_field": None,
        "request_headers": redact_headers(req.headers),
        "request_body": _stored_body(req.body, parsed),
        "response_body": payload.decode(),
        "customer_id": customer_id,
    }
