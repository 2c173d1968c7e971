"""One inbound request, start to finish, inside one database transaction.

Contract of :func:`handle`: given an :class:`IngestRequest` it authenticates, parses,
deduplicates, plans and applies the source's mapping, logs an event (accepted, rejected
or duplicate) and returns the response to send. It raises only for storage failures;
every error a user can cause becomes a response with the JSON error body. Everything is
checked, owner resolution (a read) included, before the first write, so a rejected row
never leaves a half-written record: only its rejected event is stored.

The steps are the methods of :class:`_Request`, in the order :func:`handle` calls them.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa

from claybridge.actions.apply import apply_plan, queued_work
from claybridge.actions.base import Applying
from claybridge.actions.plan import CompiledConfig, Plan, plan_event
from claybridge.errors import ClaybridgeError, InvalidField, PayloadTooLarge, error_body
from claybridge.ids import new_id
from claybridge.ingest.auth import authenticate, verify_signature
from claybridge.ingest.eventlog import event_row
from claybridge.ingest.idempotency import event_key
from claybridge.ingest.parse import parse_object
from claybridge.ingest.request import IngestRequest, IngestResponse, Parsed
from claybridge.records import events, idempotency, sources
from claybridge.records.batch import Batch
from claybridge.records.sources import Source
from claybridge.redact import redact_headers
from claybridge.secretbox import SecretBox

__all__ = ["IngestRequest", "IngestResponse", "handle", "replay_request", "source_for"]

SOURCE_KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
REPLAYED = [(b"idempotent-replayed", b"true")]


def handle(
    conn: sa.Connection,
    batch: Batch,
    req: IngestRequest,
    *,
    parsed: Parsed | None = None,
) -> IngestResponse:
    """Process ``req`` in the caller's transaction, as one job of ``batch`` (see the
    module docstring). ``parsed``: its body, if the batch's key prefetch parsed it."""
    source = source_for(conn, batch, req) if SOURCE_KEY.match(req.source_key) else None
    if source is None:
        return IngestResponse(404, error_body("unknown_source", "no source has this URL"))
    run = _Request(conn, batch, req, source)
    try:
        run.authenticate()
        run.parse(parsed)
        repeat = run.deduplicate()
        if repeat is not None:
            return repeat
        results = run.apply(run.plan())
    except ClaybridgeError as exc:
        return run.log_rejected(exc)
    return run.log_accepted(results)


def source_for(conn: sa.Connection, batch: Batch, req: IngestRequest) -> Source | None:
    """The source with the request's key, read once per batch: every job in a batch
    shares one transaction (one snapshot), so a rotation committed before the batch is
    seen by all."""
    cache = batch.sources
    key = req.source_key
    if key not in cache:
        cache[key] = sources.by_key(conn, key)
    known: Source | None = cache[key]
    return known


class _Request:
    """One request's way through :func:`handle`: each step reads what the ones before it
    found (the source, the body, the plan) from here."""

    __slots__ = (
        "batch",
        "claimed",
        "config",
        "conn",
        "event_id",
        "headers",
        "note",
        "parsed",
        "planned",
        "req",
        "secrets",
        "source",
    )

    def __init__(
        self,
        conn: sa.Connection,
        batch: Batch,
        req: IngestRequest,
        source: Source,
    ) -> None:
        self.conn, self.batch, self.req, self.source = conn, batch, req, source
        self.event_id = new_id("evt")
        self.headers = redact_headers(req.headers)
        self.parsed: dict[str, Any] | None = None
        self.secrets: bool | None = None  # secret-named keys in the body (None: not known)
        self.config: CompiledConfig | None = None
        self.planned: Plan | None = None
        self.claimed: str | None = None  # the idempotency key this event will hold
        self.note: str | None = None

    def authenticate(self) -> None:
        """The source's configuration, then its token and signature (unless the caller
        is the already-authenticated admin API)."""
        req = self.req
        self.config = req.config or req.caches.compiled_config(self.source, req.box)
        if req.trusted and req.parsed is not None:
            return
        authenticate(self.source, req.authorization, self.batch.tokens)
        if self.config.signature_scheme != "none":
            verify_signature(self.config, req)

    def parse(self, parsed: Parsed | None) -> None:
        """The body as a JSON object (``parsed``, if the key prefetch parsed it)."""
        req = self.req
        if req.trusted and req.parsed is not None:
            self.parsed = req.parsed
        elif req.body is None:
            raise PayloadTooLarge(f"the request body is larger than {req.max_body_bytes} bytes")
        elif parsed is not None:
            self.parsed, self.secrets = parsed.body, parsed.secrets
        else:
            self.parsed, self.secrets = parse_object(req.body)

    def deduplicate(self) -> IngestResponse | None:
        """The original answer if this row repeats one within the source's idempotency
        window; otherwise the key this event will claim is noted."""
        req, config = self.req, self.config
        assert config is not None
        if req.dry_run or req.replay_of or config.idempotency_mode == "off":
            return None
        key, self.note = event_key(config.idempotency_mode, config.idempotency_path, self.event)
        if key is None:
            return None
        owner = self._key_owner(key)
        if owner is not None:
            return self._log_duplicate(owner)
        self.claimed = key
        return None

    def _key_owner(self, key: str) -> dict[str, Any] | None:
        """The event holding ``key``: claimed earlier in this batch (the scratchpad),
        read for the whole batch (the prefetch), or read now."""
        source_id = self.source.id
        owner = self.batch.claimed.get((source_id, key))
        known = self.batch.known_keys
        if owner is None and (source_id, key) in known:
            found = known[(source_id, key)]
            owner = idempotency.live(self.conn, source_id, key, found, self.req.received_at)
        elif owner is None:
            owner = idempotency.lookup(self.conn, source_id, key, self.req.received_at)
        return owner

    @property
    def event(self) -> dict[str, Any]:
        """The event as mappings see it: the body and the (redacted) headers."""
        return {"body": self.parsed, "headers": self.headers}

    def plan(self) -> Plan:
        """What the source's mapping does with this event."""
        assert self.config is not None
        self.planned = plan_event(self.config, self.event, date_order=self.req.date_order)
        return self.planned

    def apply(self, plan: Plan) -> list[dict[str, Any]]:
        """Every action carried out (or previewed, in a dry run), after the reads that
        can still refuse the event."""
        req = self.req
        app = Applying(
            conn=self.conn,
            batch=self.batch,
            source_id=self.source.id,
            source_name=self.source.name,
            event_name=plan.event_name,
            event_id=self.event_id,
            now=req.received_at,
            dry_run=req.dry_run,
            base_url=req.base_url,
        )
        return apply_plan(app, plan)

    def log_rejected(self, exc: ClaybridgeError) -> IngestResponse:
        """Log a refused row (only its event is written) and answer with the error."""
        response = {**exc.to_body(), "event_id": self.event_id}
        if self.planned is not None:
            response["event"] = self.planned.event_name
        payload = orjson.dumps(response)
        row = self._row(exc.status_code, payload, None)
        row.update(
            status=events.REJECTED,
            error_code=exc.code,
            error_message=exc.message,
            # (a field path comes from the row's keys: kept within its column)
            error_field=exc.field[: events.FIELD_LENGTH] if exc.field else None,
            event_name=self.planned.event_name if self.planned else None,
        )
        self.batch.defer(events.INSERT_PREPARED, row)
        return IngestResponse(exc.status_code, response, payload)

    def _answer(self, plan: Plan, results: list[dict[str, Any]]) -> dict[str, Any]:
        """The success body Clay shows in the cell."""
        response: dict[str, Any] = {
            "ok": True,
            "event_id": self.event_id,
            "event": plan.event_name,
            "actions": results,
        }
        if self.req.dry_run:
            response["dry_run"] = True
        warnings = plan.warnings + ([self.note] if self.note else [])
        if warnings:
            response["warnings"] = warnings
        # A customer action's record is answered once, at the top level, where Clay users
        # read it (customer.id, customer.created); its action entry names its id.
        customers_seen = [r.pop("_customer") for r in results if "_customer" in r]
        if customers_seen:
            response["customer"] = customers_seen[0]
        return response

    def log_accepted(self, results: list[dict[str, Any]]) -> IngestResponse:
        """Answer with what each action did; keep the idempotency key; log the event."""
        plan, req = self.planned, self.req
        assert plan is not None
        response = self._answer(plan, results)
        customer = response.get("customer")
        payload = orjson.dumps(response)
        self._keep_key(payload)
        row = self._row(200, payload, None if req.dry_run or customer is None else customer["id"])
        row["event_name"] = plan.event_name
        row["note"] = self.note or (f"replay of {req.replay_of}" if req.replay_of else None)
        if req.dry_run:
            row["status"] = events.DRY_RUN
        self.batch.defer(events.INSERT_PREPARED, row)
        return IngestResponse(200, response, payload, queued=queued_work(plan, results))

    def _keep_key(self, payload: bytes) -> None:
        """Only a success keeps its key: written with the batch's rows at commit (a live
        duplicate from another process then fails the insert and rolls the batch back;
        see records.idempotency); repeats later in this batch find it in the scratchpad."""
        if self.claimed is None or self.config is None:
            return
        source_id, at = self.source.id, self.req.received_at
        self.batch.claimed[(source_id, self.claimed)] = {
            "event_id": self.event_id,
            "response_body": payload,
        }
        expires = at + timedelta(seconds=self.config.idempotency_window)
        params = idempotency.insert_params(source_id, self.claimed, self.event_id, at, expires)
        self.batch.defer(idempotency.INSERT, params)

    def _log_duplicate(self, owner: dict[str, Any]) -> IngestResponse:
        """Answer a repeat with the original answer, and log it as a duplicate."""
        stored = owner["response_body"]  # text from the database, bytes from the scratchpad
        if stored is None:
            # The claiming event left the log (retention keeps events whose key is live,
            # so only one deleted by hand gets here): the repeat is still not applied.
            payload = orjson.dumps(
                {
                    "ok": True,
                    "event_id": owner["event_id"],
                    "note": "a repeat; the first answer is no longer stored",
                }
            )
        else:
            payload = stored if isinstance(stored, bytes) else stored.encode()
        row = self._row(200, payload, None)
        row.update(status=events.DUPLICATE, note=f"repeat of {owner['event_id']}")
        self.batch.defer(events.INSERT_PREPARED, row)
        return IngestResponse(200, orjson.loads(payload), payload, REPLAYED)

    def _row(self, status: int, payload: bytes, customer_id: str | None) -> dict[str, Any]:
        return event_row(
            self.event_id,
            self.source,
            self.req,
            self.headers,
            self.parsed,
            self.secrets,
            status,
            payload,
            customer_id,
        )


def replay_request(
    conn: sa.Connection, event_id: str, settings: Any, now: datetime, box: SecretBox
) -> IngestRequest:
    """The request that re-runs logged event ``event_id`` (see ``POST /v1/events/…/replay``).

    The logged body is replayed as logged (secret-named values were redacted there).
    """
    event = events.get(conn, event_id)
    source = sources.find(conn, event.source_id)
    body = events.parsed_text(event.request_body)
    if not isinstance(body, dict):
        raise InvalidField(
            "this event's body was not a JSON object; there is nothing to replay",
            field="event_id",
        )
    return IngestRequest(
        source_key=source.key,
        headers=list(event.request_headers.items()),
        body=None,
        received_at=now,
        box=box,
        max_body_bytes=settings.max_body_bytes,
        date_order=settings.date_order,
        trusted=True,
        parsed=body,
        replay_of=event_id,
        base_url=settings.base_url,
    )
