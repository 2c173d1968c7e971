"""Every SQLite connection Claybridge opens gets the settings the storage layer promises."""

from __future__ import annotations

import pytest

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
