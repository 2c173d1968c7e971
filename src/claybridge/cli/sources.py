"""``claybridge sources …``: create, list, show, rotate-token, disconnect, templates."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from claybridge.cli.common import clock, console, database, print_json
from claybridge.config import Settings
from claybridge.records import sources as records
from claybridge.templates import DEFAULT_TEMPLATE, TEMPLATES, column_setup, column_setup_text

app = typer.Typer(
    help="Sources: the URLs Clay posts rows to, and their bearer tokens.", no_args_is_help=True
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def _with_token(cfg: Settings, row: dict[str, Any], token: str, as_json: bool, verb: str) -> None:
    url = cfg.source_url(row["key"])
    template = TEMPLATES[row["template"]]
    if as_json:
        print_json(
            {
                **records.public(row, url),
                "token": token,
                "clay_column": column_setup(url, token, template),
            }
        )
        return
    console.print(f"[green]{verb}[/green] source [bold]{row['name']}[/bold] ({row['key']})")
    console.print(f"URL:   {url}", highlight=False, soft_wrap=True)
    console.print(f"Token: {token}", highlight=False, soft_wrap=True)
    console.print("[yellow]This token is shown once only. Store it in Clay now.[/yellow]")
    console.print()
    console.print(
        column_setup_text(url, token, template), highlight=False, soft_wrap=True, markup=False
    )


@app.command()
def create(
    name: Annotated[str, typer.Option("--name", help="A name you will recognise.")],
    template: Annotated[
        str, typer.Option("--template", help="What the source does; see `sources templates`.")
    ] = DEFAULT_TEMPLATE,
    as_json: JsonFlag = False,
) -> None:
    """Create a source and print its URL, token (once) and Clay column setup."""
    with database() as (cfg, db), db.write() as conn:
        row, token = records.create(conn, name, template, clock.now())
    _with_token(cfg, row, token, as_json, "Created")


@app.command("list")
def list_(as_json: JsonFlag = False) -> None:
    """List sources."""
    with database() as (cfg, db), db.read() as conn:
        rows = [records.public(r, cfg.source_url(r["key"])) for r in records.list_all(conn)]
    if as_json:
        print_json(rows)
        return
    table = Table("key", "name", "template", "status", "url", "token")
    for r in rows:
        table.add_row(
            r["key"], r["name"], r["template"], r["status"], r["url"], r["token_hint"] or "-"
        )
    console.print(table)


@app.command()
def show(
    source: Annotated[str, typer.Argument(help="Id, key or name.")], as_json: JsonFlag = False
) -> None:
    """Show a source and its Clay column setup (the token itself is never shown again)."""
    with database() as (cfg, db), db.read() as conn:
        row = records.find(conn, source)
    url = cfg.source_url(row["key"])
    public = records.public(row, url)
    if as_json:
        print_json(public)
        return
    for key, value in public.items():
        console.print(f"{key:>17}: {value}", highlight=False)
    console.print()
    console.print(
        column_setup_text(url, None, TEMPLATES[row["template"]]), markup=False, highlight=False
    )


@app.command("rotate-token")
def rotate_token(
    source: Annotated[str, typer.Argument(help="Id, key or name.")], as_json: JsonFlag = False
) -> None:
    """Issue a new token; the old one fails with 401 at once. Reconnects a disconnected source."""
    with database() as (cfg, db), db.write() as conn:
        row, token = records.rotate_token(conn, source, clock.now())
    _with_token(cfg, row, token, as_json, "Rotated the token of")


@app.command()
def disconnect(source: Annotated[str, typer.Argument(help="Id, key or name.")]) -> None:
    """Revoke the source's token: every later request gets 401 source_disconnected."""
    with database() as (_cfg, db), db.write() as conn:
        row = records.disconnect(conn, source, clock.now())
    console.print(
        f"Disconnected [bold]{row['name']}[/bold]; requests now get 401. "
        "`claybridge sources rotate-token` reconnects it with a new token."
    )


@app.command()
def templates() -> None:
    """List the source templates."""
    table = Table("template", "actions", "events", "description")
    for t in TEMPLATES.values():
        table.add_row(t.name, t.actions, ", ".join(t.config["mappings"]), t.description)
    console.print(table)


@app.command()
def mappings(
    source: Annotated[str, typer.Argument(help="Id, key or name.")],
) -> None:
    """Print the source's configuration (event routing, mappings), secrets masked."""
    with database() as (_cfg, db), db.read() as conn:
        row = records.find(conn, source)
    print_json(records.display_config(row))
