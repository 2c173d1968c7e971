"""``claybridge sources …``: create, list, show, update, delete, rotate-token, disconnect,
templates, config, and ``sources mappings get|set|delete``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from claybridge.cli.common import clock, console, database, fail, print_json, print_table, table
from claybridge.config import Settings
from claybridge.core.schedule import parse_duration
from claybridge.errors import ClaybridgeError, NotFound
from claybridge.records import sources as records
from claybridge.templates import DEFAULT_TEMPLATE, TEMPLATES, column_setup, column_setup_text
from claybridge.views.sources import source_json

app = typer.Typer(
    help="Sources: the URLs Clay posts rows to, and their bearer tokens.", no_args_is_help=True
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def _with_token(cfg: Settings, row: records.Source, token: str, as_json: bool, verb: str) -> None:
    url = cfg.source_url(row.key)
    template = TEMPLATES[row.template]
    if as_json:
        print_json(
            {
                **source_json(row, url),
                "token": token,
                "clay_column": column_setup(url, token, template),
            }
        )
        return
    console.print(f"[green]{verb}[/green] source [bold]{row.name}[/bold] ({row.key})")
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
        rows = [source_json(r, cfg.source_url(r.key)) for r in records.list_all(conn)]
    if as_json:
        print_json(rows)
        return
    out = table("key", "name", "template", "status", "url", "token")
    for r in rows:
        out.add_row(
            r["key"], r["name"], r["template"], r["status"], r["url"], r["token_hint"] or "-"
        )
    print_table(out)


@app.command()
def show(
    source: Annotated[str, typer.Argument(help="Id, key or name.")], as_json: JsonFlag = False
) -> None:
    """Show a source and its Clay column setup (the token itself is never shown again)."""
    with database() as (cfg, db), db.read() as conn:
        row = records.find(conn, source)
    url = cfg.source_url(row.key)
    public = source_json(row, url)
    if as_json:
        print_json(public)
        return
    for key, value in public.items():
        console.print(f"{key:>17}: {value}", highlight=False)
    console.print()
    console.print(
        column_setup_text(url, None, TEMPLATES[row.template]), markup=False, highlight=False
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
        f"Disconnected [bold]{row.name}[/bold]; requests now get 401. "
        "`claybridge sources rotate-token` reconnects it with a new token."
    )


@app.command()
def templates(as_json: JsonFlag = False) -> None:
    """List the source templates."""
    if as_json:
        print_json(
            [
                {
                    "name": t.name,
                    "actions": t.actions,
                    "events": list(t.config["mappings"]),
                    "description": t.description,
                }
                for t in TEMPLATES.values()
            ]
        )
        return
    out = table("template", "actions", "events", "description")
    for t in TEMPLATES.values():
        out.add_row(t.name, t.actions, ", ".join(t.config["mappings"]), t.description)
    print_table(out)


@app.command("config")
def config(source: Annotated[str, typer.Argument(help="Id, key or name.")]) -> None:
    """Print the source's whole configuration (routing, idempotency, signature,
    mappings) as JSON, secrets masked."""
    with database() as (_cfg, db), db.read() as conn:
        row = records.find(conn, source)
    print_json(records.display_config(row))


@app.command()
def update(
    source: Annotated[str, typer.Argument(help="Id, key or name.")],
    name: Annotated[str | None, typer.Option("--name", help="A new name.")] = None,
    event_path: Annotated[
        str | None, typer.Option("--event-path", help="Where the event name is read.")
    ] = None,
    default_event: Annotated[
        str | None, typer.Option("--default-event", help="The event when that path is empty.")
    ] = None,
    strict: Annotated[
        bool | None,
        typer.Option("--strict/--lenient", help="An unmapped event: 422, or 200 with a warning."),
    ] = None,
    idempotency: Annotated[
        str | None, typer.Option("--idempotency", help="off, key or content_hash.")
    ] = None,
    idempotency_key: Annotated[
        str | None, typer.Option("--idempotency-key", help="With key: e.g. body.clay_row_id.")
    ] = None,
    idempotency_window: Annotated[
        str | None, typer.Option("--idempotency-window", help="How long repeats count, e.g. 1d.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Rename a source, change how it finds event names, or how it recognises repeats."""
    changes: dict[str, Any] = {
        k: v
        for k, v in {
            "name": name,
            "event_path": event_path,
            "default_event": default_event,
            "strict": strict,
        }.items()
        if v is not None
    }
    repeats = _idempotency(idempotency, idempotency_key, idempotency_window)
    if repeats:
        changes["idempotency"] = repeats
    if not changes:
        raise typer.BadParameter("nothing to change: give at least one option")
    with database() as (cfg, db), db.write() as conn:
        row = records.update(conn, source, changes, clock.now())
    public = source_json(row, cfg.source_url(row.key))
    if as_json:
        print_json(public)
    else:
        console.print(f"Updated source {row.name} ({row.key}).", highlight=False)


def _idempotency(mode: str | None, key: str | None, window: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if mode is not None:
        out["mode"] = mode
    if key is not None:
        out["key_path"] = key
    if window is not None:
        try:
            out["window_seconds"] = int(parse_duration(window))
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--idempotency-window") from None
    return out


@app.command()
def delete(
    source: Annotated[str, typer.Argument(help="Id, key or name.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a source and its event log (records it created stay). Clay's column gets
    404 afterwards."""
    with database() as (_cfg, db):
        with db.read() as conn:
            row = records.find(conn, source)
        # Asked outside the write transaction: a prompt must not hold the write lock.
        if not yes and not typer.confirm(f"Delete source {row.name!r} and its event log?"):
            raise typer.Exit(1)
        with db.write() as conn:
            records.delete(conn, row.id)
    console.print(f"Deleted source {row.name}.", highlight=False)


mappings_app = typer.Typer(help="A source's mappings, one event at a time.", no_args_is_help=True)
app.add_typer(mappings_app, name="mappings")


@mappings_app.command("get")
def mapping_get(
    source: Annotated[str, typer.Argument(help="Id, key or name.")],
    event: Annotated[str | None, typer.Argument(help="The event (all when left out).")] = None,
    as_yaml: Annotated[bool, typer.Option("--yaml", help="YAML instead of JSON.")] = False,
) -> None:
    """Print a mapping's actions (or every mapping), ready to edit and `set` again."""
    with database() as (_cfg, db), db.read() as conn:
        row = records.find(conn, source)
    found = records.display_config(row).get("mappings", {})
    if event is not None:
        if event not in found:
            fail(NotFound(f"source {row.name!r} has no mapping for {event!r}", field="event"))
        found = found[event]
    if as_yaml:
        console.print(yaml.safe_dump(found, sort_keys=False), markup=False, highlight=False)
    else:
        print_json(found)


@mappings_app.command("set")
def mapping_set(
    source: Annotated[str, typer.Argument(help="Id, key or name.")],
    event: Annotated[str, typer.Argument(help="The event name.")],
    file: Annotated[
        Path, typer.Option("-f", "--file", dir_okay=False, help="YAML or JSON list of actions.")
    ],
) -> None:
    """Create or replace the mapping for EVENT from a file (its actions, as a list)."""
    actions = _actions(file)
    with database() as (_cfg, db), db.write() as conn:
        row = records.set_mapping(conn, source, event, actions, clock.now())
    console.print(
        f"Saved mapping {event!r} of source {row.name} ({len(actions)} actions).",
        highlight=False,
    )


def _actions(file: Path) -> list[Any]:
    try:
        loaded = yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as exc:
        fail(ClaybridgeError(f"{file}: {exc.strerror}", code="file_unreadable"))
    except yaml.YAMLError as exc:
        fail(ClaybridgeError(f"{file}: not valid YAML or JSON: {exc}", code="invalid_file"))
    if isinstance(loaded, dict) and isinstance(loaded.get("actions"), list):
        loaded = loaded["actions"]
    if not isinstance(loaded, list):
        fail(ClaybridgeError(f"{file} must hold a list of actions", code="invalid_file"))
    return loaded


@mappings_app.command("delete")
def mapping_delete(
    source: Annotated[str, typer.Argument(help="Id, key or name.")],
    event: Annotated[str, typer.Argument(help="The event name.")],
) -> None:
    """Remove the mapping for EVENT."""
    with database() as (_cfg, db), db.write() as conn:
        row = records.delete_mapping(conn, source, event, clock.now())
    console.print(f"Deleted mapping {event!r} of source {row.name}.", highlight=False)
