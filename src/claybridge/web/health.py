"""``/healthz`` (the process answers) and ``/readyz`` (database reachable, schema current)."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from claybridge.errors import error_body
from claybridge.state import AppState
from claybridge.storage.faults import is_unavailable
from claybridge.storage.migrate import head_revision

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, bool]:
    """Liveness: answers while the process runs."""
    return {"ok": True}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """Readiness: the database answers (within ``storage_timeout``) and is at the code's
    migration head."""
    state: AppState = request.app.state.claybridge

    def revision() -> str | None:
        with state.db.read() as conn:
            found = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
        return None if found is None else str(found)

    try:
        # A thread that hangs on a partitioned network stays behind; the answer does not.
        current = await asyncio.wait_for(
            asyncio.to_thread(revision), state.settings.storage_timeout
        )
    except Exception as exc:
        if not (is_unavailable(exc) or isinstance(exc, sa.exc.DBAPIError | TimeoutError)):
            raise
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
