"""Dependencies shared by the admin API routers: app state and API-key authentication."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Request

from claybridge.errors import Forbidden, Unauthorized
from claybridge.records import api_keys
from claybridge.security import bearer_token
from claybridge.state import AppState


def get_state(request: Request) -> AppState:
    """The app's shared state."""
    state: AppState = request.app.state.claybridge
    return state


State = Annotated[AppState, Depends(get_state)]


READS = frozenset({"GET", "HEAD", "OPTIONS"})


def require_api_key(request: Request, state: State) -> dict[str, Any]:
    """Authenticate the caller by ``Authorization: Bearer <api key>``; a ``viewer`` key
    may only read (any other method is 403 ``forbidden``)."""
    token = bearer_token(request.headers.get("authorization"))
    if token is None:
        raise Unauthorized(
            "missing API key: send Authorization: Bearer <api key> "
            "(create one with `claybridge api-keys create`)",
            code="missing_api_key",
        )
    with state.db.read() as conn:
        key = api_keys.verify(conn, token)
    if key is None:
        raise Unauthorized("the API key is wrong or revoked", code="invalid_api_key")
    if key["role"] != api_keys.ADMIN and request.method not in READS:
        raise Forbidden(f"this API key's role is {key['role']}: it can read, not change")
    return key


Limit = Annotated[int, Query(ge=1, le=500)]
