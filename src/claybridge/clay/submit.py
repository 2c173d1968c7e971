"""Queueing a row for a Clay table: the one path used by the ``clay_submit`` action,
workflow steps, ``POST /v1/destinations/{name}/rows`` and the bridge.

Contract of :func:`enqueue`: in the caller's transaction, it refuses what cannot be sent
(not a Clay destination, a row over the size limit, a callback without a callback
source) before writing anything, skips a ``request_id`` Clay already accepted (or one
already waiting), answers a ``request_id`` already queued with that delivery (a unique
index backs this across processes), and otherwise writes the delivery and, when a
callback is wanted, the pending request. The worker does the sending (rate limit,
webhook pool, counting).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from claybridge.core.clay_rules import ClayOptions, check_size, encoded, prepare_row
from claybridge.errors import ClaybridgeError
from claybridge.ids import new_id
from claybridge.records import clay, deliveries, requests
from claybridge.records.batch import Batch
from claybridge.records.destinations import Destination
from claybridge.storage.tables import pending_requests, sources


def options(dest: Destination) -> ClayOptions:
    """The destination's Clay settings; 422 ``not_a_clay_destination`` otherwise."""
    if dest.kind != "clay":
        raise ClaybridgeError(
            f"destination {dest.name!r} is not a Clay table (kind {dest.kind})",
            code="not_a_clay_destination",
            status_code=422,
        )
    return ClayOptions.model_validate(dest.clay or {})


def callback_url_for(conn: sa.Connection, opts: ClayOptions, name: str, base_url: str) -> str:
    """The URL of the destination's callback source; 422 ``no_callback_source`` if unset."""
    found = None
    if opts.callback_source:
        found = conn.execute(
            sa.select(sources.c.key).where(
                sa.or_(
                    sources.c.name == opts.callback_source,
                    sources.c.key == opts.callback_source,
                    sources.c.id == opts.callback_source,
                )
            )
        ).scalar()
    if found is None:
        raise ClaybridgeError(
            f"Clay destination {name!r} has no callback source: create one with "
            "`claybridge sources create --template clay-callback` and set its name as "
            "clay.callback_source on the destination",
            code="no_callback_source",
            status_code=422,
        )
    return f"{base_url.rstrip('/')}/hooks/{found}"


def enqueue(
    conn: sa.Connection,
    dest: Destination,
    payload: Any,
    now: datetime,
    *,
    base_url: str,
    request_id: str | None = None,
    external_id: str | None = None,
    callback_url: str | None = None,
    callback: bool = False,
    event_id: str | None = None,
    run_id: str | None = None,
    batch: Batch | None = None,
) -> dict[str, Any]:
    """Queue ``payload`` for the Clay table ``dest`` (see the module docstring).

    Returns ``{"status": "queued" | "already_accepted" | "exists", "request_id", ...}``.
    """
    opts = options(dest)
    if callback and callback_url is None:
        callback_url = callback_url_for(conn, opts, dest.name, base_url)
    if callback_url is not None and request_id is None:
        request_id = new_id("req")
    row = prepare_row(
        payload, request_id=request_id, external_id=external_id, callback_url=callback_url
    )
    check_size(encoded(row), opts.max_payload_bytes)
    result: dict[str, Any] = {"request_id": request_id, "destination": dest.name}
    if request_id is not None:
        known = _known(conn, dest, request_id)
        if known is not None:
            return {**result, **known}
    delivery = deliveries.new_row(
        dest.id, row, now, event_id=event_id, run_id=run_id, request_id=request_id
    )
    if batch is not None:
        batch.defer(deliveries.INSERT, delivery)
    else:
        deliveries.enqueue(conn, [delivery])
    if callback_url is not None:
        assert request_id is not None
        pending = requests.new_pending(
            request_id,
            dest.id,
            now,
            opts.callback_timeout,
            delivery_id=delivery["id"],
            run_id=run_id,
        )
        requests.add_pending(conn, [pending])
        result["callback_url"] = callback_url
    return {**result, "status": "queued", "delivery_id": delivery["id"]}


def _known(conn: sa.Connection, dest: Destination, request_id: str) -> dict[str, Any] | None:
    """What became of ``request_id`` already, if anything: Clay accepted it, it waits
    for its callback, or a copy is queued (that one is the row)."""
    if clay.accepted(conn, dest.id, [request_id]):
        return {"status": "already_accepted"}
    waiting = conn.execute(
        sa.select(pending_requests.c.status).where(pending_requests.c.request_id == request_id)
    ).scalar()
    if waiting is not None:
        return {"status": "exists", "request_status": waiting}
    queued = deliveries.queued_for_request(conn, dest.id, request_id)
    if queued is not None:
        return {"status": "queued", "delivery_id": queued, "duplicate": True}
    return None
