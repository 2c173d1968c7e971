"""What the HTTP layer hands the ingest pipeline, and what it answers with."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from claybridge.ingest.caches import IngestCaches
from claybridge.mapping.engine import CompiledConfig, Plan
from claybridge.secretbox import SecretBox


@dataclass(slots=True)
class IngestRequest:
    """One request to a source. ``body`` is ``None`` when over the limit."""

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
    # What ingest remembers across requests: the app's (a fresh one by default).
    caches: IngestCaches = field(default_factory=IngestCaches)


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
