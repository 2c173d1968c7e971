"""Declared field types and the coercion each applies to Clay's cell strings.

Every coercer takes a raw JSON value and returns ``None`` for "no value" (missing, null,
blank), the typed value, or raises :class:`ValueError` with a user-facing message.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from claybridge.core import coerce
from claybridge.jsontext import INT_MAX, INT_MIN

_TRUE = frozenset({"true", "yes", "y", "1", "on", "checked"})
_FALSE = frozenset({"false", "no", "n", "0", "off", "unchecked"})


_STRUCTURES = (dict, list)  # a tuple: ``dict | list`` builds a union on every call


def _string(value: Any) -> str | None:
    if isinstance(value, _STRUCTURES):
        raise ValueError("expected text, got an object or list")
    return coerce.text(value)


def _integer(value: Any) -> int | None:
    number = coerce.number(value)
    if number is None:
        return None
    if number != number.to_integral_value():
        raise ValueError(f"{value!r} is not a whole number")
    whole = int(number)
    if not INT_MIN <= whole <= INT_MAX:
        raise ValueError(f"{value!r} is beyond 64 bits; declare the field as a string")
    return whole


def _boolean(value: Any) -> bool | None:
    if coerce.is_blank(value):
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{value!r} is not true or false")


def _percent(value: Any) -> Decimal | None:
    """``"45%"`` and ``"45"`` are 45; a fraction such as ``0.45`` is kept as written."""
    if isinstance(value, str) and value.strip().endswith("%"):
        value = value.strip()[:-1]
    return coerce.number(value)


def _datetime(value: Any) -> str | None:
    """An ISO 8601 timestamp, normalised to UTC (a date alone is midnight UTC)."""
    if coerce.is_blank(value):
        return None
    if not isinstance(value, str):
        raise ValueError("expected a date and time such as 2026-03-01T10:00:00Z")
    text = value.strip().replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO 8601 date and time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).isoformat()


def _date(value: Any) -> str | None:
    result = coerce.calendar_date(value)
    return result.isoformat() if result else None


def _url(value: Any) -> str | None:
    text = coerce.text(value)
    if text is None:
        return None
    coerce.domain(text)  # raises when there is no usable host
    return text if "://" in text else f"https://{text}"


def _any(value: Any) -> Any:
    return None if coerce.is_blank(value) else value


COERCERS: dict[str, Callable[[Any], Any]] = {
    "any": _any,
    "string": _string,
    "number": coerce.number,
    "integer": _integer,
    "boolean": _boolean,
    "date": _date,
    "datetime": _datetime,
    "currency": coerce.money,
    "percent": _percent,
    "email": coerce.email,
    "url": _url,
    "domain": coerce.domain,
}
TYPE_NAMES = tuple(sorted(COERCERS))


def coerce_as(type_name: str, value: Any) -> Any:
    """Coerce ``value`` as ``type_name`` (one of :data:`TYPE_NAMES`)."""
    return COERCERS[type_name](value)
