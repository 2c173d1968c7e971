"""Carrying out a plan on the database, or previewing it for a dry run.

Contract: :func:`resolve_owners` does every read that can still reject the event
(owner lookups, and the destinations and workflows that ``forward`` and
``trigger_workflow`` name) before :func:`apply_plan` writes anything, so a rejected
event leaves no record behind. Results list, in mapping order, what each action did (or
would do). Outbound actions only enqueue: a ``forward`` becomes a pending delivery
written with the event, a ``trigger_workflow`` a queued run; workers do the sending.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from claybridge.actions.upsert_customer import CustomerInput
from claybridge.clay import submit as clay_submit
from claybridge.errors import ClaybridgeError, NotFound
from claybridge.mapping.engine import Plan, PlannedAction
from claybridge.records import (
    customers,
    deliveries,
    objects,
    owners,
    people,
    requests,
    runs,
    workflows,
)
from claybridge.storage.batch import DEFER_UPSERTS, batch_scope, carried, defer_insert
from claybridge.storage.tables import destinations

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
        elif action.status == "apply" and action.kind in ("forward", "clay_submit"):
            found[action.index] = _destination(conn, action.target or "")
        elif action.status == "apply" and action.kind == "trigger_workflow":
            found[action.index] = _workflow(conn, action.target or "")
    return found


def _cached(conn: sa.Connection, kind: str, name: str, load: Any) -> dict[str, Any]:
    """``load(conn, name)``, remembered for the batch (one snapshot)."""
    cache = batch_scope(conn).setdefault(kind, {})
    if name not in cache:
        cache[name] = load(conn, name)
    return cache[name]  # type: ignore[no-any-return]


def _load_destination(conn: sa.Connection, name: str) -> dict[str, Any]:
    row = conn.execute(
        sa.select(
            destinations.c.id, destinations.c.name, destinations.c.kind, destinations.c.clay
        ).where(destinations.c.name == name)
    ).first()
    if row is None:
        raise ClaybridgeError(
            f"the mapping forwards to destination {name!r}, which does not exist; "
            "create it or fix the mapping",
            code="unknown_destination",
            status_code=422,
        )
    return dict(row._mapping)


def _destination(conn: sa.Connection, name: str) -> dict[str, Any]:
    return _cached(conn, "destinations", name, _load_destination)


def _load_workflow(conn: sa.Connection, key: str) -> dict[str, Any]:
    try:
        return workflows.find(conn, key)
    except NotFound:
        raise ClaybridgeError(
            f"the mapping triggers workflow {key!r}, which does not exist; "
            "create it or fix the mapping",
            code="unknown_workflow",
            status_code=422,
        ) from None


def _workflow(conn: sa.Connection, key: str) -> dict[str, Any]:
    return _cached(conn, "workflows", key, _load_workflow)


def apply_plan(
    conn: sa.Connection,
    plan: Plan,
    resolved: dict[int, Owner],
    *,
    source_id: str,
    now: datetime,
    dry_run: bool,
    event_id: str | None = None,
    source_name: str | None = None,
    base_url: str = "",
) -> list[dict[str, Any]]:
    """Apply (or preview) each planned action in order; returns one result per action.

    ``base_url``: where Clay reaches Claybridge (callback URLs of Clay submissions).
    """
    out = []
    for a in plan.actions:
        if a.status == "apply" and a.kind == "clay_submit":
            dest = resolved[a.index]
            assert dest is not None
            out.append(_clay_submit(conn, a, dest, event_id, now, dry_run, base_url))
        elif a.status == "apply" and a.kind == "complete_request":
            out.append(_complete_request(conn, a, event_id, now, dry_run))
        elif a.status == "apply" and a.kind in ("forward", "trigger_workflow"):
            origin = {"id": source_id, "name": source_name, "event": plan.event_name}
            out.append(_outbound(conn, a, resolved[a.index], origin, event_id, now, dry_run))
        else:
            out.append(
                _one(conn, a, resolved.get(a.index), source_id=source_id, now=now, dry_run=dry_run)
            )
    return out


def _clay_submit(
    conn: sa.Connection,
    action: PlannedAction,
    dest: dict[str, Any],
    event_id: str | None,
    now: datetime,
    dry_run: bool,
    base_url: str,
) -> dict[str, Any]:
    result: dict[str, Any] = {"kind": "clay_submit"}
    if dry_run:
        clay_submit.options(dest)
        return {**result, "status": "would_queue", "destination": dest["name"]}
    done = clay_submit.enqueue(
        conn,
        dest,
        action.payload,
        now,
        base_url=base_url,
        request_id=action.key,
        external_id=action.external_id,
        callback=action.callback,
        event_id=event_id,
        defer=True,
    )
    return {**result, **done}


def _complete_request(
    conn: sa.Connection, action: PlannedAction, event_id: str | None, now: datetime, dry_run: bool
) -> dict[str, Any]:
    assert action.key is not None
    if dry_run:
        found = requests.get_request(conn, action.key)
        return {"kind": "complete_request", "status": "would_complete", "request": found["status"]}
    done = requests.complete(conn, action.key, action.payload, now, event_id)
    resumed = runs.resume_waiting(conn, done["run_id"], now) if done["run_id"] else False
    return {
        "kind": "complete_request",
        "status": "completed",
        "request_id": action.key,
        "run_resumed": resumed,
    }


def _outbound(
    conn: sa.Connection,
    action: PlannedAction,
    target: Any,
    origin: dict[str, Any],
    event_id: str | None,
    now: datetime,
    dry_run: bool,
) -> dict[str, Any]:
    if action.kind == "forward":
        if dry_run:
            return {"kind": "forward", "status": "would_queue", "destination": target["name"]}
        row = deliveries.new_row(target["id"], action.payload, now, event_id=event_id)
        defer_insert(conn, deliveries.INSERT, row)
        return {
            "kind": "forward",
            "status": "queued",
            "destination": target["name"],
            "delivery_id": row["id"],
        }
    if dry_run:
        return {"kind": "trigger_workflow", "status": "would_start", "workflow": target["key"]}
    result: dict[str, Any] = {"kind": "trigger_workflow", "workflow": target["key"]}
    try:
        run, created = runs.start(
            conn,
            target,
            action.payload,
            now,
            source=origin,
            idempotency_key=action.key,
            event_id=event_id,
        )
    except ClaybridgeError as exc:
        if exc.code != "idempotency_key_conflict":
            raise
        # A re-sent row whose run already ended: not an error for Clay, nothing to do.
        found = runs.by_key(conn, target["id"], action.key or "")
        assert found is not None
        return {**result, "status": "exists", "run_id": found["id"], "run_status": found["status"]}
    return {**result, "status": "started" if created else "exists", "run_id": run["id"]}


def defer_customer_upsert(
    conn: sa.Connection, data: CustomerInput, owner_id: str | None, source_id: str, now: datetime
) -> tuple[dict[str, Any], bool]:
    """:func:`customers.upsert` for a batch that writes its upserts at commit: the row is
    read (or taken from an earlier job of this batch), merged in Python by the SQL's own
    rules, and the upsert is deferred (see ``ingest.committer``).

    Why: an upsert with RETURNING was the largest single cost of a customer row on
    SQLite (~40% of the job, measured in-process); a lookup by the unique domain index
    and a merge cost less, and the batch's upserts then run as one multi-row statement.
    Only where the batch holds the write lock from its first read (SQLite's ``BEGIN
    IMMEDIATE``): nobody else can change the row between the read and the upsert.
    """
    # Rows as stored after the upserts so far, by domain: this batch's, and earlier
    # batches' while nothing else has written (see ingest.committer.carried).
    known: dict[str, dict[str, Any] | None] = carried(conn, "customers")
    domain = data.domain
    existing = known.pop(domain) if domain in known else customers.by_domain(conn, domain)
    params = customers.upsert_params(
        data,
        owner_id=owner_id,
        source_id=source_id,
        now=now,
        known_id=existing["id"] if existing is not None else None,
    )
    row, created = customers.merged(existing, params)
    known[domain] = row  # (re)inserted last: the least recently used are dropped first
    defer_insert(conn, customers.deferred_upsert(conn), params)
    return row, created


def _one(
    conn: sa.Connection,
    action: PlannedAction,
    owner: Owner,
    *,
    source_id: str,
    now: datetime,
    dry_run: bool,
) -> dict[str, Any]:
    """Carry out (or preview) one record action: a customer, a person or an object."""
    if action.status == "skipped":
        return {"kind": action.kind, "status": "skipped", "reason": action.reason}
    status = "would_apply" if dry_run else "applied"
    if action.kind == "upsert_customer":
        return {
            "kind": action.kind,
            "status": status,
            **_customer(conn, action, owner, source_id=source_id, now=now, dry_run=dry_run),
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


def _customer(
    conn: sa.Connection,
    action: PlannedAction,
    owner: Owner,
    *,
    source_id: str,
    now: datetime,
    dry_run: bool,
) -> dict[str, Any]:
    """The customer upsert: previewed, deferred to the batch's end, or written now."""
    assert action.customer is not None
    owner_id = owner["id"] if owner else None
    if dry_run:
        row, created = customers.preview(
            conn, action.customer, owner_id=owner_id, source_id=source_id, now=now
        )
    elif batch_scope(conn).get(DEFER_UPSERTS):
        row, created = defer_customer_upsert(conn, action.customer, owner_id, source_id, now)
    else:
        row, created = customers.upsert(
            conn, action.customer, owner_id=owner_id, source_id=source_id, now=now
        )
    if owner is None and row["owner_id"]:
        owner = owners.get(conn, row["owner_id"])  # kept from an earlier row: show it
    body = customers.public(row, owner)
    body["created"] = created
    # The record itself is the answer's top-level "customer" (see ingest.pipeline).
    return {"created": created, "customer_id": body["id"], "_customer": body}
