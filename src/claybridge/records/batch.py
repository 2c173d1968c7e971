"""One batch: what the jobs sharing a transaction have read, and what they will write.

A :class:`Batch` is made by whoever runs the jobs (the ingest committer, or
:func:`run_jobs` for a request run alone) and handed to each job with the connection.
Every job of a batch runs in one transaction, so on one snapshot: a read one job made
(a source, an owner, a destination) holds for the jobs after it, and is made once.
Writes that nothing in the batch reads back (events, idempotency keys, deliveries) are
deferred to the batch's end (:meth:`Batch.defer`) and written together, in their
statements' :attr:`~claybridge.storage.prepared.Prepared.write_order`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa

from claybridge.errors import ClaybridgeError, NotFound
from claybridge.mapping.customer import CustomerInput
from claybridge.records import customers, destinations, owners, workflows
from claybridge.records.destinations import Destination
from claybridge.records.sources import Source
from claybridge.storage.prepared import Prepared

Row = dict[str, Any]
Job = Callable[[sa.Connection, "Batch"], Any]
# Deferred writes: statement -> its rows, in the order first deferred.
Deferred = list[tuple[Prepared, list[Row]]]


class CustomerUpsert(Protocol):
    """How a batch upserts a customer: :func:`customers.upsert`'s contract (the row as
    stored after the upsert, and whether it was created)."""

    def __call__(
        self,
        conn: sa.Connection,
        batch: Batch,
        data: CustomerInput,
        *,
        owner_id: str | None,
        source_id: str,
        now: datetime,
    ) -> tuple[Row, bool]: ...


def upsert_now(
    conn: sa.Connection,
    batch: Batch,
    data: CustomerInput,
    *,
    owner_id: str | None,
    source_id: str,
    now: datetime,
) -> tuple[Row, bool]:
    """The plain :data:`CustomerUpsert`: one upsert statement, run at once."""
    return customers.upsert(conn, data, owner_id=owner_id, source_id=source_id, now=now)


class Batch:
    """The reads and deferred writes of one transaction's jobs (see the module docstring).

    ``customer_upsert``: how the batch's customer actions upsert (at once by default; the
    SQLite committer defers them, see ``ingest.fastpath.deferred_upserts``).
    """

    __slots__ = (
        "_destinations",
        "_owners",
        "_workflows",
        "claimed",
        "customer_upsert",
        "known_keys",
        "sources",
        "tokens",
        "writes",
    )

    def __init__(self, customer_upsert: CustomerUpsert = upsert_now) -> None:
        self.customer_upsert = customer_upsert
        self.writes: dict[Prepared, list[Row]] = {}
        self.sources: dict[str, Source | None] = {}  # by source key
        # (token hash, Authorization) pairs already verified in this batch
        self.tokens: set[tuple[str | None, str]] = set()
        # Idempotency keys: claimed by this batch's jobs, and read ahead for them.
        self.claimed: dict[tuple[str, str], Row] = {}
        self.known_keys: dict[tuple[str, str], Row | None] = {}
        self._owners: dict[tuple[str | None, str | None], Row | ClaybridgeError | None] = {}
        self._destinations: dict[str, Destination | None] = {}
        self._workflows: dict[str, Row | None] = {}

    def defer(self, write: Prepared, row: Row) -> None:
        """Run ``write`` for ``row`` at the batch's end, with the others."""
        self.writes.setdefault(write, []).append(row)

    def deferred(self) -> Deferred:
        """The deferred writes, in write order (records before the rows that point at
        them); rows of one statement in the order they were deferred."""
        return sorted(self.writes.items(), key=lambda item: item[0].write_order)

    def owner(self, conn: sa.Connection, *, name: str | None, email: str | None) -> Row | None:
        """:func:`owners.resolve` (its error included), once per batch."""
        if name is None and email is None:
            return None
        key = (name, email)
        if key not in self._owners:
            try:
                self._owners[key] = owners.resolve(conn, name=name, email=email)
            except ClaybridgeError as exc:
                self._owners[key] = exc
        found = self._owners[key]
        if isinstance(found, ClaybridgeError):
            raise found
        return found

    def destination(self, conn: sa.Connection, name: str) -> Destination | None:
        """The destination named ``name``, once per batch."""
        if name not in self._destinations:
            self._destinations[name] = destinations.by_name(conn, name)
        return self._destinations[name]

    def workflow(self, conn: sa.Connection, key: str) -> Row | None:
        """The workflow with ``key``, once per batch."""
        if key not in self._workflows:
            try:
                self._workflows[key] = workflows.find(conn, key)
            except NotFound:
                self._workflows[key] = None
        return self._workflows[key]


def run_jobs(conn: sa.Connection, jobs: list[Job], batch: Batch | None = None) -> list[Any]:
    """Run ``jobs`` in one batch, then write what they deferred (``executemany``)."""
    results, deferred = run_jobs_deferred(conn, jobs, batch or Batch())
    for write, rows in deferred:
        write.execute_many(conn, rows)
    return results


def run_jobs_deferred(
    conn: sa.Connection, jobs: list[Job], batch: Batch
) -> tuple[list[Any], Deferred]:
    """:func:`run_jobs` without the writes: also returns what the jobs deferred, for the
    caller to write before it commits.

    A job may have a ``prepare_batch(conn, batch, jobs)`` (static) method: it runs once
    for all the batch's jobs that share it, before the first job, to read together what
    they would each read alone (it must not change what any job decides).
    """
    groups: dict[Any, list[Any]] = {}
    for job in jobs:
        prepare = getattr(type(job), "prepare_batch", None)
        if prepare is not None:
            groups.setdefault(prepare, []).append(job)
    for prepare, group in groups.items():
        prepare(conn, batch, group)
    results = [job(conn, batch) for job in jobs]
    return results, batch.deferred()
