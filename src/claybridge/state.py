"""What one running app holds: settings, the database, the committer and the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from claybridge.clock import Clock, SystemClock
from claybridge.config import Settings
from claybridge.delivery.service import Supervision
from claybridge.delivery.worker import Worker
from claybridge.ingest.caches import IngestCaches
from claybridge.ingest.committer import Committer, open_committer
from claybridge.secretbox import SecretBox, load_key
from claybridge.storage.database import Database


@dataclass
class AppState:
    """Shared per-app objects. Building one opens no connection (engines are lazy)."""

    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    db: Database = field(init=False)
    committer: Committer = field(init=False)
    box: SecretBox = field(init=False)
    # Called after ingest commits work for the outbound queue: wakes an in-process worker.
    wake: Callable[[], None] = field(init=False)
    worker: Worker | None = field(init=False, default=None)
    # What ingest remembers across requests (compiled configurations, sources seen).
    ingest_caches: IngestCaches = field(init=False, default_factory=IngestCaches)
    # The in-process worker's crashes (claybridge serve), for /metrics.
    supervision: Supervision = field(init=False, default_factory=Supervision)

    def __post_init__(self) -> None:
        self.db = Database.for_settings(self.settings)
        # Lazy: the key file is read or created on first use, not at start.
        self.box = SecretBox(lambda: load_key(self.settings.data_dir, self.settings.secret_key))
        self.wake = _nothing
        self.committer = open_committer(
            self.db,
            max_batch=self.settings.commit_batch_max,
            lock_timeout=self.settings.storage_timeout,
        )


def _nothing() -> None:
    """No in-process worker to wake."""
