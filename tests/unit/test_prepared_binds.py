"""Bind processors of prepared statements (pure: no database)."""

from __future__ import annotations

from datetime import date, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from claybridge.storage.prepared import _bind_processor


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
    fast = _bind_processor(sa.Date(), dialect)
    assert slow is not None
    assert fast is not None
    assert fast(value) == slow(value)


def test_other_types_and_dialects_keep_sqlalchemys_binders() -> None:
    """Only SQLite dates are replaced: other types keep SQLAlchemy's processor (or none)."""
    pg = postgresql.psycopg.dialect()  # type: ignore[attr-defined]
    assert _bind_processor(sa.Date(), pg) == sa.Date().dialect_impl(pg).bind_processor(pg)
    assert _bind_processor(sa.String(), sqlite.dialect()) is None
