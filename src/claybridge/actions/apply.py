"""Carrying out a plan on the database, or previewing it for a dry run.

Contract: :func:`apply_plan` first makes every read that can still refuse the event
(each action's :meth:`~claybridge.actions.base.Action.resolve`: owners, destinations,
workflows), then applies (or previews) each action in mapping order, so a refused event
leaves no record behind. It answers one result per action.
"""

from __future__ import annotations

from typing import Any

from claybridge.actions.base import Applying
from claybridge.actions.outbound import QUEUED
from claybridge.actions.plan import Plan


def apply_plan(app: Applying, plan: Plan) -> list[dict[str, Any]]:
    """Apply (or, for a dry run, preview) each planned action in order."""
    resolved = [
        p.action.resolve(app, p.values) if p.status == "apply" else None for p in plan.actions
    ]
    out = []
    for p, found in zip(plan.actions, resolved, strict=True):
        if p.status != "apply":
            out.append({"kind": p.kind, "status": p.status, "reason": p.reason})
        elif app.dry_run:
            out.append(p.action.preview(app, p.values, found))
        else:
            out.append(p.action.apply(app, p.values, found))
    return out


def queued_work(plan: Plan, results: list[dict[str, Any]]) -> bool:
    """Whether an outbound action queued work for a worker (a delivery, a run)."""
    return any(
        p.action.shape.outbound and r["status"] in QUEUED
        for p, r in zip(plan.actions, results, strict=True)
    )
