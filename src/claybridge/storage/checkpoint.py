"""Background WAL checkpoints for SQLite: the copy back into the database file happens
on a thread of its own, not inside a request's commit.

Why: in WAL mode a commit appends pages to the ``-wal`` file, and by default the commit
that takes the WAL past 1,000 pages also copies them into the main file and fsyncs it
(an automatic checkpoint). Under the ingest benchmark that made a third of the time the
committer spent committing (``bench/ingest.py``: one commit in eight took 3-12 ms
against 0.7 ms), on the event loop, with every request of the next batch waiting.
:class:`Checkpointer` runs ``PRAGMA wal_checkpoint(PASSIVE)`` on its own connection
whenever the WAL has grown past ``threshold_pages``; SQLite runs it without the GIL, so
it overlaps the loop's work on the other core, and PASSIVE never blocks a writer or a
reader.

The writers' own automatic checkpoint stays on, at :data:`WRITER_BACKSTOP_PAGES`, as a
backstop: should this thread stall or fall behind, the WAL is still bounded (about
40 MB), and a writer-side checkpoint then has little left to copy. That writer-side
checkpoint is also what lets the WAL restart from its beginning under constant load
(SQLite rewinds the WAL only at the start of a write once every frame is copied back).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

PAGE_BYTES = 4096  # SQLite's default page size, which Claybridge databases use
WRITER_BACKSTOP_PAGES = 10_000


class Checkpointer:
    """A daemon thread that checkpoints the WAL of the SQLite file at ``path``.

    ``start()`` and ``stop()`` are idempotent. The thread looks at the WAL's size every
    ``interval`` seconds (one ``stat``; nothing signals it, so waking it never has to
    take the GIL from a busy event loop). :attr:`runs` counts its checkpoints.
    """

    def __init__(
        self,
        path: Path,
        *,
        synchronous: str = "FULL",
        threshold_pages: int = 1000,
        interval: float = 0.05,
    ) -> None:
        self._path = path
        self._wal = Path(f"{path}-wal")
        self._synchronous = synchronous
        self._threshold = threshold_pages * PAGE_BYTES
        self._interval = interval
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.runs = 0

    def start(self) -> None:
        """Start the thread (once)."""
        if self._thread is None:
            self._stopping = False
            self._thread = threading.Thread(
                target=self._main, name="claybridge-checkpointer", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread; a checkpoint under way finishes first."""
        if self._thread is not None:
            self._stopping = True
            self._wake.set()
            self._thread.join(timeout)
            self._thread = None

    def due(self) -> bool:
        """Whether the WAL has grown past the threshold."""
        try:
            return os.stat(self._wal).st_size >= self._threshold
        except FileNotFoundError:  # no WAL yet, or it was removed on close
            return False

    def run_once(self, conn: sqlite3.Connection) -> tuple[int, int, int]:
        """One PASSIVE checkpoint: (busy, frames in the WAL, frames copied back)."""
        busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        self.runs += 1
        return int(busy), int(frames), int(copied)

    def _main(self) -> None:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout=1000")
            # The checkpoint fsyncs the WAL and the database file as this level says.
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            while not self._stopping:
                self._wake.wait(self._interval)
                if self._stopping or not self.due():
                    continue
                try:
                    self.run_once(conn)
                except sqlite3.Error as exc:  # a transient lock: try again next time
                    log.warning("background checkpoint failed", error=repr(exc))
        finally:
            conn.close()
