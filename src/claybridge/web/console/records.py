"""The console's records and settings: search customers, people and objects (each with
the events that changed it), owners (add, import a CSV, remove) and API keys (create,
shown once; revoke; role). Writes go through the records the API and CLI use."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from claybridge.errors import InvalidField
from claybridge.records import api_keys, customers, events, objects, owners, people
from claybridge.state import AppState
from claybridge.web.console.pages import User, render, shown
from claybridge.web.console.session import checked_form
from claybridge.web.deps import State

router = APIRouter(prefix="/ui", include_in_schema=False)
KINDS = ("customers", "people", "objects")


def _found(conn: Any, kind: str, q: str, collection: str) -> list[dict[str, Any]]:
    """Up to 50 records of ``kind`` matching ``q``, as links."""
    if kind == "customers":
        page, _owners = customers.search(conn, q=q or None, cursor=None, limit=50)
        return [
            {"label": f"{r['name']} ({r['domain']})", "href": f"/ui/customers/{r['id']}"}
            for r in page.items
        ]
    if kind == "people":
        page = people.search(conn, q=q or None, cursor=None, limit=50)
        return [{"label": r["key"], "href": f"/ui/people/{r['id']}"} for r in page.items]
    if not collection:
        raise InvalidField("name the collection to search objects in", field="collection")
    page = objects.search(conn, collection, q=q or None, cursor=None, limit=50)
    return [{"label": r["key"], "href": f"/ui/objects/{collection}/{r['key']}"} for r in page.items]


@router.get("/records", response_class=HTMLResponse)
def record_search(
    request: Request,
    user: User,
    state: State,
    kind: str = "customers",
    q: str = "",
    collection: str = "",
) -> HTMLResponse:
    """Search customers (name, domain), people (key) or a collection's objects (key)."""
    if kind not in KINDS:
        raise InvalidField(f"kind must be one of {', '.join(KINDS)}", field="kind")
    with state.db.read() as conn:
        found = _found(conn, kind, q.strip(), collection.strip())
    return render(
        request,
        "records.html",
        user=user,
        nav="records",
        kinds=KINDS,
        kind=kind,
        q=q,
        collection=collection,
        found=found,
    )


def _record_page(
    request: Request, user: Any, title: str, record: dict[str, Any], changes: list[Any], q: str
) -> HTMLResponse:
    return render(
        request,
        "record.html",
        user=user,
        nav="records",
        title=title,
        record=orjson.dumps(record, default=str, option=orjson.OPT_INDENT_2).decode(),
        changes=changes,
        q=q,
    )


@router.get("/customers/{ref}", response_class=HTMLResponse)
def customer_page(request: Request, ref: str, user: User, state: State) -> HTMLResponse:
    """A customer and the events that wrote it."""
    with state.db.read() as conn:
        row, owner = customers.get(conn, ref)
        page = events.search(conn, where=events.EventFilter(q=row["domain"]), limit=50)
    changed = [shown(e) for e in page.items if e.customer_id == row["id"]]
    record = customers.public(row, owner)
    return _record_page(request, user, f"Customer {row['name']}", record, changed, row["domain"])


@router.get("/people/{ref}", response_class=HTMLResponse)
def person_page(request: Request, ref: str, user: User, state: State) -> HTMLResponse:
    """A person and the events that carried their key."""
    with state.db.read() as conn:
        row = people.get(conn, ref)
        page = events.search(conn, where=events.EventFilter(q=row["key"]), limit=50)
    record = people.public(row)
    return _record_page(
        request, user, f"Person {row['key']}", record, [shown(e) for e in page.items], row["key"]
    )


@router.get("/objects/{collection}/{key}", response_class=HTMLResponse)
def object_page(
    request: Request, collection: str, key: str, user: User, state: State
) -> HTMLResponse:
    """An object and the events that carried its key."""
    with state.db.read() as conn:
        row = objects.get(conn, collection, key)
        page = events.search(conn, where=events.EventFilter(q=key), limit=50)
    record = objects.public(row)
    title = f"{collection} / {key}"
    return _record_page(request, user, title, record, [shown(e) for e in page.items], key)


# -- settings --------------------------------------------------------------------------


def _settings_page(request: Request, user: Any, state: AppState, **extra: Any) -> HTMLResponse:
    with state.db.read() as conn:
        all_owners = [owners.public(o) for o in owners.list_all(conn)]
        keys = api_keys.list_all(conn)
    return render(
        request,
        "settings.html",
        user=user,
        nav="settings",
        owners=all_owners,
        keys=keys,
        roles=api_keys.ROLES,
        **extra,
    )


@router.get("/settings", response_class=HTMLResponse)
def settings_page(request: Request, user: User, state: State) -> HTMLResponse:
    """Owners and API keys."""
    return _settings_page(request, user, state)


@router.post("/settings/owners", response_class=HTMLResponse)
async def add_owner(request: Request, user: User, state: State) -> Response:
    """Add an owner (name and email)."""
    fields = await checked_form(request, user)
    with state.db.write() as conn:
        owners.add(conn, fields.get("name", ""), fields.get("email", ""), state.clock.now())
    return RedirectResponse("/ui/settings", status_code=303)


@router.post("/settings/owners/import", response_class=HTMLResponse)
async def import_owners(request: Request, user: User, state: State) -> HTMLResponse:
    """Import owners from pasted CSV (a header row: name,email): all rows or none."""
    fields = await checked_form(request, user)
    with state.db.write() as conn:
        result = owners.import_csv(conn, fields.get("csv", ""), state.clock.now())
    note = (
        f"Imported: {len(result.added)} added, {len(result.updated)} updated, "
        f"{len(result.unchanged)} unchanged."
    )
    return _settings_page(request, user, state, note=note)


@router.post("/settings/owners/{ref}/delete")
async def remove_owner(request: Request, ref: str, user: User, state: State) -> Response:
    """Remove an owner; their customers keep no owner."""
    await checked_form(request, user)
    with state.db.write() as conn:
        owners.remove(conn, ref)
    return RedirectResponse("/ui/settings", status_code=303)


@router.post("/settings/api-keys", response_class=HTMLResponse)
async def create_key(request: Request, user: User, state: State) -> HTMLResponse:
    """Create an API key; the page that answers is the only one that shows it."""
    fields = await checked_form(request, user)
    with state.db.write() as conn:
        row, key = api_keys.create(
            conn, fields.get("name", ""), state.clock.now(), fields.get("role", api_keys.ADMIN)
        )
    return _settings_page(request, user, state, new_key=key, new_key_row=row)


@router.post("/settings/api-keys/{ref}/revoke")
async def revoke_key(request: Request, ref: str, user: User, state: State) -> Response:
    """Revoke an API key; it stops working at once."""
    await checked_form(request, user)
    with state.db.write() as conn:
        api_keys.revoke(conn, ref, state.clock.now())
    return RedirectResponse("/ui/settings", status_code=303)
