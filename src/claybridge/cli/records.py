"""``claybridge people …`` and ``claybridge objects …``: read what sources wrote."""

from __future__ import annotations

from typing import Annotated

import typer

from claybridge.cli.common import database, print_json, print_table, table, when
from claybridge.records import objects, people

people_app = typer.Typer(help="People identified from Clay rows.", no_args_is_help=True)
objects_app = typer.Typer(help="Objects (e.g. accounts) set from Clay rows.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]
LimitOpt = Annotated[int, typer.Option("--limit", min=1, max=500)]


@people_app.command("list")
def people_list(
    q: Annotated[str | None, typer.Option("--search", "-q", help="Key, name or email.")] = None,
    limit: LimitOpt = 50,
    cursor: Annotated[str | None, typer.Option("--cursor")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List people, newest first."""
    with database() as (_cfg, db), db.read() as conn:
        page = people.search(conn, q=q, cursor=cursor, limit=limit)
    rows = [people.public(r) for r in page.items]
    if as_json:
        print_json({"data": rows, "next_cursor": page.next_cursor})
        return
    out = table("key", "name", "email", "properties")
    for r in rows:
        out.add_row(
            r["key"], r["full_name"] or "", r["email"] or "", str(len(r["properties"] or {}))
        )
    print_table(out)


@people_app.command("show")
def people_show(person: Annotated[str, typer.Argument(help="Id or key.")]) -> None:
    """Show one person as JSON."""
    with database() as (_cfg, db), db.read() as conn:
        print_json(people.public(people.get(conn, person)))


@objects_app.command("list")
def objects_list(
    collection: Annotated[str, typer.Argument(help="e.g. accounts")],
    q: Annotated[str | None, typer.Option("--search", "-q", help="Key contains.")] = None,
    limit: LimitOpt = 50,
    cursor: Annotated[str | None, typer.Option("--cursor")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List a collection's objects, newest first."""
    with database() as (_cfg, db), db.read() as conn:
        page = objects.search(conn, collection, q=q, cursor=cursor, limit=limit)
    rows = [objects.public(r) for r in page.items]
    if as_json:
        print_json({"data": rows, "next_cursor": page.next_cursor})
        return
    out = table("key", "properties", "updated (UTC)")
    for r in rows:
        out.add_row(r["key"], str(len(r["properties"] or {})), when(r["updated_at"]))
    print_table(out)


@objects_app.command("show")
def objects_show(
    collection: Annotated[str, typer.Argument()],
    key: Annotated[str, typer.Argument(help="Key or id.")],
) -> None:
    """Show one object as JSON."""
    with database() as (_cfg, db), db.read() as conn:
        print_json(objects.public(objects.get(conn, collection, key)))
