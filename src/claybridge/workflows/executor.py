"""Carrying out runs: a worker job that takes due runs and performs their steps.

:func:`plan_steps` is pure (a workflow's steps and a run's data in, what each step does
out). :func:`process_due` claims runs and applies those plans in the worker's write
transaction: a ``forward`` step enqueues a delivery linked to the run (so sending it
gets the queue's retries, rate limits and circuit breaker), then the run completes.
A step naming a destination that no longer exists fails the run, saying which.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import structlog

from claybridge.mapping.conditions import compile_condition, view
from claybridge.mapping.paths import parse_path
from claybridge.records import deliveries, runs
from claybridge.storage.tables import destinations, workflows
from claybridge.workflows.model import STEP_NAMES

log = structlog.get_logger(__name__)
BATCH = 50
LEASE_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class StepPlan:
    """What one step will do: ``skip`` (with a reason) or ``forward`` (with a payload)."""

    index: int
    kind: str
    action: str
    destination: str | None = None
    payload: Any = None
    reason: str | None = None


def plan_steps(steps: list[dict[str, Any]], event: Any, source: Any) -> list[StepPlan]:
    """Evaluate each step's condition against the run's data, in order. Pure."""
    data = {"event": event, "source": source or {}}
    out: list[StepPlan] = []
    for index, step in enumerate(steps):
        when = step.get("when")
        if when:
            outcomes = {str(p.index): {"action": p.action} for p in out}
            names = {"event": view(event), "source": view(source or {}), "steps": outcomes}
            ok, error = compile_condition(when, STEP_NAMES).evaluate(names)
            if not ok:
                reason = error or f"condition {when!r} is false"
                out.append(StepPlan(index, step["kind"], "skip", reason=reason))
                continue
        payload = parse_path(step.get("payload", "event"), ("event", "source")).resolve(data)
        out.append(StepPlan(index, step["kind"], "forward", step["destination"], payload))
    return out


def execute(conn: sa.Connection, run: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Carry out ``run`` (claimed, status running); returns its recorded outcome."""
    wf = conn.execute(sa.select(workflows.c.steps).where(workflows.c.id == run["workflow_id"]))
    steps = wf.scalar_one()
    results: list[dict[str, Any]] = []
    queued: list[dict[str, Any]] = []
    error: str | None = None
    for plan in plan_steps(steps, run["event"], run["source"]):
        entry: dict[str, Any] = {"index": plan.index, "kind": plan.kind}
        if plan.action == "skip":
            results.append({**entry, "status": "skipped", "reason": plan.reason})
            continue
        dest_id = conn.execute(
            sa.select(destinations.c.id).where(destinations.c.name == plan.destination)
        ).scalar()
        if dest_id is None:
            error = f"step {plan.index}: no destination named {plan.destination!r}"
            results.append({**entry, "status": "failed", "error": error})
            break
        row = deliveries.new_row(
            dest_id, plan.payload, now, event_id=run["event_id"], run_id=run["id"]
        )
        queued.append(row)
        results.append(
            {
                **entry,
                "status": "queued",
                "destination": plan.destination,
                "delivery_id": row["id"],
            }
        )
    if error is None:
        deliveries.enqueue(conn, queued)
    status = runs.FAILED if error else runs.COMPLETED
    runs.finish(
        conn,
        run["id"],
        status=status,
        steps=results,
        error=error,
        now=now,
        worker=run["lease_owner"],
    )
    return {"status": status, "steps": results, "error": error}


def process_due(conn: sa.Connection, now: datetime, worker: str) -> int:
    """Worker job: claim up to :data:`BATCH` due runs and carry them out."""
    claimed = runs.claim(conn, worker=worker, now=now, limit=BATCH, lease_seconds=LEASE_SECONDS)
    for run in claimed:
        outcome = execute(conn, run, now)
        log.info(
            "run finished",
            run=run["id"],
            workflow=run.get("workflow_key"),
            status=outcome["status"],
            error=outcome["error"],
        )
    return len(claimed)
