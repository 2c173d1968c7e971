"""``claybridge push``, ``claybridge requests …`` and ``claybridge clay imitate``."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from pathlib import Path
from typing import Annotated, NoReturn, TextIO, cast

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
from claybridge.cli.common import (
    ConsoleSink,
    box,
    clock,
    console,
    database,
    print_json,
    print_table,
    read_text,
    table,
    when,
)
from claybridge.delivery.service import build_worker
from claybridge.delivery.worker import Worker
from claybridge.logging import configure
from claybridge.records import destinations, pushes, requests
from claybridge.storage.database import Database

requests_app = typer.Typer(help="Pending requests: rows sent to Clay awaiting their callback.")
clay_app = typer.Typer(help="Clay tools: a local imitation of a Clay table webhook.")
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def push(
    file: Annotated[Path, typer.Argument(dir_okay=False, help="CSV or JSONL.")],
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
    read_text(file)  # a missing file is one line of error before anything else
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
        push_id = pushing.start(db, dest, plan, str(file), clock.now())
        try:
            pushing.enqueue(db, dest, plan, clock.now())
        except KeyboardInterrupt:
            _cancel(db, push_id)
            _cancelled(push_id, pushing.progress(db, plan))
        configure(cfg.log_level, "console", sink=cast(TextIO, ConsoleSink(console)))
        worker = build_worker(cfg, db, box(cfg), clock)
        state, stopped = asyncio.run(_follow(db, worker, plan, dest.name, total))
    if stopped:
        _cancelled(push_id, state)
    console.print(
        f"Sent {state.delivered}, skipped {len(plan.skipped) + state.skipped_by_worker} "
        f"(already accepted by Clay), failed {len(state.failed) + len(plan.bad)}.",
        highlight=False,
    )
    for row, reason in state.failed:
        console.print(f"  line {row.line}: {reason}", highlight=False, markup=False)
    if state.failed or plan.bad:
        raise typer.Exit(1)


async def _follow(
    db: Database, worker: Worker, plan: pushing.Plan, name: str, total: int
) -> tuple[pushing.Progress, bool]:
    """Run the push's worker and show progress until every row settled, or until Ctrl-C
    or `pushes cancel` stops the push; returns the progress and whether it was stopped."""
    assert plan.push_id is not None
    stop, interrupted = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, interrupted.set)
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
            job = bar.add_task(f"Pushing to {name}", total=total, rate=0.0)
            while True:
                state = await asyncio.to_thread(pushing.progress, db, plan)
                done = total - state.open
                bar.update(job, completed=done, rate=done / max(time.monotonic() - started, 1e-6))
                if state.open == 0:
                    await asyncio.to_thread(_finish, db, plan.push_id)
                    return state, state.cancelled > 0
                if interrupted.is_set():
                    await asyncio.to_thread(_cancel, db, plan.push_id)
                    interrupted.clear()
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(interrupted.wait(), 0.25)
    finally:
        loop.remove_signal_handler(signal.SIGINT)  # a second Ctrl-C stops at once
        stop.set()
        await task


def _finish(db: Database, push_id: str) -> None:
    with db.write() as conn:
        pushes.finish(conn, push_id, clock.now())


def _cancel(db: Database, push_id: str) -> None:
    with db.write() as conn:
        if pushes.status(conn, push_id) == pushes.RUNNING:
            pushes.cancel(conn, push_id, clock.now())


def _cancelled(push_id: str, state: pushing.Progress) -> NoReturn:
    console.print(
        f"Push {push_id} cancelled: sent {state.delivered}, cancelled {state.cancelled} "
        f"(not sent), failed {len(state.failed)}. Push the same file again to send the "
        "cancelled rows.",
        highlight=False,
        soft_wrap=True,
    )
    raise typer.Exit(130)


pushes_app = typer.Typer(help="Pushes: files of rows sent into Clay tables.", no_args_is_help=True)


@pushes_app.command("list")
def list_pushes(
    limit: Annotated[int, typer.Option(min=1, max=500)] = 20, as_json: JsonFlag = False
) -> None:
    """Pushes, newest first, with their rows' counts."""
    with database() as (_cfg, db), db.read() as conn:
        rows = [pushes.public(r, pushes.counts(conn, r["id"])) for r in pushes.list_(conn, limit)]
    if as_json:
        print_json(rows)
        return
    out = table("id", "destination", "status", "rows", "sent", "waiting", "cancelled", "started")
    for r in rows:
        by = r["deliveries"]
        waiting = sum(by.get(s, 0) for s in ("pending", "failed", "in_flight"))
        out.add_row(
            r["id"],
            r["destination"],
            r["status"],
            str(r["rows"]),
            str(by.get("delivered", 0)),
            str(waiting),
            str(by.get("cancelled", 0)),
            when(r["created_at"]),
        )
    print_table(out)


@pushes_app.command("show")
def show_push(push_id: str, as_json: JsonFlag = False) -> None:
    """One push: its file, counts, and its rows by delivery status."""
    with database() as (_cfg, db), db.read() as conn:
        shown = pushes.public(pushes.get(conn, push_id), pushes.counts(conn, push_id))
    if as_json:
        print_json(shown)
        return
    for key, value in shown.items():
        if key != "deliveries":
            console.print(f"{key:>12}: {value if value is not None else '-'}", highlight=False)
    for key, value in sorted(shown["deliveries"].items()):
        console.print(f"{key:>12}: {value}", highlight=False)


@pushes_app.command("cancel")
def cancel_push(push_id: str, as_json: JsonFlag = False) -> None:
    """Stop a push's rows not yet sent, whichever process would send them."""
    with database() as (_cfg, db), db.write() as conn:
        row, cancelled = pushes.cancel(conn, push_id, clock.now())
        shown = pushes.public(row, pushes.counts(conn, push_id))
    if as_json:
        print_json({**shown, "cancelled_now": cancelled})
        return
    sent = shown["deliveries"].get("delivered", 0)
    console.print(
        f"Cancelled push {push_id}: {cancelled} rows not sent; {sent} were sent before.",
        highlight=False,
    )


@requests_app.command("show")
def show_request(request_id: str, as_json: JsonFlag = False) -> None:
    """Show a pending request: its status and, once completed, the returned row."""
    with database() as (_cfg, db), db.read() as conn:
        shown = requests.public_request(requests.get_request(conn, request_id))
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
