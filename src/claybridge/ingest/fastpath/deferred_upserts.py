"""Customer upserts deferred to the end of a SQLite batch, and the rows carried over.

The plain upsert (:func:`claybridge.records.customers.upsert`) is one ``INSERT … ON
CONFLICT … RETURNING`` per row. Here the row is read instead (or taken from what an
earlier job or batch left), merged in Python by the same rule
(:func:`claybridge.records.customers.merged`), answered from, and its upsert deferred to
the batch's end, where the batch's upserts run as multi-row statements.

Sound only where the batch holds the write lock from its first read (SQLite's ``BEGIN
IMMEDIATE``, the loop committer): nobody else can change the row between the read and
the write. Rows are carried to the next batch while no other connection has committed
(SQLite counts commits in ``PRAGMA data_version``, read under the lock); a failed batch
or a new connection drops them all.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from claybridge.mapping.customer import CustomerInput
from claybridge.records import customers
from claybridge.records.batch import Batch

Row = dict[str, Any]
# Most customer rows carried (each ~1.5 KB); beyond it the least recently used go.
CARRY_MAX = 10_000


class DeferredUpserts:
    """The deferred upserts of one connection's batches, and the rows they carry."""

    def __init__(self) -> None:
        self.rows: dict[str, Row | None] = {}  # by domain, as stored once batches commit
        self._data_version: int | None = None

    def check(self, conn: sa.Connection) -> None:
        """At a batch's start, under its write lock: drop the carried rows if another
        connection has committed since the last batch."""
        dbapi = conn.connection.dbapi_connection
        assert dbapi is not None
        version = dbapi.execute("PRAGMA data_version").fetchone()[0]
        if version != self._data_version:
            self.rows.clear()
            self._data_version = version

    def trim(self) -> None:
        """After a batch committed: keep at most :data:`CARRY_MAX` rows, oldest out."""
        for _ in range(len(self.rows) - CARRY_MAX):
            del self.rows[next(iter(self.rows))]

    def forget(self) -> None:
        """A batch failed or the connection went: nothing carried is vouched for."""
        self.rows.clear()
        self._data_version = None

    def upsert(
        self,
        conn: sa.Connection,
        batch: Batch,
        data: CustomerInput,
        *,
        owner_id: str | None,
        source_id: str,
        now: datetime,
    ) -> tuple[Row, bool]:
        """:func:`customers.upsert`'s answer, with the write deferred to ``batch``'s end
        (a :data:`~claybridge.records.batch.CustomerUpsert`)."""
        known = self.rows
        domain = data.domain
        existing = known.pop(domain) if domain in known else customers.by_domain(conn, domain)
        params = customers.upsert_params(
            data,
            owner_id=owner_id,
            source_id=source_id,
            now=now,
            known_id=existing["id"] if existing is not None else None,
        )
        row, created = customers.merged(existing, params)
        known[domain] = row  # (re)inserted last: the least recently used go first
        batch.defer(customers.deferred_upsert(conn), params)
        return row, created
