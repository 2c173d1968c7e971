"""The ``claybridge`` command line."""

from __future__ import annotations

import errno
import shutil
import socket
import sys
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from claybridge.cli import (
    alerts,
    clay,
    deliveries,
    events,
    keys,
    operate,
    outbound,
    owners,
    records,
    setup,
    sources,
    workflows,
)
from claybridge.cli.common import (
    console,
    database_label,
    fail,
    invocation,
    open_db,
    settings,
    sqlite_file,
    with_server_url,
)
from claybridge.config import Settings
from claybridge.errors import ClaybridgeError
from claybridge.logging import configure
from claybridge.storage.database import Database
from claybridge.tuning import settle_heap, tune_server

app = typer.Typer(
    help="Claybridge: a self-hosted bridge between Clay tables and your own systems.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(sources.app, name="sources")
app.add_typer(owners.app, name="owners")
app.add_typer(events.app, name="events")
app.add_typer(events.customers_app, name="customers")
app.add_typer(keys.app, name="api-keys")
app.command("console-link")(keys.console_link)
app.add_typer(records.people_app, name="people")
app.add_typer(records.objects_app, name="objects")
app.add_typer(outbound.app, name="destinations")
app.add_typer(deliveries.deliveries_app, name="deliveries")
app.add_typer(workflows.app, name="workflows")
app.add_typer(workflows.runs_app, name="runs")
app.add_typer(clay.requests_app, name="requests")
app.add_typer(clay.clay_app, name="clay")
app.command("push")(clay.push)
app.add_typer(clay.pushes_app, name="pushes")
app.command("apply")(setup.apply)
app.command("export")(setup.export)
app.add_typer(operate.config_app, name="config")
app.add_typer(alerts.app, name="alerts")
app.command("init")(operate.init)
app.command("status")(operate.status)


ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        dir_okay=False,
        help="Settings file to use [CLAYBRIDGE_CONFIG; else "
        "~/.config/claybridge/claybridge.toml, then /etc/claybridge/claybridge.toml].",
    ),
]


@app.callback()
def _options(config: ConfigOption = None) -> None:
    """Claybridge: a self-hosted bridge between Clay tables and your own systems."""
    invocation.config = config


@app.command()
def migrate() -> None:
    """Create the database, or upgrade it to this version's schema, and say where."""
    cfg = settings()
    _create_db(cfg).dispose()


Host = Annotated[str | None, typer.Option(help="Bind address [CLAYBRIDGE_HOST].")]
Port = Annotated[int | None, typer.Option(help="Port, 0 for any [CLAYBRIDGE_PORT].")]


@app.command()
def serve(host: Host = None, port: Port = None) -> None:
    """Migrate the database, then run the API and a delivery worker in one process."""
    _serve(host, port, worker=True)


@app.command()
def api(host: Host = None, port: Port = None) -> None:
    """Run the API only (ingest and admin); run `claybridge worker` processes beside it."""
    _serve(host, port, worker=False)


@app.command()
def worker() -> None:
    """Run a delivery worker (no API) until SIGTERM/SIGINT, then stop gracefully."""
    from claybridge.delivery.service import run_forever

    cfg = settings()
    configure(cfg.log_level, cfg.log_format)
    db = _open_or_fail(cfg)
    cfg = with_server_url(cfg, db)  # workflow callback URLs are built on it
    settle_heap()
    try:
        run_forever(cfg, db)
    finally:
        db.dispose()


@app.command()
def prune(
    older_than: Annotated[
        str, typer.Option("--older-than", help="Age such as 30d, 12h (events, attempts, runs).")
    ] = "30d",
) -> None:
    """Delete old history: events, settled deliveries and attempts, finished runs.

    Work still to do (pending or retrying deliveries, active runs) is never deleted.
    """
    from datetime import timedelta

    from claybridge.cli.common import clock
    from claybridge.core.schedule import parse_duration
    from claybridge.records.retention import prune as prune_history

    try:
        seconds = parse_duration(older_than)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    cfg = settings()
    db = _open_or_fail(cfg)
    try:
        now = clock.now()
        counts = prune_history(db, now - timedelta(seconds=seconds), now)
    finally:
        db.dispose()
    console.print(
        "Pruned " + ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in counts.items()),
        highlight=False,
    )


def _serve(host: str | None, port: int | None, *, worker: bool) -> None:
    from claybridge.app import create_app

    cfg = settings({"host": host, "port": port})
    configure(cfg.log_level, cfg.log_format)
    sock = _listen(cfg)
    _create_db(cfg).dispose()
    cfg = cfg.model_copy(update={"port": sock.getsockname()[1]})
    console.print(f"Claybridge listening on {cfg.base_url}", highlight=False)
    console.print(
        f'  next: {_command()} sources create --name "Clay accounts" --template clay-customers',
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    served = create_app(cfg, worker=worker)
    tune_server()
    config = uvicorn.Config(
        served,
        log_level=cfg.log_level.lower(),
        access_log=False,
        lifespan="on",
        server_header=False,
        # Claybridge reads no X-Forwarded-* header, so it skips uvicorn's rewriting of them.
        proxy_headers=False,
    )
    uvicorn.Server(config).run(sockets=[sock])


def _listen(cfg: Settings) -> socket.socket:
    """A socket bound to the configured address; a refused bind exits with one line."""
    family = socket.AF_INET6 if ":" in cfg.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((cfg.host, cfg.port))
    except OSError as exc:
        sock.close()
        in_use = exc.errno == errno.EADDRINUSE
        reason = "is already in use" if in_use else f"is refused: {exc.strerror}"
        fail(
            ClaybridgeError(
                f"cannot listen on {cfg.host}:{cfg.port}: the address {reason} "
                "(choose another with --port or CLAYBRIDGE_PORT)",
                code="address_in_use" if in_use else "cannot_listen",
            )
        )
    return sock


def _create_db(cfg: Settings) -> Database:
    """Create or upgrade the database (serve, api, migrate, init) and say where it is."""
    existed = not cfg.is_sqlite or sqlite_file(cfg).exists()
    db = _open_or_fail(cfg, create=True)
    verb = "database" if existed else "created database"
    console.print(f"  {verb}: {database_label(cfg)}", highlight=False, soft_wrap=True)
    return db


def _open_or_fail(cfg: Settings, *, create: bool = False) -> Database:
    try:
        return open_db(cfg, create=create)
    except ClaybridgeError as exc:
        fail(exc)


def _command() -> str:
    """How to call this CLI again: ``claybridge`` if it is on PATH, else its path."""
    invoked = Path(sys.argv[0])
    found = shutil.which("claybridge")
    if invoked.name != "claybridge" or (found and Path(found).resolve() == invoked.resolve()):
        return "claybridge"
    try:
        return str(invoked.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(invoked)


def main() -> None:
    """Console-script entry point."""
    app()
