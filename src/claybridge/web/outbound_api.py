"""Destinations and deliveries in the admin API (``/v1/destinations``, ``/v1/deliveries``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from claybridge.delivery.sender import send_test
from claybridge.errors import InvalidField
from claybridge.records import clay, delivery_log, destinations, targets
from claybridge.records.destinations import Destination
from claybridge.state import AppState
from claybridge.views.deliveries import delivery_json
from claybridge.views.destinations import destination_json
from claybridge.web.deps import Limit, State, require_api_key

router = APIRouter(prefix="/v1", dependencies=[Depends(require_api_key)])

SAMPLE = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "job_title": "Head of Analytics",
    "company_name": "Analytical Engines",
    "icp_score": 91,
    "email": "ada@example.com",
}


def shown_destination(
    state: AppState, row: Destination, secret: str | None, conn: Any = None
) -> dict[str, Any]:
    pool = None
    if row.kind == "clay":
        if conn is None:
            with state.db.read() as reader:
                pool = clay.webhooks(reader, row.id)
        else:
            pool = clay.webhooks(conn, row.id)
    out: dict[str, Any] = {"ok": True, "destination": destination_json(row, state.box, pool)}
    if secret is not None:
        out["signing_secret"] = secret  # generated: shown this once
    return out


@router.post("/destinations", status_code=201, tags=["destinations"])
def create_destination(body: dict[str, Any], state: State) -> dict[str, Any]:
    """Create a destination (see ``claybridge.core.destination_spec`` for the fields)."""
    with state.db.write() as conn:
        row, secret = destinations.create(
            conn, body, state.clock.now(), state.box, state.settings.allowed_networks
        )
    return shown_destination(state, row, secret)


@router.get("/destinations", tags=["destinations"])
def list_destinations(state: State) -> dict[str, Any]:
    """Every destination (secrets masked)."""
    with state.db.read() as conn:
        rows = destinations.list_all(conn)
        shown = [
            destination_json(r, state.box, clay.webhooks(conn, r.id) if r.kind == "clay" else None)
            for r in rows
        ]
    return {"ok": True, "data": shown}


@router.get("/destinations/{ref}", tags=["destinations"])
def get_destination(ref: str, state: State) -> dict[str, Any]:
    """One destination by id or name."""
    with state.db.read() as conn:
        row = destinations.find(conn, ref)
    return shown_destination(state, row, None)


@router.patch("/destinations/{ref}", tags=["destinations"])
def update_destination(ref: str, body: dict[str, Any], state: State) -> dict[str, Any]:
    """Change any fields; masked secrets sent back keep their stored values."""
    with state.db.write() as conn:
        row, secret = destinations.update(
            conn, ref, body, state.clock.now(), state.box, state.settings.allowed_networks
        )
    return shown_destination(state, row, secret)


@router.post("/destinations/{ref}/pause", tags=["destinations"])
def pause_destination(ref: str, state: State) -> dict[str, Any]:
    """Stop sending; deliveries wait (they are not burned through)."""
    with state.db.write() as conn:
        row = destinations.set_enabled(conn, ref, False, state.clock.now())
    return shown_destination(state, row, None)


@router.post("/destinations/{ref}/resume", tags=["destinations"])
def resume_destination(ref: str, state: State) -> dict[str, Any]:
    """Send again (also closes a circuit the breaker opened)."""
    with state.db.write() as conn:
        row = destinations.set_enabled(conn, ref, True, state.clock.now())
    return shown_destination(state, row, None)


@router.delete("/destinations/{ref}", tags=["destinations"])
def delete_destination(ref: str, state: State, force: bool = False) -> dict[str, Any]:
    """Delete a destination and its deliveries (409 while some are unsent, unless force)."""
    with state.db.write() as conn:
        row = destinations.delete(conn, ref, force=force)
    return {"ok": True, "deleted": row.id}


class TestSend(BaseModel):
    """Body of ``POST /v1/destinations/{ref}/test``."""

    payload: dict[str, Any] = Field(default_factory=lambda: dict(SAMPLE))


@router.post("/destinations/{ref}/test", tags=["destinations"])
async def trial_send(ref: str, state: State, body: TestSend | None = None) -> JSONResponse:
    """Send one payload now, outside the queue, and answer with what the receiver said."""
    with state.db.read() as conn:
        row = destinations.find(conn, ref)
    target = targets.target(row, state.box)
    payload = body.payload if body else dict(SAMPLE)
    result = await send_test(
        target, payload, state.settings.allowed_networks, int(state.clock.now().timestamp())
    )
    return JSONResponse(result)


def _filter(
    conn: Any,
    destination: str | None,
    status: str | None,
    since: datetime | None,
    until: datetime | None,
    event_id: str | None = None,
    run_id: str | None = None,
) -> delivery_log.Filter:
    dest_id = destinations.find(conn, destination).id if destination else None
    return delivery_log.Filter(dest_id, status, since, until, event_id, run_id)


@router.get("/deliveries", tags=["deliveries"])
def list_deliveries(
    state: State,
    destination: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    event_id: str | None = None,
    run_id: str | None = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> dict[str, Any]:
    """Deliveries newest first, by destination, status, creation time, event or run."""
    with state.db.read() as conn:
        flt = _filter(conn, destination, status, since, until, event_id, run_id)
        page = delivery_log.search(conn, flt, limit=limit, cursor=cursor)
    return {
        "ok": True,
        "data": [delivery_json(r) for r in page.items],
        "next_cursor": page.next_cursor,
    }


@router.get("/deliveries/{delivery_id}", tags=["deliveries"])
def get_delivery(delivery_id: str, state: State) -> dict[str, Any]:
    """One delivery with its payload and every attempt."""
    with state.db.read() as conn:
        return {
            "ok": True,
            "delivery": delivery_json(delivery_log.get(conn, delivery_id), full=True),
        }


@router.post("/deliveries/{delivery_id}/replay", status_code=202, tags=["deliveries"])
def replay_delivery(delivery_id: str, state: State) -> dict[str, Any]:
    """Send a delivery again, as a new delivery linked by ``replay_of``."""
    with state.db.write() as conn:
        new = delivery_log.replay(conn, [delivery_id], state.clock.now())
    state.wake()
    return {"ok": True, "replayed": 1, "deliveries": [n["id"] for n in new]}


class BulkReplay(BaseModel):
    """Body of ``POST /v1/deliveries/replay``: which settled deliveries to send again."""

    destination: str | None = None
    status: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@router.post("/deliveries/replay", status_code=202, tags=["deliveries"])
def replay_deliveries(body: BulkReplay, state: State) -> dict[str, Any]:
    """Replay every settled delivery matching the filter (at most 10,000 at once)."""
    if not (body.destination or body.status or body.since or body.until):
        raise InvalidField("give at least one filter: destination, status, since or until")
    with state.db.write() as conn:
        flt = _filter(conn, body.destination, body.status, body.since, body.until)
        ids = delivery_log.matching_ids(conn, flt)
        new = delivery_log.replay(conn, ids, state.clock.now()) if ids else []
    state.wake()
    return {"ok": True, "replayed": len(new), "deliveries": [n["id"] for n in new]}
