"""What every CLI command shares: settings, an up-to-date database, output helpers."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import orjson
import sqlalchemy as sa
import typer
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from claybridge import config_file
from claybridge.clock import SystemClock
from claybridge.config import Settings
from claybridge.errors import ClaybridgeError, NotFound
from claybridge.records import processes
from claybridge.secretbox import SecretBox, load_key
from claybridge.storage import migrate
from claybridge.storage.database import Database

console = Console()
err_console = Console(stderr=True)
clock = SystemClock()


@dataclass
class Invocation:
    """What the top-level options of this invocation said (set by the app callback)."""

    config: Path | None = None


invocation = Invocation()


def loaded(flags: dict[str, Any] | None = None) -> config_file.Loaded:
    """Settings from flags, environment, the settings file and defaults (see
    :mod:`claybridge.config_file`); a refused setting exits with one line."""
    try:
        return config_file.load(invocation.config, flags)
    except config_file.ConfigError as exc:
        fail(exc)


def settings(flags: dict[str, Any] | None = None) -> Settings:
    """The effective settings of this invocation."""
    return loaded(flags).settings


def database_label(cfg: Settings) -> str:
    """The database as a person reads it: the SQLite file, or the URL without password."""
    if cfg.is_sqlite:
        return str(sqlite_file(cfg))
    return sa.make_url(cfg.resolved_database_url).render_as_string(hide_password=True)


def sqlite_file(cfg: Settings) -> Path:
    """The SQLite database file ``cfg`` names."""
    return Path(sa.make_url(cfg.resolved_database_url).database or "")


class NoDatabase(ClaybridgeError):
    """The configured database does not exist yet, or is not at this version's schema."""

    code = "no_database"


def open_db(cfg: Settings, *, create: bool = False) -> Database:
    """The configured database, at the newest schema.

    Only ``create`` callers (``serve``, ``api``, ``migrate``, ``init``) create or
    upgrade it; every other command refuses, naming the database it looked for, so a
    command run with other settings never works on a new, empty database by mistake.
    """
    label = database_label(cfg)
    if cfg.is_sqlite and not create and not sqlite_file(cfg).exists():
        raise NoDatabase(
            f"no Claybridge database at {label}: start `claybridge serve` or run "
            "`claybridge migrate` to create it (`claybridge config show` says where "
            "the settings come from)"
        )
    if cfg.is_sqlite:
        sqlite_file(cfg).parent.mkdir(parents=True, exist_ok=True)
    db = Database.for_settings(cfg)
    try:
        at = migrate.current_revision(db)
    except sa.exc.OperationalError as exc:
        db.dispose()
        raise Unreachable(f"cannot reach the database at {label}: {_first_line(exc)}") from None
    if at != migrate.head_revision():
        if not create:
            db.dispose()
            what = "has no Claybridge schema" if at is None else f"is at schema {at}"
            raise NoDatabase(
                f"the database at {label} {what}; this version needs "
                f"{migrate.head_revision()}: run `claybridge migrate`"
            )
        migrate.upgrade(db)
    return db


class Unreachable(ClaybridgeError):
    """The database does not answer."""

    code = "database_unreachable"
    status_code = 503


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def with_server_url(cfg: Settings, db: Database) -> Settings:
    """``cfg`` with the running server's recorded public URL when none is configured,
    so URLs built from it (source URLs, callback URLs) are the ones Clay must use."""
    if cfg.public_url is not None:
        return cfg
    with db.read() as conn:
        url = processes.server_url(conn)
    return cfg.model_copy(update={"public_url": url}) if url else cfg


@contextmanager
def database() -> Iterator[tuple[Settings, Database]]:
    """Settings and database for one command; errors become one line and exit 1.

    The settings' public URL, when none is configured, is the running server's (as it
    recorded it), so the URLs a command prints are the ones Clay must use.
    """
    cfg = settings()
    try:
        db = open_db(cfg)
    except ClaybridgeError as exc:
        fail(exc)
    try:
        yield with_server_url(cfg, db), db
    except NotFound as exc:
        fail(exc, f" (database: {database_label(cfg)})")
    except ClaybridgeError as exc:
        fail(exc)
    finally:
        db.dispose()


def box(cfg: Settings) -> SecretBox:
    """The secret box for ``cfg`` (the key is read or created on first use)."""
    return SecretBox(lambda: load_key(cfg.data_dir, cfg.secret_key))


def fail(exc: ClaybridgeError, suffix: str = "") -> NoReturn:
    """Print a user error (with its code) as one line and exit with status 1."""
    where = f" ({exc.field})" if exc.field else ""
    line = Text.assemble(("error", "red"), f" {exc.code}{where}: {exc.message}{suffix}")
    err_console.print(line, highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def read_text(path: Path, encoding: str = "utf-8") -> str:
    """A file's text; a missing or unreadable file is one line of error and exit 1."""
    try:
        return path.read_text(encoding=encoding)
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        fail(ClaybridgeError(f"{path}: {reason}", code="file_unreadable", field="file"))


def print_json(value: Any) -> None:
    """Write ``value`` as indented JSON to stdout (machine-readable output)."""
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")


# Columns a user copies from (into `show`, a URL bar, Clay): never wrapped or cut.
FOLD_AT = 60
WHOLE = frozenset(
    {"id", "key", "url", "name", "email", "domain", "destination", "workflow", "prefix"}
)


def table(*headers: str) -> Table:
    """A table for :func:`print_table`: ids, keys, URLs and names are kept whole; other
    columns fold at :data:`FOLD_AT` characters (folded, never cut)."""
    out = Table(*headers)
    for column in out.columns:
        if str(column.header) not in WHOLE:
            column.max_width = FOLD_AT
            column.overflow = "fold"
    return out


def print_table(out: Table) -> None:
    """Print ``out`` at its natural width, even wider than the terminal, so that no id,
    key or URL is ever cut (a terminal wraps the long lines; a pipe gets them whole)."""
    needed = Measurement.get(console, console.options.update(width=100_000), out).maximum
    target = console if needed <= console.width else Console(width=needed, highlight=False)
    target.print(out)


def when(value: str | datetime | None) -> str:
    """A time as every table shows it: ISO 8601 in UTC to the second (``…T20:33:22Z``),
    the form the logs use too; ``-`` for none."""
    if not value:
        return "-"
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ConsoleSink(io.TextIOBase):
    """A text stream that prints whole lines through a Rich console (above a live
    progress bar, when one is showing)."""

    def __init__(self, target: Console) -> None:
        self.target = target
        self.pending = ""

    def write(self, text: str) -> int:
        """Buffer ``text``; print each completed line."""
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            self.target.print(line, markup=False, highlight=False, soft_wrap=True)
        return len(text)
