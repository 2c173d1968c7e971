"""Every SQLite connection Claybridge opens gets the settings the storage layer promises."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from claybridge.storage import migrate
from claybridge.storage.database import Database


def test_sqlite_connections_are_configured(db: Database) -> None:
    """WAL, FULL sync, foreign keys, a busy timeout and in-memory temp storage, per connection."""
    if not db.is_sqlite:
        pytest.skip("SQLite pragmas")
    with db.engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None

        def pragma(name: str) -> object:
            return raw.execute(f"PRAGMA {name}").fetchone()[0]

        assert pragma("journal_mode") == "wal"
        assert pragma("synchronous") == 2  # FULL: every acknowledged event is durable
        assert pragma("foreign_keys") == 1
        assert pragma("busy_timeout") == 30000
        assert pragma("temp_store") == 2  # MEMORY: no statement-journal files


def test_a_new_sqlite_database_is_owner_only(tmp_path: Path) -> None:
    """A database file Claybridge creates, and its WAL and shared-memory files, are 0600
    even under a permissive umask."""
    previous = os.umask(0o022)
    try:
        db = Database(f"sqlite:///{tmp_path / 'claybridge.db'}")
        migrate.upgrade(db)
        with db.write() as conn:
            conn.exec_driver_sql("SELECT 1")
            modes = {
                p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir() if p.is_file()
            }
        db.dispose()
    finally:
        os.umask(previous)
    assert set(modes) >= {"claybridge.db", "claybridge.db-wal", "claybridge.db-shm"}
    assert set(modes.values()) == {0o600}, modes
