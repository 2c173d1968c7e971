"""The committer for PostgreSQL: a writer thread runs whole batches, each statement
waiting on the network with the GIL released (see :mod:`claybridge.ingest.committer`)."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from typing import Any

from claybridge.ingest.committer import (
    Committer,
    Item,
    Mode,
    Outcome,
    live_jobs,
    log,
    run_alone_blocking,
    settle_all,
)
from claybridge.records.batch import run_jobs

_STOP = object()


class ThreadCommitter(Committer):
    """Batches on a writer thread (PostgreSQL)."""

    mode: Mode = "thread"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start accepting jobs (idempotent)."""
        self._running = True
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._main, name="claybridge-committer", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop accepting jobs; the thread finishes the jobs already submitted first."""
        self._running = False
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout)
            self._thread = None
        self._log_stopped()

    def _enqueue(self, item: Item[Any]) -> None:
        self._queue.put(item)

    def _settle(self, loop: asyncio.AbstractEventLoop, settled: list[Any]) -> None:
        with contextlib.suppress(RuntimeError):  # that loop is closed: nobody is waiting
            loop.call_soon_threadsafe(settle_all, settled)

    def _main(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch: list[Item[Any]] = [first]
            stop_after = False
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop_after = True
                    break
                batch.append(item)
            self._finish(batch, self._run(batch))
            if stop_after:
                return

    def _run(self, batch: list[Item[Any]]) -> list[Outcome]:
        try:
            with self._db.write() as conn:
                results = run_jobs(conn, live_jobs(batch))
            return [(r, None) for r in results]
        except Exception as exc:
            if len(batch) == 1:
                return [self._alone(batch[0], first_error=exc)]
            log.info(
                "group commit failed; retrying requests alone", size=len(batch), error=repr(exc)
            )
            return [self._alone(item) for item in batch]

    def _alone(self, item: Item[Any], first_error: Exception | None = None) -> Outcome:
        def once() -> Outcome:
            with self._db.write() as conn:
                return run_jobs(conn, live_jobs([item]))[0], None

        return run_alone_blocking(once, first_error)
