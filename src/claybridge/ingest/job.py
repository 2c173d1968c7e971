"""An ingest request as a committer job, its idempotency key read together with the
batch's others."""

from __future__ import annotations

import sqlalchemy as sa

from claybridge.actions.plan import CompiledConfig
from claybridge.errors import ClaybridgeError
from claybridge.ingest.auth import authenticate
from claybridge.ingest.idempotency import event_key
from claybridge.ingest.parse import parse_object
from claybridge.ingest.pipeline import SOURCE_KEY, handle, source_for
from claybridge.ingest.request import IngestRequest, IngestResponse, Parsed
from claybridge.records import idempotency
from claybridge.records.batch import Batch


class IngestJob:
    """:func:`handle` as a committer job. A batch of them reads its idempotency keys in
    one query per source (:meth:`prepare_batch`) instead of one query per request; the
    body parsed for that is kept for :func:`handle`."""

    __slots__ = ("parsed", "request")

    def __init__(self, request: IngestRequest) -> None:
        self.request = request
        self.parsed: Parsed | None = None

    def __call__(self, conn: sa.Connection, batch: Batch) -> IngestResponse:
        return handle(conn, batch, self.request, parsed=self.parsed)

    @staticmethod
    def prepare_batch(conn: sa.Connection, batch: Batch, jobs: list[IngestJob]) -> None:
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
            found = _batch_key(conn, batch, job)
            if found is not None:
                wanted.setdefault(found[0], []).append(found[1])
        for source_id, keys in wanted.items():
            stored = idempotency.lookup_many(conn, source_id, keys)
            batch.known_keys.update(((source_id, k), stored.get(k)) for k in keys)


def _batch_key(conn: sa.Connection, batch: Batch, job: IngestJob) -> tuple[str, str] | None:
    """(source id, key) a job's request will check, when the batch can read it ahead;
    the body parsed for it is kept on the job."""
    req = job.request
    if req.dry_run or req.replay_of or req.trusted or req.body is None:
        return None
    source = source_for(conn, batch, req) if SOURCE_KEY.match(req.source_key) else None
    if source is None:
        return None
    config = req.caches.compiled_config(source, req.box)
    if not _keyed_by_body(config):
        return None
    try:
        authenticate(source, req.authorization, batch.tokens)
        if job.parsed is None:  # a request re-run alone was parsed already
            job.parsed = Parsed(*parse_object(req.body))
    except ClaybridgeError:
        return None
    body = job.parsed.body
    path = config.idempotency_path
    key, _note = event_key(config.idempotency_mode, path, {"body": body, "headers": {}})
    return None if key is None else (source.id, key)


def _keyed_by_body(config: CompiledConfig) -> bool:
    """Whether the source's key can be read from the body before the batch: idempotency
    on, keyed by the body, and no signature to check first."""
    if config.idempotency_mode == "off" or config.signature_scheme != "none":
        return False
    path = config.idempotency_path
    return path is None or path.root == "body"
