"""Whether a worker has anything to do: the one read an idle worker polls with.

Covers everything the worker acts on by time or by another process's hand: deliveries
due or whose lease expired, open circuits whose probe is due, workflow runs due or
whose lease expired, and pending Clay requests past their expiry. One statement, built
once, an index probe per kind (the status conditions are written as the partial
indexes' own conditions so the planners use them).

Why one read: an idle worker polls every ``poll_interval``; asking five questions
through two thread hops per poll traded the GIL with the loop that serves ingest in
``claybridge serve``. Why a prepared statement
(:class:`~claybridge.storage.prepared.Prepared`): around a statement of a few index
probes, SQLAlchemy's execution machinery was most of an idle server's CPU. Figures:
``docs/performance.md``.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from claybridge.records.deliveries import DUE, LEASED
from claybridge.records.requests import PENDING
from claybridge.records.runs import QUEUED, RUNNING
from claybridge.storage.prepared import Prepared
from claybridge.storage.tables import deliveries, destinations, pending_requests, runs

_NOW = sa.bindparam("now", type_=deliveries.c.next_attempt_at.type)

_DUE = sa.column("due", sa.Boolean())

ANYTHING_DUE = sa.select(
    sa.or_(
        sa.exists().where(DUE, deliveries.c.next_attempt_at <= _NOW),
        sa.exists().where(LEASED, deliveries.c.lease_expires_at < _NOW),
        sa.exists().where(destinations.c.circuit_state == "open", destinations.c.probe_at <= _NOW),
        sa.exists().where(runs.c.status == QUEUED, runs.c.next_attempt_at <= _NOW),
        sa.exists().where(runs.c.status == RUNNING, runs.c.lease_expires_at < _NOW),
        sa.exists().where(
            pending_requests.c.status == PENDING, pending_requests.c.expires_at < _NOW
        ),
    ).label(_DUE.name)
)
_ANYTHING_DUE = Prepared(ANYTHING_DUE, ["now"], returning=[_DUE])


def anything_due(conn: sa.Connection, now: datetime) -> bool:
    """Whether any of the worker's kinds of work is due at ``now`` (a read only).

    Runs on ``conn``'s driver connection and does not begin a SQLAlchemy transaction:
    on SQLite (the driver in autocommit, see ``storage.database``) the statement is its
    own read transaction, ended when it returns, so a connection kept for polling holds
    no snapshot between polls and never keeps the WAL from rewinding.
    """
    row = _ANYTHING_DUE.execute(conn, {"now": now})
    return bool(row and row[_DUE.name])
