"""Worker processes: a SIGKILL loses nothing, SIGTERM hands work back, two workers on
PostgreSQL send each delivery once. Real `claybridge worker` processes, real receiver."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from claybridge.core.ssrf import parse_networks
from claybridge.records import deliveries, delivery_log, destinations
from claybridge.secretbox import SecretBox
from claybridge.storage.database import Database
from claybridge.storage.tables import deliveries as deliveries_table
from tests.conftest import now
from tests.receiver import Receiver, Reply, running_receiver, wait_until

pytestmark = pytest.mark.slow
KEY = Fernet.generate_key().decode()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP receiver on 127.0.0.1."""
    with running_receiver() as app:
        yield app


def enqueue(db: Database, url: str, count: int, *, concurrency: int = 20) -> list[str]:
    """A destination at ``url`` and ``count`` pending deliveries numbered in the payload."""
    box = SecretBox(KEY.encode())
    with db.write() as conn:
        dest, _ = destinations.create(
            conn,
            {
                "name": "sink",
                "kind": "http",
                "url": url,
                "timeout_seconds": 2,
                "concurrency": concurrency,
                "retry_schedule": [0, 0.1, 0.1, 0.1],
            },
            now(),
            box,
            allow=parse_networks("127.0.0.1/32"),
        )
        rows = [deliveries.new_row(dest.id, {"n": i}, now()) for i in range(count)]
        deliveries.enqueue(conn, rows)
    return [r["id"] for r in rows]


def statuses(db: Database) -> Counter[str]:
    with db.read() as conn:
        return Counter(dict(delivery_log.counts(conn)))


@contextmanager
def worker_process(
    database_url: str, data_dir: Path, **env: str
) -> Iterator[subprocess.Popen[str]]:
    """`claybridge worker` as its own process, configured like a deployment would; its
    log goes to ``data_dir/worker-<n>.log``."""
    log = (data_dir / f"worker-{len(list(data_dir.glob('worker-*.log')))}.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "claybridge", "worker"],
        env={
            **os.environ,
            "CLAYBRIDGE_DATABASE_URL": database_url,
            "CLAYBRIDGE_DATA_DIR": str(data_dir),
            "CLAYBRIDGE_SECRET_KEY": KEY,
            "CLAYBRIDGE_ALLOW_NETWORKS": "127.0.0.1/32",
            "CLAYBRIDGE_LEASE_SECONDS": "1",
            "CLAYBRIDGE_POLL_INTERVAL": "0.05",
            "CLAYBRIDGE_LOG_LEVEL": "INFO",
            **env,
        },
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        log.close()


def received(receiver: Receiver) -> Counter[int]:
    with receiver.lock:
        return Counter(s.json()["n"] for s in receiver.seen)


def test_sigkill_mid_batch_loses_nothing(
    database_url: str, db: Database, receiver: Receiver, tmp_path: Path
) -> None:
    """Kill -9 a worker with deliveries in flight: a new worker delivers every one; the
    only duplicates are those the dead worker held under its lease (claimed, and sent
    or sending, but not yet recorded: still ``in_flight`` after the kill)."""
    # ~1.5 s of sending, the kill after the first 40: margin enough that a busy machine
    # (slow polling here) still kills mid-way.
    total, cap = 300, 20
    enqueue(db, f"{receiver.url}/sink", total, concurrency=cap)
    receiver.reply_with(default=Reply(hang=0.1))
    with worker_process(database_url, tmp_path) as first:
        wait_until(lambda: receiver.count() >= 40, timeout=30)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    stuck = statuses(db)
    assert stuck["delivered"] < total  # the kill really happened mid-way
    held = stuck["in_flight"]  # what the dead worker held: sent again after its lease
    assert 0 < held <= total - stuck["delivered"]
    with worker_process(database_url, tmp_path):
        wait_until(lambda: statuses(db)["delivered"] == total, timeout=60)
    counts = received(receiver)
    assert set(counts) == set(range(total))
    duplicates = sum(counts.values()) - total
    assert duplicates <= held, (held, counts)


def test_sigterm_finishes_or_releases_what_it_holds(
    database_url: str, db: Database, receiver: Receiver, tmp_path: Path
) -> None:
    """SIGTERM: the worker exits cleanly and leaves nothing leased behind."""
    enqueue(db, f"{receiver.url}/sink", 60)
    receiver.reply_with(default=Reply(hang=0.3))
    with worker_process(database_url, tmp_path) as proc:
        wait_until(lambda: receiver.count() >= 5, timeout=30)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    with db.read() as conn:
        leased = conn.execute(
            sa.select(sa.func.count()).where(deliveries_table.c.lease_owner.is_not(None))
        ).scalar_one()
    assert leased == 0
    left = statuses(db)
    assert left["in_flight"] == 0
    assert left["delivered"] + left["pending"] + left["failed"] == 60


@pytest.mark.postgresql
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_workers_on_postgresql_send_each_delivery_once(
    database_url: str, db: Database, receiver: Receiver, tmp_path: Path
) -> None:
    """Two worker processes share one queue with SKIP LOCKED: every delivery exactly once."""
    total = 400
    # ~2 s of work for one worker alone, so the later of the two to start (imports take
    # a variable second on a busy machine) still finds work left to take.
    enqueue(db, f"{receiver.url}/sink", total, concurrency=10)
    receiver.reply_with(default=Reply(hang=0.05))
    with worker_process(database_url, tmp_path), worker_process(database_url, tmp_path):
        wait_until(lambda: statuses(db)["delivered"] == total, timeout=60)
    counts = received(receiver)
    assert set(counts) == set(range(total))
    assert max(counts.values()) == 1
    with db.read() as conn:
        workers = conn.execute(
            sa.text("SELECT count(DISTINCT worker) FROM delivery_attempts")
        ).scalar_one()
    assert workers == 2


@pytest.mark.postgresql
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_workspace_rate_limit_holds_across_two_workers(
    database_url: str, db: Database, tmp_path: Path
) -> None:
    """Two worker processes share one Clay workspace limit: the table never answers 429."""
    from claybridge.clay.imitation import ImitationConfig, serve_in_thread
    from claybridge.core.clay_rules import prepare_row

    total = 60
    with serve_in_thread(ImitationConfig(rate=20, burst=5)) as (imitation, url):
        with db.write() as conn:
            dest, _ = destinations.create(
                conn,
                {
                    "name": "table",
                    "kind": "clay",
                    "url": url,
                    "clay": {"workspace_rate": 20, "workspace_burst": 2},
                    "concurrency": 20,
                },
                now(),
                SecretBox(KEY.encode()),
                allow=parse_networks("127.0.0.1/32"),
            )
            rows = [
                deliveries.new_row(
                    dest.id, prepare_row({"n": i}, request_id=f"r{i}"), now(), request_id=f"r{i}"
                )
                for i in range(total)
            ]
            deliveries.enqueue(conn, rows)
        started = time.monotonic()
        with worker_process(database_url, tmp_path), worker_process(database_url, tmp_path):
            wait_until(lambda: statuses(db)["delivered"] == total, timeout=60)
        elapsed = time.monotonic() - started
        assert imitation.state.rejected == {}
        assert imitation.state.submissions == total
    assert elapsed >= (total - 2) / 20 * 0.9
