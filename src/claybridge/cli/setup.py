"""``claybridge apply -f claybridge.yaml`` and ``claybridge export``: setup as code."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from claybridge.cli.common import clock, console, database, err_console
from claybridge.records import owners, sources, workflows
from claybridge.secretbox import SecretBox, load_key
from claybridge.setup_apply import apply_setup
from claybridge.setup_file import SetupError, dump, load


def apply(
    file: Annotated[
        Path,
        typer.Option("-f", "--file", exists=True, dir_okay=False, help="The setup file (YAML)."),
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print changes, change nothing.")
    ] = False,
) -> None:
    """Create or update owners and sources from a YAML file; all of it or nothing."""
    try:
        setup = load(file.read_text(encoding="utf-8"))
    except SetupError as exc:
        err_console.print(f"[red]{file} is refused; nothing was changed:[/red]")
        for problem in exc.problems:
            err_console.print(f"  {problem}", markup=False, highlight=False)
        raise typer.Exit(1) from None
    with database() as (cfg, db), db.write() as conn:
        box = SecretBox(lambda: load_key(cfg.data_dir, cfg.secret_key))
        outcome = apply_setup(conn, setup, now=clock.now(), box=box, dry_run=dry_run)
        if dry_run:
            conn.rollback()
    verb = "would change" if dry_run else "changed"
    for change in outcome.changes:
        console.print(change, markup=False, highlight=False)
    console.print(f"{len(outcome.changes)} {verb}, {outcome.unchanged} unchanged")
    for name, made in outcome.tokens.items():
        console.print(
            f"token for new source {name!r} (shown once): {made['token']}\n"
            f"  URL: {cfg.source_url(made['key'])}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )


def export(
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", dir_okay=False, help="Write here instead of stdout."),
    ] = None,
) -> None:
    """Write the current owners, sources and workflows as a setup file (secrets masked,
    no tokens)."""
    with database() as (_cfg, db), db.read() as conn:
        owner_rows = owners.list_all(conn)
        source_rows = [
            {**row, "config": sources.display_config(row)} for row in sources.list_all(conn)
        ]
        workflow_rows = workflows.list_all(conn)
    text = dump(owner_rows, source_rows, workflow_rows)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        console.print(f"wrote {output}")
