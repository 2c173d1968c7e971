"""``claybridge alerts …``: list, show, ack, resolve."""

from __future__ import annotations

from typing import Annotated

import typer

from claybridge.cli.common import clock, console, database, print_json, print_table, table, when
from claybridge.records import alerts

app = typer.Typer(
    help="Alerts: dead deliveries, open circuits, Clay webhook limits, crashes, spikes.",
    no_args_is_help=True,
)
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]
AlertId = Annotated[str, typer.Argument(help="The alert's id (from `alerts list`).")]


@app.command("list")
def list_(
    status: Annotated[
        str, typer.Option(help="open, acknowledged, resolved, unresolved or all.")
    ] = "unresolved",
    limit: Annotated[int, typer.Option(min=1, max=500)] = 100,
    as_json: JsonFlag = False,
) -> None:
    """Alerts, most recently seen first (unresolved ones unless --status says otherwise)."""
    with database() as (_cfg, db), db.read() as conn:
        rows = [
            alerts.public(r) for r in alerts.list_(conn, None if status == "all" else status, limit)
        ]
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print(f"No {status} alerts.")
        return
    out = table("id", "status", "kind", "count", "last seen", "message")
    for r in rows:
        out.add_row(
            r["id"], r["status"], r["kind"], str(r["count"]), when(r["last_seen_at"]), r["message"]
        )
    print_table(out)


@app.command()
def show(alert_id: AlertId, as_json: JsonFlag = False) -> None:
    """One alert, every field."""
    with database() as (_cfg, db), db.read() as conn:
        row = alerts.public(alerts.get(conn, alert_id))
    if as_json:
        print_json(row)
        return
    for key, value in row.items():
        console.print(f"{key:>15}: {value if value is not None else '-'}", highlight=False)


@app.command()
def ack(alert_id: AlertId, as_json: JsonFlag = False) -> None:
    """Acknowledge: someone is on it (repeats still count on the alert)."""
    with database() as (_cfg, db), db.write() as conn:
        row = alerts.public(alerts.acknowledge(conn, alert_id, clock.now()))
    _done(row, "Acknowledged", as_json)


@app.command()
def resolve(alert_id: AlertId, as_json: JsonFlag = False) -> None:
    """Resolve by hand; the cause happening again opens a new alert."""
    with database() as (_cfg, db), db.write() as conn:
        row = alerts.public(alerts.resolve(conn, alert_id, clock.now(), "cli"))
    _done(row, "Resolved", as_json)


def _done(row: dict[str, object], verb: str, as_json: bool) -> None:
    if as_json:
        print_json(row)
    else:
        console.print(f"{verb} {row['id']}: {row['message']}", highlight=False, markup=False)
