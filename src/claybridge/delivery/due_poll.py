"""The idle worker's question, "is anything due?", asked as cheaply as each database
allows (see :func:`claybridge.records.due.anything_due`)."""

from __future__ import annotations

import asyncio
from datetime import datetime

import sqlalchemy as sa

from claybridge.records import due
from claybridge.storage.database import Database


class DuePoll:
    """The idle poll, a read: an idle worker takes no write lock (SQLite has one writer).

    On SQLite it runs on the loop: a few index probes in-process, where a thread hop
    would trade the GIL with the loop that serves ingest in ``serve``. It keeps one
    connection for it (the poll holds no transaction between calls): a pool checkout and
    its reset cost three times the statement (see docs/performance.md). On PostgreSQL it
    waits on the network, so it runs in a thread, on a pooled connection.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self._conn: sa.Connection | None = None  # SQLite: kept between polls

    async def anything_due(self, now: datetime) -> bool:
        """Whether any delivery is due at ``now``."""
        if not self.db.is_sqlite:

            def check() -> bool:
                with self.db.read() as conn:
                    return due.anything_due(conn, now)

            return await asyncio.to_thread(check)
        if self._conn is None:
            self._conn = self.db.engine.connect()
        try:
            return due.anything_due(self._conn, now)
        except Exception:
            self.close()  # a fresh connection next time
            raise

    def close(self) -> None:
        """Give the kept connection back."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
