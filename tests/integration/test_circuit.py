"""The circuit breaker's probe schedule, stored on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from cryptography.fernet import Fernet

from claybridge.core.ssrf import parse_networks
from claybridge.records import circuits, destinations, targets
from claybridge.secretbox import SecretBox
from claybridge.storage.database import Database
from claybridge.storage.tables import destinations as table
from tests.conftest import now


def test_probes_start_after_5s_and_double_to_the_cooldown(db: Database) -> None:
    """An open circuit is probed 5 s after it opens, then after pauses that double, never
    longer than the cooldown; a successful probe closes it."""
    box = SecretBox(Fernet.generate_key())
    start = now()
    with db.write() as conn:
        row, _secret = destinations.create(
            conn,
            {
                "name": "crm",
                "kind": "http",
                "url": "http://127.0.0.1:9/",
                "circuit_threshold": 2,
                "circuit_cooldown": 60,
            },
            start,
            box,
            parse_networks("127.0.0.1/32"),
        )
    target = targets.target(row, box)

    def fail_at(seconds: float) -> float | None:
        """Record a failure at start + seconds; the seconds from start to the next probe."""
        at = start + timedelta(seconds=seconds)
        with db.write() as conn:
            circuits.record_outcomes(conn, target, [False], at)
            probe_at = conn.execute(
                sa.select(table.c.probe_at).where(table.c.id == target.id)
            ).scalar_one()
        return None if probe_at is None else round((probe_at - start).total_seconds(), 3)

    assert fail_at(0) is None  # one failure: still closed
    assert fail_at(0) == 5  # the threshold: open, first probe in 5 s
    probes: list[float] = [5.0]
    for _ in range(6):
        probe = fail_at(probes[-1])
        assert probe is not None
        probes.append(probe)
    assert probes == [5, 10, 20, 40, 80, 140, 200]  # pauses 5, 10, 20, 40, then 60
    with db.write() as conn:
        change = circuits.record_outcomes(conn, target, [True], start + timedelta(seconds=200))
    assert change == "closed"
