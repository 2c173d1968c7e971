"""The database handle: one engine per process, SQLite pragmas, write transactions.

SQLite is put in WAL mode (readers never block the writer) with the configured
``synchronous`` level, a busy timeout, foreign keys on, and temporary storage in memory:
a batch's multi-row statements need statement journals, which SQLite otherwise spills
to files it creates and deletes (``/var/tmp/etilqs_*``) on the event loop's thread; in
memory they cost no system calls. Python's sqlite3 module
opens transactions lazily, which lets a read transaction that later writes fail
with ``SQLITE_BUSY``; so Claybridge issues ``BEGIN`` itself, and ``BEGIN IMMEDIATE``
for write transactions, which take the write lock up front and wait for it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import event

from claybridge.config import Settings
from claybridge.storage.prepared import driver_error

# "HELD": the caller has issued BEGIN IMMEDIATE itself (the committer, which waits for
# the write lock without blocking the event loop).
_BEGIN = {"DEFERRED": "BEGIN DEFERRED", "IMMEDIATE": "BEGIN IMMEDIATE", "HELD": None}
SQLITE_BUSY_MS = 30_000  # how long a connection waits for SQLite's write lock


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


@dataclass(frozen=True)
class Limits:
    """How long PostgreSQL connections wait, and how a lost network is noticed (the
    ``database_*`` settings and ``storage_timeout``, where their defaults live)."""

    connect_timeout: int
    statement_timeout: float
    keepalive_idle: int
    pool_timeout: float

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        """The limits the settings ask for."""
        return cls(
            connect_timeout=settings.database_connect_timeout,
            statement_timeout=settings.database_statement_timeout,
            keepalive_idle=settings.database_keepalive_idle,
            pool_timeout=settings.storage_timeout,
        )

    def postgresql_args(self) -> dict[str, Any]:
        """libpq connection parameters: a connect timeout, TCP keepalives (idle, then
        every 5 s, 3 probes), ``tcp_user_timeout`` (data unacknowledged this long ends
        the connection) and the server-side ``statement_timeout``."""
        args: dict[str, Any] = {
            "connect_timeout": self.connect_timeout,
            "keepalives": 1,
            "keepalives_idle": self.keepalive_idle,
            "keepalives_interval": 5,
            "keepalives_count": 3,
            "tcp_user_timeout": self.keepalive_idle * 1000,
        }
        if self.statement_timeout > 0:
            args["options"] = f"-c statement_timeout={int(self.statement_timeout * 1000)}"
        return args


def _create_owner_only(path: str | None) -> None:
    """Create the SQLite file ``path`` with mode 0600 if it does not exist yet: it holds
    events and hashed secrets, and SQLite gives its WAL and shared-memory files the
    database file's mode. An existing file is left as it is."""
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)


class Database:
    """An engine plus the two kinds of transaction Claybridge uses.

    ``writer`` is the engine to open write transactions on (``BEGIN IMMEDIATE`` on SQLite).
    """

    def __init__(
        self,
        url: str,
        *,
        sqlite_synchronous: str = "FULL",
        pool_size: int = 5,
        limits: Limits | None = None,
    ) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {"json_serializer": _json_dumps, "json_deserializer": orjson.loads}
        if self.is_sqlite:
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": SQLITE_BUSY_MS / 1000}
        else:
            kwargs.update(pool_size=pool_size, max_overflow=10, pool_pre_ping=True)
            if limits is not None:  # (None: the driver's own, for tools and tests)
                kwargs.update(
                    pool_timeout=limits.pool_timeout, connect_args=limits.postgresql_args()
                )
        self.engine = sa.create_engine(url, **kwargs)
        if self.is_sqlite:
            self._configure_sqlite(sqlite_synchronous)
        self.writer = (
            self.engine.execution_options(sqlite_begin="IMMEDIATE")
            if self.is_sqlite
            else self.engine
        )

    @classmethod
    def for_settings(cls, settings: Settings) -> Database:
        """The database ``settings`` name, with their durability and limits."""
        return cls(
            settings.resolved_database_url,
            sqlite_synchronous=settings.sqlite_synchronous,
            limits=Limits.from_settings(settings),
        )

    def _configure_sqlite(self, synchronous: str) -> None:
        @event.listens_for(self.engine, "do_connect")
        def _owner_only(_dialect: Any, _record: Any, cargs: Any, _cparams: Any) -> None:
            _create_owner_only(cargs[0] if cargs else None)

        @event.listens_for(self.engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={synchronous}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
            cursor.execute("PRAGMA temp_store=MEMORY")  # see the module docstring
            cursor.close()

        @event.listens_for(self.engine, "begin")
        def _on_begin(conn: sa.Connection) -> None:
            mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
            # On the driver: a batch begins with this, and SQLAlchemy's statement path
            # cost several times the statement. Errors come out as SQLAlchemy's.
            sql = _BEGIN[mode]
            if sql is None:
                return
            try:
                conn.connection.dbapi_connection.execute(sql)  # type: ignore[union-attr]
            except conn.dialect.loaded_dbapi.Error as exc:
                raise driver_error(conn, sql, (), exc) from exc

    @contextmanager
    def read(self) -> Iterator[sa.Connection]:
        """A connection for reading; its transaction is rolled back at the end."""
        with self.engine.connect() as conn:
            yield conn

    @contextmanager
    def write(self) -> Iterator[sa.Connection]:
        """A write transaction: committed on success, rolled back on an exception."""
        with self.writer.begin() as conn:
            yield conn

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
