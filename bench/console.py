"""Console benchmark: its pages on a large history, its live tail, and its weight.

Seeds N events (default 1,000,000: five sources; 85% accepted, 10% rejected with a mix of
error codes, 3% duplicates, 2% dry runs; spread over 30 days; ~400-byte Clay rows with
their own emails) and M deliveries (default 200,000: three destinations; 90% delivered,
5% dead, 3% failed, 2% pending) into a fresh database, starts `claybridge serve` on it,
signs in with a console link, and measures the time of each page on loopback (warm
keep-alive connection; 30 requests each, p50 and p95), against the API's own first page of
events (`GET /v1/events?limit=50`) in the same run as the baseline:

* the event log's first page, a filtered page (one source, rejected, last 7 days), a
  search by email, a deep page (by cursor, ~500 pages back), the deliveries filtered to
  dead, and the overview. Target: p95 < 150 ms each.
* the live tail: rows posted at 100/s for 10 s; for each, the time from Clay getting its
  answer to the stream carrying the row (an SSE client, as the page's EventSource).
  Target: p99 < 1 s.
* the event log page with its CSS and JS. Target: < 200 KB.

    .venv/bin/python bench/console.py [--events 1000000] [--deliveries 200000]
        [--postgresql URL]   # resets that database's schema
"""

from __future__ import annotations

import argparse
import os
import random
import re
import secrets
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

from claybridge.storage.tables import deliveries, destinations, events, sources
from deliver import fresh_database
from ingest import cli, start_claybridge, wait_up

DAYS = 30
CHUNK = 20_000
ERRORS = [
    ("missing_field", "websiteUrl is required", "websiteUrl", 400),
    ("invalid_field", "arr: '€95.000' is ambiguous", "arr", 422),
    ("unknown_owner", "no owner named 'Bob'", "owner", 422),
    ("invalid_token", "the bearer token is wrong", None, 401),
]


def sortable_id(prefix: str, at: datetime, n: int) -> str:
    """A UUIDv7-shaped id for a row received at ``at`` (ids sort as times do)."""
    ms = int(at.timestamp() * 1000)
    return f"{prefix}_{ms:012x}7{n & 0xFFF:03x}{secrets.token_hex(8)}"


def _row(i: int, at: datetime) -> dict[str, Any]:
    return {
        "event": "lead.enriched",
        "email": f"person{i}@company{i % 5000}.example",
        "full_name": f"Person {i}",
        "job_title": "Head of Revenue Operations",
        "company_name": f"Company {i % 5000}",
        "company_domain": f"company{i % 5000}.example",
        "icp_score": str(i % 100),
        "clay_row_id": f"row_{i:08d}",
        "received": at.isoformat(),
    }


def seed(db: Any, n_events: int, n_deliveries: int) -> dict[str, Any]:
    """Fill the database; returns what the measurements need (ids, an email, a source)."""
    now = datetime.now(UTC)
    rng = random.Random(7)
    source_ids = [sortable_id("src", now - timedelta(days=DAYS + 1), i) for i in range(5)]
    dest_ids = [sortable_id("dst", now - timedelta(days=DAYS + 1), i) for i in range(3)]
    with db.write() as conn:
        for i, sid in enumerate(source_ids):
            conn.execute(
                sources.insert().values(
                    id=sid,
                    key=secrets.token_hex(16),
                    name=f"Clay table {i}",
                    template="clay-leads",
                    token_hash=secrets.token_hex(32),
                    token_hint="abcd",  # noqa: S106 (a display hint of a fake token)
                    status="active",
                    created_at=now,
                    updated_at=now,
                )
            )
        for i, did in enumerate(dest_ids):
            conn.execute(
                destinations.insert().values(
                    id=did,
                    name=f"crm-{i}",
                    kind="http",
                    url="http://127.0.0.1:9/",
                    url_hint="http://127.0.0.1:9/",
                    method="POST",
                    headers={},
                    timeout_seconds=10,
                    concurrency=10,
                    status="active",
                    circuit_state="closed",
                    circuit_threshold=10,
                    circuit_cooldown_seconds=60,
                    consecutive_failures=0,
                    created_at=now,
                    updated_at=now,
                )
            )
    span = DAYS * 86_400
    answer = orjson.dumps(
        {
            "ok": True,
            "event": "lead.enriched",
            "actions": [{"kind": "identify_person", "status": "applied", "created": True}],
        }
    ).decode()
    headers = {
        "content-type": "application/json",
        "authorization": "[redacted]",
        "user-agent": "Clay",
    }
    for start in range(0, n_events, CHUNK):
        rows = []
        for i in range(start, min(start + CHUNK, n_events)):
            at = now - timedelta(seconds=span * (1 - i / n_events))
            pick = rng.random()
            status, code = "accepted", 200
            error: tuple[Any, ...] = (None, None, None, 200)
            if pick < 0.10:
                status, error = "rejected", ERRORS[i % len(ERRORS)]
                code = error[3]
            elif pick < 0.13:
                status = "duplicate"
            elif pick < 0.15:
                status = "dry_run"
            rows.append(
                {
                    "id": sortable_id("evt", at, i),
                    "source_id": source_ids[i % 5],
                    "received_at": at,
                    "status": status,
                    "status_code": code,
                    "error_code": error[0],
                    "error_message": error[1],
                    "error_field": error[2],
                    "request_headers": headers,
                    "request_body": orjson.dumps(_row(i, at)).decode(),
                    "response_body": answer,
                    "customer_id": None,
                    "event_name": "lead.enriched",
                    "note": None,
                }
            )
        with db.write() as conn:
            conn.execute(events.insert(), rows)
    for start in range(0, n_deliveries, CHUNK):
        rows = []
        for i in range(start, min(start + CHUNK, n_deliveries)):
            at = now - timedelta(seconds=span * (1 - i / n_deliveries))
            pick = rng.random()
            status = (
                "delivered"
                if pick < 0.90
                else "dead"
                if pick < 0.95
                else ("failed" if pick < 0.98 else "pending")
            )
            rows.append(
                {
                    "id": sortable_id("dlv", at, i),
                    "destination_id": dest_ids[i % 3],
                    "event_id": None,
                    "run_id": None,
                    "replay_of": None,
                    "request_id": None,
                    "payload": _row(i, at),
                    "status": status,
                    "attempts": 1,
                    "next_attempt_at": at,
                    "lease_owner": None,
                    "lease_expires_at": None,
                    "last_status_code": 200 if status == "delivered" else 500,
                    "last_error": None if status == "delivered" else "HTTP 500",
                    "created_at": at,
                    "updated_at": at,
                    "delivered_at": at if status == "delivered" else None,
                }
            )
        with db.write() as conn:
            conn.execute(deliveries.insert(), rows)
    if not db.is_sqlite:
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    else:
        with db.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    return {
        "source": source_ids[1],
        "email": f"person{n_events // 3}@company{(n_events // 3) % 5000}.example",
    }


def timed(http: httpx.Client, path: str, rounds: int = 30) -> dict[str, float]:
    """p50 and p95 (ms) of ``rounds`` GETs of ``path`` (after one warm-up)."""
    assert http.get(path).status_code == 200, path
    took = []
    for _ in range(rounds):
        started = time.perf_counter()
        answer = http.get(path)
        took.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, (path, answer.status_code)
    took.sort()
    return {"p50": statistics.median(took), "p95": took[int(len(took) * 0.95) - 1]}


def deep_cursor(http: httpx.Client, pages: int) -> str:
    """The event log's cursor ``pages`` pages back (followed through the API)."""
    cursor = ""
    for _ in range(pages):
        found = http.get(
            "/v1/events", params={"limit": 500, "cursor": cursor} if cursor else {"limit": 500}
        ).json()
        cursor = found["next_cursor"]
    return cursor


def live_tail(url: str, cookies: httpx.Cookies, env: dict[str, str]) -> list[float]:
    """Seconds from each answer to Clay until the stream carried its row (100 rows/s)."""
    made = cli(env, "sources", "create", "--name", "live", "--template", "clay-customers", "--json")
    source = orjson.loads(made)
    answered: dict[str, float] = {}
    seen: dict[str, float] = {}
    opened = threading.Event()

    def read() -> None:
        with (
            httpx.Client(base_url=url, cookies=cookies, timeout=60) as http,
            http.stream("GET", "/ui/events/stream", params={"outcome": "accepted"}) as stream,
        ):
            for line in stream.iter_lines():
                opened.set()
                if line.startswith("data:"):
                    seen[orjson.loads(line[5:])["id"]] = time.perf_counter()
                    if len(seen) >= 1000:
                        return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    opened.wait(10)
    auth = {"Authorization": f"Bearer {source['token']}"}
    with httpx.Client(base_url=url) as clay:
        started = time.perf_counter()
        for i in range(1000):
            body = {"name": f"Live {i}", "websiteUrl": f"live{i}.example"}
            answer = clay.post(f"/hooks/{source['key']}", json=body, headers=auth)
            answered[answer.json()["event_id"]] = time.perf_counter()
            time.sleep(max(0.0, started + (i + 1) / 100 - time.perf_counter()))
    reader.join(10)
    return sorted(seen.get(e, float("inf")) - t for e, t in answered.items())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--deliveries", type=int, default=200_000)
    parser.add_argument("--postgresql", help="a database URL (its schema is reset)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data:
        env = {**os.environ, "CLAYBRIDGE_DATA_DIR": data, "CLAYBRIDGE_LOG_LEVEL": "WARNING"}
        if args.postgresql:
            env["CLAYBRIDGE_DATABASE_URL"] = args.postgresql
        db = fresh_database(Path(data), args.postgresql)
        started = time.perf_counter()
        facts = seed(db, args.events, args.deliveries)
        db.dispose()
        print(
            f"seeded {args.events:,} events and {args.deliveries:,} deliveries "
            f"in {time.perf_counter() - started:.0f} s"
        )
        key = orjson.loads(cli(env, "api-keys", "create", "--name", "bench", "--json"))["key"]
        link = cli(env, "console-link").split()[0]
        proc, url = start_claybridge(env)
        try:
            wait_up(url)
            token = re.search(r"token=(\S+)", link)
            assert token
            with httpx.Client(base_url=url, timeout=60) as http:
                http.post("/ui/login", data={"token": token.group(1)})
                api = httpx.Client(
                    base_url=url, timeout=60, headers={"Authorization": f"Bearer {key}"}
                )
                week = (datetime.now(UTC) - timedelta(days=7)).strftime("%Y-%m-%dT%H:%M")
                cursor = deep_cursor(api, max(1, args.events // 2000))
                pages = {
                    "api /v1/events (baseline)": (api, "/v1/events?limit=50"),
                    "event log, first page": (http, "/ui/events"),
                    "filtered: source, rejected, 7 days": (
                        http,
                        f"/ui/events?source={facts['source']}&outcome=rejected&since={week}",
                    ),
                    "search by email": (http, f"/ui/events?q={facts['email']}"),
                    "deep page by cursor": (http, f"/ui/events?cursor={cursor}"),
                    "deliveries, dead": (http, "/ui/deliveries?status=dead"),
                    "overview": (http, "/ui/overview"),
                }
                results = {name: timed(client, path) for name, (client, path) in pages.items()}
                weight = len(http.get("/ui/events").content) + sum(
                    len(http.get(f"/ui/static/{a}").content) for a in ("console.css", "console.js")
                )
                lags = live_tail(url, http.cookies, env)
                api.close()
        finally:
            proc.terminate()
            proc.wait(30)
    where = "PostgreSQL" if args.postgresql else "SQLite"
    base = results["api /v1/events (baseline)"]["p95"]
    print(f"\n{where}: {args.events:,} events, {args.deliveries:,} deliveries")
    print(f"{'page':40}{'p50 ms':>9}{'p95 ms':>9}{'p95/API':>9}")
    for name, r in results.items():
        print(f"{name:40}{r['p50']:>9.1f}{r['p95']:>9.1f}{r['p95'] / base:>9.2f}")
    p99 = lags[int(len(lags) * 0.99) - 1]
    print(
        f"live tail at 100 rows/s: p50 {statistics.median(lags) * 1000:.0f} ms, "
        f"p99 {p99 * 1000:.0f} ms (target < 1000)"
    )
    print(f"event log page with its assets: {weight / 1024:.1f} KB (target < 200)")
    slow = [n for n, r in results.items() if r["p95"] >= 150 and "baseline" not in n]
    print(
        "targets: pages "
        + ("PASS" if not slow else f"FAIL ({', '.join(slow)})")
        + f", live tail {'PASS' if p99 < 1 else 'FAIL'}"
        + f", weight {'PASS' if weight < 200 * 1024 else 'FAIL'}"
    )
    return 0 if not slow and p99 < 1 and weight < 200 * 1024 else 1


if __name__ == "__main__":
    sys.exit(main())
