"""``claybridge config show``, ``claybridge init`` and ``claybridge status``."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from claybridge import config_file
from claybridge.cli.common import (
    clock,
    console,
    database_label,
    fail,
    loaded,
    open_db,
    print_json,
    print_table,
    sqlite_file,
    table,
)
from claybridge.errors import ClaybridgeError
from claybridge.operations import status as report
from claybridge.records import processes

config_app = typer.Typer(help="The settings every command and the server use.")
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


@config_app.command("show")
def show(as_json: JsonFlag = False) -> None:
    """Print the effective settings, where each came from, secrets masked."""
    current = loaded()
    rows = current.describe()
    found = current.found
    if as_json:
        print_json(
            {
                "settings_file": str(found.path) if found.path else None,
                "found_by": found.how,
                "searched": [str(p) for p in found.searched],
                "settings": {name: {"value": v, "from": o} for name, v, o in rows},
            }
        )
        return
    if found.path:
        console.print(f"settings file: {found.path} (found by {found.how})", highlight=False)
    else:
        looked = ", ".join(str(p) for p in found.searched)
        console.print(f"settings file: none (looked for {looked})", highlight=False)
    out = table("setting", "value", "from")
    for name, value, origin in rows:
        out.add_row(name, value, origin)
    print_table(out)


@config_app.command("reference")
def reference() -> None:
    """Print every setting with its variable, default and meaning (markdown)."""
    from claybridge.settings_reference import render

    sys.stdout.write(render() + "\n")


PublicUrl = Annotated[
    str | None, typer.Option("--public-url", help="Where Clay reaches this server.")
]
DatabaseUrl = Annotated[
    str | None,
    typer.Option("--database-url", help="postgresql://… (default: SQLite in the data dir)."),
]


def init(
    public_url: PublicUrl = None,
    database_url: DatabaseUrl = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write the user's settings file and create the database; say where both are."""
    import os

    path = config_file.user_file(os.environ)
    if path.exists() and not force:
        fail(
            ClaybridgeError(
                f"{path} exists already (use --force to overwrite it)", code="file_exists"
            )
        )
    values: dict[str, Any] = {"public_url": public_url, "database_url": database_url}
    lines = [
        "# Claybridge settings: read by `claybridge serve` and every command.",
        "# Names are the CLAYBRIDGE_* variables in lower case; variables and flags win.",
    ]
    lines += [f"{k} = {json.dumps(v)}" for k, v in values.items() if v is not None]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    console.print(f"wrote settings file: {path}", highlight=False)
    cfg = loaded().settings
    existed = not cfg.is_sqlite or sqlite_file(cfg).exists()
    try:
        open_db(cfg, create=True).dispose()
    except ClaybridgeError as exc:
        fail(exc)
    verb = "database" if existed else "created database"
    console.print(f"{verb}: {database_label(cfg)}", highlight=False)


def status(as_json: JsonFlag = False) -> None:
    """Version, settings file, database, schema, server, workers, queue and alerts."""
    current = loaded()
    cfg = current.settings
    out = report.header(current, database_label(cfg))
    try:
        db = open_db(cfg)
    except ClaybridgeError as exc:
        out["database_error"] = exc.message
        db = None
    if db is not None:
        try:
            out.update(report.database_part(db, clock.now()))
        finally:
            db.dispose()
    recorded = out.get("server_url")
    out["public_url"] = cfg.base_url if cfg.public_url or not recorded else recorded
    out["server"] = report.server_answers(out["public_url"])
    if as_json:
        print_json(out)
    else:
        _print_status(out)
    if "database_error" in out:
        raise typer.Exit(1)


def _print_status(out: dict[str, Any]) -> None:
    recent = int(processes.SEEN_RECENTLY.total_seconds())
    server = out["server"]
    lines = [
        ("version", out["version"]),
        ("settings file", out["settings_file"] or "none (defaults and environment)"),
        ("database", out["database"]),
    ]
    if "database_error" in out:
        lines.append(("database error", out["database_error"]))
    else:
        schema = out["schema"]
        lines.append(
            ("schema", "current" if schema["current"] else f"{schema['at']} (needs migrate)")
        )
    answer = "answers" if server["answers"] else f"does not answer ({server.get('error', '')})"
    lines.append(("public URL", f"{out['public_url']} ({answer})"))
    if "schema" in out:
        lines += [
            ("workers", f"{out['workers']} seen in the last {recent} s"),
            ("queue depth", str(out["queue_depth"])),
            ("dead deliveries", str(out["dead_deliveries"])),
            ("open alerts", str(out["open_alerts"])),
        ]
    for label, value in lines:
        console.print(f"{label:>15}: {value}", highlight=False, soft_wrap=True, markup=False)
