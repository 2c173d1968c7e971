"""``claybridge events …`` and ``claybridge customers …``: read what came in."""

from __future__ import annotations

from typing import Annotated

import orjson
import typer

from claybridge.cli.common import console, database, print_json, print_table, table, when
from claybridge.errors import InvalidField
from claybridge.records import customers as customer_records
from claybridge.records import events as records
from claybridge.records import sources
from claybridge.views.events import event_json

app = typer.Typer(help="The event log: every request a source received.", no_args_is_help=True)
customers_app = typer.Typer(
    help="Customers created and updated from Clay rows.", no_args_is_help=True
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]
LimitOpt = Annotated[int, typer.Option("--limit", min=1, max=500)]


@app.command("list")
def list_(
    source: Annotated[str | None, typer.Option("--source", help="Id, key or name.")] = None,
    status: Annotated[str | None, typer.Option("--status", help="accepted or rejected.")] = None,
    limit: LimitOpt = 50,
    cursor: Annotated[str | None, typer.Option("--cursor", help="Older than this id.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List events, newest first."""
    with database() as (_cfg, db), db.read() as conn:
        if status is not None and status not in records.STATUSES:
            raise InvalidField(
                f"--status must be one of {', '.join(records.STATUSES)}", field="status"
            )
        source_id = sources.find(conn, source).id if source else None
        page = records.search(conn, source_id=source_id, status=status, cursor=cursor, limit=limit)
    rows = [event_json(r) for r in page.items]
    if as_json:
        print_json({"data": rows, "next_cursor": page.next_cursor})
        return
    out = table("id", "received (UTC)", "source", "status", "code", "error")
    for r in rows:
        err = r["error"]
        out.add_row(
            r["id"],
            when(r["received_at"]),
            r["source_name"] or "",
            r["status"],
            str(r["status_code"]),
            f"{err['code']}: {err['message']}" if err else "",
        )
    print_table(out)
    if page.next_cursor:
        console.print(f"more: --cursor {page.next_cursor}")


@app.command()
def show(
    event_id: Annotated[str, typer.Argument(help="Event id.")], as_json: JsonFlag = False
) -> None:
    """Show one event: outcome, error, request headers and body (secrets redacted), response."""
    with database() as (_cfg, db), db.read() as conn:
        event = event_json(records.get(conn, event_id), full=True)
    if as_json:
        print_json(event)
        return
    for key in ("id", "received_at", "source_name", "status", "status_code", "customer_id"):
        console.print(f"{key:>12}: {event[key]}", highlight=False)
    if event["error"]:
        e = event["error"]
        field = f" (field {e['field']})" if e["field"] else ""
        console.print(f"{'error':>12}: {e['code']}{field}: {e['message']}", highlight=False)
    pretty = orjson.OPT_INDENT_2
    console.print(
        "request headers:",
        orjson.dumps(event["request"]["headers"], option=pretty).decode(),
        markup=False,
        highlight=False,
    )
    console.print(
        "request body:",
        orjson.dumps(event["request"]["body"], option=pretty).decode(),
        markup=False,
        highlight=False,
    )
    console.print(
        "response body:",
        orjson.dumps(event["response"]["body"], option=pretty).decode(),
        markup=False,
        highlight=False,
    )


@customers_app.command("list")
def customers_list(
    q: Annotated[
        str | None, typer.Option("--search", "-q", help="Name or domain contains.")
    ] = None,
    limit: LimitOpt = 50,
    cursor: Annotated[str | None, typer.Option("--cursor")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List customers, newest first."""
    with database() as (_cfg, db), db.read() as conn:
        page, by_id = customer_records.search(conn, q=q, cursor=cursor, limit=limit)
    rows = [customer_records.public(r, by_id.get(r["owner_id"] or "")) for r in page.items]
    if as_json:
        print_json({"data": rows, "next_cursor": page.next_cursor})
        return
    out = table("domain", "name", "owner", "stage", "arr", "renewal")
    for r in rows:
        owner = r["owner"]["name"] if r["owner"] else ""
        out.add_row(
            r["domain"],
            r["name"],
            owner,
            r["stage"] or "",
            "" if r["arr"] is None else f"{r['arr']:,.2f}",
            str(r["renewal_date"] or ""),
        )
    print_table(out)


@customers_app.command("show")
def customers_show(customer: Annotated[str, typer.Argument(help="Id or domain.")]) -> None:
    """Show one customer as JSON."""
    with database() as (_cfg, db), db.read() as conn:
        row, owner = customer_records.get(conn, customer)
    print_json(customer_records.public(row, owner))


@app.command("replay")
def replay(event_id: str, as_json: JsonFlag = False) -> None:
    """Run a logged event through its source's current mapping again, as a new event."""
    from claybridge.cli.common import box, clock
    from claybridge.ingest.pipeline import handle, replay_request
    from claybridge.records.batch import run_jobs

    with database() as (cfg, db):
        with db.read() as conn:
            request = replay_request(conn, event_id, cfg, clock.now(), box(cfg))
        with db.write() as conn:
            result = run_jobs(conn, [lambda c, b: handle(c, b, request)])[0]
    if as_json:
        print_json(result.body)
    else:
        status = "replayed" if result.status_code == 200 else "rejected"
        console.print(
            f"{status} as {result.body.get('event_id')} ({result.status_code})", highlight=False
        )
    if result.status_code != 200:
        raise typer.Exit(1)
