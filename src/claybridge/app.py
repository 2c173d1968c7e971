"""``create_app(settings)``: the ASGI application. No I/O happens at import or build time;
the committer thread starts in the lifespan, and migrations are the CLI's job.

Routing: ``/hooks/…`` goes straight to the bare ingest endpoint (the hot path), which is
the top-level app itself; every other path goes to the FastAPI admin app, which also
owns the lifespan.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from claybridge import __version__
from claybridge.clock import Clock, SystemClock
from claybridge.config import Settings
from claybridge.delivery.service import build_worker, report_crash, supervise
from claybridge.delivery.worker import Worker
from claybridge.ingest.hooks import PREFIX, HooksEndpoint
from claybridge.operations.presence import keep_present
from claybridge.state import AppState
from claybridge.web.admin import router as admin_router
from claybridge.web.alerts_api import router as alerts_router
from claybridge.web.clay_api import router as clay_router
from claybridge.web.console import install_console
from claybridge.web.console.live import LiveTail
from claybridge.web.docs import declare_bearer, install_docs
from claybridge.web.errors import install_error_handlers
from claybridge.web.guard import AdminGuard
from claybridge.web.health import router as health_router
from claybridge.web.metrics import router as metrics_router
from claybridge.web.openapi import hooks_path_item
from claybridge.web.outbound_api import router as outbound_router
from claybridge.web.records_api import router as records_router
from claybridge.web.sources_api import router as sources_router
from claybridge.web.workflows_api import router as workflows_router


class ClaybridgeApp(HooksEndpoint):
    """The top-level ASGI app: the hot path itself (``/hooks/…``), which hands every
    other path, and the lifespan, to the admin app (see :class:`HooksEndpoint`)."""

    def __init__(self, state: AppState, admin: FastAPI) -> None:
        super().__init__(
            state.settings,
            state.committer,
            state.clock,
            state.box,
            lambda: state.wake(),
            other=admin,
            caches=state.ingest_caches,
        )
        self.state = state
        self.admin = admin


ROUTERS = (
    health_router,
    admin_router,
    sources_router,
    records_router,
    outbound_router,
    workflows_router,
    clay_router,
    alerts_router,
    metrics_router,
)


def create_app(
    settings: Settings | None = None, *, clock: Clock | None = None, worker: bool = False
) -> ClaybridgeApp:
    """Build the app for ``settings`` (from the environment when omitted).

    ``worker``: also run a delivery worker in this process (``claybridge serve``), woken
    whenever ingest accepts an event; ``claybridge api`` leaves it out.
    """
    state = AppState(settings or Settings(), clock or SystemClock())
    live = LiveTail(state.db)
    admin = FastAPI(
        title="Claybridge",
        version=__version__,
        description="Admin API of Claybridge. Clay posts rows to `POST /hooks/{source_key}`.",
        lifespan=_lifespan(state, live, worker=worker),
        docs_url=None,  # served by install_docs, with local assets
        redoc_url=None,  # (ReDoc loads its script from a CDN)
    )
    admin.state.claybridge = state
    install_error_handlers(admin)
    admin.add_middleware(AdminGuard)
    for router in ROUTERS:
        admin.include_router(router)
    install_console(admin, live)
    install_docs(admin)
    admin.openapi = _openapi(admin)  # type: ignore[method-assign]
    return ClaybridgeApp(state, admin)


def _lifespan(
    state: AppState, live: LiveTail, *, worker: bool
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """What runs while the app serves: the committer, this process's presence, and
    (``worker``) a supervised delivery worker; all stopped in order at shutdown."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        state.committer.start()
        stop = asyncio.Event()
        kind = "serve" if worker else "api"
        presence = asyncio.create_task(
            keep_present(state.db, state.clock, kind, state.settings.base_url, stop)
        )
        task = asyncio.create_task(_supervised(state, stop)) if worker else None
        try:
            yield
        finally:
            stop.set()
            await live.stop()
            if task is not None:
                await task
            await presence
            state.committer.stop()
            state.db.dispose()

    return lifespan


async def _supervised(state: AppState, stop: asyncio.Event) -> None:
    """The in-process worker, restarted after a crash, woken by ingest."""

    def started(runner: Worker) -> None:
        state.worker = runner
        state.wake = runner.wake

    await supervise(
        lambda: build_worker(state.settings, state.db, state.box, state.clock),
        stop,
        on_start=started,
        on_crash=report_crash(state.db, state.clock),
        report=state.supervision,
    )


def _openapi(admin: FastAPI) -> Callable[[], dict[str, Any]]:
    """The OpenAPI document, with the hooks path (not a FastAPI route) and the bearer
    scheme added, built once."""

    def openapi() -> dict[str, Any]:
        if admin.openapi_schema is None:
            schema = get_openapi(
                title=admin.title,
                version=admin.version,
                description=admin.description,
                routes=admin.routes,
            )
            schema.setdefault("paths", {})[f"{PREFIX}{{source_key}}"] = hooks_path_item()
            admin.openapi_schema = declare_bearer(schema)
        return admin.openapi_schema

    return openapi
