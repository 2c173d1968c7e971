"""A batch's scratchpad: what the jobs sharing one transaction share.

:func:`batch_scope` gives jobs a dict that lives for one
transaction, so a job can reuse what an earlier job of the same batch read (the same
snapshot), and :func:`defer_insert` queues rows that are written together just before
the commit (one ``executemany``, or multi-row statements in ``loop`` mode).

Carried across batches (``loop`` mode): :func:`carried` gives jobs a dict that outlives
the batch while the committer can vouch that it still matches the database: its
batches hold the write lock from their ``BEGIN IMMEDIATE``, so only a commit by another
connection (another process, the admin API's pool) can change what an earlier batch
read or wrote, and SQLite counts those in ``PRAGMA data_version``. Each batch reads it
under the lock and starts from empty dicts if it moved; a failed batch, a new
connection or a full dict (:data:`CARRY_MAX` entries, oldest dropped) also drop
entries. Why: a customer row re-sent by Clay (a re-run column, an auto-update) was
read by its domain on every row; carried, the read is paid once per customer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from claybridge.storage.prepared import Prepared

# In a batch's scratchpad: jobs may defer upserts (see run_jobs_deferred).
DEFER_UPSERTS = "defer_upserts"
_SCOPE = "_claybridge_batch"
# In a batch's scratchpad: the committer's dicts that outlive the batch (see carried()).
_CARRY = "_carry"
# Most entries a carried dict keeps (per name); beyond it the oldest go. A customer row
# held this way is ~1.5 KB, so 10,000 of them cost ~15 MB.
CARRY_MAX = 10_000


def batch_scope(conn: sa.Connection) -> dict[str, Any]:
    """The scratchpad of the current transaction (empty at its start)."""
    # An attribute of the Connection object rather than an entry of ``conn.info`` (a
    # property that reaches through to the pooled connection): jobs ask for it several
    # times a row.
    scope: dict[str, Any] | None = getattr(conn, _SCOPE, None)
    if scope is None:
        scope = {}
        setattr(conn, _SCOPE, scope)
    return scope


def carried(conn: sa.Connection, name: str) -> dict[Any, Any]:
    """A dict of the scratchpad named ``name`` that later batches see again, as long as
    nothing else has written to the database (module docstring); where the committer
    cannot vouch for that (``thread`` mode, a request run alone), it lives for this
    transaction only, like any other entry of :func:`batch_scope`.

    Jobs keep only what is true of the database after their batch commits (a row as
    read, or as the batch's own write leaves it); a batch that fails takes it all away.
    """
    scope = batch_scope(conn)
    found: dict[Any, Any] | None = scope.get(name)
    if found is None:
        keep: dict[str, dict[Any, Any]] | None = scope.get(_CARRY)
        found = scope[name] = {} if keep is None else keep.setdefault(name, {})
    return found


# Deferred writes of a batch: statement -> its rows, in the order first deferred.
Deferred = dict[Prepared, list[dict[str, Any]]]


def defer_insert(conn: sa.Connection, insert: Prepared, row: dict[str, Any]) -> None:
    """Run the prepared ``insert`` (or any write that nothing in the batch reads back
    from the database) for ``row`` at the end of the transaction, with the others."""
    pending: Deferred = batch_scope(conn).setdefault("inserts", {})
    pending.setdefault(insert, []).append(row)


def run_jobs(conn: sa.Connection, jobs: list[Callable[[sa.Connection], Any]]) -> list[Any]:
    """Run ``jobs`` with a fresh scratchpad, then flush their deferred inserts.

    A job may have a ``prepare_batch(conn, jobs)`` (static) method: it runs once for
    all the batch's jobs that share it, before the first job, to read together what
    they would each read alone (it must not change what any job decides).
    """
    results, deferred = run_jobs_deferred(conn, jobs)
    for insert, rows in deferred.items():
        insert.execute_many(conn, rows)
    return results


def run_jobs_deferred(
    conn: sa.Connection,
    jobs: list[Callable[[sa.Connection], Any]],
    *,
    upserts: bool = False,
    carry: dict[str, dict[Any, Any]] | None = None,
) -> tuple[list[Any], Deferred]:
    """:func:`run_jobs` without the flush: also returns the deferred writes, in their
    :attr:`Prepared.write_order`, for the caller to write before it commits.

    ``upserts``: jobs may defer upserts too (:data:`DEFER_UPSERTS`), reading what they
    need first; only where the transaction holds the write lock from its start (SQLite's
    ``BEGIN IMMEDIATE``), so nothing changes between the read and the deferred write.
    ``carry``: the dicts :func:`carried` hands out, kept by the caller across batches
    (only with ``upserts``, for the same reason).
    """
    scope: dict[str, Any] = {}
    if upserts:
        scope[DEFER_UPSERTS] = True
        if carry is not None:
            scope[_CARRY] = carry
    setattr(conn, _SCOPE, scope)
    try:
        groups: dict[Any, list[Any]] = {}
        for job in jobs:
            prepare = getattr(type(job), "prepare_batch", None)
            if prepare is not None:
                groups.setdefault(prepare, []).append(job)
        for prepare, group in groups.items():
            prepare(conn, group)
        results = [job(conn) for job in jobs]
        pending: Deferred = batch_scope(conn).get("inserts", {})
        deferred = dict(sorted(pending.items(), key=lambda item: item[0].write_order))
    finally:
        setattr(conn, _SCOPE, None)
    return results, deferred
