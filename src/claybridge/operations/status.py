"""What ``claybridge status`` reports: one read of where this installation stands.

Every part is gathered even when another fails (no database yet, a server that does
not answer): the report says what it could not learn instead of stopping.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from claybridge import __version__
from claybridge.config_file import Loaded
from claybridge.records import alerts, delivery_log, processes
from claybridge.records.deliveries import DEAD, UNFINISHED
from claybridge.storage import migrate
from claybridge.storage.database import Database

PROBE_TIMEOUT = 2.0  # seconds to wait for the server's /healthz


def server_answers(base_url: str) -> dict[str, Any]:
    """Whether a Claybridge server answers ``/healthz`` at ``base_url``."""
    try:
        response = httpx.get(f"{base_url}/healthz", timeout=PROBE_TIMEOUT)
    except httpx.HTTPError as exc:
        return {"answers": False, "error": f"{type(exc).__name__}: {exc}"}
    return {"answers": response.status_code == 200, "status_code": response.status_code}


def database_part(db: Database, now: datetime) -> dict[str, Any]:
    """Schema, recorded server URL, workers, queue, dead deliveries and open alerts."""
    at, head = migrate.current_revision(db), migrate.head_revision()
    with db.read() as conn:
        queue = delivery_log.counts(conn, [*UNFINISHED, DEAD])
        running = processes.running(conn, now)
        return {
            "schema": {"at": at, "head": head, "current": at == head},
            "server_url": processes.server_url(conn),
            "processes": [processes.public(p) for p in running],
            "workers": sum(p["kind"] in processes.WORKER_KINDS for p in running),
            "queue_depth": sum(queue.get(s, 0) for s in UNFINISHED),
            "dead_deliveries": queue.get(DEAD, 0),
            "open_alerts": alerts.count_unresolved(conn),
        }


def header(loaded: Loaded, database: str) -> dict[str, Any]:
    """The parts that need no database: version, settings file, database."""
    found = loaded.found
    return {
        "version": __version__,
        "settings_file": str(found.path) if found.path else None,
        "settings_found_by": found.how,
        "database": database,
    }
