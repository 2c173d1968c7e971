"""The admin API under ``/v1``: sources, owners, customers, events. Bearer API key."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from claybridge.errors import InvalidField
from claybridge.ingest.pipeline import IngestResponse, handle, replay_request
from claybridge.records import customers, events, owners, sources
from claybridge.state import AppState
from claybridge.templates import DEFAULT_TEMPLATE, TEMPLATES, column_setup
from claybridge.views.events import event_json
from claybridge.views.sources import source_json
from claybridge.web.deps import Limit, State, require_api_key

router = APIRouter(prefix="/v1", dependencies=[Depends(require_api_key)])
"""Sources, owners, customers and events."""


class SourceCreate(BaseModel):
    """Body of ``POST /v1/sources``."""

    name: str = Field(min_length=1, max_length=200)
    template: str = DEFAULT_TEMPLATE
    config: dict[str, Any] | None = None


class OwnerCreate(BaseModel):
    """Body of ``POST /v1/owners``."""

    name: str
    email: str


def _source_with_setup(state: AppState, row: sources.Source, token: str | None) -> dict[str, Any]:
    url = state.settings.source_url(row.key)
    out: dict[str, Any] = {"ok": True, "source": source_json(row, url)}
    if token is not None:
        out["token"] = token
    out["clay_column"] = column_setup(url, token, TEMPLATES[row.template])
    return out


@router.get("/sources", tags=["sources"])
def list_sources(state: State) -> dict[str, Any]:
    """Every source."""
    with state.db.read() as conn:
        rows = sources.list_all(conn)
    return {
        "ok": True,
        "data": [source_json(r, state.settings.source_url(r.key)) for r in rows],
    }


@router.post("/sources", status_code=201, tags=["sources"])
def create_source(body: SourceCreate, state: State) -> dict[str, Any]:
    """Create a source. The answer holds its token: the only time it is shown."""
    with state.db.write() as conn:
        row, token = sources.create(
            conn, body.name, body.template, state.clock.now(), config=body.config, box=state.box
        )
    return _source_with_setup(state, row, token)


@router.get("/sources/{ref}", tags=["sources"])
def get_source(ref: str, state: State) -> dict[str, Any]:
    """One source by id, key or name, with its Clay column setup (token not shown)."""
    with state.db.read() as conn:
        row = sources.find(conn, ref)
    return _source_with_setup(state, row, None)


@router.post("/sources/{ref}/rotate-token", tags=["sources"])
def rotate_source_token(ref: str, state: State) -> dict[str, Any]:
    """Issue a new token; the old one stops working at once. Reconnects a disconnected source."""
    with state.db.write() as conn:
        row, token = sources.rotate_token(conn, ref, state.clock.now())
    return _source_with_setup(state, row, token)


@router.post("/sources/{ref}/disconnect", tags=["sources"])
def disconnect_source(ref: str, state: State) -> dict[str, Any]:
    """Revoke the token; every later request answers 401 ``source_disconnected``."""
    with state.db.write() as conn:
        row = sources.disconnect(conn, ref, state.clock.now())
    return {"ok": True, "source": source_json(row, state.settings.source_url(row.key))}


@router.get("/owners", tags=["owners"])
def list_owners(state: State) -> dict[str, Any]:
    """Every owner."""
    with state.db.read() as conn:
        return {"ok": True, "data": [owners.public(r) for r in owners.list_all(conn)]}


@router.post("/owners", status_code=201, tags=["owners"])
def add_owner(body: OwnerCreate, state: State) -> dict[str, Any]:
    """Register an owner."""
    with state.db.write() as conn:
        row = owners.add(conn, body.name, body.email, state.clock.now())
    return {"ok": True, "owner": owners.public(row)}


@router.post("/owners/import", tags=["owners"])
async def import_owners(request: Request, state: State) -> dict[str, Any]:
    """Add or rename owners from a CSV body (``name,email`` header); all rows or none."""
    raw = await request.body()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidField("the CSV is not UTF-8") from None
    with state.db.write() as conn:
        result = owners.import_csv(conn, text, state.clock.now())
    return {
        "ok": True,
        "added": result.added,
        "updated": result.updated,
        "unchanged": result.unchanged,
    }


@router.delete("/owners/{ref}", tags=["owners"])
def remove_owner(ref: str, state: State) -> dict[str, Any]:
    """Remove an owner by id or email; their customers keep no owner."""
    with state.db.write() as conn:
        row = owners.remove(conn, ref)
    return {"ok": True, "owner": owners.public(row)}


@router.get("/customers", tags=["customers"])
def list_customers(
    state: State, q: str | None = None, cursor: str | None = None, limit: Limit = 50
) -> dict[str, Any]:
    """Customers newest first; ``q`` searches name and domain."""
    with state.db.read() as conn:
        page, by_id = customers.search(conn, q=q, cursor=cursor, limit=limit)
    data = [customers.public(r, by_id.get(r["owner_id"] or "")) for r in page.items]
    return {"ok": True, "data": data, "next_cursor": page.next_cursor}


@router.get("/customers/{ref}", tags=["customers"])
def get_customer(ref: str, state: State) -> dict[str, Any]:
    """One customer by id or domain."""
    with state.db.read() as conn:
        row, owner = customers.get(conn, ref)
    return {"ok": True, "customer": customers.public(row, owner)}


@router.get("/events", tags=["events"])
def list_events(
    state: State,
    source: str | None = None,
    status: str | None = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> dict[str, Any]:
    """Events newest first, by source (id, key or name) and status (accepted, rejected)."""
    if status is not None and status not in events.STATUSES:
        raise InvalidField(f"status must be one of {', '.join(events.STATUSES)}", field="status")
    with state.db.read() as conn:
        source_id = sources.find(conn, source).id if source else None
        page = events.search(conn, source_id=source_id, status=status, cursor=cursor, limit=limit)
    return {
        "ok": True,
        "data": [event_json(r) for r in page.items],
        "next_cursor": page.next_cursor,
    }


@router.get("/events/{event_id}", tags=["events"])
def get_event(event_id: str, state: State) -> dict[str, Any]:
    """One event with its request (secrets redacted) and response."""
    with state.db.read() as conn:
        return {"ok": True, "event": event_json(events.get(conn, event_id), full=True)}


@router.post("/events/{event_id}/replay", tags=["events"])
async def replay_event(event_id: str, state: State) -> JSONResponse:
    """Run a logged event through its source's current mapping again, as a new event.

    The body replayed is the one in the log: values the log redacted (secret-named keys)
    are replayed redacted. Idempotency is not applied (replaying is deliberate).
    """
    result = await run_replay(state, event_id)
    return JSONResponse(result.body, status_code=result.status_code)


async def run_replay(state: AppState, event_id: str, *, dry_run: bool = False) -> IngestResponse:
    """Re-run logged event ``event_id`` through its source's current mapping (the API's
    and the console's replay); ``dry_run``: only say what it would do (a dry-run event)."""
    with state.db.read() as conn:
        request = replay_request(conn, event_id, state.settings, state.clock.now(), state.box)
    request.dry_run = dry_run
    result = await state.committer.submit(lambda conn, batch: handle(conn, batch, request))
    if result.queued:
        state.wake()
    return result
