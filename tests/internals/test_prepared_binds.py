"""Bind and result processors of the hot path (pure: no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from claybridge.storage.prepared import bind_processor
from claybridge.storage.types import UTCDateTime


@pytest.mark.parametrize(
    "value",
    [
        date(2026, 3, 1),
        date(1, 1, 1),
        date(999, 12, 31),
        date(9999, 12, 31),
        datetime(2026, 3, 1, 5),
    ],
)
def test_sqlite_dates_bind_to_the_text_sqlalchemy_stores(value: date) -> None:
    """The fast date binder writes exactly what SQLAlchemy's SQLite DATE writes."""
    dialect = sqlite.dialect()
    slow = sa.Date().dialect_impl(dialect).bind_processor(dialect)
    fast = bind_processor(sa.Date(), dialect)
    assert slow is not None
    assert fast is not None
    assert fast(value) == slow(value)


def test_other_types_and_dialects_keep_sqlalchemys_binders() -> None:
    """Only SQLite dates are replaced: other types keep SQLAlchemy's processor (or none)."""
    pg = postgresql.psycopg.dialect()  # type: ignore[attr-defined]
    assert bind_processor(sa.Date(), pg) == sa.Date().dialect_impl(pg).bind_processor(pg)
    assert bind_processor(sa.String(), sqlite.dialect()) is None


@pytest.mark.parametrize(
    "stored",
    [
        "2026-11-30 12:00:07.123456",
        "2026-11-30 12:00:07",
        "0001-01-01 00:00:00.000000",
        "9999-12-31 23:59:59.999999",
        None,
    ],
)
def test_sqlite_timestamps_read_as_the_generic_chain_reads_them(stored: str | None) -> None:
    """UTCDateTime's fast SQLite reader gives the same aware UTC datetime as
    SQLAlchemy's parse-then-replace chain, for every stored shape."""
    dialect = sqlite.dialect()
    impl = UTCDateTime().dialect_impl(dialect)
    fast = impl.result_processor(dialect, None)
    chain = sa.types.TypeDecorator.result_processor(impl, dialect, None)
    assert fast(stored) == chain(stored)
    if stored is not None:
        assert fast(stored).tzinfo is UTC


def test_sqlite_timestamps_bind_as_utc_text_with_microseconds() -> None:
    """Aware times of any zone are written as UTC text with six fractional digits."""
    binder = UTCDateTime().dialect_impl(sqlite.dialect()).bind_processor(sqlite.dialect())
    five_west = timezone(timedelta(hours=-5))
    assert binder(datetime(2026, 11, 30, 12, 0, 7, tzinfo=UTC)) == "2026-11-30 12:00:07.000000"
    assert (
        binder(datetime(2026, 11, 30, 7, 0, 7, 5, tzinfo=five_west)) == "2026-11-30 12:00:07.000005"
    )
    with pytest.raises(ValueError, match="naive"):
        binder(datetime(2026, 11, 30, 12, 0, 7))
