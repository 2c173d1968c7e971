"""``claybridge api-keys …``: keys for the admin API (shown once, stored hashed)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from claybridge.cli.common import clock, console, database, print_json
from claybridge.records import api_keys as records

app = typer.Typer(help="Admin API keys.", no_args_is_help=True)


@app.command()
def create(
    name: Annotated[str, typer.Option("--name", help="Who or what uses the key.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Create a key and print it once."""
    with database() as (_cfg, db), db.write() as conn:
        row, key = records.create(conn, name, clock.now())
    if as_json:
        print_json({"id": row["id"], "name": row["name"], "key": key})
        return
    console.print(f"API key for {row['name']} ({row['id']}):", highlight=False)
    console.print(key, highlight=False, soft_wrap=True)
    console.print("[yellow]Shown once only. Send it as Authorization: Bearer <key>.[/yellow]")


@app.command("list")
def list_() -> None:
    """List keys (never the secrets)."""
    with database() as (_cfg, db), db.read() as conn:
        rows = records.list_all(conn)
    table = Table("id", "name", "prefix", "created", "revoked")
    for r in rows:
        table.add_row(
            r["id"],
            r["name"],
            f"cbk_{r['prefix']}_…",
            r["created_at"].isoformat()[:19],
            r["revoked_at"].isoformat()[:19] if r["revoked_at"] else "",
        )
    console.print(table)


@app.command()
def revoke(key: Annotated[str, typer.Argument(help="Id or prefix.")]) -> None:
    """Revoke a key; it stops working at once."""
    with database() as (_cfg, db), db.write() as conn:
        row = records.revoke(conn, key, clock.now())
    console.print(f"Revoked {row['name']} ({row['id']})", highlight=False)
