"""Applying and checking migrations, without an alembic.ini on disk."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from claybridge.storage.database import Database

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(conn: sa.Connection | None = None) -> Config:
    """An Alembic config pointing at the packaged migrations (and ``conn`` if given)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if conn is not None:
        cfg.attributes["connection"] = conn
    return cfg


def head_revision() -> str | None:
    """The newest revision the code ships."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(db: Database) -> str | None:
    """The revision the database is at, or ``None`` for an empty database."""
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def is_current(db: Database) -> bool:
    """Whether the database is at the code's head revision."""
    return current_revision(db) == head_revision()


def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the database to ``revision`` (default: the newest)."""
    with db.write() as conn:
        command.upgrade(alembic_config(conn), revision)
