"""Carrying out runs: a worker job that takes due runs and performs their steps.

A run resumes where it stopped: the steps already recorded are kept, and the next one
runs. Per step (in the worker's write transaction):

* ``forward``: enqueue a delivery linked to the run (the queue's retries, rate limits
  and circuit breaker apply), record ``queued`` with its id;
* ``clay_submit``: queue the row for a Clay table (``claybridge.clay.submit``) with a
  request id and, with ``callback: true``, a pending request; record its request id;
* ``wait_for_callback``: if that request completed, record its row as the step's
  ``result`` and go on; if it expired, fail the run (timeout); otherwise the run waits
  (status ``waiting``) and is queued again when the callback arrives.

:func:`evaluate` is pure: a step's condition and payload against the run's data.
A step naming a destination that no longer exists fails the run, saying which.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
import structlog

from claybridge.clay import submit as clay_submit
from claybridge.errors import ClaybridgeError
from claybridge.mapping.conditions import compile_condition, view
from claybridge.mapping.paths import parse_path
from claybridge.mapping.workflow import PATH_ROOTS, STEP_NAMES
from claybridge.records import deliveries, runs
from claybridge.records import destinations as destination_records
from claybridge.records.requests import COMPLETED, EXPIRED
from claybridge.storage.tables import pending_requests, workflows

log = structlog.get_logger(__name__)
BATCH = 50
LEASE_SECONDS = 60.0


def _data(run: dict[str, Any], done: list[dict[str, Any]]) -> dict[str, Any]:
    # ``steps`` is the list of earlier steps' outcomes, by index (a path reads
    # steps.1.result.x; a condition steps[1].result.x).
    return {"event": run["event"], "source": run["source"] or {}, "steps": done}


def evaluate(step: dict[str, Any], data: dict[str, Any]) -> tuple[bool, str | None, Any]:
    """``(runs, reason if skipped, payload)`` for ``step`` over the run's ``data``. Pure."""
    when = step.get("when")
    if when:
        names = {name: view(data[name]) for name in STEP_NAMES}
        ok, error = compile_condition(when, STEP_NAMES).evaluate(names)
        if not ok:
            return False, error or f"condition {when!r} is false", None
    payload = parse_path(step.get("payload", "event"), PATH_ROOTS).resolve(data)
    return True, None, payload


def _path_text(path: str | None, data: dict[str, Any]) -> str | None:
    if not path:
        return None
    value = parse_path(path, PATH_ROOTS).resolve(data)
    text = str(value).strip() if value is not None else ""
    return text or None


def execute(
    conn: sa.Connection, run: dict[str, Any], now: datetime, base_url: str = ""
) -> dict[str, Any]:
    """Carry ``run`` (claimed, status running) on from its next step; returns its outcome."""
    wf = conn.execute(sa.select(workflows.c.steps).where(workflows.c.id == run["workflow_id"]))
    steps = wf.scalar_one()
    done: list[dict[str, Any]] = list(run["steps"] or [])
    worker = run["lease_owner"]
    for index in range(len(done), len(steps)):
        step = steps[index]
        entry: dict[str, Any] = {"index": index, "kind": step["kind"]}
        data = _data(run, done)
        if step["kind"] == "wait_for_callback":
            outcome = _wait(conn, step, index, done, entry)
            if outcome == "waiting":
                runs.wait(conn, run["id"], steps=done, now=now, worker=worker)
                return {"status": runs.WAITING, "steps": done, "error": None}
            done.append(entry)
            if outcome == "failed":
                return _finish(conn, run, runs.FAILED, done, entry["error"], now)
            continue
        go, reason, payload = evaluate(step, data)
        if not go:
            done.append({**entry, "status": "skipped", "reason": reason})
            continue
        dest = destination_records.by_name(conn, step["destination"])
        if dest is None:
            error = f"step {index}: no destination named {step['destination']!r}"
            done.append({**entry, "status": "failed", "error": error})
            return _finish(conn, run, runs.FAILED, done, error, now)
        if step["kind"] == "forward":
            row = deliveries.new_row(
                dest.id, payload, now, event_id=run["event_id"], run_id=run["id"]
            )
            deliveries.enqueue(conn, [row])
            done.append(
                {**entry, "status": "queued", "destination": dest.name, "delivery_id": row["id"]}
            )
            continue
        try:
            queued = clay_submit.enqueue(
                conn,
                dest,
                payload,
                now,
                base_url=base_url,
                request_id=_path_text(step.get("request_id"), data),
                external_id=_path_text(step.get("external_id"), data),
                callback=bool(step.get("callback")),
                event_id=run["event_id"],
                run_id=run["id"],
            )
        except ClaybridgeError as exc:
            error = f"step {index}: {exc.message}"
            done.append({**entry, "status": "failed", "error": error})
            return _finish(conn, run, runs.FAILED, done, error, now)
        done.append({**entry, **queued})
    return _finish(conn, run, runs.COMPLETED, done, None, now)


def _wait(
    conn: sa.Connection,
    step: dict[str, Any],
    index: int,
    done: list[dict[str, Any]],
    entry: dict[str, Any],
) -> str:
    """Fill ``entry`` for a wait step; returns ``completed``, ``failed`` or ``waiting``."""
    target = step.get("step")
    if target is None:
        target = max(s["index"] for s in done if s["kind"] == "clay_submit")
    submitted = done[target]
    request_id = submitted.get("request_id")
    entry.update(request_id=request_id, waits_for=target)
    if submitted.get("status") == "skipped" or not request_id:
        entry.update(status="skipped", reason=f"step {target} submitted nothing to wait for")
        return "completed"
    query = sa.select(pending_requests.c.status, pending_requests.c.result).where(
        pending_requests.c.request_id == request_id
    )
    if conn.dialect.name == "postgresql":
        # Lock the request: a callback arriving now either finishes first (we see it
        # completed) or waits for this run to be marked waiting (and then resumes it).
        query = query.with_for_update()
    found = conn.execute(query).first()
    if found is None:
        entry.update(status="failed", error=f"request {request_id} is unknown")
        return "failed"
    if found.status == COMPLETED:
        entry.update(status="completed", result=found.result)
        return "completed"
    if found.status == EXPIRED:
        entry.update(
            status="failed", error=f"timed out waiting for the callback of request {request_id}"
        )
        return "failed"
    return "waiting"


def _finish(
    conn: sa.Connection,
    run: dict[str, Any],
    status: str,
    done: list[dict[str, Any]],
    error: str | None,
    now: datetime,
) -> dict[str, Any]:
    runs.finish(
        conn, run["id"], status=status, steps=done, error=error, now=now, worker=run["lease_owner"]
    )
    return {"status": status, "steps": done, "error": error}


def process_due(conn: sa.Connection, now: datetime, worker: str, base_url: str = "") -> int:
    """Worker job: claim up to :data:`BATCH` due runs and carry them on."""
    claimed = runs.claim(conn, worker=worker, now=now, limit=BATCH, lease_seconds=LEASE_SECONDS)
    for run in claimed:
        outcome = execute(conn, run, now, base_url)
        log.info(
            "run advanced",
            run=run["id"],
            workflow=run.get("workflow_key"),
            status=outcome["status"],
            error=outcome["error"],
        )
    return len(claimed)
