"""The console's overview: rows accepted and rejected per source over the last 24 h
(server-rendered SVG bars), unresolved alerts (acknowledge, resolve), the queue, dead
deliveries, open circuits, Clay webhooks near their limit, pending callbacks and waiting
runs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from claybridge.errors import NotFound
from claybridge.records import (
    alerts,
    circuits,
    clay,
    delivery_log,
    events,
    requests,
    runs,
    sources,
)
from claybridge.web.console.pages import User, render
from claybridge.web.console.session import checked_form
from claybridge.web.deps import State

router = APIRouter(prefix="/ui", include_in_schema=False)
HOURS = 24
BAR = 22  # px per hour
HEIGHT = 90  # px of the tallest bar
ALERTS_SHOWN = 20


@dataclass(frozen=True)
class Bar:
    """One hour of one source: where its accepted and rejected parts are drawn."""

    x: int
    hour: str
    accepted: int
    rejected: int
    accepted_h: float
    rejected_h: float


def _hours(now: datetime) -> list[str]:
    """The last 24 hours' labels (``YYYY-MM-DD HH``, UTC), oldest first."""
    return [(now - timedelta(hours=HOURS - 1 - i)).strftime("%Y-%m-%d %H") for i in range(HOURS)]


def charts(
    counted: list[tuple[str, str, str, int]], names: dict[str, str], now: datetime
) -> list[dict[str, Any]]:
    """Per source, 24 hourly bars of accepted (and duplicate) and rejected rows."""
    hours = _hours(now)
    by_source: dict[str, dict[str, list[int]]] = {}
    for source_id, hour, status, n in counted:
        slot = by_source.setdefault(source_id, {h: [0, 0] for h in hours}).get(hour)
        if slot is None:
            continue
        if status == events.REJECTED:
            slot[1] += n
        elif status != events.DRY_RUN:
            slot[0] += n
    drawn = []
    for source_id, slots in by_source.items():
        tallest = max((a + r for a, r in slots.values()), default=0) or 1
        bars = [
            Bar(i * BAR, h, a, r, HEIGHT * a / tallest, HEIGHT * r / tallest)
            for i, (h, (a, r)) in enumerate(slots.items())
        ]
        drawn.append(
            {
                "source": names.get(source_id, source_id),
                "source_id": source_id,
                "bars": bars,
                "accepted": sum(b.accepted for b in bars),
                "rejected": sum(b.rejected for b in bars),
                "tallest": tallest,
            }
        )
    return sorted(drawn, key=lambda c: str(c["source"]))


@router.get("/overview", response_class=HTMLResponse)
def overview(request: Request, user: User, state: State) -> HTMLResponse:
    """Everything a person checks first, on one page."""
    now = state.clock.now()
    with state.db.read() as conn:
        names = {s.id: s.name for s in sources.list_all(conn)}
        drawn = charts(events.hourly(conn, now - timedelta(hours=HOURS)), names, now)
        counts = delivery_log.counts(conn, ("pending", "in_flight", "failed", "dead"))
        oldest = delivery_log.oldest_due(conn, now)
        open_ones = circuits.open_circuits(conn)
        near = clay.near_limit(conn)
        pending = requests.pending_count(conn)
        run_counts = runs.counts(conn)
        open_alerts = [alerts.public(a) for a in alerts.list_(conn, "unresolved", ALERTS_SHOWN)]
    return render(
        request,
        "overview.html",
        user=user,
        nav="overview",
        charts=drawn,
        width=HOURS * BAR,
        height=HEIGHT,
        queue=counts.get("pending", 0) + counts.get("failed", 0) + counts.get("in_flight", 0),
        dead=counts.get("dead", 0),
        oldest_age=(now - oldest).total_seconds() if oldest else None,
        circuits=open_ones,
        near=near,
        pending=pending,
        waiting=run_counts.get(runs.WAITING, 0),
        alerts=open_alerts,
    )


@router.post("/alerts/{alert_id}/{action}")
async def change_alert(
    request: Request, alert_id: str, action: str, user: User, state: State
) -> Response:
    """Acknowledge or resolve an alert from the overview."""
    await checked_form(request, user)
    with state.db.write() as conn:
        if action == "acknowledge":
            alerts.acknowledge(conn, alert_id, state.clock.now())
        elif action == "resolve":
            alerts.resolve(conn, alert_id, state.clock.now(), f"console ({user.role})")
        else:
            raise NotFound(f"no alert action {action!r}")
    return RedirectResponse("/ui/overview", status_code=303)
