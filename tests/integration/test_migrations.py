"""Migrations produce exactly the schema the code declares (SQLite and PostgreSQL)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from claybridge.storage import migrate
from claybridge.storage.database import Database
from claybridge.storage.tables import metadata


def test_migrated_schema_matches_tables(db: Database) -> None:
    """Autogenerate finds no difference between the migrated database and tables.py."""
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, metadata)
    assert diff == []


def test_database_is_at_head(db: Database) -> None:
    """The test database is at the code's newest revision, and upgrading again is a no-op."""
    assert migrate.is_current(db)
    migrate.upgrade(db)
    assert migrate.current_revision(db) == migrate.head_revision()
