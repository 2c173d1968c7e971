"""``claybridge apply -f claybridge.yaml`` and ``claybridge export``: setup as code."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from claybridge.cli.common import box, clock, console, database, err_console, read_text
from claybridge.setup.apply import Context, apply_setup
from claybridge.setup.document import SetupError
from claybridge.setup.export import export as export_setup
from claybridge.setup.model import load


def _refused(file: Path, exc: SetupError) -> None:
    err_console.print(f"{file} is refused; nothing was changed:", style="red", highlight=False)
    for problem in exc.problems:
        err_console.print(f"  {problem}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def apply(
    file: Annotated[
        Path, typer.Option("-f", "--file", dir_okay=False, help="The setup file (YAML).")
    ],
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Print what would change, field by field; change nothing."),
    ] = False,
) -> None:
    """Create or update owners, destinations, workflows and sources from a YAML file;
    all of it or nothing. Secrets in it are ${VAR} references read from the environment."""
    try:
        setup = load(read_text(file))
    except SetupError as exc:
        _refused(file, exc)
    with database() as (cfg, db), db.write() as conn:
        ctx = Context(conn, clock.now(), box(cfg), dry_run, cfg.allowed_networks, os.environ)
        try:
            outcome = apply_setup(ctx, setup)
        except SetupError as exc:
            conn.rollback()
            _refused(file, exc)
        if dry_run:
            conn.rollback()
    verb = "would change" if dry_run else "changed"
    for change in outcome.changes:
        console.print(change, markup=False, highlight=False, soft_wrap=True)
    records = {line.split(":")[0] for line in outcome.changes}
    console.print(f"{len(records)} {verb}, {outcome.unchanged} unchanged", highlight=False)
    for name, made in outcome.tokens.items():
        console.print(
            f"token for new source {name!r} (shown once): {made['token']}\n"
            f"  URL: {cfg.source_url(made['key'])}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    for name, secret in outcome.signing_secrets.items():
        console.print(
            f"signing secret for destination {name!r} (shown once): {secret}",
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
    """Write owners, destinations, workflows and sources as a setup file (secrets as
    ${VAR} references or masks, no tokens)."""
    with database() as (cfg, db), db.read() as conn:
        text = export_setup(conn, box(cfg))
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        console.print(f"wrote {output}")
