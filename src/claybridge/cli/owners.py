"""``claybridge owners …``: the team members ``owner`` / ``ownerEmail`` resolve to."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from claybridge.cli.common import (
    clock,
    console,
    database,
    print_json,
    print_table,
    read_text,
    table,
)
from claybridge.records import owners as records

app = typer.Typer(
    help="Owners: team members that owner / ownerEmail resolve to.", no_args_is_help=True
)


@app.command()
def add(
    name: Annotated[str, typer.Option("--name", help="Display name, as Clay sends it.")],
    email: Annotated[str, typer.Option("--email", help="Email address (unique).")],
) -> None:
    """Register an owner."""
    with database() as (_cfg, db), db.write() as conn:
        row = records.add(conn, name, email, clock.now())
    console.print(
        f"Added owner {row['name']} <{row['email']}> ({row['id']})", highlight=False, soft_wrap=True
    )


@app.command("import")
def import_(
    file: Annotated[
        Path,
        typer.Argument(dir_okay=False, help="CSV with a header row: name,email"),
    ],
) -> None:
    """Add or rename owners from a CSV, matched by email; a file with a bad row changes nothing."""
    text = read_text(file, encoding="utf-8-sig")
    with database() as (_cfg, db), db.write() as conn:
        result = records.import_csv(conn, text, clock.now())
    console.print(
        f"{len(result.added)} added, {len(result.updated)} renamed, "
        f"{len(result.unchanged)} unchanged"
    )


@app.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List owners."""
    with database() as (_cfg, db), db.read() as conn:
        rows = [records.public(r) for r in records.list_all(conn)]
    if as_json:
        print_json(rows)
        return
    out = table("id", "name", "email")
    for r in rows:
        out.add_row(r["id"], r["name"], r["email"])
    print_table(out)


@app.command()
def remove(owner: Annotated[str, typer.Argument(help="Id or email.")]) -> None:
    """Remove an owner; their customers keep no owner."""
    with database() as (_cfg, db), db.write() as conn:
        row = records.remove(conn, owner)
    console.print(f"Removed owner {row['name']} <{row['email']}>", highlight=False)
