"""The console's mapping editor and playground: a source's configuration as YAML,
validated as the API validates it (errors name their key path); a playground that runs a
pasted row, or a recent event's, through the edited (unsaved) configuration as a dry run
and shows each action's result and the answer Clay's cell would show; and the fields
recent rows carried, with how often each was filled."""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson
import yaml
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from claybridge.actions.plan import compile_config
from claybridge.errors import ClaybridgeError, InvalidField
from claybridge.mapping.model import parse_config
from claybridge.records import events, sources
from claybridge.state import AppState
from claybridge.web.console.pages import User, render
from claybridge.web.console.session import checked_form
from claybridge.web.deps import State
from claybridge.web.sources_api import run_dry

router = APIRouter(prefix="/ui", include_in_schema=False)
SAMPLED = 200  # recent rows read for "fields seen"


def _yaml_dict(text: str) -> dict[str, Any]:
    """The YAML configuration typed in the editor; 422 saying the line when it is not."""
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise InvalidField(f"the configuration is not valid YAML{where}", field="config") from None
    if not isinstance(data, dict):
        raise InvalidField("the configuration must be a mapping of keys", field="config")
    return data


def fields_seen(bodies: list[Any]) -> list[dict[str, Any]]:
    """Top-level keys of ``bodies`` with how many rows carried each and how many filled
    it (not ``""`` or ``null``), most frequent first."""
    carried: Counter[str] = Counter()
    filled: Counter[str] = Counter()
    for body in bodies:
        if not isinstance(body, dict):
            continue
        for key, value in body.items():
            carried[key] += 1
            if value not in ("", None):
                filled[key] += 1
    return [
        {"key": key, "rows": n, "filled": filled[key], "share": filled[key] / n}
        for key, n in carried.most_common()
    ]


def _recent_bodies(state: AppState, source_id: str) -> list[dict[str, Any]]:
    with state.db.read() as conn:
        page = events.search(conn, where=events.EventFilter(source_id=source_id), limit=SAMPLED)
    found = []
    for row in page.items:
        try:
            body = orjson.loads(row.request_body or "")
        except orjson.JSONDecodeError:
            continue
        found.append({"event_id": row.id, "body": body, "at": row.received_at})
    return found


def _page(
    request: Request,
    user: Any,
    state: AppState,
    ref: str,
    *,
    config_text: str | None = None,
    row_text: str | None = None,
    **extra: Any,
) -> HTMLResponse:
    with state.db.read() as conn:
        source = sources.find(conn, ref)
    recent = _recent_bodies(state, source.id)
    if config_text is None:
        config_text = yaml.safe_dump(
            sources.display_config(source), sort_keys=False, allow_unicode=True
        )
    if row_text is None:
        latest = recent[0]["body"] if recent else {}
        row_text = orjson.dumps(latest, option=orjson.OPT_INDENT_2).decode()
    return render(
        request,
        "mappings.html",
        user=user,
        nav="sources",
        source=source,
        config_text=config_text,
        row_text=row_text,
        recent=recent[:10],
        seen=fields_seen([r["body"] for r in recent]),
        sampled=len(recent),
        **extra,
    )


@router.get("/sources/{ref}/mappings", response_class=HTMLResponse)
def editor(request: Request, ref: str, user: User, state: State, event: str = "") -> HTMLResponse:
    """The editor, the playground (with a recent event's row when ``event`` names one)
    and the fields seen."""
    row_text = None
    if event:
        with state.db.read() as conn:
            logged = events.get(conn, event)
        row_text = orjson.dumps(
            orjson.loads(logged.request_body or "{}"), option=orjson.OPT_INDENT_2
        ).decode()
    return _page(request, user, state, ref, row_text=row_text)


@router.post("/sources/{ref}/mappings", response_class=HTMLResponse)
async def save_or_try(request: Request, ref: str, user: User, state: State) -> HTMLResponse:
    """``action=try``: a dry run of the row through the edited configuration; ``save``:
    store it (as ``PUT /v1/sources/{ref}/config``). Errors are shown with the form kept."""
    fields = await checked_form(request, user)
    config_text = fields.get("config", "")
    row_text = fields.get("row", "")
    try:
        data = _yaml_dict(config_text)
        if fields.get("action") == "save":
            with state.db.write() as conn:
                sources.set_config(conn, ref, data, state.clock.now(), box=state.box)
            return _page(request, user, state, ref, saved=True)
        answer, status = await _dry_run(state, ref, data, row_text)
    except ClaybridgeError as exc:
        error = {"code": exc.code, "message": exc.message, "field": exc.field}
        return _page(
            request, user, state, ref, config_text=config_text, row_text=row_text, error=error
        )
    shown = orjson.dumps(answer, option=orjson.OPT_INDENT_2).decode()
    return _page(
        request,
        user,
        state,
        ref,
        config_text=config_text,
        row_text=row_text,
        result=shown,
        result_status=status,
        actions=answer.get("actions", []) if isinstance(answer, dict) else [],
    )


async def _dry_run(
    state: AppState, ref: str, data: dict[str, Any], row_text: str
) -> tuple[Any, int]:
    """The answer (and status) a row would get through configuration ``data``."""
    config = compile_config(parse_config(data))
    try:
        row = orjson.loads(row_text or "{}")
    except orjson.JSONDecodeError:
        raise InvalidField("the row is not valid JSON", field="row") from None
    if not isinstance(row, dict):
        raise InvalidField("the row must be a JSON object", field="row")
    result = await run_dry(state, ref, row, {}, config)
    return result.body, result.status_code
