"""The circuit breaker's state in ``destinations``: failures in a row open a circuit, its
deliveries wait, probes go at widening intervals, and a success closes it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from claybridge.records.targets import Target
from claybridge.storage.tables import destinations

CLOSED = "closed"
OPEN = "open"


def closed_circuit() -> dict[str, Any]:
    """The column values of a closed circuit."""
    return {
        "circuit_state": CLOSED,
        "consecutive_failures": 0,
        "circuit_opened_at": None,
        "probe_at": None,
    }


FIRST_PROBE_SECONDS = 5.0


def probe_delay(opened_at: datetime, now: datetime, cooldown: float) -> float:
    """Seconds from ``now`` to the next probe of a circuit open since ``opened_at``.

    The first probe goes 5 s after the circuit opens; each failed probe waits as long as
    the circuit has been open so far, so the pauses double (5, 5, 10, 20, 40 s…), never
    longer than ``cooldown``: a short outage costs seconds, a long one a probe per
    cooldown. One probe at a time: the worker that takes a probe moves the next one a
    cooldown away until its outcome is recorded (``claims.claim``).
    """
    elapsed = (now - opened_at).total_seconds()
    return min(cooldown, max(FIRST_PROBE_SECONDS, elapsed))


def record_outcomes(
    conn: sa.Connection, dest: Target, outcomes: Sequence[bool], now: datetime
) -> str | None:
    """Feed the circuit breaker with attempt outcomes (in order; True = success).

    Counts failures in a row; at ``circuit_threshold`` the circuit opens (the
    destination's deliveries wait) and a probe is scheduled (:func:`probe_delay`). A success
    closes it. Returns ``"opened"``/``"closed"`` when the state changed, else ``None``.
    """
    if not outcomes:
        return None
    row = conn.execute(
        sa.select(
            destinations.c.consecutive_failures,
            destinations.c.circuit_state,
            destinations.c.circuit_opened_at,
        ).where(destinations.c.id == dest.id)
    ).first()
    if row is None:
        return None
    failures, state, opened_at = row
    succeeded = False
    for ok in outcomes:
        if ok:
            failures, succeeded = 0, True
        else:
            failures += 1
    values: dict[str, Any] = {"consecutive_failures": failures}
    change = None
    if state == OPEN and succeeded and failures == 0:
        values.update(closed_circuit())
        change = "closed"
    elif state == OPEN:
        values["probe_at"] = now + timedelta(
            seconds=probe_delay(opened_at or now, now, dest.circuit_cooldown)
        )
    elif failures >= dest.circuit_threshold:
        values.update(
            circuit_state=OPEN,
            circuit_opened_at=now,
            probe_at=now + timedelta(seconds=probe_delay(now, now, dest.circuit_cooldown)),
        )
        change = "opened"
    conn.execute(destinations.update().where(destinations.c.id == dest.id).values(**values))
    return change


def open_circuits(conn: sa.Connection) -> list[dict[str, Any]]:
    """Destinations whose circuit is open (their deliveries wait for a probe)."""
    query = sa.select(destinations).where(destinations.c.circuit_state == OPEN)
    return [dict(r._mapping) for r in conn.execute(query.order_by(destinations.c.name))]
