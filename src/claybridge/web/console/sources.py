"""The console's sources: the connect wizard (template → its mappings → URL and token,
shown once → the Clay column setup → waiting for the first row) and a source's page
(last 24 h, settings, rotate the token, disconnect). Writes go through the same
records as the API (``records.sources``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import yaml
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from claybridge.records import events, sources
from claybridge.state import AppState
from claybridge.templates import TEMPLATES, column_setup
from claybridge.views.sources import source_json
from claybridge.web.console.pages import User, render, shown
from claybridge.web.console.session import checked_form
from claybridge.web.deps import State

router = APIRouter(prefix="/ui", include_in_schema=False)
DAY = timedelta(hours=24)
HOUR = timedelta(hours=1)


def _yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def _setup(state: AppState, row: sources.Source, token: str | None) -> dict[str, Any]:
    """The Clay HTTP API column setup (``token``: when it is shown, this once)."""
    return column_setup(state.settings.source_url(row.key), token, TEMPLATES[row.template])


@router.get("/sources", response_class=HTMLResponse)
def source_list(request: Request, user: User, state: State) -> HTMLResponse:
    """Every source with its last 24 h."""
    since = state.clock.now() - DAY
    with state.db.read() as conn:
        rows = sources.list_all(conn)
        counts = {r.id: events.outcome_counts(conn, since, r.id) for r in rows}
    listed = [
        {**source_json(r, state.settings.source_url(r.key)), "counts": counts[r.id]} for r in rows
    ]
    return render(request, "sources.html", user=user, nav="sources", sources=listed)


@router.get("/connect", response_class=HTMLResponse)
def connect(request: Request, user: User, template: str = "") -> HTMLResponse:
    """Step 1, choose a template; step 2 (``template`` chosen), review its mappings."""
    chosen = TEMPLATES.get(template)
    return render(
        request,
        "connect.html",
        user=user,
        nav="sources",
        templates=TEMPLATES.values(),
        chosen=chosen,
        mappings=_yaml(chosen.config) if chosen else "",
    )


@router.post("/connect", response_class=HTMLResponse)
async def create(request: Request, user: User, state: State) -> HTMLResponse:
    """Create the source; the answer is the only page that shows its token."""
    fields = await checked_form(request, user)
    with state.db.write() as conn:
        row, token = sources.create(
            conn, fields.get("name", ""), fields.get("template", ""), state.clock.now()
        )
    return _token_page(request, user, state, row, token, new=True)


def _token_page(
    request: Request,
    user: Any,
    state: AppState,
    row: sources.Source,
    token: str,
    *,
    new: bool,
) -> HTMLResponse:
    return render(
        request,
        "connected.html",
        user=user,
        nav="sources",
        source=source_json(row, state.settings.source_url(row.key)),
        token=token,
        setup=_setup(state, row, token),
        new=new,
    )


@router.get("/sources/{ref}", response_class=HTMLResponse)
def source_page(request: Request, ref: str, user: User, state: State) -> HTMLResponse:
    """A source: its last 24 h, last event, settings, and token actions."""
    now = state.clock.now()
    with state.db.read() as conn:
        row = sources.find(conn, ref)
        counts = events.outcome_counts(conn, now - DAY, row.id)
        latest = events.search(conn, where=events.EventFilter(source_id=row.id), limit=1)
        old_token = events.error_count(conn, row.id, "rotated_token", now - HOUR)
    shown_row = source_json(row, state.settings.source_url(row.key))
    return render(
        request,
        "source.html",
        user=user,
        nav="sources",
        source=shown_row,
        counts=counts,
        last=shown(latest.items[0]) if latest.items else None,
        settings=_yaml(shown_row["config"]),
        setup=_setup(state, row, None),
        old_token=old_token,
    )


@router.post("/sources/{ref}/rotate", response_class=HTMLResponse)
async def rotate(request: Request, ref: str, user: User, state: State) -> HTMLResponse:
    """Confirm, then rotate the token: the new one is shown once, the old one stops."""
    fields = await checked_form(request, user)
    if fields.get("confirm") != "yes":
        return _confirm(request, user, state, ref, "rotate")
    with state.db.write() as conn:
        row, token = sources.rotate_token(conn, ref, state.clock.now())
    return _token_page(request, user, state, row, token, new=False)


@router.post("/sources/{ref}/disconnect", response_class=HTMLResponse)
async def disconnect(request: Request, ref: str, user: User, state: State) -> HTMLResponse:
    """Confirm, then revoke the token: every request gets 401 until a rotation."""
    fields = await checked_form(request, user)
    if fields.get("confirm") != "yes":
        return _confirm(request, user, state, ref, "disconnect")
    with state.db.write() as conn:
        row = sources.disconnect(conn, ref, state.clock.now())
    return source_page(request, row.id, user, state)


def _confirm(request: Request, user: Any, state: AppState, ref: str, action: str) -> HTMLResponse:
    with state.db.read() as conn:
        row = sources.find(conn, ref)
    return render(
        request,
        "confirm.html",
        user=user,
        nav="sources",
        source=source_json(row, state.settings.source_url(row.key)),
        action=action,
    )
