"""``claybridge deliveries …``: list, show and replay what goes out."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from claybridge.cli.common import clock, console, database, print_json, print_table, table
from claybridge.errors import InvalidField
from claybridge.records import deliveries, delivery_log, destinations
from claybridge.views.deliveries import delivery_json

deliveries_app = typer.Typer(
    help="Deliveries: each payload bound for a destination.", no_args_is_help=True
)
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _filter(
    conn: Any,
    destination: str | None,
    status: str | None,
    since: datetime | None,
    until: datetime | None,
) -> delivery_log.Filter:
    dest_id = destinations.find(conn, destination).id if destination else None
    return delivery_log.Filter(dest_id, status, since, until)


Dest = Annotated[str | None, typer.Option("--destination", help="Id or name.")]
Status = Annotated[str | None, typer.Option("--status", help=", ".join(deliveries.STATUSES))]
Since = Annotated[datetime | None, typer.Option("--since", help="Created at or after (UTC).")]
Until = Annotated[datetime | None, typer.Option("--until", help="Created before (UTC).")]


def _utc(value: datetime | None) -> datetime | None:

    return value.replace(tzinfo=UTC) if value and value.tzinfo is None else value


@deliveries_app.command("list")
def list_deliveries(
    destination: Dest = None,
    status: Status = None,
    since: Since = None,
    until: Until = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500)] = 50,
    cursor: Annotated[str | None, typer.Option("--cursor")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List deliveries, newest first."""
    with database() as (_cfg, db), db.read() as conn:
        flt = _filter(conn, destination, status, _utc(since), _utc(until))
        page = delivery_log.search(conn, flt, limit=limit, cursor=cursor)
    rows = [delivery_json(r) for r in page.items]
    if as_json:
        print_json({"data": rows, "next_cursor": page.next_cursor})
        return
    out = table("id", "destination", "status", "attempts", "last", "error")
    for r in rows:
        out.add_row(
            r["id"],
            r["destination"] or "",
            r["status"],
            str(r["attempts"]),
            str(r["last_status_code"] or ""),
            r["last_error"] or "",
        )
    print_table(out)
    if page.next_cursor:
        console.print(f"more: --cursor {page.next_cursor}")


@deliveries_app.command("show")
def show_delivery(delivery_id: str, as_json: JsonFlag = False) -> None:
    """Show one delivery with every attempt."""
    with database() as (_cfg, db), db.read() as conn:
        shown = delivery_json(delivery_log.get(conn, delivery_id), full=True)
    if as_json:
        print_json(shown)
        return
    console.print(
        f"[bold]{shown['id']}[/bold] → {shown['destination']}: {shown['status']} "
        f"after {shown['attempts']} attempt(s)",
        highlight=False,
    )
    for a in shown["attempt_log"]:
        console.print(
            f"  {a['attempted_at'][:23]}  {a['status_code'] or '-'}  {a['latency_ms']} ms  "
            f"{a['error'] or ''}",
            highlight=False,
            markup=False,
        )


@deliveries_app.command("replay")
def replay(
    delivery_id: Annotated[str | None, typer.Argument(help="One delivery; or use filters.")] = None,
    destination: Dest = None,
    status: Status = None,
    since: Since = None,
    until: Until = None,
) -> None:
    """Send deliveries again (as new deliveries linked to the originals)."""
    with database() as (_cfg, db), db.write() as conn:
        if delivery_id:
            ids = [delivery_id]
        else:
            if not (destination or status or since or until):
                raise InvalidField("give a delivery id, or at least one filter")
            flt = _filter(conn, destination, status, _utc(since), _utc(until))
            ids = delivery_log.matching_ids(conn, flt)
        new = delivery_log.replay(conn, ids, clock.now()) if ids else []
    console.print(f"Replaying {len(new)} deliveries.")
