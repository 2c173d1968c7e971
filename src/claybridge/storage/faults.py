"""Which database errors mean "the database is unavailable" rather than a bug.

One rule, used by ingest (503 to Clay, which retries), the admin API (503
``storage_unavailable``), ``/readyz`` and the worker (retry the round): a connection that
cannot be made, is lost or times out, a lock not granted in time (SQLite's busy timeout),
an answer not back within ``storage_timeout`` (:class:`StorageTimeout`),
a statement cancelled by ``statement_timeout``, or a pool with no connection free. Any
other database error (a constraint, a value the column cannot hold) is a bug in what
Claybridge wrote: it answers 500 and is logged, and never asks a client to retry forever.
"""

from __future__ import annotations

import sqlalchemy as sa


class StorageTimeout(TimeoutError):
    """The database did not answer within ``storage_timeout`` (a lock held elsewhere, a
    network partition): the caller stopped waiting, and the work was not done."""


def is_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot be reached or answer now."""
    if isinstance(exc, StorageTimeout | sa.exc.TimeoutError):  # (pool: no connection free)
        return True
    if isinstance(exc, sa.exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        return isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError)
    return False
