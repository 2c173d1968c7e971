"""Background WAL checkpoints (SQLite) on real database files."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from claybridge.app import create_app
from claybridge.config import Settings
from claybridge.storage.checkpoint import PAGE_BYTES, WRITER_BACKSTOP_PAGES, Checkpointer
from claybridge.storage.database import Database
from tests.conftest import LiveServer


def _fill(db: Database, rows: int) -> None:
    """Commit ``rows`` rows of ~2 KB each (about half a page per row into the WAL)."""
    with db.write() as conn:
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS filler (id INTEGER PRIMARY KEY, v TEXT)")
    for _ in range(rows // 50):
        with db.write() as conn:
            conn.exec_driver_sql(
                "INSERT INTO filler (v) VALUES " + ", ".join(["(randomblob(1000))"] * 50)
            )


def _wait(condition: Callable[[], bool], seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Database:
    """A WAL-mode SQLite database whose writers checkpoint only at the backstop."""
    db = Database(f"sqlite:///{tmp_path / 'wal.db'}", wal_autocheckpoint=WRITER_BACKSTOP_PAGES)
    yield db  # type: ignore[misc]
    db.dispose()


def test_checkpoints_once_the_wal_passes_its_threshold(sqlite_db: Database) -> None:
    """A WAL past the threshold is copied back into the database file by the thread."""
    path = sqlite_db.sqlite_path
    assert path is not None
    _fill(sqlite_db, 400)  # ~200 pages of WAL, far below the writers' backstop
    size_before = path.stat().st_size
    checkpointer = Checkpointer(path, threshold_pages=50, interval=0.01)
    checkpointer.start()
    try:
        assert _wait(lambda: checkpointer.runs >= 1)
    finally:
        checkpointer.stop()
    # Nothing else checkpoints here, so only the thread can have grown the file.
    assert path.stat().st_size > size_before + 50 * PAGE_BYTES


def test_leaves_a_small_wal_alone(sqlite_db: Database) -> None:
    """Below the threshold the thread only looks; it runs no checkpoint."""
    path = sqlite_db.sqlite_path
    assert path is not None
    _fill(sqlite_db, 50)
    checkpointer = Checkpointer(path, threshold_pages=1000, interval=0.01)
    checkpointer.start()
    time.sleep(0.2)
    checkpointer.stop()
    assert checkpointer.runs == 0
    assert not checkpointer.due()


def test_writers_keep_a_raised_automatic_checkpoint(sqlite_db: Database) -> None:
    """Connections of a handle built for the checkpointer checkpoint only at the backstop,
    while other handles keep SQLite's default."""
    with sqlite_db.read() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == (WRITER_BACKSTOP_PAGES)
    plain = Database(sqlite_db.url)
    try:
        with plain.read() as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000
    finally:
        plain.dispose()


def test_the_backstop_bounds_the_wal_when_no_thread_runs(tmp_path: Path) -> None:
    """With the thread stopped, a writer still checkpoints once the WAL reaches the
    backstop, and the WAL then restarts from its beginning instead of growing."""
    db = Database(f"sqlite:///{tmp_path / 'wal.db'}", wal_autocheckpoint=100)
    try:
        _fill(db, 2000)  # ~1,000 pages through a backstop of 100
        wal = Path(f"{db.sqlite_path}-wal")
        assert wal.stat().st_size < 300 * PAGE_BYTES
    finally:
        db.dispose()


def test_the_app_runs_it_on_sqlite_only(settings: Settings) -> None:
    """The server starts and stops the checkpointer with its lifespan on SQLite, and has
    none on PostgreSQL (which checkpoints on its own)."""
    if not settings.is_sqlite:
        app = create_app(settings)
        assert app.state.checkpointer is None
        app.state.db.dispose()
        return
    live = LiveServer(settings)
    checkpointer = live.app.state.checkpointer
    assert checkpointer is not None
    live.start()
    try:
        thread = checkpointer._thread
        assert thread is not None
        assert thread.is_alive()
        with live.app.state.db.read() as conn:
            autocheckpoint = conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
        assert autocheckpoint == WRITER_BACKSTOP_PAGES
    finally:
        live.stop()
    assert checkpointer._thread is None
    assert not thread.is_alive()
