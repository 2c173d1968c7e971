"""The console: a web UI served by the admin app at ``/ui`` (see ``pages``); the
``/hooks/…`` hot path never goes through it."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from claybridge.errors import ClaybridgeError
from claybridge.web.console.live import LiveTail
from claybridge.web.console.mappings import router as mappings_router
from claybridge.web.console.outbound import router as outbound_router
from claybridge.web.console.overview import router as overview_router
from claybridge.web.console.pages import render, router
from claybridge.web.console.records import router as records_router
from claybridge.web.console.session import SignInRequired, current_user, sign_in_redirect
from claybridge.web.console.sources import router as sources_router
from claybridge.web.console.work import router as work_router

__all__ = ["install_console"]


def install_console(admin: FastAPI, live: LiveTail) -> None:
    """Serve the console on ``admin``: its pages, its assets, ``/`` → ``/ui``, and its
    errors as pages (API paths keep the JSON error body)."""
    admin.state.live_tail = live
    admin.include_router(router)
    admin.include_router(sources_router)
    admin.include_router(mappings_router)
    admin.include_router(outbound_router)
    admin.include_router(overview_router)
    admin.include_router(work_router)
    admin.include_router(records_router)
    static = StaticFiles(directory=Path(__file__).parent / "static")
    admin.mount("/ui/static", static, name="console-static")

    @admin.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/ui/events", status_code=303)

    @admin.exception_handler(SignInRequired)
    async def _sign_in(_request: Request, exc: SignInRequired) -> Response:
        return sign_in_redirect(exc)

    @admin.exception_handler(ClaybridgeError)
    async def _error(request: Request, exc: ClaybridgeError) -> Response:
        if not request.url.path.startswith("/ui/"):
            return JSONResponse(exc.to_body(), status_code=exc.status_code)
        try:
            user = current_user(request)
        except SignInRequired:
            user = None
        return render(
            request,
            "error.html",
            exc.status_code,
            user=user,
            status=exc.status_code,
            code=exc.code,
            message=exc.message,
        )
