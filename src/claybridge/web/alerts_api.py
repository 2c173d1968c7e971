"""Alerts in the admin API (``/v1/alerts``): list, show, acknowledge, resolve."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from claybridge.records import alerts
from claybridge.web.deps import Limit, State, require_api_key

router = APIRouter(prefix="/v1", tags=["alerts"])
ApiKey = Annotated[dict[str, Any], Depends(require_api_key)]


@router.get("/alerts")
def list_alerts(
    state: State,
    _key: ApiKey,
    limit: Limit = 100,
    status: Annotated[
        str | None, Query(description="open, acknowledged, resolved or unresolved")
    ] = None,
) -> dict[str, Any]:
    """Alerts, most recently seen first."""
    with state.db.read() as conn:
        rows = alerts.list_(conn, status, limit)
    return {"ok": True, "data": [alerts.public(r) for r in rows]}


@router.get("/alerts/{alert_id}")
def get_alert(alert_id: str, state: State, _key: ApiKey) -> dict[str, Any]:
    """One alert."""
    with state.db.read() as conn:
        return {"ok": True, "alert": alerts.public(alerts.get(conn, alert_id))}


@router.post("/alerts/{alert_id}/acknowledge")
def acknowledge(alert_id: str, state: State, _key: ApiKey) -> dict[str, Any]:
    """Someone is on it: the alert leaves the open list; repeats still count on it."""
    with state.db.write() as conn:
        row = alerts.acknowledge(conn, alert_id, state.clock.now())
    return {"ok": True, "alert": alerts.public(row)}


@router.post("/alerts/{alert_id}/resolve")
def resolve(alert_id: str, state: State, key: ApiKey) -> dict[str, Any]:
    """Resolve by hand; the cause happening again opens a new alert."""
    with state.db.write() as conn:
        row = alerts.resolve(conn, alert_id, state.clock.now(), f"api key {key['name']}")
    return {"ok": True, "alert": alerts.public(row)}
