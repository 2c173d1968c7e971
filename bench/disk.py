"""Disk per event: how much a deployment's database grows per row Clay sends.

Runs ``claybridge serve`` on a fresh database, sends N customer rows (1,000 distinct
domains, so most rows update a customer) and N lead rows forwarded to a receiver (one
delivery and one attempt each), then reads the database's size before and after
(SQLite: the file after a WAL checkpoint; PostgreSQL: ``pg_database_size`` after
VACUUM). Prints bytes per event for each kind. With retention on (30 days by default),
a deployment's disk is about this figure times the rows it takes in 30 days.

    .venv/bin/python bench/disk.py [--rows 10000] [--postgresql URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from deliver import ROW as LEAD
from ingest import cli, free_port, make_source, start_claybridge, wait_up

CUSTOMER = {
    "name": "Acme Analytics",
    "owner": "",
    "stage": "Closed Won",
    "arr": "$120,000",
    "renewalDate": "03/01/2026",
}


async def send(url: str, token: str, rows: list[dict[str, Any]]) -> None:
    """POST every row, 32 at a time; every answer must be 200."""
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(timeout=30) as http:
        queue = list(reversed(rows))

        async def one() -> None:
            while queue:
                answer = await http.post(url, json=queue.pop(), headers=headers)
                assert answer.status_code == 200, answer.text

        await asyncio.gather(*(one() for _ in range(32)))


def size(env: dict[str, str], pg: str | None) -> int:
    """The database's size in bytes, settled (checkpointed / vacuumed)."""
    if pg is None:
        path = Path(env["CLAYBRIDGE_DATA_DIR"]) / "claybridge.db"
        with sqlite3.connect(path) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return path.stat().st_size
    engine = sa.create_engine(pg.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM")
        found = conn.exec_driver_sql("SELECT pg_database_size(current_database())").scalar()
    engine.dispose()
    return int(found or 0)


def measure(env: dict[str, str], pg: str | None, rows: int) -> dict[str, float]:
    """Bytes per event for customer rows and forwarded lead rows."""
    receiver = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bare_app:app",
            "--port",
            str(port := free_port()),
            "--log-level",
            "warning",
        ],
        cwd=Path(__file__).parent,
    )
    proc, url = start_claybridge(env)
    try:
        wait_up(url)
        customers = make_source(env, "customers", "clay-customers", None)
        cli(
            env,
            "destinations",
            "create",
            "--name",
            "receiver",
            "--url",
            f"http://127.0.0.1:{port}/",
        )
        leads = make_source(
            env,
            "leads",
            "clay-leads",
            {
                "mappings": {"lead.enriched": [{"kind": "forward", "destination": "receiver"}]},
            },
        )
        figures: dict[str, float] = {}
        for kind, source, body in (("customer", customers, CUSTOMER), ("lead", leads, LEAD)):
            before = size(env, pg)
            batch = [
                {**body, "websiteUrl": f"acme{i % 1000}.example", "email": f"p{i}@x.example"}
                for i in range(rows)
            ]
            asyncio.run(send(f"{url}/hooks/{source['key']}", source["token"], batch))
            asyncio.run(asyncio.sleep(3))  # the worker delivers the forwarded rows
            figures[kind] = (size(env, pg) - before) / rows
        return figures
    finally:
        proc.terminate()
        proc.wait(10)
        receiver.terminate()
        receiver.wait(10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--postgresql", help="a database URL (its schema is reset)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data:
        env = {
            **os.environ,
            "CLAYBRIDGE_DATA_DIR": data,
            "CLAYBRIDGE_ALLOW_NETWORKS": "127.0.0.1/32",
            "CLAYBRIDGE_LOG_LEVEL": "WARNING",
        }
        if args.postgresql:
            env["CLAYBRIDGE_DATABASE_URL"] = args.postgresql
            engine = sa.create_engine(
                args.postgresql.replace("postgresql://", "postgresql+psycopg://", 1)
            )
            with engine.begin() as conn:
                conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
            engine.dispose()
        cli(env, "migrate")
        figures = measure(env, args.postgresql, args.rows)
    where = "PostgreSQL" if args.postgresql else "SQLite"
    for kind, per_event in figures.items():
        print(f"{where}: {kind} rows: {per_event:,.0f} bytes per event")
    return 0


if __name__ == "__main__":
    sys.exit(main())
