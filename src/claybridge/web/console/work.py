"""The console's requests, workflows and runs: requests sent to Clay that wait for a
callback (pending, completed, expired), workflows, and runs with their steps (queued,
skipped with the reason, failed), a waiting run's request and expiry, and cancel."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from claybridge.errors import InvalidField
from claybridge.records import requests, runs, workflows
from claybridge.web.console.pages import User, render
from claybridge.web.console.session import checked_form
from claybridge.web.deps import State

router = APIRouter(prefix="/ui", include_in_schema=False)
REQUEST_STATUSES = (requests.PENDING, requests.COMPLETED, requests.EXPIRED)


@router.get("/requests", response_class=HTMLResponse)
def request_list(
    request: Request, user: User, state: State, status: str = "", request_id: str = ""
) -> HTMLResponse:
    """The latest requests sent to Clay that expect a callback (or one by its id)."""
    if status and status not in REQUEST_STATUSES:
        raise InvalidField(f"status must be one of {', '.join(REQUEST_STATUSES)}", field="status")
    with state.db.read() as conn:
        if request_id:
            rows = [requests.public_request(requests.get_request(conn, request_id))]
        else:
            rows = [
                requests.public_request(r) for r in requests.recent_requests(conn, status or None)
            ]
    return render(
        request,
        "requests.html",
        user=user,
        nav="work",
        rows=rows,
        status=status,
        statuses=REQUEST_STATUSES,
    )


@router.get("/runs", response_class=HTMLResponse)
def run_list(
    request: Request,
    user: User,
    state: State,
    status: str = "",
    workflow: str = "",
    cursor: str | None = None,
) -> HTMLResponse:
    """Workflows, and runs newest first (by status and workflow)."""
    with state.db.read() as conn:
        flows = workflows.list_all(conn)
        workflow_id = workflows.find(conn, workflow)["id"] if workflow else None
        page = runs.search(
            conn, workflow_id=workflow_id, status=status or None, limit=50, cursor=cursor
        )
    return render(
        request,
        "runs.html",
        user=user,
        nav="work",
        workflows=[workflows.public(w) for w in flows],
        rows=[runs.public(r) for r in page.items],
        next_cursor=page.next_cursor,
        status=status,
        workflow=workflow,
        statuses=runs.STATUSES,
    )


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(request: Request, run_id: str, user: User, state: State) -> HTMLResponse:
    """A run: its event, each step, and the request a waiting run waits for."""
    with state.db.read() as conn:
        run = runs.public(runs.get(conn, run_id))
        waiting_for = [
            requests.public_request(r) for r in requests.recent_requests(conn, run_id=run_id)
        ]
    return render(
        request,
        "run.html",
        user=user,
        nav="work",
        run=run,
        requests=waiting_for,
        active=run["status"] in runs.ACTIVE,
    )


@router.post("/runs/{run_id}/cancel")
async def cancel(request: Request, run_id: str, user: User, state: State) -> Response:
    """Cancel an active run (deliveries it queued already stay queued)."""
    await checked_form(request, user)
    with state.db.write() as conn:
        runs.cancel(conn, run_id, state.clock.now())
    return RedirectResponse(f"/ui/runs/{run_id}", status_code=303)
