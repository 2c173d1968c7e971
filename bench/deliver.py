"""Delivery benchmark: one `claybridge worker` against a plain httpx loop, same run.

A receiver (``bench/bare_app.py`` under uvicorn, its own process) answers every POST
with 202 on loopback. Three measurements:

1. **Throughput.** N deliveries of the same ~600-byte row are queued in a fresh
   database; one ``claybridge worker`` process sends them with concurrency C. The
   baseline is a plain ``httpx.AsyncClient`` loop sending the same N payloads with the
   same concurrency C to the same receiver (no database, no retries, no records).
   Rate = N / (last attempt end - first attempt start). Targets: worker >= 1,000/s and
   >= 0.5x the baseline. Rounds alternate; medians are printed.
2. **Latency under load.** ``claybridge serve`` (API and worker in one process) takes a
   steady R events/s (open loop, paced) on a source whose mapping forwards each row to
   the receiver; acknowledgement-to-delivery time per event is read from the database
   (event received -> attempt finished). Target: p99 < 1 s at 500 events/s.
3. **Memory.** 100,000 pending deliveries; one worker works through them for a while;
   its peak RSS (VmHWM). Target: < 150 MB.

    .venv/bin/python bench/deliver.py [--deliveries 5000] [--concurrency 64] [--rounds 3]
        [--rate 500] [--seconds 20] [--backlog 100000] [--postgresql URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import sqlalchemy as sa

from claybridge.core.ssrf import parse_networks
from claybridge.records import deliveries, destinations
from claybridge.secretbox import SecretBox
from claybridge.storage import migrate
from claybridge.storage.database import Database
from ingest import cli, free_port, peak_rss_mb, start_claybridge, wait_up

ROW = {
    "event": "lead.enriched",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "ada.lovelace@analytical-engines.example",
    "job_title": "Head of Revenue Operations",
    "company_name": "Analytical Engines Ltd",
    "company_domain": "analytical-engines.example",
    "linkedin_url": "https://www.linkedin.com/in/ada-lovelace-analytical-engines",
    "location": "London, England, United Kingdom",
    "employee_count": "250",
    "industry": "Computer Software",
    "icp_score": "91",
    "seniority": "Director",
    "clay_row_id": "row_000000",
    "enriched_at": "2026-11-22T10:00:00Z",
}
KEY = "a" * 43 + "="
ALLOW = "127.0.0.1/32"


def start_receiver(port: int) -> subprocess.Popen[str]:
    bench = Path(__file__).parent
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bare_app:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=bench,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    for _ in range(200):
        try:
            httpx.post(f"http://127.0.0.1:{port}/", content=b"{}", timeout=1)
            return proc
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError("receiver did not start")


def env_for(data_dir: Path, database_url: str | None, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "CLAYBRIDGE_DATA_DIR": str(data_dir),
        "CLAYBRIDGE_SECRET_KEY": KEY,
        "CLAYBRIDGE_ALLOW_NETWORKS": ALLOW,
        "CLAYBRIDGE_LOG_LEVEL": "WARNING",
        **extra,
    }
    if database_url:
        env["CLAYBRIDGE_DATABASE_URL"] = database_url
    return env


def fresh_database(data_dir: Path, database_url: str | None) -> Database:
    """An empty, migrated database (SQLite in data_dir, or a reset PostgreSQL)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    url = database_url or f"sqlite:///{data_dir / 'claybridge.db'}"
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    db = Database(url)
    if not db.is_sqlite:
        with db.engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    migrate.upgrade(db)
    return db


def queue(db: Database, receiver: str, count: int, concurrency: int) -> str:
    """A destination and ``count`` pending deliveries of ROW; returns the destination id."""
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    with db.write() as conn:
        dest, _ = destinations.create(
            conn,
            {"name": "sink", "kind": "http", "url": receiver, "concurrency": concurrency},
            now,
            SecretBox(KEY.encode()),
            allow=parse_networks(ALLOW),
        )
    for start in range(0, count, 5000):
        with db.write() as conn:
            rows = [
                deliveries.new_row(dest.id, {**ROW, "clay_row_id": f"row_{i:06d}"}, now)
                for i in range(start, min(count, start + 5000))
            ]
            deliveries.enqueue(conn, rows)
    if not db.is_sqlite:
        # A bulk load into a new table: refresh PostgreSQL's statistics now, as autovacuum
        # would within a minute, so the planner walks the due index instead of sorting.
        with db.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                "ANALYZE deliveries"
            )
    return dest.id


def attempt_span(db: Database) -> tuple[int, float]:
    """(delivered count, seconds from the first attempt's start to the last one's end)."""
    with db.read() as conn:
        row = conn.execute(
            sa.text("SELECT count(*), min(attempted_at), max(attempted_at) FROM delivery_attempts")
        ).one()
        delivered = conn.execute(
            sa.text("SELECT count(*) FROM deliveries WHERE status = 'delivered'")
        ).scalar_one()
    first, last = row[1], row[2]
    if isinstance(first, str):
        from datetime import datetime

        first, last = datetime.fromisoformat(first), datetime.fromisoformat(last)
    return int(delivered), (last - first).total_seconds() if first else 0.0


def run_worker(env: dict[str, str], db: Database, total: int) -> dict[str, float]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "claybridge", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 300
        while True:
            delivered, span = attempt_span(db)
            if delivered >= total:
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"worker stopped early: {proc.stderr.read() if proc.stderr else ''}"
                )
            time.sleep(0.1)
        rss = peak_rss_mb(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    return {"rate": total / span if span else float("nan"), "rss_mb": rss}


async def baseline(url: str, total: int, concurrency: int) -> float:
    """Send ``total`` payloads with ``concurrency`` in flight; returns requests/s."""
    bodies = [orjson.dumps({**ROW, "clay_row_id": f"row_{i:06d}"}) for i in range(total)]
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=10) as client:
        it = iter(bodies)

        async def sender() -> None:
            for body in it:
                response = await client.post(
                    url, content=body, headers={"content-type": "application/json"}
                )
                response.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(concurrency)))
        return total / (time.perf_counter() - started)


async def aiohttp_loop(url: str, total: int, concurrency: int) -> float:
    """The same loop on aiohttp (the worker's client): the stricter comparison."""
    import aiohttp

    bodies = [orjson.dumps({**ROW, "clay_row_id": f"row_{i:06d}"}) for i in range(total)]
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        it = iter(bodies)

        async def sender() -> None:
            for body in it:
                async with session.post(
                    url, data=body, headers={"content-type": "application/json"}
                ) as response:
                    await response.read()
                    response.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(concurrency)))
        return total / (time.perf_counter() - started)


def throughput(args: argparse.Namespace, receiver: str, root: Path) -> dict[str, Any]:
    worker_runs, base_runs, aio_runs = [], [], []
    for n in range(args.rounds):
        base_runs.append(asyncio.run(baseline(receiver, args.deliveries, args.concurrency)))
        aio_runs.append(asyncio.run(aiohttp_loop(receiver, args.deliveries, args.concurrency)))
        data_dir = root / f"tp{n}"
        db = fresh_database(data_dir, args.postgresql)
        queue(db, receiver, args.deliveries, args.concurrency)
        env = env_for(
            data_dir,
            args.postgresql,
            CLAYBRIDGE_WORKER_CONCURRENCY=str(args.concurrency),
            CLAYBRIDGE_WORKER_BATCH=str(min(args.concurrency * 2, 1000)),
        )
        worker_runs.append(run_worker(env, db, args.deliveries))
        db.dispose()
        print(
            f"  round {n + 1}: worker {worker_runs[-1]['rate']:,.0f}/s, "
            f"httpx loop {base_runs[-1]:,.0f}/s, aiohttp loop {aio_runs[-1]:,.0f}/s",
            flush=True,
        )
    worker = statistics.median(r["rate"] for r in worker_runs)
    base = statistics.median(base_runs)
    aio = statistics.median(aio_runs)
    return {
        "worker_per_s": worker,
        "baseline_per_s": base,
        "ratio": worker / base,
        "aiohttp_per_s": aio,
        "aiohttp_ratio": worker / aio,
        "rss_mb": max(r["rss_mb"] for r in worker_runs),
    }


async def paced(url: str, path: str, token: str, rate: float, seconds: float) -> int:
    """Open-loop load: ``rate`` requests/s for ``seconds``; returns 200s answered."""
    ok = 0
    headers = {"Authorization": f"Bearer {token}", "content-type": "application/json"}
    async with httpx.AsyncClient(
        base_url=url, timeout=10, limits=httpx.Limits(max_connections=200)
    ) as client:

        async def one(i: int) -> None:
            nonlocal ok
            body = orjson.dumps({**ROW, "clay_row_id": f"row_{i:06d}"})
            response = await client.post(path, content=body, headers=headers)
            ok += response.status_code == 200

        tasks = []
        started = time.perf_counter()
        for i in range(int(rate * seconds)):
            due = started + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
    return ok


def latency(args: argparse.Namespace, receiver: str, root: Path) -> dict[str, Any]:
    data_dir = root / "latency"
    db = fresh_database(data_dir, args.postgresql)
    env = env_for(data_dir, args.postgresql)
    cli(env, "destinations", "create", "--name", "sink", "--url", receiver, "--concurrency", "64")
    setup = data_dir / "setup.json"
    setup.write_text(
        json.dumps(
            {
                "sources": [
                    {
                        "name": "leads",
                        "template": "clay-leads",
                        "config": {
                            "mappings": {
                                "lead.enriched": [{"kind": "forward", "destination": "sink"}]
                            }
                        },
                    }
                ]
            }
        )
    )
    out = cli(env, "apply", "-f", str(setup))
    import re

    key = re.search(r"URL: \S+/hooks/(\S+)", out)
    token = re.search(r"\(shown once\): (\S+)", out)
    if not key or not token:
        raise RuntimeError(f"claybridge apply printed no URL or token:\n{out}")
    proc, url = start_claybridge(env)
    try:
        wait_up(url)
        ok = asyncio.run(
            paced(url, f"/hooks/{key.group(1)}", token.group(1), args.rate, args.seconds)
        )
        sent = int(args.rate * args.seconds)
        deadline = time.monotonic() + 60
        while attempt_span(db)[0] < ok and time.monotonic() < deadline:
            time.sleep(0.2)
        rss = peak_rss_mb(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    with db.read() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT e.received_at, a.attempted_at, a.latency_ms FROM deliveries d "
                "JOIN events e ON e.id = d.event_id JOIN delivery_attempts a "
                "ON a.delivery_id = d.id WHERE a.status_code = 202"
            )
        ).all()
    from datetime import datetime

    def ts(v: Any) -> float:
        return (datetime.fromisoformat(v) if isinstance(v, str) else v).timestamp()

    delays = sorted(ts(a) + ms / 1000 - ts(r) for r, a, ms in rows)
    db.dispose()
    q = statistics.quantiles(delays, n=100)
    return {
        "events_sent": sent,
        "events_ok": ok,
        "delivered": len(delays),
        "p50_s": q[49],
        "p99_s": q[98],
        "max_s": delays[-1],
        "rss_mb": rss,
    }


def memory(args: argparse.Namespace, receiver: str, root: Path) -> dict[str, Any]:
    data_dir = root / "memory"
    db = fresh_database(data_dir, args.postgresql)
    queue(db, receiver, args.backlog, args.concurrency)
    env = env_for(data_dir, args.postgresql, CLAYBRIDGE_WORKER_CONCURRENCY=str(args.concurrency))
    proc = subprocess.Popen(
        [sys.executable, "-m", "claybridge", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(args.memory_seconds)
        rss = peak_rss_mb(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    delivered, _ = attempt_span(db)
    db.dispose()
    return {"backlog": args.backlog, "delivered_meanwhile": delivered, "peak_rss_mb": rss}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--deliveries", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--backlog", type=int, default=100_000)
    parser.add_argument("--memory-seconds", type=float, default=20)
    parser.add_argument(
        "--postgresql",
        default=None,
        help="Run on this PostgreSQL URL (its public schema is reset!)",
    )
    parser.add_argument(
        "--skip", default="", help="Comma list of parts to skip: throughput,latency,memory"
    )
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    port = free_port()
    receiver_proc = start_receiver(port)
    receiver = f"http://127.0.0.1:{port}/hook"
    failed = False
    try:
        with tempfile.TemporaryDirectory(prefix="claybridge-bench-") as tmp:
            root = Path(tmp)
            print(f"database: {'postgresql' if args.postgresql else 'sqlite'}", flush=True)
            if "throughput" not in skip:
                print(
                    f"throughput: {args.deliveries} deliveries, concurrency {args.concurrency}",
                    flush=True,
                )
                tp = throughput(args, receiver, root)
                ok = tp["worker_per_s"] >= 1000 and tp["ratio"] >= 0.5
                failed |= not ok
                print(
                    f"  worker {tp['worker_per_s']:,.0f}/s vs httpx loop "
                    f"{tp['baseline_per_s']:,.0f}/s -> ratio {tp['ratio']:.2f}x "
                    f"(targets >= 1,000/s and >= 0.5x: {'met' if ok else 'NOT met'}); "
                    f"vs aiohttp loop {tp['aiohttp_per_s']:,.0f}/s -> {tp['aiohttp_ratio']:.2f}x; "
                    f"worker RSS {tp['rss_mb']:.0f} MB",
                    flush=True,
                )
            if "latency" not in skip:
                print(
                    f"latency: {args.rate:g} events/s for {args.seconds:g} s through serve",
                    flush=True,
                )
                lat = latency(args, receiver, root)
                ok = (
                    lat["p99_s"] < 1.0
                    and lat["delivered"] == lat["events_ok"] == lat["events_sent"]
                )
                failed |= not ok
                print(
                    f"  {lat['events_ok']}/{lat['events_sent']} acknowledged, "
                    f"{lat['delivered']} delivered; ack->delivery p50 "
                    f"{lat['p50_s'] * 1000:.0f} ms, p99 {lat['p99_s'] * 1000:.0f} ms, max "
                    f"{lat['max_s'] * 1000:.0f} ms; serve RSS {lat['rss_mb']:.0f} MB "
                    f"(target p99 < 1 s: {'met' if ok else 'NOT met'})",
                    flush=True,
                )
            if "memory" not in skip:
                print(f"memory: {args.backlog:,} pending deliveries", flush=True)
                mem = memory(args, receiver, root)
                ok = mem["peak_rss_mb"] < 150
                failed |= not ok
                print(
                    f"  worker peak RSS {mem['peak_rss_mb']:.0f} MB while delivering "
                    f"{mem['delivered_meanwhile']:,} of them (target < 150 MB: "
                    f"{'met' if ok else 'NOT met'})",
                    flush=True,
                )
    finally:
        receiver_proc.terminate()
        receiver_proc.wait(10)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
