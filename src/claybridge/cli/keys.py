"""``claybridge api-keys …``: keys for the admin API (shown once, stored hashed)."""

from __future__ import annotations

from typing import Annotated

import typer

from claybridge.cli.common import clock, console, database, print_json, print_table, table, when
from claybridge.records import api_keys as records
from claybridge.records import console as console_records

app = typer.Typer(help="Admin API keys.", no_args_is_help=True)


@app.command()
def create(
    name: Annotated[str, typer.Option("--name", help="Who or what uses the key.")],
    role: Annotated[
        str, typer.Option("--role", help="admin (everything) or viewer (reads only).")
    ] = records.ADMIN,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Create a key and print it once."""
    with database() as (_cfg, db), db.write() as conn:
        row, key = records.create(conn, name, clock.now(), role)
    if as_json:
        print_json({"id": row["id"], "name": row["name"], "role": row["role"], "key": key})
        return
    console.print(f"API key for {row['name']} ({row['id']}, {row['role']}):", highlight=False)
    console.print(key, highlight=False, soft_wrap=True)
    console.print("[yellow]Shown once only. Send it as Authorization: Bearer <key>.[/yellow]")


@app.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List keys (never the secrets)."""
    with database() as (_cfg, db), db.read() as conn:
        rows = records.list_all(conn)
    if as_json:
        print_json([records.public(r) for r in rows])
        return
    out = table("id", "name", "role", "prefix", "created", "revoked")
    for r in rows:
        out.add_row(
            r["id"],
            r["name"],
            r["role"],
            f"cbk_{r['prefix']}_…",
            when(r["created_at"]),
            when(r["revoked_at"]),
        )
    print_table(out)


@app.command()
def revoke(key: Annotated[str, typer.Argument(help="Id or prefix.")]) -> None:
    """Revoke a key; it stops working at once."""
    with database() as (_cfg, db), db.write() as conn:
        row = records.revoke(conn, key, clock.now())
    console.print(f"Revoked {row['name']} ({row['id']})", highlight=False)


def console_link(
    role: Annotated[
        str, typer.Option("--role", help="admin (everything) or viewer (reads only).")
    ] = records.ADMIN,
) -> None:
    """Print a single-use console sign-in link that expires in 10 minutes."""
    with database() as (cfg, db), db.write() as conn:
        token = console_records.create_link(conn, role, clock.now())
    console.print(f"{cfg.base_url}/ui/login?token={token}", highlight=False, soft_wrap=True)
    console.print(
        f"[yellow]Single use, {role}, expires in 10 minutes. Open it in a browser.[/yellow]"
    )
