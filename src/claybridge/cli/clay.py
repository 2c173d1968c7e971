"""``claybridge push``, ``claybridge requests …`` and ``claybridge clay imitate``."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)

from claybridge.clay import push as pushing
from claybridge.clay.rows_file import read_rows
from claybridge.cli.common import box, clock, console, database, print_json
from claybridge.delivery.service import build_worker
from claybridge.records import clay, destinations

requests_app = typer.Typer(help="Pending requests: rows sent to Clay awaiting their callback.")
clay_app = typer.Typer(help="Clay tools: a local imitation of a Clay table webhook.")
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def push(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV or JSONL.")],
    to: Annotated[str, typer.Option("--to", help="The Clay destination (name or id).")],
    request_id_column: Annotated[
        str | None,
        typer.Option(
            "--request-id-column",
            help="Column with a stable row id (default: a hash of the row's content).",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check and count; send nothing.")
    ] = False,
) -> None:
    """Push a file's rows into a Clay table: rate-limited, resumable, skipping rows Clay
    already accepted; bad rows are reported by line and do not stop the rest."""
    with database() as (cfg, db):
        with db.read() as conn:
            dest = destinations.find(conn, to)
        plan = pushing.plan(db, dest, read_rows(file, request_id_column))
        total = len(plan.to_queue) + len(plan.already_queued)
        for bad in plan.bad:
            console.print(f"  line {bad.line}: {bad.reason}", highlight=False, markup=False)
        if dry_run:
            console.print(
                f"Dry run: {len(plan.to_queue)} to send, {len(plan.already_queued)} already "
                f"queued, {len(plan.skipped)} already accepted by Clay (skipped), "
                f"{len(plan.bad)} bad rows.",
                highlight=False,
            )
            return
        pushing.enqueue(db, dest, plan, clock.now())
        worker = build_worker(cfg, db, box(cfg), clock)

        async def run() -> pushing.Progress:
            stop = asyncio.Event()
            task = asyncio.create_task(worker.run(stop))
            columns = (
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TaskProgressColumn(),
                TextColumn("{task.fields[rate]:.1f} rows/s"),
                TimeRemainingColumn(),
            )
            started = time.monotonic()
            try:
                with Progress(*columns, console=console) as bar:
                    job = bar.add_task(f"Pushing to {dest['name']}", total=total, rate=0.0)
                    while True:
                        state = await asyncio.to_thread(pushing.progress, db, plan)
                        done = total - state.open
                        rate = done / max(time.monotonic() - started, 1e-6)
                        bar.update(job, completed=done, rate=rate)
                        if state.open == 0:
                            return state
                        await asyncio.sleep(0.25)
            finally:
                stop.set()
                await task

        try:
            state = asyncio.run(run())
        except KeyboardInterrupt:
            console.print("Interrupted: run the same push again to send the rest.")
            raise typer.Exit(130) from None
    console.print(
        f"Sent {state.delivered}, skipped {len(plan.skipped) + state.skipped_by_worker} "
        f"(already accepted by Clay), failed {len(state.failed) + len(plan.bad)}.",
        highlight=False,
    )
    for row, reason in state.failed:
        console.print(f"  line {row.line}: {reason}", highlight=False, markup=False)
    if state.failed or plan.bad:
        raise typer.Exit(1)


@requests_app.command("show")
def show_request(request_id: str, as_json: JsonFlag = False) -> None:
    """Show a pending request: its status and, once completed, the returned row."""
    with database() as (_cfg, db), db.read() as conn:
        shown = clay.public_request(clay.get_request(conn, request_id))
    if as_json:
        print_json(shown)
        return
    console.print(f"[bold]{shown['request_id']}[/bold]: {shown['status']}", highlight=False)
    console.print(f"  expires: {shown['expires_at']}", highlight=False)
    if shown["result"] is not None:
        print_json(shown["result"])


@clay_app.command("imitate")
def imitate(
    port: Annotated[int, typer.Option("--port")] = 8799,
    auth_value: Annotated[
        str | None, typer.Option("--auth-value", help="Require x-clay-webhook-auth: VALUE.")
    ] = None,
    rate: Annotated[float, typer.Option("--rate", help="Records/s (0: no limit).")] = 10.0,
    burst: Annotated[int, typer.Option("--burst")] = 20,
    limit: Annotated[int, typer.Option("--limit", help="Lifetime submissions.")] = 50_000,
    callback_delay: Annotated[
        float | None, typer.Option("--callback-delay", help="Call callback_url after N s.")
    ] = None,
    callback_token: Annotated[str | None, typer.Option("--callback-token")] = None,
) -> None:
    """Run a local imitation of a Clay table webhook on 127.0.0.1 (for development)."""
    import uvicorn

    from claybridge.clay.imitation import ClayTableImitation, ImitationConfig

    app = ClayTableImitation(
        ImitationConfig(
            auth_value=auth_value,
            rate=rate or None,
            burst=burst,
            submission_limit=limit,
            callback_delay=callback_delay,
            callback_token=callback_token,
        )
    )
    console.print(f"Clay table imitation: POST http://127.0.0.1:{port}/webhook", highlight=False)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
