"""What every CLI command shares: settings, an up-to-date database, output helpers."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import orjson
import typer
from rich.console import Console

from claybridge.clock import SystemClock
from claybridge.config import Settings
from claybridge.errors import ClaybridgeError
from claybridge.secretbox import SecretBox, load_key
from claybridge.storage import migrate
from claybridge.storage.database import Database

console = Console()
err_console = Console(stderr=True)
clock = SystemClock()


def settings() -> Settings:
    """Settings from the environment."""
    return Settings()


def open_db(cfg: Settings) -> Database:
    """The configured database, created and migrated if needed.

    Commands migrate on their own so that a first ``claybridge owners add`` works on a
    fresh machine; migrating a current database is a no-op.
    """
    if cfg.is_sqlite:
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database.for_settings(cfg)
    if not migrate.is_current(db):
        migrate.upgrade(db)
    return db


@contextmanager
def database() -> Iterator[tuple[Settings, Database]]:
    """Settings and database for one command; errors become a message and exit 1."""
    cfg = settings()
    db = open_db(cfg)
    try:
        yield cfg, db
    except ClaybridgeError as exc:
        fail(exc)
    finally:
        db.dispose()


def box(cfg: Settings) -> SecretBox:
    """The secret box for ``cfg`` (the key is read or created on first use)."""
    return SecretBox(lambda: load_key(cfg.data_dir, cfg.secret_key))


def fail(exc: ClaybridgeError) -> NoReturn:
    """Print a user error (with its code) and exit with status 1."""
    where = f" ({exc.field})" if exc.field else ""
    err_console.print(f"[red]error[/red] {exc.code}{where}: {exc.message}", highlight=False)
    raise typer.Exit(1)


def print_json(value: Any) -> None:
    """Write ``value`` as indented JSON to stdout (machine-readable output)."""
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")
