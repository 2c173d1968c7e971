"""Alerts: what opens them, what resolves them, and how people hear of them.

:data:`KINDS` is the one list of causes. Most are found by :func:`watch`, which a
worker runs every ``alert_interval`` seconds and which reads the state each cause shows in the
database (dead deliveries, open circuits, Clay webhook counts, processes that stopped
beating, rejection counts); where that state clears, the alert resolves itself. Two
causes are reported where they happen instead: a worker crash (:func:`worker_crashed`)
and expired pending requests (:func:`requests_expired`).

Notification: when an alert opens or resolves, a delivery is queued, through the same
durable queue as everything else, to every active destination with ``alerts`` set
(Slack gets :func:`text`; HTTP gets the JSON notice).
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from claybridge.records import alerts, deliveries, processes
from claybridge.records.alerts import ALERT_KEY
from claybridge.storage.tables import clay_webhooks, destinations, events
from claybridge.storage.tables import deliveries as deliveries_table

KINDS: dict[str, str] = {
    "delivery_dead": "deliveries to a destination went dead (resolves when each has been replayed)",
    "circuit_open": "a destination's circuit opened after failures in a row (resolves "
    "when it closes)",
    "clay_webhook_near_limit": "a Clay webhook passed 90% of its submission limit",
    "clay_webhook_retired": "a Clay webhook reached its limit and was retired",
    "clay_pool_exhausted": "a Clay destination has no webhook with room left (resolves "
    "when one is added)",
    "requests_expired": "pending Clay requests expired without a callback",
    "worker_crashed": "a worker crashed, or a process stopped without shutting down",
    "rejections_spike": "a source is refusing many requests (resolves when they stop)",
}
SPIKE_WINDOW = timedelta(minutes=5)
SPIKE_THRESHOLD = 10  # refusals of one kind, per source, within the window
NEAR_LIMIT = 0.9
OPENED, RESOLVED = "alert.opened", "alert.resolved"
Present = dict[str, tuple[str, int]]  # subject -> (message, count) of a present cause


def text(alert: dict[str, Any], change: str) -> str:
    """The one-line notice people read (Slack, logs)."""
    if change == RESOLVED:
        return f"Resolved: {alert['message']}"
    times = f" ({alert['count']} so far)" if alert["count"] > 1 else ""
    return f"Claybridge alert: {alert['message']}{times}"


def notify(conn: sa.Connection, alert: dict[str, Any], change: str, now: datetime) -> int:
    """Queue the notice to every active destination that takes alerts; returns how many."""
    targets = conn.execute(
        sa.select(destinations.c.id).where(
            destinations.c.alerts.is_(True), destinations.c.status == "active"
        )
    ).scalars()
    notice = {ALERT_KEY: change, "alert": alerts.public(alert), "text": text(alert, change)}
    rows = [deliveries.new_row(dest_id, notice, now) for dest_id in targets]
    deliveries.enqueue(conn, rows)
    return len(rows)


def report(
    conn: sa.Connection,
    kind: str,
    subject: str,
    message: str,
    now: datetime,
    *,
    count: int | None = None,
) -> dict[str, Any]:
    """The cause is present: open its alert (and notify) or count on the open one."""
    seen = alerts.observe(conn, kind, subject, message, now, count=count)
    if seen.opened:
        notify(conn, seen.alert, OPENED, now)
    return seen.alert


def settle(conn: sa.Connection, kind: str, present: Present, now: datetime) -> None:
    """Report each present cause of ``kind`` (subject -> (message, count)) and resolve,
    with a notice, the unresolved ones that are no longer present."""
    for subject, (message, count) in present.items():
        report(conn, kind, subject, message, now, count=count)
    for subject in alerts.unresolved_subjects(conn, kind) - present.keys():
        cleared = alerts.clear(conn, kind, subject, now)
        if cleared is not None:
            notify(conn, cleared, RESOLVED, now)


def _names(conn: sa.Connection) -> dict[str, str]:
    return {r.id: r.name for r in conn.execute(sa.select(destinations.c.id, destinations.c.name))}


def _dead(conn: sa.Connection, names: dict[str, str]) -> Present:
    """Dead deliveries not replayed yet, by destination."""
    replay = deliveries_table.alias("replay")
    replayed = sa.exists().where(replay.c.replay_of == deliveries_table.c.id)
    rows = conn.execute(
        sa.select(deliveries_table.c.destination_id, sa.func.count())
        .where(deliveries_table.c.status == deliveries.DEAD, ~replayed)
        .group_by(deliveries_table.c.destination_id)
    )
    return {
        dest: (
            f"{n} deliveries to {names.get(dest, dest)} are dead: replay them once it is fixed",
            int(n),
        )
        for dest, n in rows
    }


def _circuits(conn: sa.Connection) -> Present:
    rows = conn.execute(
        sa.select(
            destinations.c.id, destinations.c.name, destinations.c.consecutive_failures
        ).where(destinations.c.circuit_state == "open")
    )
    return {
        dest: (
            f"the circuit of {name} is open after {n} failures in a row: sending is "
            "paused and probed",
            1,
        )
        for dest, name, n in rows
    }


def _webhooks(conn: sa.Connection, names: dict[str, str]) -> tuple[dict[str, Any], ...]:
    near: Present = {}
    retired: Present = {}
    room: dict[str, bool] = {}
    for w in conn.execute(sa.select(clay_webhooks)):
        where = f"Clay webhook #{w.position} of {names.get(w.destination_id, w.destination_id)}"
        used = f"{w.submissions:,}/{w.submission_limit:,}"
        has_room = w.status == "active" and w.submissions < w.submission_limit
        room[w.destination_id] = room.get(w.destination_id, False) or has_room
        if w.status != "active":
            retired[w.id] = (f"{where} is retired ({used}): create the next one in Clay", 1)
        elif w.submissions >= NEAR_LIMIT * w.submission_limit:
            near[w.id] = (f"{where} is at {used} submissions: create the next one in Clay", 1)
    exhausted = {
        dest: (
            f"{names.get(dest, dest)} has no Clay webhook with room: rows wait until "
            "a webhook is added",
            1,
        )
        for dest, ok in room.items()
        if not ok
    }
    return near, retired, exhausted


def _spikes(conn: sa.Connection, now: datetime) -> Present:
    rows = conn.execute(
        sa.select(events.c.source_id, events.c.error_code, sa.func.count())
        .where(events.c.status == "rejected", events.c.received_at >= now - SPIKE_WINDOW)
        .group_by(events.c.source_id, events.c.error_code)
    )
    minutes = int(SPIKE_WINDOW.total_seconds() // 60)
    found = {}
    for source_id, code, n in rows:
        if n < SPIKE_THRESHOLD:
            continue
        if code == "rotated_token":
            what = (
                "requests with a rotated token keep arriving: update the Clay "
                "column's Authorization header"
            )
        else:
            what = f"{n} requests refused with {code} in {minutes} minutes"
        found[f"{source_id}:{code}"] = (f"source {source_id}: {what}", int(n))
    return found


def watch(conn: sa.Connection, now: datetime) -> None:
    """Open, count and resolve the alerts whose cause shows in the database."""
    names = _names(conn)
    settle(conn, "delivery_dead", _dead(conn, names), now)
    settle(conn, "circuit_open", _circuits(conn), now)
    near, retired, exhausted = _webhooks(conn, names)
    settle(conn, "clay_webhook_near_limit", near, now)
    for subject, (message, count) in retired.items():  # resolved by a person
        report(conn, "clay_webhook_retired", subject, message, now, count=count)
    settle(conn, "clay_pool_exhausted", exhausted, now)
    settle(conn, "rejections_spike", _spikes(conn, now), now)
    for gone in processes.vanished(conn, now):
        report(
            conn,
            "worker_crashed",
            gone["id"],
            f"{gone['kind']} process {gone['pid']} on {gone['hostname']} stopped without "
            "shutting down",
            now,
        )
        processes.forget(conn, gone["id"], now)


def worker_crashed(conn: sa.Connection, error: str, now: datetime) -> dict[str, Any]:
    """A supervised worker in this process crashed (it restarts by itself)."""
    subject = f"{socket.gethostname()}:{os.getpid()}"
    return report(
        conn, "worker_crashed", subject, f"a worker crashed and was restarted: {error}", now
    )


def requests_expired(conn: sa.Connection, count: int, now: datetime) -> dict[str, Any]:
    """``count`` pending Clay requests expired without a callback."""
    open_ = alerts.unresolved(conn, "requests_expired", "clay")
    total = count + (open_["count"] if open_ else 0)
    return report(
        conn,
        "requests_expired",
        "clay",
        f"{total} pending Clay requests expired without a callback: check the table's "
        "callback column",
        now,
        count=total,
    )
