"""What the HTTP layer hands the ingest pipeline, and what it answers with."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from claybridge.actions.plan import CompiledConfig
from claybridge.ingest.caches import IngestCaches
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
    replay_of: str | None = None  # an event re-run from the log (no idempotency check)
    base_url: str = ""  # where Clay reaches Claybridge (callback URLs)
    # Set by the console's playground (with dry_run and trusted): an unsaved
    # configuration to plan with instead of the source's own.
    config: CompiledConfig | None = None
    # What ingest remembers across requests: the app's (a fresh one by default).
    caches: IngestCaches = field(default_factory=IngestCaches)


@dataclass(frozen=True, slots=True)
class Parsed:
    """A request's body parsed as a JSON object, and whether it has secret-named keys."""

    body: dict[str, Any]
    secrets: bool


@dataclass(slots=True)
class IngestResponse:
    """Status and JSON body to answer with; ``payload`` is ``body`` serialised, when known."""

    status_code: int
    body: dict[str, Any]
    payload: bytes | None = None
    headers: list[tuple[bytes, bytes]] | None = None
    queued: bool = False  # outbound work (a delivery or a run) was queued: wake a worker
