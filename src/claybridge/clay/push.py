"""Pushing a file of rows into a Clay table (``claybridge push``).

Rows go through the delivery queue like every submission (the workspace rate limit,
the webhook pool and its counts, retries), and ``push`` runs a worker in its own process
to send them, so it works with or without a running ``claybridge serve``.

Resumable: each row has a request id (a column, or a hash of its content). A row whose
request id Clay already accepted is skipped; a row already queued (a push cut short by
a crash) is followed, not queued twice; a row of a cancelled push is queued again.
Running the same push again therefore sends only what Clay has not accepted yet.

Stoppable: each push is recorded (``records.pushes``) and its rows carry its id, so
Ctrl-C or ``claybridge pushes cancel`` stops every row not yet sent, whichever process
would have sent it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from claybridge.clay import submit as clay_submit
from claybridge.clay.rows_file import BadRow, FileRow
from claybridge.core.clay_rules import PayloadTooLarge, check_size, encoded, prepare_row
from claybridge.records import clay, deliveries, pushes
from claybridge.records.destinations import Destination
from claybridge.storage.database import Database
from claybridge.storage.tables import deliveries as deliveries_table

CHUNK = 500


@dataclass
class Plan:
    """What a push will do: rows to queue, rows already queued, skips and bad rows."""

    to_queue: list[FileRow] = field(default_factory=list)
    already_queued: dict[str, str] = field(default_factory=dict)  # request id -> delivery
    skipped: list[FileRow] = field(default_factory=list)  # Clay already accepted them
    bad: list[BadRow] = field(default_factory=list)
    tracked: dict[str, FileRow] = field(default_factory=dict)  # delivery id -> row
    push_id: str | None = None  # set by start()


def plan(db: Database, dest: Destination, rows: Iterable[FileRow | BadRow]) -> Plan:
    """Sort the file's rows into what to queue, follow, skip, or report."""
    opts = clay_submit.options(dest)
    out = Plan()
    good: list[FileRow] = []
    seen: set[str] = set()
    for row in rows:
        if isinstance(row, BadRow):
            out.bad.append(row)
            continue
        if row.request_id in seen:
            out.bad.append(
                BadRow(row.line, f"request id {row.request_id!r} repeats an earlier row")
            )
            continue
        seen.add(row.request_id)
        try:
            check_size(
                encoded(prepare_row(row.data, request_id=row.request_id)), opts.max_payload_bytes
            )
        except PayloadTooLarge as exc:
            out.bad.append(BadRow(row.line, exc.message))
            continue
        good.append(row)
    with db.read() as conn:
        for start in range(0, len(good), CHUNK):
            chunk = good[start : start + CHUNK]
            ids = [r.request_id for r in chunk]
            done = clay.accepted(conn, dest.id, ids)
            queued = _unfinished(conn, dest.id, ids)
            for row in chunk:
                if row.request_id in done:
                    out.skipped.append(row)
                elif row.request_id in queued:
                    out.already_queued[row.request_id] = queued[row.request_id]
                    out.tracked[queued[row.request_id]] = row
                else:
                    out.to_queue.append(row)
    return out


def _unfinished(conn: sa.Connection, dest_id: str, ids: Sequence[str]) -> dict[str, str]:
    rows = conn.execute(
        sa.select(deliveries_table.c.request_id, deliveries_table.c.id).where(
            deliveries_table.c.destination_id == dest_id,
            deliveries_table.c.request_id.in_(list(ids)),
            deliveries_table.c.status.in_(deliveries.UNFINISHED),
        )
    )
    return {r.request_id: r.id for r in rows}


def start(db: Database, dest: Destination, out: Plan, file: str, now: datetime) -> str:
    """Record the push (``claybridge pushes``) and make the rows an earlier push left
    queued part of it; returns its id."""
    counts = {
        "rows": len(out.to_queue) + len(out.already_queued) + len(out.skipped) + len(out.bad),
        "queued": len(out.to_queue) + len(out.already_queued),
        "skipped": len(out.skipped),
        "bad": len(out.bad),
    }
    with db.write() as conn:
        out.push_id = pushes.create(conn, dest.id, file, counts, now)["id"]
        pushes.adopt(conn, out.push_id, list(out.already_queued.values()))
    return out.push_id


def enqueue(db: Database, dest: Destination, out: Plan, now: datetime) -> None:
    """Queue ``out.to_queue`` (in chunks, one transaction each) and track them."""
    for start in range(0, len(out.to_queue), CHUNK):
        chunk = out.to_queue[start : start + CHUNK]
        rows = [
            deliveries.new_row(
                dest.id,
                prepare_row(r.data, request_id=r.request_id),
                now,
                request_id=r.request_id,
                push_id=out.push_id,
            )
            for r in chunk
        ]
        with db.write() as conn:
            deliveries.enqueue(conn, rows)
        for delivery, row in zip(rows, chunk, strict=True):
            out.tracked[delivery["id"]] = row


@dataclass(frozen=True)
class Progress:
    """Where the tracked deliveries stand."""

    delivered: int
    failed: list[tuple[FileRow, str]]
    skipped_by_worker: int
    open: int
    cancelled: int = 0
    in_flight: int = 0


def progress(db: Database, out: Plan) -> Progress:
    """Read the tracked deliveries' statuses."""
    ids = list(out.tracked)
    delivered = skipped = cancelled = in_flight = 0
    failed: list[tuple[FileRow, str]] = []
    with db.read() as conn:
        for start in range(0, len(ids), CHUNK):
            rows = conn.execute(
                sa.select(
                    deliveries_table.c.id,
                    deliveries_table.c.status,
                    deliveries_table.c.last_error,
                    deliveries_table.c.last_status_code,
                ).where(deliveries_table.c.id.in_(ids[start : start + CHUNK]))
            )
            for r in rows:
                if r.status == deliveries.DELIVERED:
                    if r.last_status_code is None and (r.last_error or "").startswith("not sent"):
                        skipped += 1
                    else:
                        delivered += 1
                elif r.status == deliveries.DEAD:
                    failed.append((out.tracked[r.id], r.last_error or "failed"))
                elif r.status == deliveries.CANCELLED:
                    cancelled += 1
                elif r.status == deliveries.IN_FLIGHT:
                    in_flight += 1
    open_ = len(ids) - delivered - skipped - len(failed) - cancelled
    failed.sort(key=lambda f: f[0].line)
    return Progress(delivered, failed, skipped, open_, cancelled, in_flight)
