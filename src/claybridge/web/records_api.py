"""People and objects in the admin API: read, search and paginate."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from claybridge.records import objects, people
from claybridge.web.deps import Limit, State, require_api_key

router = APIRouter(prefix="/v1", dependencies=[Depends(require_api_key)])


@router.get("/people", tags=["people"])
def list_people(
    state: State, q: str | None = None, cursor: str | None = None, limit: Limit = 50
) -> dict[str, Any]:
    """People newest first; ``q`` searches key, name and email."""
    with state.db.read() as conn:
        page = people.search(conn, q=q, cursor=cursor, limit=limit)
    return {
        "ok": True,
        "data": [people.public(r) for r in page.items],
        "next_cursor": page.next_cursor,
    }


@router.get("/people/{ref}", tags=["people"])
def get_person(ref: str, state: State) -> dict[str, Any]:
    """One person by id or key."""
    with state.db.read() as conn:
        return {"ok": True, "person": people.public(people.get(conn, ref))}


@router.get("/objects/{collection}", tags=["objects"])
def list_objects(
    collection: str,
    state: State,
    q: str | None = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> dict[str, Any]:
    """Objects of a collection newest first; ``q`` searches keys."""
    with state.db.read() as conn:
        page = objects.search(conn, collection, q=q, cursor=cursor, limit=limit)
    return {
        "ok": True,
        "data": [objects.public(r) for r in page.items],
        "next_cursor": page.next_cursor,
    }


@router.get("/objects/{collection}/{key}", tags=["objects"])
def get_object(collection: str, key: str, state: State) -> dict[str, Any]:
    """One object by key (or id)."""
    with state.db.read() as conn:
        return {"ok": True, "object": objects.public(objects.get(conn, collection, key))}
