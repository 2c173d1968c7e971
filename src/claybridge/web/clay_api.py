"""Clay tables in the admin API: webhook pools, submitting rows, pending requests, and the
synchronous bridge (``/v1/destinations/{ref}/webhooks``, ``…/rows``, ``/v1/requests``,
``/v1/bridge/{destination}``).

Submitting goes through the delivery queue like everything outbound (rate limit shared
by the workspace, webhook pool, retries, counting); these endpoints then wait, up to
``wait`` seconds, for the outcome, reading it from the database: so they work whichever
process sends the row or receives the callback, and a caller whose wait ran out can
poll ``GET /v1/requests/{request_id}`` or the delivery.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import orjson
import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from claybridge.clay import submit as clay_submit
from claybridge.core.ssrf import check_url
from claybridge.errors import ClaybridgeError, InvalidField, error_body
from claybridge.records import clay, destinations, requests
from claybridge.state import AppState
from claybridge.storage.tables import deliveries, pending_requests
from claybridge.web.deps import State, require_api_key
from claybridge.web.outbound_api import shown_destination

router = APIRouter(prefix="/v1", dependencies=[Depends(require_api_key)], tags=["clay"])
POLL = 0.1
MAX_ROWS = 1000


class WebhookAdd(BaseModel):
    """Body of ``POST /v1/destinations/{ref}/webhooks``: the next webhook of the pool."""

    webhook_url: str = Field(min_length=1, max_length=2000)
    auth_header_name: str | None = Field(default=None, max_length=100)
    auth_header_value: str | None = Field(default=None, max_length=2000)
    submission_limit: int | None = Field(default=None, ge=1)


@router.post("/destinations/{ref}/webhooks", status_code=201)
def add_webhook(ref: str, body: WebhookAdd, state: State) -> dict[str, Any]:
    """Add a webhook to a Clay destination's pool (used once the ones before it are spent)."""
    with state.db.write() as conn:
        dest = destinations.find(conn, ref)
        opts = clay_submit.options(dest)
        url = check_url(body.webhook_url, state.settings.allowed_networks, field="webhook_url")
        clay.add_webhook(
            conn,
            dest.id,
            url,
            auth_header_name=body.auth_header_name,
            auth_header_value=body.auth_header_value,
            submission_limit=body.submission_limit or opts.submission_limit,
            now=state.clock.now(),
            box=state.box,
        )
        return shown_destination(state, dest, None, conn)


class RowIn(BaseModel):
    """One row to submit."""

    payload: dict[str, Any]
    request_id: str | None = Field(default=None, min_length=1, max_length=255)
    external_id: str | None = Field(default=None, max_length=255)
    callback_url: str | None = Field(default=None, max_length=2000)
    callback: bool = False


class RowsIn(BaseModel):
    """Body of ``POST /v1/destinations/{ref}/rows``: one row, or ``rows``."""

    payload: dict[str, Any] | None = None
    request_id: str | None = Field(default=None, min_length=1, max_length=255)
    external_id: str | None = Field(default=None, max_length=255)
    callback_url: str | None = Field(default=None, max_length=2000)
    callback: bool = False
    rows: list[RowIn] | None = Field(default=None, max_length=MAX_ROWS)


def _settled(conn: sa.Connection, ids: list[str]) -> dict[str, Any]:
    rows = conn.execute(
        sa.select(
            deliveries.c.id,
            deliveries.c.status,
            deliveries.c.last_status_code,
            deliveries.c.last_error,
        ).where(deliveries.c.id.in_(ids))
    ).all()
    return {r.id: r for r in rows}


def _excerpt(conn: sa.Connection, delivery_id: str) -> Any:
    text = conn.execute(
        sa.text(
            "SELECT response_excerpt FROM delivery_attempts WHERE delivery_id = :d "
            "ORDER BY attempted_at DESC, id DESC LIMIT 1"
        ),
        {"d": delivery_id},
    ).scalar()
    if text is None:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def _read_settled(state: AppState, ids: list[str]) -> dict[str, Any]:
    with state.db.read() as conn:
        return _settled(conn, ids)


async def _wait_settled(state: AppState, ids: list[str], wait: float) -> dict[str, Any]:
    deadline = time.monotonic() + wait
    while True:
        found = await asyncio.to_thread(_read_settled, state, ids)
        open_ = [i for i in ids if found[i].status not in ("delivered", "dead")]
        if not open_ or time.monotonic() >= deadline:
            return found
        await asyncio.sleep(POLL)


def _enqueue_rows(state: AppState, ref: str, items: list[RowIn]) -> list[dict[str, Any]]:
    """Queue every row that can be sent (one transaction); refusals are per row.

    A request id queued at the same moment by another transaction fails the unique
    index (PostgreSQL); the transaction is then run again, and finds that copy.
    """
    for attempt in range(3):
        try:
            return _enqueue_once(state, ref, items)
        except sa.exc.IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _enqueue_once(state: AppState, ref: str, items: list[RowIn]) -> list[dict[str, Any]]:
    ids = [i.request_id for i in items if i.request_id]
    dupes = {r for r in ids if ids.count(r) > 1}
    now = state.clock.now()
    results: list[dict[str, Any]] = []
    with state.db.write() as conn:
        dest = destinations.find(conn, ref)
        clay_submit.options(dest)
        for item in items:
            if item.request_id in dupes:
                message = "this request_id appears twice in the batch"
                results.append(_refused(item.request_id, "duplicate_request_id", message))
                continue
            try:
                done = clay_submit.enqueue(
                    conn,
                    dest,
                    item.payload,
                    now,
                    base_url=state.settings.base_url,
                    request_id=item.request_id,
                    external_id=item.external_id,
                    callback_url=item.callback_url,
                    callback=item.callback,
                )
            except ClaybridgeError as exc:
                results.append(_refused(item.request_id, exc.code, exc.message))
                continue
            results.append(done)
    return results


def _fill_results(state: AppState, results: list[dict[str, Any]], found: dict[str, Any]) -> bool:
    """Complete each row's result from its delivery; True if any is still pending."""
    pending = False
    with state.db.read() as conn:
        for r in results:
            row = found.get(r.get("delivery_id") or "")
            if row is None:
                if r.get("status") in ("already_accepted", "exists"):
                    r["ok"] = True
                continue
            r["status"] = row.status
            r["status_code"] = row.last_status_code
            r["ok"] = row.status == "delivered" if row.status in ("delivered", "dead") else None
            if row.status in ("delivered", "dead"):
                r["response"] = _excerpt(conn, row.id)
                if row.status == "dead":
                    r["error"] = failure(row.last_error, row.last_status_code)
            else:
                pending = True
    return pending


@router.post("/destinations/{ref}/rows")
async def submit_rows(
    ref: str,
    body: RowsIn,
    state: State,
    wait: float = Query(default=30.0, ge=0, le=120),
) -> JSONResponse:
    """Submit one row or a batch to a Clay table; answers per row once each is settled
    (200), or after ``wait`` seconds with what is still queued (202)."""
    items = body.rows if body.rows is not None else None
    if items is None:
        if body.payload is None:
            raise InvalidField("give payload (one row) or rows (a batch)", field="payload")
        items = [RowIn(**body.model_dump(exclude={"rows"}))]
    results = await asyncio.to_thread(_enqueue_rows, state, ref, items)
    state.wake()
    queued = [r["delivery_id"] for r in results if r.get("status") == "queued"]
    found = await _wait_settled(state, queued, wait) if queued else {}
    pending = await asyncio.to_thread(_fill_results, state, results, found)
    summary = {
        "sent": sum(1 for r in results if r.get("ok") is True),
        "failed": sum(1 for r in results if r.get("ok") is False),
        "pending": sum(1 for r in results if r.get("ok") is None),
    }
    return JSONResponse(
        {"ok": summary["failed"] == 0, **summary, "results": results},
        status_code=202 if pending else 200,
    )


CODED = re.compile(r"^([a-z_]+): (.+)$", re.DOTALL)


def failure(error: str | None, status_code: int | None) -> dict[str, str]:
    """A dead submission's error as ``{code, message}``: the code the worker recorded
    (``webhook_exhausted``, ``payload_too_large``), else ``clay_refused`` when Clay
    answered, else ``delivery_failed``."""
    text = error or "the row could not be delivered"
    found = CODED.match(text)
    if found:
        return {"code": found.group(1), "message": found.group(2)}
    return {"code": "clay_refused" if status_code else "delivery_failed", "message": text}


def _refused(request_id: str | None, code: str, message: str) -> dict[str, Any]:
    return {
        "ok": False,
        "status": "refused",
        "status_code": None,
        "request_id": request_id,
        "error": {"code": code, "message": message},
    }


@router.get("/requests/{request_id}")
def get_request(request_id: str, state: State) -> dict[str, Any]:
    """A pending request: its status, and the returned row once completed."""
    with state.db.read() as conn:
        return {
            "ok": True,
            "request": requests.public_request(requests.get_request(conn, request_id)),
        }


def _bridge_submit(state: AppState, destination: str, row: dict[str, Any]) -> dict[str, Any]:
    with state.db.write() as conn:
        dest = destinations.find(conn, destination)
        return clay_submit.enqueue(
            conn, dest, row, state.clock.now(), base_url=state.settings.base_url, callback=True
        )


def _bridge_state(state: AppState, request_id: str, delivery_id: str) -> tuple[Any, Any]:
    """The pending request's status and result, and the delivery if it died."""
    with state.db.read() as conn:
        found = conn.execute(
            sa.select(pending_requests.c.status, pending_requests.c.result).where(
                pending_requests.c.request_id == request_id
            )
        ).one()
        failed = conn.execute(
            sa.select(deliveries.c.last_status_code, deliveries.c.last_error).where(
                deliveries.c.id == delivery_id, deliveries.c.status == "dead"
            )
        ).first()
    return found, failed


@router.post("/bridge/{destination}")
async def bridge(
    destination: str,
    row: dict[str, Any],
    state: State,
    wait: float = Query(default=90.0, ge=0, le=95),
) -> JSONResponse:
    """Submit ``row`` to a Clay table with a fresh request id and callback, and answer with
    the row its callback returns. Past ``wait`` seconds (90 by default, under Clay's ~100 s
    column timeout): 202 with the request id and where to poll."""
    done = await asyncio.to_thread(_bridge_submit, state, destination, row)
    state.wake()
    request_id = done["request_id"]
    deadline = time.monotonic() + wait
    while True:
        found, failed = await asyncio.to_thread(
            _bridge_state, state, request_id, done["delivery_id"]
        )
        if found.status == requests.COMPLETED:
            return JSONResponse(found.result)
        if failed is not None:
            error = failure(failed.last_error, failed.last_status_code)
            body = error_body(error["code"], f"Clay did not accept the row: {error['message']}")
            body.update(request_id=request_id, status_code=failed.last_status_code)
            return JSONResponse(body, status_code=502)
        if found.status == requests.EXPIRED or time.monotonic() >= deadline:
            return JSONResponse(
                {
                    "ok": True,
                    "status": found.status,
                    "request_id": request_id,
                    "poll_url": f"{state.settings.base_url}/v1/requests/{request_id}",
                },
                status_code=202,
            )
        await asyncio.sleep(POLL)
