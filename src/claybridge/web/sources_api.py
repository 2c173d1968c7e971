"""Source settings, mappings and dry runs in the admin API (``/v1/sources/{ref}/…``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from claybridge.actions.plan import CompiledConfig
from claybridge.errors import NotFound
from claybridge.ingest.pipeline import IngestRequest, IngestResponse, handle
from claybridge.records import sources
from claybridge.state import AppState
from claybridge.views.sources import source_json
from claybridge.web.deps import State, require_api_key

router = APIRouter(prefix="/v1/sources", dependencies=[Depends(require_api_key)], tags=["sources"])


class SourceUpdate(BaseModel):
    """Body of ``PATCH /v1/sources/{ref}``: any of these."""

    name: str | None = None
    event_path: str | None = None
    default_event: str | None = None
    strict: bool | None = None
    idempotency: dict[str, Any] | None = None


class DryRun(BaseModel):
    """Body of ``POST /v1/sources/{ref}/dry-run``: the row as Clay would post it."""

    body: dict[str, Any]
    headers: dict[str, str] = Field(default_factory=dict)


def _public(state: Any, row: sources.Source) -> dict[str, Any]:
    return {"ok": True, "source": source_json(row, state.settings.source_url(row.key))}


@router.patch("/{ref}")
def update_source(ref: str, body: SourceUpdate, state: State) -> dict[str, Any]:
    """Rename a source, change how it finds event names, or how it recognises repeats
    (``idempotency``: mode, key_path, window_seconds)."""
    with state.db.write() as conn:
        row = sources.update(conn, ref, body.model_dump(exclude_unset=True), state.clock.now())
    return _public(state, row)


@router.delete("/{ref}")
def delete_source(ref: str, state: State) -> dict[str, Any]:
    """Delete a source and its event log (records it created are kept)."""
    with state.db.write() as conn:
        row = sources.delete(conn, ref)
    return {"ok": True, "deleted": row.id}


@router.put("/{ref}/config")
def put_config(ref: str, config: dict[str, Any], state: State) -> dict[str, Any]:
    """Replace the whole configuration (validated; errors name the key)."""
    with state.db.write() as conn:
        row = sources.set_config(conn, ref, config, state.clock.now(), box=state.box)
    return _public(state, row)


@router.get("/{ref}/mappings")
def list_mappings(ref: str, state: State) -> dict[str, Any]:
    """The source's mappings, by event name."""
    with state.db.read() as conn:
        row = sources.find(conn, ref)
    return {"ok": True, "mappings": sources.config_data(row).get("mappings", {})}


@router.get("/{ref}/mappings/{event}")
def get_mapping(ref: str, event: str, state: State) -> dict[str, Any]:
    """One mapping's actions."""
    with state.db.read() as conn:
        row = sources.find(conn, ref)
    mappings = sources.config_data(row).get("mappings", {})
    if event not in mappings:
        raise NotFound(f"source {row.name!r} has no mapping for {event!r}")
    return {"ok": True, "event": event, "actions": mappings[event]}


@router.put("/{ref}/mappings/{event}")
def put_mapping(
    ref: str, event: str, actions: list[dict[str, Any]], state: State
) -> dict[str, Any]:
    """Create or replace the mapping for ``event`` (a list of actions)."""
    with state.db.write() as conn:
        row = sources.set_mapping(conn, ref, event, actions, state.clock.now())
    return {"ok": True, "event": event, "actions": sources.config_data(row)["mappings"][event]}


@router.delete("/{ref}/mappings/{event}")
def delete_mapping(ref: str, event: str, state: State) -> dict[str, Any]:
    """Remove the mapping for ``event``."""
    with state.db.write() as conn:
        sources.delete_mapping(conn, ref, event, state.clock.now())
    return {"ok": True, "deleted": event}


@router.post("/{ref}/dry-run")
async def dry_run(ref: str, body: DryRun, state: State) -> dict[str, Any]:
    """Run a row through the source without writing: what would be done, and to what.

    Only a ``dry_run`` entry is added to the event log. The admin API key stands in for
    the source token.
    """
    result = await run_dry(state, ref, body.body, body.headers)
    return result.body


async def run_dry(
    state: AppState,
    ref: str,
    row: dict[str, Any],
    headers: dict[str, str],
    config: CompiledConfig | None = None,
) -> IngestResponse:
    """A dry run of ``row`` on source ``ref`` (the API's and the console's): what would be
    done, writing only a ``dry_run`` event; ``config``: an unsaved configuration to use."""
    with state.db.read() as conn:
        source = sources.find(conn, ref)
    request = IngestRequest(
        source_key=source.key,
        headers=list(headers.items()),
        body=None,
        received_at=state.clock.now(),
        box=state.box,
        max_body_bytes=state.settings.max_body_bytes,
        date_order=state.settings.date_order,
        dry_run=True,
        trusted=True,
        parsed=row,
        config=config,
        caches=state.ingest_caches,
    )
    return await state.committer.submit(lambda conn, batch: handle(conn, batch, request))
