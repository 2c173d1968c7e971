"""The console's outbound side: deliveries (tabs by status, filters, the attempt
timeline, replay one, bulk replay after its count) and destinations (circuit, rate,
last hour's success and latency, pause and resume, a test send; a Clay destination's
webhook pool with each webhook's use of its 50,000 and when it runs out). Reads and
writes go through the records the API uses (``delivery_log``, ``destinations``,
``clay``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from claybridge.clay import submit as clay_submit
from claybridge.core.ssrf import check_url
from claybridge.delivery.sender import send_test
from claybridge.errors import InvalidField
from claybridge.records import clay, deliveries, delivery_log, destinations, targets
from claybridge.records.destinations import Destination
from claybridge.state import AppState
from claybridge.views.deliveries import delivery_json
from claybridge.views.destinations import destination_json
from claybridge.web.console.pages import User, filter_query, render, when_field
from claybridge.web.console.session import checked_form
from claybridge.web.deps import State
from claybridge.web.outbound_api import SAMPLE as SAMPLE_ROW

router = APIRouter(prefix="/ui", include_in_schema=False)
HOUR = timedelta(hours=1)
DAY = timedelta(hours=24)
PAGE_SIZE = 50


def delivery_filter(
    status: str = "",
    destination: str = "",
    event_id: str = "",
    run_id: str = "",
    since: str = "",
    until: str = "",
) -> delivery_log.Filter:
    """The deliveries page's filter from its query string."""
    if status and status not in deliveries.STATUSES:
        raise InvalidField(
            f"status must be one of {', '.join(deliveries.STATUSES)}", field="status"
        )
    return delivery_log.Filter(
        destination_id=destination or None,
        status=status or None,
        since=when_field(since, "since"),
        until=when_field(until, "until"),
        event_id=event_id.strip() or None,
        run_id=run_id.strip() or None,
    )


Filter = Annotated[delivery_log.Filter, Depends(delivery_filter)]


@router.get("/deliveries", response_class=HTMLResponse)
def delivery_list(
    request: Request, user: User, state: State, flt: Filter, cursor: str | None = None
) -> HTMLResponse:
    """Deliveries, newest first, a tab per status."""
    with state.db.read() as conn:
        page = delivery_log.search(conn, flt, limit=PAGE_SIZE, cursor=cursor)
        # (delivered, most of them, is not counted: counting it read most of the index)
        counts = delivery_log.counts(conn, [s for s in deliveries.STATUSES if s != "delivered"])
        all_destinations = destinations.list_all(conn)
    tabs = [("", "all", None)] + [
        (s, s.replace("_", " "), counts.get(s, 0) if s != "delivered" else None)
        for s in deliveries.STATUSES
    ]
    return render(
        request,
        "deliveries.html",
        user=user,
        nav="deliveries",
        rows=[delivery_json(r) for r in page.items],
        next_cursor=page.next_cursor,
        tabs=[(s, label, n, filter_query(request, status=s)) for s, label, n in tabs],
        f=flt,
        destinations=all_destinations,
        query=filter_query(request),
        since=request.query_params.get("since", ""),
        until=request.query_params.get("until", ""),
    )


@router.get("/deliveries/{delivery_id}", response_class=HTMLResponse)
def delivery_page(request: Request, delivery_id: str, user: User, state: State) -> HTMLResponse:
    """One delivery: its payload and every attempt."""
    with state.db.read() as conn:
        row = delivery_log.get(conn, delivery_id)
    shown = delivery_json(row, full=True)
    payload = orjson.dumps(shown["payload"], option=orjson.OPT_INDENT_2).decode()
    return render(request, "delivery.html", user=user, nav="deliveries", d=shown, payload=payload)


@router.post("/deliveries/{delivery_id}/replay")
async def replay_one(request: Request, delivery_id: str, user: User, state: State) -> Response:
    """Send a delivery again as a new one (linked by replay_of)."""
    await checked_form(request, user)
    with state.db.write() as conn:
        new = delivery_log.replay(conn, [delivery_id], state.clock.now())
    state.wake()
    return RedirectResponse(f"/ui/deliveries/{new[0]['id']}", status_code=303)


@router.post("/deliveries/replay", response_class=HTMLResponse)
async def replay_matching(request: Request, user: User, state: State, flt: Filter) -> HTMLResponse:
    """Bulk replay by the page's filter: first the count (what the API would replay),
    then, confirmed, the replay itself."""
    fields = await checked_form(request, user)
    with state.db.write() as conn:
        ids = delivery_log.matching_ids(conn, flt)
        confirmed = fields.get("confirm") == "yes"
        new = delivery_log.replay(conn, ids, state.clock.now()) if confirmed and ids else []
    if confirmed:
        state.wake()
    return render(
        request,
        "bulk_replay.html",
        user=user,
        nav="deliveries",
        count=len(ids),
        replayed=len(new) if confirmed else None,
        query=filter_query(request),
    )


# -- destinations ----------------------------------------------------------------------


def _run_out(pool: list[dict[str, Any]], per_day: float, now: datetime) -> str | None:
    """When the pool's remaining submissions run out at ``per_day`` rows a day."""
    remaining = sum(w["remaining"] for w in pool if w["status"] == clay.ACTIVE)
    if per_day <= 0:
        return None
    return (now + timedelta(days=remaining / per_day)).date().isoformat()


def _destination_views(state: AppState, conn: Any, rows: list[Destination]) -> list[dict[str, Any]]:
    """Destinations as their pages show them: the last hour's attempts and, for Clay
    destinations, the pool and when it runs out at the last 24 h's rate (each statistic
    read once for all of them)."""
    now = state.clock.now()
    hour = delivery_log.destination_stats(conn, now - HOUR)
    day = (
        delivery_log.destination_stats(conn, now - DAY)
        if any(r.kind == "clay" for r in rows)
        else {}
    )
    views = []
    for row in rows:
        pool_rows = clay.webhooks(conn, row.id) if row.kind == "clay" else []
        shown = destination_json(row, state.box, pool_rows)
        view = {
            **shown,
            "hour": hour.get(row.id, {"attempts": 0, "succeeded": 0, "latency_ms": 0.0}),
        }
        if row.kind == "clay":
            pool = shown["config"]["webhooks"]
            for hook in pool:
                limit = hook["submission_limit"]
                hook["used"] = hook["submissions"] / limit if limit else 1.0
            per_day = float(day.get(row.id, {}).get("succeeded", 0))
            view.update(pool=pool, per_day=per_day, runs_out=_run_out(pool, per_day, now))
        views.append(view)
    return views


@router.get("/destinations", response_class=HTMLResponse)
def destination_list(request: Request, user: User, state: State) -> HTMLResponse:
    """Every destination with its circuit and last hour."""
    with state.db.read() as conn:
        rows = _destination_views(state, conn, destinations.list_all(conn))
    return render(request, "destinations.html", user=user, nav="destinations", rows=rows)


@router.get("/destinations/{ref}", response_class=HTMLResponse)
def destination_page(request: Request, ref: str, user: User, state: State) -> HTMLResponse:
    """One destination: settings, circuit, last hour, Clay pool, actions."""
    with state.db.read() as conn:
        (view,) = _destination_views(state, conn, [destinations.find(conn, ref)])
    return render(request, "destination.html", user=user, nav="destinations", d=view)


@router.post("/destinations/{ref}/pause")
async def pause(request: Request, ref: str, user: User, state: State) -> Response:
    """Pause sending (deliveries wait)."""
    return await _set_enabled(request, ref, user, state, enabled=False)


@router.post("/destinations/{ref}/resume")
async def resume(request: Request, ref: str, user: User, state: State) -> Response:
    """Resume sending (and close an open circuit)."""
    return await _set_enabled(request, ref, user, state, enabled=True)


async def _set_enabled(
    request: Request, ref: str, user: Any, state: AppState, *, enabled: bool
) -> Response:
    await checked_form(request, user)
    with state.db.write() as conn:
        row = destinations.set_enabled(conn, ref, enabled, state.clock.now())
    state.wake()
    return RedirectResponse(f"/ui/destinations/{row.id}", status_code=303)


@router.post("/destinations/{ref}/test", response_class=HTMLResponse)
async def test_send(request: Request, ref: str, user: User, state: State) -> HTMLResponse:
    """Send a sample row now, outside the queue, and show what the receiver said."""
    await checked_form(request, user)
    with state.db.read() as conn:
        row = destinations.find(conn, ref)
    target = targets.target(row, state.box)
    result = await send_test(
        target,
        dict(SAMPLE_ROW),
        state.settings.allowed_networks,
        int(state.clock.now().timestamp()),
    )
    answer = orjson.dumps(result, option=orjson.OPT_INDENT_2).decode()
    return render(request, "test_send.html", user=user, nav="destinations", d=row, answer=answer)


@router.post("/destinations/{ref}/webhooks")
async def add_webhook(request: Request, ref: str, user: User, state: State) -> Response:
    """Add the next webhook of a Clay destination's pool."""
    fields = await checked_form(request, user)
    with state.db.write() as conn:
        dest = destinations.find(conn, ref)
        clay_submit.options(dest)  # 422 not_a_clay_destination otherwise
        name = fields.get("auth_header_name") or None
        value = fields.get("auth_header_value") or None
        clay.check_auth_pair(name, value)
        url = check_url(
            fields.get("webhook_url", ""), state.settings.allowed_networks, field="webhook_url"
        )
        clay.add_webhook(
            conn,
            dest.id,
            url,
            auth_header_name=name,
            auth_header_value=value,
            submission_limit=clay_submit.options(dest).submission_limit,
            now=state.clock.now(),
            box=state.box,
        )
    return RedirectResponse(f"/ui/destinations/{dest.id}", status_code=303)
