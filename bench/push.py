"""Push benchmark: rows into the Clay imitation through one `claybridge worker`.

The imitation (``claybridge clay imitate``, its own process) stands in for a Clay table
on loopback. Two runs, each of N rows (default 2,000) queued as Clay submissions and
sent by one worker process:

1. **Paced.** The imitation allows 200 records/s (bursts of 20) and the destination's
   workspace limit is set to 200/s: the achieved rate must reach >= 95% of 200/s with
   zero 429s from the imitation.
2. **Unlimited.** The imitation has no rate limit (nor the destination): >= 2,000 rows/s.

The baseline, in the same run, is the usual pattern: a sequential sender that posts one
row and waits 200 ms before the next (measured over ``--baseline-rows`` rows). The
ratio of each run's rate to it is printed.

    .venv/bin/python bench/push.py [--rows 2000] [--baseline-rows 25] [--concurrency 128]
        [--postgresql URL]

One worker with 128 requests in flight (``CLAYBRIDGE_WORKER_CONCURRENCY``): on
PostgreSQL each claim and each write of results waits on the network and a commit, and
64 in flight measured 1,600 rows/s there against 2,100 at 128 (SQLite: ~2,070 at 64).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import sqlalchemy as sa

from claybridge.core.clay_rules import prepare_row
from claybridge.core.ssrf import parse_networks
from claybridge.records import deliveries, destinations
from claybridge.secretbox import SecretBox
from claybridge.storage.database import Database
from deliver import KEY, ROW, attempt_span, fresh_database
from ingest import free_port


def start_imitation(port: int, rate: float, burst: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "claybridge",
            "clay",
            "imitate",
            "--port",
            str(port),
            "--rate",
            str(rate),
            "--burst",
            str(burst),
            "--limit",
            "1000000",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    for _ in range(200):
        try:
            httpx.get(f"http://127.0.0.1:{port}/stats", timeout=1)
            return proc
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError("imitation did not start")


def stats(port: int) -> dict[str, object]:
    return dict(httpx.get(f"http://127.0.0.1:{port}/stats", timeout=5).json())


def queue_rows(db: Database, url: str, rows: int, rate: float | None, concurrency: int) -> None:
    now = datetime.now(UTC)
    options: dict[str, object] = {"submission_limit": 1_000_000}
    options["workspace_rate"] = rate if rate else 10_000
    options["workspace_burst"] = 10 if rate else 10_000
    with db.write() as conn:
        dest, _ = destinations.create(
            conn,
            {
                "name": "table",
                "kind": "clay",
                "url": url,
                "clay": options,
                "concurrency": concurrency,
            },
            now,
            SecretBox(KEY.encode()),
            allow=parse_networks("127.0.0.1/32"),
        )
        batch = [
            deliveries.new_row(
                dest.id,
                prepare_row({**ROW, "clay_row_id": f"row_{i:06d}"}, request_id=f"row_{i:06d}"),
                now,
                request_id=f"row_{i:06d}",
            )
            for i in range(rows)
        ]
        deliveries.enqueue(conn, batch)
    if not db.is_sqlite:
        with db.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                "ANALYZE deliveries"
            )


def run_worker(
    data_dir: Path, database_url: str | None, db: Database, rows: int, concurrency: int
) -> float:
    env = {
        **os.environ,
        "CLAYBRIDGE_DATA_DIR": str(data_dir),
        "CLAYBRIDGE_SECRET_KEY": KEY,
        "CLAYBRIDGE_ALLOW_NETWORKS": "127.0.0.1/32",
        "CLAYBRIDGE_LOG_LEVEL": "WARNING",
        "CLAYBRIDGE_WORKER_CONCURRENCY": str(concurrency),
    }
    if database_url:
        env["CLAYBRIDGE_DATABASE_URL"] = database_url
    proc = subprocess.Popen(
        [sys.executable, "-m", "claybridge", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 300
        while attempt_span(db)[0] < rows:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the worker stopped before sending every row")
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    with db.read() as conn:
        attempts = conn.execute(sa.text("SELECT count(*) FROM delivery_attempts")).scalar_one()
    delivered, span = attempt_span(db)
    if attempts != rows:
        print(f"  note: {attempts} attempts for {rows} rows (retries)", flush=True)
    return delivered / span if span else float("nan")


def baseline(url: str, rows: int) -> float:
    """One row, then 200 ms, then the next: rows/s."""
    started = time.perf_counter()
    with httpx.Client(timeout=10) as client:
        for i in range(rows):
            client.post(url, json={**ROW, "clay_row_id": f"base_{i}"}).raise_for_status()
            time.sleep(0.2)
    return rows / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--baseline-rows", type=int, default=25)
    parser.add_argument(
        "--concurrency", type=int, default=128, help="The worker's requests in flight."
    )
    parser.add_argument("--postgresql", default=None, help="PostgreSQL URL (its schema is reset!)")
    args = parser.parse_args()
    failed = False
    with tempfile.TemporaryDirectory(prefix="claybridge-push-") as tmp:
        for label, rate in (("paced (imitation at 200/s)", 200.0), ("unlimited", None)):
            port = free_port()
            imitation = start_imitation(port, rate or 0, 20)
            url = f"http://127.0.0.1:{port}/webhook"
            try:
                base = baseline(url, args.baseline_rows)
                data_dir = Path(tmp) / (label.split()[0])
                db = fresh_database(data_dir, args.postgresql)
                queue_rows(db, url, args.rows, rate, args.concurrency)
                achieved = run_worker(data_dir, args.postgresql, db, args.rows, args.concurrency)
                db.dispose()
                seen = stats(port)
            finally:
                imitation.terminate()
                imitation.wait(10)
            rejected = seen["rejected"]
            assert isinstance(rejected, dict)
            too_many = int(rejected.get("429", 0))
            if rate:
                ok = achieved >= 0.95 * rate and too_many == 0
                target = f">= {0.95 * rate:.0f}/s and zero 429s"
            else:
                ok = achieved >= 2000
                target = ">= 2,000/s"
            failed |= not ok
            print(
                f"{label}: {args.rows} rows at {achieved:,.0f} rows/s, {too_many} x 429, "
                f"{seen['submissions']} accepted; sequential 200 ms sender {base:.2f} rows/s "
                f"-> ratio {achieved / base:,.1f}x (target {target}: {'met' if ok else 'NOT met'})",
                flush=True,
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
