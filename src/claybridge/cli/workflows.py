"""``claybridge workflows …`` and ``claybridge runs …``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
import yaml

from claybridge.cli.common import (
    clock,
    console,
    database,
    print_json,
    print_table,
    read_text,
    table,
    when,
)
from claybridge.records import runs, workflows

app = typer.Typer(help="Workflows: named, ordered steps a run carries out.", no_args_is_help=True)
runs_app = typer.Typer(help="Runs: executions of workflows.", no_args_is_help=True)
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@app.command("save")
def save(
    file: Annotated[Path, typer.Argument(dir_okay=False, help="YAML or JSON workflow.")],
) -> None:
    """Create a workflow from a file, or replace the one with the same key."""
    data = yaml.safe_load(read_text(file))
    if not isinstance(data, dict):
        raise typer.BadParameter("the file must hold one workflow (a mapping)")
    with database() as (_cfg, db), db.write() as conn:
        row, created = workflows.save(conn, data, clock.now())
    console.print(f"{'Created' if created else 'Updated'} workflow {row['key']}.")


@app.command("list")
def list_(as_json: JsonFlag = False) -> None:
    """List workflows."""
    with database() as (_cfg, db), db.read() as conn:
        rows = [workflows.public(r) for r in workflows.list_all(conn)]
    if as_json:
        print_json({"data": rows})
        return
    out = table("key", "name", "steps")
    for r in rows:
        out.add_row(r["key"], r["name"], str(len(r["steps"])))
    print_table(out)


@app.command("show")
def show(key: str, as_json: JsonFlag = False) -> None:
    """Show a workflow's steps."""
    with database() as (_cfg, db), db.read() as conn:
        row = workflows.public(workflows.find(conn, key))
    if as_json:
        print_json(row)
        return
    console.print(yaml.safe_dump(row["steps"], sort_keys=False), highlight=False, markup=False)


@app.command("delete")
def delete(
    key: str,
    force: Annotated[
        bool, typer.Option("--force", help="Delete even though a mapping triggers it.")
    ] = False,
) -> None:
    """Delete a workflow and its runs (refused while a mapping triggers it)."""
    with database() as (_cfg, db), db.write() as conn:
        row = workflows.delete(conn, key, force=force)
    console.print(f"Deleted workflow {row['key']}.")


@runs_app.command("start")
def start(
    workflow: str,
    event: Annotated[str, typer.Option("--event", help="The run's data, a JSON object.")],
    idempotency_key: Annotated[str | None, typer.Option("--idempotency-key")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Start a run (a worker carries it out)."""
    try:
        data = orjson.loads(event)
    except orjson.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        raise typer.BadParameter("--event must be a JSON object")
    with database() as (_cfg, db), db.write() as conn:
        wf = workflows.find(conn, workflow)
        row, created = runs.start(
            conn, wf, data, clock.now(), source={"cli": True}, idempotency_key=idempotency_key
        )
        row["workflow_key"] = wf["key"]
    if as_json:
        print_json({"created": created, "run": runs.public(row)})
        return
    console.print(f"{'Started' if created else 'Already running'}: {row['id']} ({row['status']})")


@runs_app.command("list")
def list_runs(
    workflow: Annotated[str | None, typer.Option("--workflow")] = None,
    status: Annotated[str | None, typer.Option("--status", help=", ".join(runs.STATUSES))] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500)] = 50,
    cursor: Annotated[str | None, typer.Option("--cursor")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List runs, newest first."""
    with database() as (_cfg, db), db.read() as conn:
        wf_id = workflows.find(conn, workflow)["id"] if workflow else None
        page = runs.search(conn, workflow_id=wf_id, status=status, limit=limit, cursor=cursor)
    rows = [runs.public(r) for r in page.items]
    if as_json:
        print_json({"data": rows, "next_cursor": page.next_cursor})
        return
    out = table("id", "workflow", "status", "created (UTC)", "error")
    for r in rows:
        out.add_row(
            r["id"], r["workflow"] or "", r["status"], when(r["created_at"]), r["error"] or ""
        )
    print_table(out)


@runs_app.command("show")
def show_run(run_id: str, as_json: JsonFlag = False) -> None:
    """Show a run and its steps."""
    with database() as (_cfg, db), db.read() as conn:
        row = runs.public(runs.get(conn, run_id))
    if as_json:
        print_json(row)
        return
    console.print(f"[bold]{row['id']}[/bold] {row['workflow']}: {row['status']}", highlight=False)
    for step in row["steps"]:
        detail: Any = step.get("delivery_id") or step.get("reason") or step.get("error") or ""
        console.print(
            f"  step {step['index']} {step['kind']}: {step['status']} {detail}", highlight=False
        )
    if row["error"]:
        console.print(f"  error: {row['error']}", highlight=False)


@runs_app.command("cancel")
def cancel(run_id: str) -> None:
    """Cancel an active run."""
    with database() as (_cfg, db), db.write() as conn:
        row = runs.cancel(conn, run_id, clock.now())
    console.print(f"Cancelled {row['id']}.")
