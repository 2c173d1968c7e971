"""Ids, settings and the clock (pure, no server)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from claybridge import ids
from claybridge.clock import FrozenClock
from claybridge.config import Settings
from claybridge.ids import new_id, uuid7_hex


def test_ids_sort_by_creation() -> None:
    """Ids made one after another sort in the same order, even within a millisecond."""
    ids = [new_id("evt") for _ in range(5000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_uuid7_layout() -> None:
    """Version 7, RFC 9562 variant, and a time prefix of the current millisecond."""
    value = uuid7_hex()
    assert len(value) == 32
    assert value[12] == "7"
    assert value[16] in "89ab"
    assert abs(int(value[:12], 16) - time.time() * 1000) < 5000


def test_uuid7_counter_borrows_the_next_millisecond(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past 4,096 ids in one millisecond the counter overflows into the next
    millisecond, and ids stay strictly increasing."""
    monkeypatch.setattr(ids, "_last", 0)  # as in a fresh process; restored afterwards
    ms = 1_700_000_000_000
    made = [uuid7_hex(ms) for _ in range(5000)]
    assert made == sorted(made)
    assert len(set(made)) == 5000
    assert {int(i[:12], 16) for i in made} == {ms, ms + 1}
    assert all(i[12] == "7" for i in made)


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """CLAYBRIDGE_* variables configure the process; defaults derive the rest."""
    monkeypatch.setenv("CLAYBRIDGE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CLAYBRIDGE_PORT", "9001")
    monkeypatch.setenv("CLAYBRIDGE_MAX_BODY_BYTES", "2048")
    cfg = Settings()
    assert cfg.port == 9001
    assert cfg.max_body_bytes == 2048
    assert cfg.resolved_database_url == f"sqlite:///{(tmp_path / 'claybridge.db').resolve()}"
    assert cfg.base_url == "http://127.0.0.1:9001"
    assert cfg.source_url("abc") == "http://127.0.0.1:9001/hooks/abc"


def test_postgres_urls_use_psycopg() -> None:
    """postgres:// and postgresql:// URLs get the psycopg 3 driver."""
    cfg = Settings(database_url="postgres://u@h/db")
    assert cfg.resolved_database_url == "postgresql+psycopg://u@h/db"
    assert not cfg.is_sqlite


def test_public_url_wins() -> None:
    """CLAYBRIDGE_PUBLIC_URL is the base of source URLs, without a trailing slash."""
    cfg = Settings(public_url="https://hooks.example.com/")
    assert cfg.source_url("k") == "https://hooks.example.com/hooks/k"


def test_frozen_clock() -> None:
    """A frozen clock stands still until advanced."""
    clock = FrozenClock(datetime(2026, 1, 1, tzinfo=UTC))
    clock.advance(timedelta(seconds=5))
    assert clock.now() == datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC)


def test_sqlite_datetime_binding_matches_sqlalchemy_format() -> None:
    """The fast SQLite binder writes exactly what SQLAlchemy's DATETIME would."""
    from sqlalchemy.dialects import sqlite

    from claybridge.storage.types import UTCDateTime

    dialect = sqlite.dialect()
    fast = UTCDateTime().bind_processor(dialect)
    generic = sqlite.DATETIME().bind_processor(dialect)
    for value in (datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC), datetime.now(UTC)):
        assert fast(value) == generic(value.replace(tzinfo=None))
    with pytest.raises(ValueError, match="naive"):
        fast(datetime(2026, 3, 1))


def test_sqlite_datetimes_bind_as_utc_text_and_never_admit_naive_values() -> None:
    """The same instant in another zone gives the same UTC text; a naive one is refused."""
    from datetime import timezone

    from sqlalchemy.dialects import sqlite

    from claybridge.storage.types import UTCDateTime

    fast = UTCDateTime().bind_processor(sqlite.dialect())
    first = datetime(2026, 3, 1, 12, 0, 0, 250, tzinfo=UTC)
    second = datetime(2026, 3, 1, 12, 0, 1, tzinfo=UTC)
    assert fast(first) == "2026-03-01 12:00:00.000250"
    assert fast(second) == "2026-03-01 12:00:01.000000"
    paris = first.astimezone(timezone(timedelta(hours=1)))
    assert fast(paris) == "2026-03-01 12:00:00.000250"
    with pytest.raises(ValueError, match="naive"):
        fast(first.replace(tzinfo=None))


@pytest.mark.parametrize("off", ["off", "OFF", "none", "0", ""])
def test_retention_is_30_days_unless_turned_off(monkeypatch: pytest.MonkeyPatch, off: str) -> None:
    """History is kept 30 days by default; CLAYBRIDGE_RETENTION_DAYS=off keeps it all."""
    monkeypatch.delenv("CLAYBRIDGE_RETENTION_DAYS", raising=False)
    assert Settings().retention_days == 30
    monkeypatch.setenv("CLAYBRIDGE_RETENTION_DAYS", off)
    assert Settings().retention_days is None
    monkeypatch.setenv("CLAYBRIDGE_RETENTION_DAYS", "7")
    assert Settings().retention_days == 7
