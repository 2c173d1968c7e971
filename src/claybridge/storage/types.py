"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

_CENT = Decimal("0.01")


_SQLITE_FORMAT = "%04d-%02d-%02d %02d:%02d:%02d.%06d"


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware.

    SQLite has no timezone type and hands back naive values; this makes both
    databases return aware UTC datetimes, and refuses naive ones on the way in.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: Claybridge stores UTC-aware times only")
        if value.tzinfo is not UTC:
            value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: sa.Dialect) -> Any:
        """On SQLite, format with one ``%`` the exact text SQLAlchemy's DATETIME stores
        (``YYYY-MM-DD HH:MM:SS.ffffff``), at a fraction of the generic chain's cost (and
        less than ``isoformat``, which formats the zone too; see docs/performance.md)."""
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        def process(value: datetime | None) -> str | None:
            if value is None:
                return None
            if value.tzinfo is None:
                raise ValueError("naive datetime: Claybridge stores UTC-aware times only")
            utc = value if value.tzinfo is UTC else value.astimezone(UTC)
            return _SQLITE_FORMAT % (
                utc.year,
                utc.month,
                utc.day,
                utc.hour,
                utc.minute,
                utc.second,
                utc.microsecond,
            )

        return process

    def result_processor(self, dialect: sa.Dialect, coltype: Any) -> Any:
        """On SQLite, read the stored text straight into an aware datetime in C
        (``fromisoformat`` with the zone appended): SQLAlchemy's chain parses it naive
        and then ``replace``s the zone, several times the cost, on every row read."""
        chain = super().result_processor(dialect, coltype)
        if dialect.name != "sqlite":
            return chain

        def process(value: Any) -> datetime | None:
            if type(value) is str and len(value) == 26:  # "YYYY-MM-DD HH:MM:SS.ffffff"
                try:
                    return datetime.fromisoformat(value + "+00:00")
                except ValueError:
                    pass
            return chain(value) if chain is not None else value

        return process

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        result: datetime = value
        if result.tzinfo is None:
            return result.replace(tzinfo=UTC)
        return result.astimezone(UTC)


def json_type() -> sa.types.TypeEngine[Any]:
    """JSON on SQLite, JSONB on PostgreSQL."""
    return sa.JSON().with_variant(JSONB(), "postgresql")


class Money(sa.TypeDecorator[Decimal]):
    """An exact decimal amount: NUMERIC(18, 2) on PostgreSQL, text on SQLite.

    SQLite has no exact decimal type and would store a float; text keeps every cent.
    """

    impl = sa.Numeric(18, 2)
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.String(32))
        return dialect.type_descriptor(sa.Numeric(18, 2))

    def process_bind_param(self, value: Decimal | None, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        value = Decimal(value).quantize(_CENT)
        return str(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> Decimal | None:
        if value is None:
            return None
        return Decimal(value).quantize(_CENT)
