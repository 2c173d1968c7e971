"""Ingest benchmark: the real server against a bare ASGI app, same load, same run.

Starts ``bench/bare_app.py`` (reads the body, answers 202) and, per scenario, one
``claybridge serve`` (one process each, its own SQLite database with synchronous=FULL:
every answered row is durable), all under uvicorn with the same settings. wrk drives
each in turn with 64 connections, alternating rounds so that drift on the machine hits
all alike. Scenarios:

* ``customers``: a ~600-byte Clay account row on ``clay-customers``, domains cycling over
  5,000 customers so rows both create and update (the bare app gets the same rows);
* ``leads``: ``lead.enriched`` with 20 properties through ``identify_person`` with a
  condition (true for 70% of rows);
* ``leads_idem``: the same with idempotency on a Clay row id unique to each request, so
  every request pays for the key check and none is a cheap replay.

Prints requests/s, p50 and p99 (medians of the rounds), each ratio to the bare app, the
idempotency cost (leads / leads_idem - 1), peak RSS, and checks that every 2xx answer
has its event stored. Targets: customers >= 0.2x and p99 <= 50 ms (issue 2), leads >=
0.15x and idempotency <= 15% (issue 3), peak RSS < 150 MB.

Every server runs on this script's interpreter (``sys.executable``), which is printed
with the results: its build (PGO, LTO, a shared libpython or not) changes the absolute
rates of both sides, so figures are comparable only on the same interpreter.

Only the target being measured runs: the other servers are paused (SIGSTOP) during its
warm-up and rounds, and resumed (SIGCONT) for their own. Why: an idle ``claybridge
serve`` still wakes ten times a second (its worker's poll; 10-20 ms of CPU a second), and
with three of them beside the one under load on a 2-core machine, each measurement also
measured its neighbours' wake-ups (the bare app's included). A resumed process gets
``--rewarm`` seconds of load that are not counted before its round: in a run without
it, every target's first round after a pause had the worst p99 of its five (94-196 ms
against 43-72 ms), as the paused process's cold pages came back in.

Ratios are paired: each round measures every target once, back to back, and a ratio is
the median over rounds of (target / bare app *in that round*). Why: this VM's speed
drifts by tens of percent over minutes (the bare app alone measured 25-33k requests/s
within one run), so a ratio of medians taken minutes apart measured the drift as much
as Claybridge. Rounds run in alternating order (forward, then backward), so that a
steady drift favours no target; the per-round ratios are printed too.

    .venv/bin/python bench/ingest.py [--duration 6] [--rounds 5] [--connections 64] [--rewarm 1]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
ROW_FIELDS = {
    "owner": "Ada Lovelace",
    "stage": "Closed Won",
    "arr": "$120,000",
    "renewalDate": "03/01/2026",
    "industry": "Computer Software",
    "employeeCount": "250",
    "linkedinUrl": "https://www.linkedin.com/company/acme-corporation",
    "city": "San Francisco",
    "country": "United States",
    "fundingStage": "Series B",
    "notes": "Enriched by a Clay waterfall: work email via provider A, phone via B.",
}


def ensure_wrk() -> str:
    """The path of wrk, installing it with apt when it is missing."""
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk not found; installing it with apt-get", file=sys.stderr)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False)
    if not shutil.which("wrk"):
        subprocess.run(["apt-get", "update", "-qq"], check=False)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)
    return shutil.which("wrk") or "wrk"


LEAD_FIELDS = {  # with email, icp_score, clay_row_id and event: 20 properties
    "full_name": "Ada Lovelace",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "job_title": "Head of Revenue Operations",
    "seniority": "Director",
    "phone_number": "+1 415 555 0100",
    "linkedin_url": "https://www.linkedin.com/in/ada-lovelace",
    "avatar_url": "https://img.example.com/ada.png",
    "company_name": "Acme Corporation",
    "company_domain": "acme.com",
    "industry": "Computer Software",
    "employee_count": "250",
    "city": "San Francisco",
    "country": "United States",
    "funding_stage": "Series B",
    "tech_stack": "Salesforce, HubSpot",
}
LEADS_CONFIG = {
    "default_event": "lead.enriched",
    "mappings": {
        "lead.enriched": [
            {
                "kind": "identify_person",
                "id": {"path": "body.email", "type": "email"},
                "when": "body.icp_score >= 30 and body.email",
            }
        ]
    },
}


def free_port() -> int:
    """A port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _lua(path: str, token: str, body_expr: str) -> str:
    """A wrk script whose request body is the Lua expression ``body_expr`` of ``n``."""
    return f"""
counter = 0
prefix = ""
threads = 0
setup = function(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
init = function(args)
  -- args[1]: a prefix unique to this wrk run; tid: this thread. Row ids never repeat.
  prefix = (args[1] or "run") .. "_" .. tostring(tid)
end
request = function()
  counter = counter + 1
  local n = counter % 5000
  local body = {body_expr}
  local headers = {{["Authorization"]="Bearer {token}", ["Content-Type"]="application/json"}}
  return wrk.format("POST", "{path}", headers, body)
end
"""


def _json_fields(fields: dict[str, str]) -> str:
    return ", ".join(f'"{k}": "{v}"' for k, v in fields.items())


def customer_script(path: str, token: str) -> str:
    """Account rows for ``clay-customers``, cycling over 5,000 domains."""
    body = (
        f"""'{{"name": "Acme Corporation ' .. n .. '", '"""
        f""" .. '"websiteUrl": "https://www.acme' .. n .. '.com/about", """
        f"""{_json_fields(ROW_FIELDS)}}}'"""
    )
    return _lua(path, token, body)


def lead_script(path: str, token: str) -> str:
    """``lead.enriched`` rows with 20 properties, an ICP score the condition tests, and a
    Clay row id unique to this run (so the idempotent scenario never replays)."""
    body = (
        """'{"event": "lead.enriched", "email": "lead' .. n .. '@acme' .. n .. '.com", '"""
        """ .. '"icp_score": "' .. (n % 100) .. '", '"""
        """ .. '"clay_row_id": "' .. prefix .. '_' .. counter .. '", '"""
        f""" .. '{_json_fields(LEAD_FIELDS)}}}'"""
    )
    return _lua(path, token, body)


def run_wrk(
    wrk: str, url: str, script: Path, args: argparse.Namespace, seconds: int
) -> dict[str, float]:
    """Run wrk and parse requests/s, p50, p99 (ms), requests and non-2xx."""
    out = subprocess.run(
        [
            wrk,
            f"-t{args.threads}",
            f"-c{args.connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(script),
            url,
            "--",
            uuid.uuid4().hex,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    def latency(label: str) -> float:
        match = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not match:
            raise RuntimeError(f"no {label} latency in wrk output:\n{out}")
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    if not rps or not total:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    return {
        "rps": float(rps.group(1)),
        "p50_ms": latency("50%"),
        "p99_ms": latency("99%"),
        "requests": int(total.group(1)),
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(1) if errors else "",
    }


def start_claybridge(env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    """`claybridge serve --port 0`; returns the process and its URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "claybridge", "serve", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    for _ in range(50):
        match = re.search(r"listening on (http://\S+)", proc.stdout.readline())
        if match:
            return proc, match.group(1)
    proc.kill()
    raise RuntimeError("claybridge serve did not start")


def wait_up(url: str) -> None:
    for _ in range(200):
        try:
            httpx.get(url + "/healthz", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


def median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    """Per-metric median over rounds (numbers only)."""
    keys = [k for k, v in runs[0].items() if isinstance(v, int | float)]
    return {k: float(statistics.median(r[k] for r in runs)) for k in keys}


def only_running(procs: dict[str, subprocess.Popen[Any]], measured: str) -> None:
    """Resume the process of ``measured`` and pause every other one (module docstring)."""
    for name, proc in procs.items():
        proc.send_signal(signal.SIGCONT if name == measured else signal.SIGSTOP)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cli(env: dict[str, str], *args: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "claybridge", *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def make_source(
    env: dict[str, str], name: str, template: str, config: dict[str, Any] | None
) -> dict[str, Any]:
    """A source made through the CLI (config from a setup file when given)."""
    if config is None:
        return dict(
            json.loads(
                cli(env, "sources", "create", "--name", name, "--template", template, "--json")
            )
        )
    setup = Path(env["CLAYBRIDGE_DATA_DIR"]) / f"{name}.json"
    setup.write_text(
        json.dumps({"sources": [{"name": name, "template": template, "config": config}]})
    )
    out = cli(env, "apply", "-f", str(setup))
    key = re.search(r"URL: \S+/hooks/(\S+)", out)
    token = re.search(r"\(shown once\): (\S+)", out)
    if not key or not token:
        raise RuntimeError(f"claybridge apply printed no URL or token:\n{out}")
    return {"key": key.group(1), "token": token.group(1)}


def report_ab(rounds: dict[str, list[dict[str, float]]], results: dict[str, Any]) -> int:
    """Print an ``--ab-only`` run: the paired ratio of the two customers servers."""
    print(f"interpreter: {sys.executable} (Python {sys.version.split()[0]})")
    ab = [
        a["rps"] / b["rps"]
        for a, b in zip(rounds["customers"], rounds["customers_before"], strict=True)
    ]
    for name in ("customers", "customers_before"):
        print(f"{name:16} req/s {results[name]['rps']:.0f}  p99 ms {results[name]['p99_ms']:.1f}")
    print("customers / customers_before per round: " + ", ".join(f"{v:.3f}" for v in ab))
    print(
        f"customers / customers_before: {statistics.median(ab):.3f} (median), "
        f"spread {min(ab):.3f}-{max(ab):.3f}"
    )
    errors = sum(r["non_2xx"] for runs in rounds.values() for r in runs)
    print(f"non-2xx answers: {errors:.0f}")
    return 0 if errors == 0 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rewarm", type=int, default=1, help="seconds of load after resuming")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--against",
        metavar="SRC",
        help="also run the customers scenario on the code in SRC (another checkout's src/ "
        "folder) and print its paired ratio to this code's: an A/B of a change",
    )
    parser.add_argument(
        "--ab-only",
        action="store_true",
        help="with --against: run only the bare app and the two customers servers (an A/B "
        "of one mechanism, in a third of the time); the targets are not checked",
    )
    args = parser.parse_args()
    if args.ab_only and not args.against:
        parser.error("--ab-only needs --against SRC")
    wrk = ensure_wrk()
    work = Path(tempfile.mkdtemp(prefix="claybridge-bench-"))
    idem_config = {**LEADS_CONFIG, "idempotency": {"mode": "key", "key_path": "body.clay_row_id"}}
    # One server and database per scenario, so one scenario's rows never slow another's.
    scenarios = {
        "customers": ("clay-customers", None, customer_script),
        "leads": ("clay-leads", LEADS_CONFIG, lead_script),
        "leads_idem": ("clay-leads", idem_config, lead_script),
    }
    if args.against:
        scenarios["customers_before"] = ("clay-customers", None, customer_script)
        if args.ab_only:
            del scenarios["leads"], scenarios["leads_idem"]
    scripts: dict[str, Path] = {}
    envs: dict[str, dict[str, str]] = {}
    for name, (template, config, script_for) in scenarios.items():
        env = {
            **os.environ,
            "CLAYBRIDGE_DATA_DIR": str(work / name),
            "PYTHONUNBUFFERED": "1",
            "CLAYBRIDGE_LOG_LEVEL": "WARNING",
        }
        env.pop("CLAYBRIDGE_DATABASE_URL", None)
        if name == "customers_before":
            env["PYTHONPATH"] = str(Path(args.against).resolve())
        cli(env, "migrate")  # commands other than serve/migrate never create a database
        cli(env, "owners", "add", "--name", "Ada Lovelace", "--email", "ada@example.com")
        source = make_source(env, name, template, config)
        scripts[name] = work / f"{name}.lua"
        scripts[name].write_text(script_for(f"/hooks/{source['key']}", source["token"]))
        envs[name] = env
    scripts["bare_asgi"] = scripts["customers"]

    servers = {name: start_claybridge(env) for name, env in envs.items()}
    port = free_port()
    bare = subprocess.Popen(
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
            "--no-proxy-headers",
        ],  # as `claybridge serve` runs
        cwd=HERE,
        env=envs["customers"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    bare_url = f"http://127.0.0.1:{port}"
    targets = {"bare_asgi": bare_url, **{name: url for name, (_p, url) in servers.items()}}
    procs: dict[str, subprocess.Popen[Any]] = {
        "bare_asgi": bare,
        **{name: proc for name, (proc, _url) in servers.items()},
    }
    rounds: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
    try:
        for target in targets.values():
            wait_up(target)
        for name, target in targets.items():
            only_running(procs, name)
            run_wrk(wrk, target, scripts[name], args, args.warmup)
        # Alternate the targets so that drift on the machine hits all alike.
        order = list(targets)
        for number in range(args.rounds):
            for name in order if number % 2 == 0 else order[::-1]:
                only_running(procs, name)
                run_wrk(wrk, targets[name], scripts[name], args, args.rewarm)  # not counted
                rounds[name].append(run_wrk(wrk, targets[name], scripts[name], args, args.duration))
        rss = max(peak_rss_mb(proc.pid) for proc, _url in servers.values())
    finally:
        for proc in procs.values():
            proc.send_signal(signal.SIGCONT)  # a paused process acts on SIGTERM only once resumed
        for proc, _url in servers.values():
            proc.terminate()
            proc.wait(30)
            assert proc.stdout is not None
            proc.stdout.close()
        bare.terminate()
        bare.wait(30)

    results = {name: median_of(runs) for name, runs in rounds.items()}
    if args.ab_only:
        return report_ab(rounds, results)
    # Every server ran on this interpreter; its build moves the absolute rates.
    print(f"interpreter: {sys.executable} (Python {sys.version.split()[0]})")
    for name, runs in rounds.items():
        print(
            f"{name:12} rounds req/s: "
            + ", ".join(f"{r['rps']:.0f}" for r in runs)
            + "   p99 ms: "
            + ", ".join(f"{r['p99_ms']:.1f}" for r in runs)
        )
    stored = duplicates = 0
    for name in scenarios:
        with sqlite3.connect(work / name / "claybridge.db") as conn:
            stored += conn.execute(
                "SELECT count(*) FROM events WHERE status='accepted'"
            ).fetchone()[0]
            duplicates += conn.execute(
                "SELECT count(*) FROM events WHERE status='duplicate'"
            ).fetchone()[0]
    answered_ok = sum(
        r["requests"] - r["non_2xx"] for n, runs in rounds.items() if n != "bare_asgi" for r in runs
    )
    paired = {
        name: [r["rps"] / b["rps"] for r, b in zip(rounds[name], rounds["bare_asgi"], strict=True)]
        for name in ("customers", "leads", "leads_idem")
    }
    ratio = {name: statistics.median(values) for name, values in paired.items()}
    overheads = [
        a["rps"] / b["rps"] - 1 for a, b in zip(rounds["leads"], rounds["leads_idem"], strict=True)
    ]
    overhead = statistics.median(overheads)
    for name, values in paired.items():
        print(f"{name:12} ratio per round: " + ", ".join(f"{v:.3f}" for v in values))
    if args.against:
        ab = [
            a["rps"] / b["rps"]
            for a, b in zip(rounds["customers"], rounds["customers_before"], strict=True)
        ]
        print("customers / customers_before per round: " + ", ".join(f"{v:.3f}" for v in ab))
        print(f"customers / customers_before: {statistics.median(ab):.3f} (median)")
    print("idempotency cost per round: " + ", ".join(f"{v:+.1%}" for v in overheads))

    print(f"\nmedians of {args.rounds} alternating rounds of {args.duration} s (ratio: paired)")
    print(f"{'':12}{'req/s':>10}{'ratio':>8}{'p50 ms':>10}{'p99 ms':>10}{'non-2xx':>9}")
    for name, r in results.items():
        share = ratio.get(name, 1.0)
        print(
            f"{name:12}{r['rps']:>10.0f}{share:>8.3f}{r['p50_ms']:>10.2f}{r['p99_ms']:>10.2f}"
            f"{r['non_2xx']:>9.0f}"
        )
    print(f"\ncustomers / bare: {ratio['customers']:.3f} (target >= 0.20, issue 2)")
    print(f"leads / bare:     {ratio['leads']:.3f} (target >= 0.15, issue 3)")
    print(f"idempotency cost: {overhead:+.1%} per request (target <= 15%, issue 3)")
    print(f"p99 customers:    {results['customers']['p99_ms']:.1f} ms (target <= 50)")
    print(f"peak RSS:         {rss:.0f} MB (target < 150)")
    print(
        f"durable: {stored} accepted events stored for {answered_ok} 2xx answers "
        f"(warm-ups included in the stored count); {duplicates} duplicates"
    )
    checks = {
        "customers_ratio": ratio["customers"] >= 0.2,
        "leads_ratio": ratio["leads"] >= 0.15,
        "idempotency_overhead": overhead <= 0.15,
        "p99": results["customers"]["p99_ms"] <= 50,
        "rss": rss < 150,
        "no_errors": all(r["non_2xx"] == 0 for n, runs in rounds.items() for r in runs),
        "durable": stored >= answered_ok and duplicates == 0,
    }
    print("targets:", ", ".join(f"{k} {'PASS' if v else 'FAIL'}" for k, v in checks.items()))
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / "ingest.json").write_text(
        json.dumps(
            {
                "results": results,
                "ratio": ratio,
                "idempotency_overhead": overhead,
                "peak_rss_mb": rss,
                "checks": checks,
                "args": vars(args),
            },
            indent=2,
        )
    )
    shutil.rmtree(work, ignore_errors=True)
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
