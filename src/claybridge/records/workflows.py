"""Workflows: stored definitions (see ``claybridge.mapping.workflow``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from claybridge.errors import NotFound
from claybridge.ids import new_id
from claybridge.mapping.model import validated
from claybridge.mapping.workflow import WorkflowSpec
from claybridge.records import references
from claybridge.storage.tables import workflows


def validate(data: Any) -> WorkflowSpec:
    """A valid spec, or :class:`InvalidField` (``invalid_workflow``) naming the key."""
    return validated(WorkflowSpec, data, code="invalid_workflow")


def save(conn: sa.Connection, data: dict[str, Any], now: datetime) -> tuple[dict[str, Any], bool]:
    """Create the workflow, or replace the one with the same key; returns it and whether
    it was created."""
    spec = validate(data)
    references.check(conn, references.in_steps(spec))
    existing = conn.execute(sa.select(workflows).where(workflows.c.key == spec.key)).first()
    values = {
        "name": spec.name or spec.key,
        "description": spec.description,
        "steps": [s.model_dump(exclude_none=True) for s in spec.steps],
        "updated_at": now,
    }
    if existing is not None:
        conn.execute(workflows.update().where(workflows.c.id == existing.id).values(**values))
        return {**dict(existing._mapping), **values}, False
    row = {"id": new_id("wf"), "key": spec.key, "created_at": now, **values}
    conn.execute(workflows.insert().values(**row))
    return row, True


def find(conn: sa.Connection, ref: str) -> dict[str, Any]:
    """A workflow by key or id; :class:`NotFound` otherwise."""
    row = conn.execute(
        sa.select(workflows).where(sa.or_(workflows.c.key == ref, workflows.c.id == ref))
    ).first()
    if row is None:
        raise NotFound(f"no workflow {ref!r} (give its key or id)", code="unknown_workflow")
    return dict(row._mapping)


def list_all(conn: sa.Connection) -> list[dict[str, Any]]:
    """Every workflow, by key."""
    return [dict(r._mapping) for r in conn.execute(sa.select(workflows).order_by(workflows.c.key))]


def delete(conn: sa.Connection, ref: str, *, force: bool = False) -> dict[str, Any]:
    """Delete a workflow and its runs; refused (409 ``workflow_in_use``) while a mapping
    triggers it, unless ``force``."""
    row = find(conn, ref)
    if not force:
        references.refuse_if_used(conn, references.WORKFLOW, row["key"])
    conn.execute(workflows.delete().where(workflows.c.id == row["id"]))
    return row


def public(row: dict[str, Any]) -> dict[str, Any]:
    """A workflow as the API and CLI show it."""
    return {
        "id": row["id"],
        "key": row["key"],
        "name": row["name"],
        "description": row["description"],
        # In the spec's key order, whichever database stored them (JSONB reorders keys).
        "steps": [
            s.model_dump(exclude_none=True)
            for s in validate({"key": row["key"], "steps": row["steps"]}).steps
        ],
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
    }
