"""``/healthz`` (the process answers) and ``/readyz`` (database reachable, schema current)."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from claybridge.errors import error_body
from claybridge.state import AppState
from claybridge.storage.migrate import head_revision

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, bool]:
    """Liveness: answers while the process runs."""
    return {"ok": True}


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    """Readiness: the database answers and is at the code's migration head."""
    state: AppState = request.app.state.claybridge
    try:
        with state.db.read() as conn:
            current = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    except sa.exc.DBAPIError as exc:
        return JSONResponse(
            error_body("database_unavailable", f"database unreachable: {exc.__class__.__name__}"),
            status_code=503,
        )
    head = head_revision()
    if current != head:
        return JSONResponse(
            error_body(
                "migrations_pending",
                f"database at {current}, code at {head}; run `claybridge migrate`",
            ),
            status_code=503,
        )
    return JSONResponse({"ok": True, "revision": current})
