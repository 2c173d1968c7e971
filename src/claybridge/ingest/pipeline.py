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
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa

from claybridge.core.signatures import SignatureError, verify_hmac, verify_standard
from claybridge.errors import (
    ClaybridgeError,
    InvalidField,
    PayloadTooLarge,
    Unauthorized,
    error_body,
)
from claybridge.ids import new_id
from claybridge.ingest.apply import apply_plan, resolve_owners
from claybridge.ingest.idempotency import event_key
from claybridge.ingest.parse import parse_object
from claybridge.mapping.engine import CompiledConfig, Plan, compile_config, plan_event
from claybridge.mapping.model import parse_config
from claybridge.records import events, idempotency, owners, sources
from claybridge.redact import has_secrets, redact_body, redact_headers, redact_text
from claybridge.secretbox import SecretBox
from claybridge.security import bearer_token, matches
from claybridge.storage.batch import batch_scope, defer_insert

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
    dry_run: bool = False
    # Set by the admin API's dry run: the caller is already authenticated and the body
    # already parsed.
    trusted: bool = False
    parsed: dict[str, Any] | None = None
    box: SecretBox | None = None  # decrypts the source's signing secrets
    body_secrets: bool | None = None  # set once parsed: secret-named keys in the body?
    replay_of: str | None = None  # an event re-run from the log (no idempotency check)
    base_url: str = ""  # where Clay reaches Claybridge (callback URLs)
    # Set by the console's playground (with dry_run and trusted): an unsaved
    # configuration to plan with instead of the source's own.
    config: CompiledConfig | None = None
    # The body parsed by the batch's key prefetch (see IngestJob), with its secrets flag;
    # handle() still authenticates and checks the size before it uses it.
    preparsed: tuple[dict[str, Any], bool] | None = None
    # Planned ahead of its batch (IngestJob.plan_ahead); handle() uses it only if the
    # batch's own read of the source is the version it was planned with.
    preplan: Preplan | None = None


@dataclass(frozen=True, slots=True)
class Preplan:
    """A request's plan, made before its batch from the last-seen version of its source."""

    source_id: str
    updated_at: Any
    headers: dict[str, str]
    body: dict[str, Any]
    plan: Plan
    keyed: bool  # that version of the source checks idempotency keys


@dataclass(slots=True)
class IngestResponse:
    """Status and JSON body to answer with; ``payload`` is ``body`` serialised, when known."""

    status_code: int
    body: dict[str, Any]
    payload: bytes | None = None
    headers: list[tuple[bytes, bytes]] | None = None
    queued: bool = False  # outbound work (a delivery or a run) was queued: wake a worker


def _stored_body(
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


def handle(conn: sa.Connection, req: IngestRequest) -> IngestResponse:
    """Process ``req`` in the caller's transaction (see module docstring)."""
    if not SOURCE_KEY.match(req.source_key):
        return IngestResponse(404, error_body("unknown_source", "no source has this URL"))
    scope = batch_scope(conn)
    source = _source(conn, scope, req.source_key)
    if source is None:
        return IngestResponse(404, error_body("unknown_source", "no source has this URL"))
    event_id = new_id("evt")
    parsed: dict[str, Any] | None = None
    preplan = req.preplan
    if preplan is not None and (preplan.source_id, preplan.updated_at) != (
        source["id"],
        source["updated_at"],
    ):
        preplan = None  # the source was saved since: plan again
    headers = redact_headers(req.headers) if preplan is None else preplan.headers
    plan: Plan | None = None
    claimed: str | None = None  # the idempotency key this event will hold
    config: CompiledConfig | None = None
    note: str | None = None
    try:
        config = req.config or compiled_config(source, req.box)
        if req.trusted and req.parsed is not None:
            parsed = req.parsed
        else:
            _authenticate(source, req.authorization, scope.setdefault("tokens", set()))
            if config.signature_scheme != "none":
                _verify_signature(config, req)
            if req.body is None:
                raise PayloadTooLarge(f"the request body is larger than {req.max_body_bytes} bytes")
            if req.preparsed is not None:
                parsed, req.body_secrets = req.preparsed
            else:
                parsed, req.body_secrets = parse_object(req.body)
        event = {"body": parsed, "headers": headers}
        if not req.dry_run and not req.replay_of and config.idempotency_mode != "off":
            key, note = event_key(config.idempotency_mode, config.idempotency_path, event)
            if key is not None:
                # Repeats within this batch are in the scratchpad (not yet written).
                owner = scope.setdefault("keys", {}).get((source["id"], key))
                known = scope.get("known_keys", {})
                if owner is None and (source["id"], key) in known:  # read by the prefetch
                    found = known[(source["id"], key)]
                    owner = idempotency.live(conn, source["id"], key, found, req.received_at)
                elif owner is None:
                    owner = idempotency.lookup(conn, source["id"], key, req.received_at)
                if owner is not None:
                    return _replay(conn, event_id, source, req, headers, parsed, owner)
                claimed = key
        if preplan is not None and parsed is preplan.body:
            plan = preplan.plan
        else:
            plan = plan_event(config, event, date_order=req.date_order)
        resolved = resolve_owners(conn, plan, _resolve_owner)
        results = apply_plan(
            conn,
            plan,
            resolved,
            source_id=source["id"],
            now=req.received_at,
            dry_run=req.dry_run,
            event_id=event_id,
            source_name=source["name"],
            base_url=req.base_url,
        )
    except ClaybridgeError as exc:
        response = {**exc.to_body(), "event_id": event_id}
        if plan is not None:
            response["event"] = plan.event_name
        payload = orjson.dumps(response)
        row = _event_row(event_id, source, req, headers, parsed, exc.status_code, payload, None)
        row.update(
            status=events.REJECTED,
            error_code=exc.code,
            error_message=exc.message,
            # (a field path comes from the row's keys: kept within its column)
            error_field=exc.field[: events.FIELD_LENGTH] if exc.field else None,
            event_name=plan.event_name if plan else None,
        )
        defer_insert(conn, events.INSERT_PREPARED, row)
        return IngestResponse(exc.status_code, response, payload)
    response = {"ok": True, "event_id": event_id, "event": plan.event_name, "actions": results}
    if req.dry_run:
        response["dry_run"] = True
    warnings = plan.warnings + ([note] if note else [])
    if warnings:
        response["warnings"] = warnings
    # A customer action's record is answered once, at the top level, where Clay users
    # read it (customer.id, customer.created); its action entry names its id.
    customers_seen = [r.pop("_customer") for r in results if "_customer" in r]
    customer = customers_seen[0] if customers_seen else None
    if customer is not None:
        response["customer"] = customer
    payload = orjson.dumps(response)
    if claimed is not None and config is not None:
        # Only a success keeps its key: written with the batch's rows at commit (a live
        # duplicate from another process then fails the insert and rolls us back; see
        # records.idempotency); repeats later in this batch find it in the scratchpad.
        scope["keys"][(source["id"], claimed)] = {"event_id": event_id, "response_body": payload}
        expires = req.received_at + timedelta(seconds=config.idempotency_window)
        defer_insert(
            conn,
            idempotency.INSERT,
            idempotency.insert_params(source["id"], claimed, event_id, req.received_at, expires),
        )
    row = _event_row(
        event_id,
        source,
        req,
        headers,
        parsed,
        200,
        payload,
        None if req.dry_run or customer is None else customer["id"],
    )
    row["event_name"] = plan.event_name
    row["note"] = note or (f"replay of {req.replay_of}" if req.replay_of else None)
    if req.dry_run:
        row["status"] = events.DRY_RUN
    defer_insert(conn, events.INSERT_PREPARED, row)
    queued = any(
        r["kind"] in OUTBOUND and r["status"] in ("queued", "started", "completed") for r in results
    )
    return IngestResponse(200, response, payload, queued=queued)


def _source(conn: sa.Connection, scope: dict[str, Any], key: str) -> dict[str, Any] | None:
    """The source with ``key``, read once per batch: every job in a batch shares one
    transaction (one snapshot), so a rotation committed before the batch is seen by all."""
    cache = scope.setdefault("sources", {})
    if key not in cache:
        cache[key] = found = sources.by_key(conn, key)
        if found is not None:
            if len(_SEEN) >= 1000:
                _SEEN.clear()
            _SEEN[key] = found
    known: dict[str, Any] | None = cache[key]
    return known


# The last version of each source read by a batch, by key: what IngestJob.plan_ahead
# plans with (a guess that handle() checks; never trusted on its own).
_SEEN: dict[str, dict[str, Any]] = {}
# Authorization values plan_ahead has verified, with the hash they matched (see
# _authenticate): each request would otherwise hash its token twice, here and in its
# batch. Only a guard against planning for a wrong token; handle() authenticates every
# request itself.
_AHEAD_VERIFIED: set[tuple[str, str]] = set()


class IngestJob:
    """:func:`handle` as a committer job; a batch of them reads its idempotency keys in
    one query per source (:meth:`prepare_batch`) instead of one query per request."""

    __slots__ = ("request",)

    def __init__(self, request: IngestRequest) -> None:
        self.request = request

    def __call__(self, conn: sa.Connection) -> IngestResponse:
        return handle(conn, self.request)

    def plan_ahead(self) -> None:
        """Parse and plan the request now, before its batch, if its source was seen before
        and its token fits that version: pure work, done as the request arrives (often
        while the previous batch commits on its thread, see ``ingest.committer``) rather
        than inside its batch, where every job waits for the one before it.

        Only a speed-up: :func:`handle` still reads the source in its batch,
        authenticates against it, and uses the plan only if the source is the version it
        was planned with; anything that fails here is simply left to :func:`handle`.
        """
        req = self.request
        source = _SEEN.get(req.source_key)
        if source is None or req.body is None or req.dry_run or req.trusted or req.replay_of:
            return
        try:
            if len(_AHEAD_VERIFIED) > 1024:
                _AHEAD_VERIFIED.clear()
            _authenticate(source, req.authorization, _AHEAD_VERIFIED)
            config = compiled_config(source, req.box)
            if config.signature_scheme != "none":
                return  # the signature is checked before the body is read
            parsed, secrets = req.preparsed or parse_object(req.body)
            req.preparsed = parsed, secrets
            headers = redact_headers(req.headers)
            plan = plan_event(
                config, {"body": parsed, "headers": headers}, date_order=req.date_order
            )
        except Exception:
            return
        keyed = config.idempotency_mode != "off"
        req.preplan = Preplan(source["id"], source["updated_at"], headers, parsed, plan, keyed)

    @staticmethod
    def prepare_batch(conn: sa.Connection, jobs: list[IngestJob]) -> None:
        """Read the stored keys of every request of the batch that has one.

        Only requests that will reach the key check are read for: authenticated, on a
        source with idempotency on and no signature scheme, with a body that parses (it
        is kept for :func:`handle`) and a key in the body. Anything else is left to
        :func:`handle`, which reads alone for a key the prefetch did not cover, so the
        outcome is the same either way; only the number of queries changes. Runs in the
        batch's transaction, before its first job: the keys claimed by earlier jobs of
        the batch are in the scratchpad, and handle() looks there first.
        """
        scope = batch_scope(conn)
        wanted: dict[str, list[str]] = {}
        for job in jobs:
            req = job.request
            if req.dry_run or req.replay_of or req.trusted or req.body is None:
                continue
            if req.preplan is not None and not req.preplan.keyed:
                continue  # (if its source has turned keyed since, handle() reads alone)
            source = (
                _source(conn, scope, req.source_key) if SOURCE_KEY.match(req.source_key) else None
            )
            if source is None:
                continue
            config = compiled_config(source, req.box)
            if config.idempotency_mode == "off" or config.signature_scheme != "none":
                continue
            if config.idempotency_path is not None and config.idempotency_path.root != "body":
                continue
            try:
                _authenticate(source, req.authorization, scope.setdefault("tokens", set()))
                if req.preparsed is None:  # a request re-run alone was parsed already
                    req.preparsed = parse_object(req.body)
            except ClaybridgeError:
                continue
            body = req.preparsed[0]
            key, _note = event_key(
                config.idempotency_mode, config.idempotency_path, {"body": body, "headers": {}}
            )
            if key is not None:
                wanted.setdefault(source["id"], []).append(key)
        known: dict[tuple[str, str], dict[str, Any] | None] = {}
        for source_id, keys in wanted.items():
            found = idempotency.lookup_many(conn, source_id, keys)
            known.update(((source_id, k), found.get(k)) for k in keys)
        scope["known_keys"] = known


REPLAYED = [(b"idempotent-replayed", b"true")]
OUTBOUND = ("forward", "trigger_workflow", "clay_submit", "complete_request")


def _replay(
    conn: sa.Connection,
    event_id: str,
    source: dict[str, Any],
    req: IngestRequest,
    headers: dict[str, str],
    parsed: dict[str, Any],
    owner: dict[str, Any],
) -> IngestResponse:
    """Answer a repeat with the original answer, and log it as a duplicate."""
    stored = owner["response_body"]  # text from the database, bytes from the scratchpad
    if stored is None:
        # The claiming event left the log (retention keeps events whose key is live, so
        # only one deleted by hand gets here): the repeat is still not applied again.
        payload = orjson.dumps(
            {
                "ok": True,
                "event_id": owner["event_id"],
                "note": "a repeat; the first answer is no longer stored",
            }
        )
    else:
        payload = stored if isinstance(stored, bytes) else stored.encode()
    row = _event_row(event_id, source, req, headers, parsed, 200, payload, None)
    row.update(status=events.DUPLICATE, note=f"repeat of {owner['event_id']}")
    defer_insert(conn, events.INSERT_PREPARED, row)
    return IngestResponse(200, orjson.loads(payload), payload, REPLAYED)


_COMPILED: dict[tuple[str, Any], CompiledConfig] = {}


def compiled_config(source: dict[str, Any], box: SecretBox | None = None) -> CompiledConfig:
    """The source's compiled configuration, cached per (source, last update).

    The key changes whenever the source is saved, so an edited mapping applies to the
    next request at once; the cache only saves recompiling paths and conditions.
    """
    key = (source["id"], source["updated_at"])
    found = _COMPILED.get(key)
    if found is None:
        if len(_COMPILED) > 1000:
            _COMPILED.clear()
        found = compile_config(parse_config(sources.config_data(source)))
        if found.signature_secrets:  # decrypted once, kept in memory only
            if box is None:
                raise RuntimeError("signing secrets need a SecretBox to decrypt them")
            found = replace(
                found, signature_secrets=tuple(box.decrypt(s) for s in found.signature_secrets)
            )
        _COMPILED[key] = found
    return found


def _resolve_owner(
    conn: sa.Connection, *, name: str | None, email: str | None
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


def _verify_signature(config: CompiledConfig, req: IngestRequest) -> None:
    """Check the request's signature over the raw body; 401 ``invalid_signature``."""
    raw = {name.lower(): value for name, value in req.headers}
    body = req.body or b""
    try:
        if config.signature_scheme == "hmac_sha256":
            verify_hmac(body, raw.get(config.signature_header), config.signature_secrets)
        else:
            verify_standard(
                body,
                raw,
                config.signature_secrets,
                req.received_at.timestamp(),
                config.signature_tolerance,
            )
    except SignatureError as exc:
        raise Unauthorized(f"signature check failed: {exc}", code="invalid_signature") from None


def _authenticate(
    source: dict[str, Any], authorization: str | None, verified: set[tuple[str, str]]
) -> None:
    """Raise :class:`Unauthorized` unless ``authorization`` carries the source's token.

    ``verified`` remembers ``Authorization`` values already checked against this
    version of the source (its token hash), so a burst from one Clay column (which
    sends the same header every time) parses and hashes its token once.
    """
    if source["status"] == sources.DISCONNECTED:
        raise Unauthorized(
            "this source is disconnected; rotate its token to reconnect it, "
            "then update the Authorization header in the Clay column",
            code="source_disconnected",
        )
    # Keyed by the stored hash: a rotation changes it, so nothing verified before counts.
    if authorization is not None and (source["token_hash"], authorization) in verified:
        return
    token = bearer_token(authorization)
    if token is None:
        raise Unauthorized(
            "missing bearer token: add the header Authorization: Bearer <token>",
            code="missing_token",
        )
    if matches(token, source["token_hash"]):
        assert authorization is not None  # it carried a token
        verified.add((source["token_hash"], authorization))
    elif matches(token, source["previous_token_hash"]):
        raise Unauthorized(
            "this token was rotated; update the Authorization header in the Clay column "
            "with the source's new token",
            code="rotated_token",
        )
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
    headers: dict[str, str],
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
        "request_headers": headers,
        "request_body": _stored_body(req.body, parsed, req.body_secrets),
        "response_body": payload.decode(),
        "customer_id": customer_id,
        "event_name": None,
        "note": None,
    }


def replay_request(
    conn: sa.Connection, event_id: str, settings: Any, now: datetime, box: SecretBox
) -> IngestRequest:
    """The request that re-runs logged event ``event_id`` (see ``POST /v1/events/…/replay``).

    The logged body is replayed as logged (secret-named values were redacted there).
    """
    row = events.get(conn, event_id)
    source = sources.find(conn, row["source_id"])
    body = events.public(row, full=True)["request"]["body"]
    if not isinstance(body, dict):
        raise InvalidField(
            "this event's body was not a JSON object; there is nothing to replay",
            field="event_id",
        )
    return IngestRequest(
        source_key=source["key"],
        headers=list(row["request_headers"].items()),
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
