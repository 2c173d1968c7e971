"""Workflows and runs in the admin API (``/v1/workflows``, ``/v1/runs``)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from claybridge.records import runs, workflows
from claybridge.web.deps import Limit, State, require_api_key

router = APIRouter(prefix="/v1", dependencies=[Depends(require_api_key)], tags=["workflows"])


@router.get("/workflows")
def list_workflows(state: State) -> dict[str, Any]:
    """Every workflow."""
    with state.db.read() as conn:
        rows = workflows.list_all(conn)
    return {"ok": True, "data": [workflows.public(r) for r in rows]}


@router.post("/workflows")
def save_workflow(body: dict[str, Any], state: State) -> JSONResponse:
    """Create a workflow, or replace the one with the same key (201 created, 200 replaced)."""
    with state.db.write() as conn:
        row, created = workflows.save(conn, body, state.clock.now())
    return JSONResponse(
        {"ok": True, "workflow": workflows.public(row)}, status_code=201 if created else 200
    )


@router.get("/workflows/{key}")
def get_workflow(key: str, state: State) -> dict[str, Any]:
    """One workflow by key or id."""
    with state.db.read() as conn:
        return {"ok": True, "workflow": workflows.public(workflows.find(conn, key))}


@router.put("/workflows/{key}")
def put_workflow(key: str, body: dict[str, Any], state: State) -> JSONResponse:
    """Create or replace the workflow ``key`` (the body's key, if any, must match)."""
    data = {**body, "key": body.get("key", key)}
    return save_workflow(data, state)


@router.delete("/workflows/{key}")
def delete_workflow(key: str, state: State, force: bool = False) -> dict[str, Any]:
    """Delete a workflow and its runs (deliveries they queued stay); refused with 409
    ``workflow_in_use`` while a mapping triggers it, unless ``force``."""
    with state.db.write() as conn:
        row = workflows.delete(conn, key, force=force)
    return {"ok": True, "deleted": row["id"]}


class RunStart(BaseModel):
    """Body of ``POST /v1/workflows/{key}/runs``."""

    event: dict[str, Any]
    source: dict[str, Any] | None = None
    idempotency_key: str | None = Field(default=None, max_length=255)


@router.post("/workflows/{key}/runs")
def start_run(key: str, body: RunStart, state: State) -> JSONResponse:
    """Start a run. A new idempotency key answers 202; the same key while its run is
    active answers 200 with that run; after it ended, 409 ``idempotency_key_conflict``."""
    for attempt in range(2):
        try:
            with state.db.write() as conn:
                wf = workflows.find(conn, key)
                row, created = runs.start(
                    conn,
                    wf,
                    body.event,
                    state.clock.now(),
                    source=body.source,
                    idempotency_key=body.idempotency_key,
                )
                row["workflow_key"] = wf["key"]
            break
        except sa.exc.IntegrityError:
            # Another request started a run with this key in the meantime: the retry
            # finds it and answers as a repeat would.
            if attempt:
                raise
    if created:
        state.wake()
    return JSONResponse(
        {"ok": True, "created": created, "run": runs.public(row)},
        status_code=202 if created else 200,
    )


@router.get("/runs")
def list_runs(
    state: State,
    workflow: str | None = None,
    status: str | None = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> dict[str, Any]:
    """Runs newest first, by workflow and status."""
    with state.db.read() as conn:
        wf_id = workflows.find(conn, workflow)["id"] if workflow else None
        page = runs.search(conn, workflow_id=wf_id, status=status, limit=limit, cursor=cursor)
    return {
        "ok": True,
        "data": [runs.public(r) for r in page.items],
        "next_cursor": page.next_cursor,
    }


@router.get("/runs/{run_id}")
def get_run(run_id: str, state: State) -> dict[str, Any]:
    """One run with its steps' outcomes."""
    with state.db.read() as conn:
        return {"ok": True, "run": runs.public(runs.get(conn, run_id))}


@router.post("/runs/{run_id}/cancel")
def cancel_run(run_id: str, state: State) -> dict[str, Any]:
    """Cancel an active run (409 once it has ended)."""
    with state.db.write() as conn:
        row = runs.cancel(conn, run_id, state.clock.now())
    return {"ok": True, "run": runs.public(row)}
