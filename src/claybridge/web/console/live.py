"""The event log's live tail: one poller per process, fanned out to every open stream.

Event ids are time-sortable (UUIDv7), so "what is new" is ``id > cursor``: while at least
one browser watches, one task reads the events after the last id it saw every
:data:`POLL_SECONDS` and hands each subscriber the ones its filter accepts; with nobody
watching it stops. Streams are capped (:data:`MAX_STREAMS`, then 503) and send a
keep-alive comment every :data:`PING_SECONDS` so proxies keep them open. Events written
by any process show up, since the poller reads the shared database.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from claybridge.records import events
from claybridge.storage.database import Database

log = structlog.get_logger(__name__)

POLL_SECONDS = 0.25
PING_SECONDS = 15.0
MAX_STREAMS = 32
QUEUE_LIMIT = 1000  # events a slow browser may fall behind by before it is dropped

Row = events.Event


@dataclass(eq=False)
class Subscriber:
    """One open stream: the rows for it arrive on ``queue``; ``None`` means it was
    dropped (too slow, or the server is stopping)."""

    accepts: Callable[[Row], bool]
    queue: asyncio.Queue[Row | None] = field(default_factory=asyncio.Queue)


class TooManyStreams(Exception):
    """:data:`MAX_STREAMS` streams are open already."""


class LiveTail:
    """The per-process poller and its subscribers (see the module docstring)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._subscribers: set[Subscriber] = set()
        self._task: asyncio.Task[None] | None = None
        self._cursor = ""

    @property
    def streams(self) -> int:
        """How many streams are open."""
        return len(self._subscribers)

    async def subscribe(self, accepts: Callable[[Row], bool]) -> Subscriber:
        """Open a stream for rows ``accepts`` keeps, starting after the newest event."""
        if len(self._subscribers) >= MAX_STREAMS:
            raise TooManyStreams
        if self._task is None or self._task.done():
            self._cursor = await asyncio.to_thread(self._latest)
            self._task = asyncio.create_task(self._poll())
        subscriber = Subscriber(accepts)
        self._subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        """Close a stream; the poller stops with the last one."""
        self._subscribers.discard(subscriber)

    async def stop(self) -> None:
        """End every stream and the poller (the app is stopping)."""
        for subscriber in list(self._subscribers):
            subscriber.queue.put_nowait(None)
        self._subscribers.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _latest(self) -> str:
        with self._db.read() as conn:
            return events.latest_id(conn)

    def _newer(self, after: str) -> list[Row]:
        with self._db.read() as conn:
            return events.newer_than(conn, after)

    async def _poll(self) -> None:
        while self._subscribers:
            try:
                rows = await asyncio.to_thread(self._newer, self._cursor)
            except Exception as exc:  # the database is away: try again next time
                log.warning("live tail poll failed", error=repr(exc))
                rows = []
            if rows:
                self._cursor = rows[-1].id
                self._fan_out(rows)
            await asyncio.sleep(POLL_SECONDS)

    def _fan_out(self, rows: list[Row]) -> None:
        for subscriber in list(self._subscribers):
            for row in rows:
                if not subscriber.accepts(row):
                    continue
                if subscriber.queue.qsize() >= QUEUE_LIMIT:
                    self._subscribers.discard(subscriber)
                    subscriber.queue.put_nowait(None)
                    break
                subscriber.queue.put_nowait(row)
