"""Carrying out a plan on the database, or previewing it for a dry run.

Contract: :func:`resolve_owners` does every read that can still reject the event
(owner lookups) before :func:`apply_plan` writes anything, so a rejected event leaves no
record behind. Results list, in mapping order, what each action did (or would do).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from claybridge.mapping.engine import Plan, PlannedAction
from claybridge.records import customers, objects, owners, people

Owner = dict[str, Any] | None


def resolve_owners(
    conn: sa.Connection, plan: Plan, lookup: Any = owners.resolve
) -> dict[int, Owner]:
    """The owner of each customer action, by action index; raises on a bad owner."""
    found: dict[int, Owner] = {}
    for action in plan.actions:
        if action.status == "apply" and action.customer is not None:
            found[action.index] = lookup(
                conn, name=action.customer.owner_name, email=action.customer.owner_email
            )
    return found


def apply_plan(
    conn: sa.Connection,
    plan: Plan,
    resolved: dict[int, Owner],
    *,
    source_id: str,
    now: datetime,
    dry_run: bool,
) -> list[dict[str, Any]]:
    """Apply (or preview) each planned action in order; returns one result per action."""
    return [
        _one(conn, a, resolved.get(a.index), source_id=source_id, now=now, dry_run=dry_run)
        for a in plan.actions
    ]


def _one(
    conn: sa.Connection,
    action: PlannedAction,
    owner: Owner,
    *,
    source_id: str,
    now: datetime,
    dry_run: bool,
) -> dict[str, Any]:
    if action.status == "skipped":
        return {"kind": action.kind, "status": "skipped", "reason": action.reason}
    status = "would_apply" if dry_run else "applied"
    if action.kind == "upsert_customer":
        assert action.customer is not None
        owner_id = owner["id"] if owner else None
        if dry_run:
            row, created = customers.preview(conn, action.customer, owner_id=owner_id)
        else:
            row, created = customers.upsert(
                conn, action.customer, owner_id=owner_id, source_id=source_id, now=now
            )
        if owner is None and row["owner_id"]:
            owner = owners.get(conn, row["owner_id"])  # kept from an earlier row: show it
        body = customers.public(row, owner)
        body["created"] = created
        # The record itself is the answer's top-level "customer" (see ingest.pipeline).
        return {
            "kind": action.kind,
            "status": status,
            "created": created,
            "customer_id": body["id"],
            "_customer": body,
        }
    assert action.key is not None
    if action.kind == "identify_person":
        if dry_run:
            person, created = people.preview(conn, action.key, action.values, action.properties)
        else:
            person, created = people.identify(
                conn, action.key, action.values, action.properties, source_id=source_id, now=now
            )
        return {
            "kind": action.kind,
            "status": status,
            "created": created,
            "person": people.public(person),
        }
    assert action.collection is not None
    if dry_run:
        obj, created = objects.preview(conn, action.collection, action.key, action.properties)
    else:
        obj, created = objects.set_object(
            conn, action.collection, action.key, action.properties, source_id=source_id, now=now
        )
    return {
        "kind": action.kind,
        "status": status,
        "created": created,
        "object": objects.public(obj),
    }
