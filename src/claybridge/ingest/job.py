"""An ingest request as a committer job: planned ahead of its batch where it can be,
and its idempotency key read together with the batch's others."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from claybridge.errors import ClaybridgeError
from claybridge.ingest.auth import authenticate
from claybridge.ingest.idempotency import event_key
from claybridge.ingest.parse import parse_object
from claybridge.ingest.pipeline import SOURCE_KEY, handle, source_for
from claybridge.ingest.request import IngestRequest, IngestResponse, Preplan
from claybridge.mapping.engine import CompiledConfig, plan_event
from claybridge.records import idempotency
from claybridge.redact import redact_headers
from claybridge.storage.batch import batch_scope


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
        source = req.caches.seen.get(req.source_key)
        if source is None or req.body is None or req.dry_run or req.trusted or req.replay_of:
            return
        try:
            authenticate(source, req.authorization, req.caches.verified())
            config = req.caches.compiled_config(source, req.box)
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
        wanted: dict[str, list[str]] = {}
        for job in jobs:
            found = _batch_key(conn, job.request)
            if found is not None:
                wanted.setdefault(found[0], []).append(found[1])
        known: dict[tuple[str, str], dict[str, Any] | None] = {}
        for source_id, keys in wanted.items():
            stored = idempotency.lookup_many(conn, source_id, keys)
            known.update(((source_id, k), stored.get(k)) for k in keys)
        batch_scope(conn)["known_keys"] = known


def _batch_key(conn: sa.Connection, req: IngestRequest) -> tuple[str, str] | None:
    """(source id, key) a request will check, when the batch can read it ahead."""
    if req.dry_run or req.replay_of or req.trusted or req.body is None:
        return None
    if req.preplan is not None and not req.preplan.keyed:
        return None  # (if its source has turned keyed since, handle() reads alone)
    source = source_for(conn, req) if SOURCE_KEY.match(req.source_key) else None
    if source is None:
        return None
    config = req.caches.compiled_config(source, req.box)
    if not _keyed_by_body(config):
        return None
    try:
        authenticate(source, req.authorization, batch_scope(conn).setdefault("tokens", set()))
        if req.preparsed is None:  # a request re-run alone was parsed already
            req.preparsed = parse_object(req.body)
    except ClaybridgeError:
        return None
    body = req.preparsed[0]
    path = config.idempotency_path
    key, _note = event_key(config.idempotency_mode, path, {"body": body, "headers": {}})
    return None if key is None else (source["id"], key)


def _keyed_by_body(config: CompiledConfig) -> bool:
    """Whether the source's key can be read from the body before the batch: idempotency
    on, keyed by the body, and no signature to check first."""
    if config.idempotency_mode == "off" or config.signature_scheme != "none":
        return False
    path = config.idempotency_path
    return path is None or path.root == "body"
