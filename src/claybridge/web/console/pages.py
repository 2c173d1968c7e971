"""The console's pages: sign-in, the event log (filters, live tail), an event's detail
and its replay. Server-rendered with Jinja2 (autoescaped: every value from Clay or a
user renders as text); the reads and writes go through the same records and services
as the API."""

from __future__ import annotations

import asyncio
import shlex
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.templating import Jinja2Templates

from claybridge.errors import ClaybridgeError, InvalidField
from claybridge.records import api_keys, console, events, sources
from claybridge.records.events import Event
from claybridge.state import AppState
from claybridge.views.events import event_json
from claybridge.web.admin import run_replay
from claybridge.web.console.live import PING_SECONDS, LiveTail, TooManyStreams
from claybridge.web.console.session import (
    SESSION_LIFETIME,
    ConsoleUser,
    checked_form,
    clear_session_cookie,
    current_user,
    form_fields,
    set_session_cookie,
)
from claybridge.web.deps import State

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(prefix="/ui", include_in_schema=False)
User = Annotated[ConsoleUser, Depends(current_user)]
PAGE_SIZE = 50


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page; ``user`` (for the header and CSRF fields) defaults to nobody."""
    context.setdefault("user", None)
    return templates.TemplateResponse(request, name, context, status_code=status_code)


# -- signing in ------------------------------------------------------------------------


def _next(path: str | None) -> str:
    """Where to go after signing in: a console path only (never another site)."""
    return path if path and path.startswith("/ui/") and not path.startswith("//") else "/ui/events"


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, token: str = "", next: str = "") -> HTMLResponse:
    """Sign-in: the link's button (the link is used on POST, so a link preview cannot
    spend it), or the API key form."""
    return render(request, "login.html", token=token, next=_next(next))


@router.post("/login")
async def login(request: Request, state: State) -> Response:
    """Use a sign-in link or an API key; open a session and set its cookie."""
    fields = await form_fields(request)
    now = state.clock.now()
    role, opened_by = await asyncio.to_thread(_authenticate, state, fields, now)
    if role is None:
        error = (
            "This sign-in link was used already or has expired: run "
            "`claybridge console-link` again."
            if fields.get("token")
            else "That API key is wrong or revoked."
        )
        return render(request, "login.html", 401, error=error, token="", next=_next(None))
    with state.db.write() as conn:
        token = console.open_session(conn, role, opened_by, now, SESSION_LIFETIME)
    response = RedirectResponse(_next(fields.get("next")), status_code=303)
    set_session_cookie(response, request, token)
    return response


def _authenticate(state: AppState, fields: dict[str, str], now: datetime) -> tuple[str | None, str]:
    if fields.get("token"):
        with state.db.write() as conn:
            return console.redeem_link(conn, fields["token"], now), "sign-in link"
    with state.db.read() as conn:
        key = api_keys.verify(conn, fields.get("api_key", "").strip())
    return (key["role"], f"API key {key['name']}") if key else (None, "")


@router.post("/logout")
async def logout(request: Request, user: User, state: State) -> Response:
    """End the session (any role; CSRF-checked like every POST)."""
    await checked_form(request, user, change=False)
    with state.db.write() as conn:
        console.end_session(conn, user.session_id, state.clock.now())
    response = RedirectResponse("/ui/login", status_code=303)
    clear_session_cookie(response, request)
    return response


# -- the event log ---------------------------------------------------------------------


def when_field(value: str, name: str) -> datetime | None:
    """A ``datetime-local`` field (UTC) or an ISO timestamp."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidField(f"{name}: not a date and time", field=name) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def event_filter(
    source: str = "",
    outcome: str = "",
    error_code: str = "",
    event: str = "",
    since: str = "",
    until: str = "",
    q: str = "",
) -> events.EventFilter:
    """The event log's filter from its query string (the URL is the shareable filter)."""
    if outcome and outcome not in events.STATUSES:
        raise InvalidField(f"outcome must be one of {', '.join(events.STATUSES)}", field="outcome")
    return events.EventFilter(
        source_id=source or None,
        status=outcome or None,
        error_code=error_code.strip() or None,
        event_name=event.strip() or None,
        since=when_field(since, "since"),
        until=when_field(until, "until"),
        q=q.strip() or None,
    )


Filter = Annotated[events.EventFilter, Depends(event_filter)]


def filter_query(request: Request, **override: str) -> str:
    """The filter part of a page's query string (no cursor), with ``override``'s values
    put in: to build links, tabs and streams that keep the filter."""
    kept = {k: v for k, v in request.query_params.items() if k not in ("cursor", "live")}
    kept.update(override)
    return urlencode({k: v for k, v in kept.items() if v})


def summary(event: Event) -> str:
    """One line saying what an event's actions did (or why it was refused)."""
    if event.error_code:
        return str(event.error_message or event.error_code)
    answer = events.parsed_text(event.response_body)
    if not isinstance(answer, dict):
        return ""
    parts = [
        f"{a.get('kind')}: {a.get('status')}"
        for a in answer.get("actions", [])
        if isinstance(a, dict)
    ]
    if answer.get("warnings"):
        parts.append(f"warning: {answer['warnings'][0]}")
    return "; ".join(parts)


def shown(event: Event) -> dict[str, Any]:
    """An event as the templates show it."""
    return {**event_json(event), "summary": summary(event)}


@router.get("", include_in_schema=False)
def home() -> RedirectResponse:
    """The console starts at the event log."""
    return RedirectResponse("/ui/events", status_code=303)


@router.get("/events", response_class=HTMLResponse)
def event_log(
    request: Request, user: User, state: State, flt: Filter, cursor: str | None = None
) -> HTMLResponse:
    """The event log, newest first, filtered by the URL's query string."""
    with state.db.read() as conn:
        page = events.search(conn, where=flt, cursor=cursor, limit=PAGE_SIZE)
        all_sources = sources.list_all(conn)
    return render(
        request,
        "events.html",
        user=user,
        nav="events",
        rows=[shown(r) for r in page.items],
        next_cursor=page.next_cursor,
        sources=all_sources,
        outcomes=events.STATUSES,
        f=flt,
        since=request.query_params.get("since", ""),
        until=request.query_params.get("until", ""),
        query=filter_query(request),
    )


@router.get("/events/stream")
async def event_stream(request: Request, _user: User, flt: Filter) -> Response:
    """Server-sent events: each new event the filter accepts, as a rendered table row."""
    tail: LiveTail = request.app.state.live_tail
    try:
        subscriber = await tail.subscribe(flt.matches)
    except TooManyStreams:
        raise ClaybridgeError(
            "too many live tails are open; close one and try again",
            code="too_many_streams",
            status_code=503,
        ) from None
    row_template = templates.get_template("_event_row.html")

    async def stream() -> Any:
        try:
            yield ": live tail open\n\n"
            while True:
                try:
                    row = await asyncio.wait_for(subscriber.queue.get(), PING_SECONDS)
                except TimeoutError:
                    yield ": ping\n\n"
                    continue
                if row is None:
                    return
                data = {
                    "id": row.id,
                    "status": row.status,
                    "status_code": row.status_code,
                    "answer": events.parsed_text(row.response_body),
                    "html": row_template.render(e=shown(row)),
                }
                yield f"event: event\ndata: {orjson.dumps(data).decode()}\n\n"
        finally:
            tail.unsubscribe(subscriber)

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)


# -- one event -------------------------------------------------------------------------


def _pretty(value: Any) -> str:
    if isinstance(value, str):
        return value
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


# What an action's answer names, and where the console shows it.
_TOUCHED = (
    ("customer", "customer_id", "/ui/customers/{}"),
    ("delivery", "delivery_id", "/ui/deliveries/{}"),
    ("run", "run_id", "/ui/runs/{}"),
    ("request", "request_id", "/ui/requests?request_id={}"),
)


def _actions(answer: Any) -> list[dict[str, Any]]:
    """Each action's result with links to the records, deliveries or runs it touched."""
    if not isinstance(answer, dict):
        return []
    found = []
    for action in answer.get("actions", []):
        if not isinstance(action, dict):
            continue
        touched = [
            (label, action[key], href.format(action[key]))
            for label, key, href in _TOUCHED
            if isinstance(action.get(key), str)
        ]
        person, thing = action.get("person"), action.get("object")
        if isinstance(person, dict) and person.get("id"):
            touched.append(("person", person["id"], f"/ui/people/{person['id']}"))
        if isinstance(thing, dict) and thing.get("key"):
            path = f"/ui/objects/{thing.get('collection')}/{thing['key']}"
            touched.append(("object", thing["key"], path))
        found.append({**action, "touched": touched})
    return found


def curl_of(row: Event, base_url: str, source_key: str) -> str:
    """The event as a curl command (its redacted headers stay redacted: put the token
    back in before running it)."""
    headers = row.request_headers or {}
    parts = ["curl", "-X", "POST", f"{base_url}/hooks/{source_key}"]
    for name in ("authorization", "content-type"):
        if name in headers:
            parts += ["-H", f"{name}: {headers[name]}"]
    parts += ["--data-raw", row.request_body or ""]
    return " ".join(shlex.quote(p) for p in parts)


@router.get("/events/{event_id}", response_class=HTMLResponse)
def event_detail(request: Request, event_id: str, user: User, state: State) -> HTMLResponse:
    """One event: headers and body as logged, the answer Clay showed, each action."""
    with state.db.read() as conn:
        row = events.get(conn, event_id)
        source = sources.find(conn, row.source_id)
    answer = events.parsed_text(row.response_body)
    body = events.parsed_text(row.request_body)
    return render(
        request,
        "event.html",
        user=user,
        nav="events",
        e=event_json(row),
        answer=_pretty(answer),
        actions=_actions(answer),
        headers=_pretty(row.request_headers),
        body=_pretty(body),
        curl=curl_of(row, state.settings.base_url, source.key),
        replayable=isinstance(body, dict),
    )


@router.post("/events/{event_id}/replay", response_class=HTMLResponse)
async def replay(request: Request, event_id: str, user: User, state: State) -> HTMLResponse:
    """Preview (a dry run) or replay an event through its source's current mapping."""
    fields = await checked_form(request, user)
    preview = fields.get("preview") == "1"
    result = await run_replay(state, event_id, dry_run=preview)
    return render(
        request,
        "replay.html",
        user=user,
        nav="events",
        event_id=event_id,
        done=not preview,
        new_id=result.body.get("event_id"),
        status=result.status_code,
        answer=_pretty(result.body),
    )
