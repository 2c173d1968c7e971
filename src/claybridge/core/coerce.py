"""Turning Clay's cell strings into typed values. Pure functions, no I/O.

Clay's HTTP API column renders every cell as a string, an empty cell as ``""``, and
may drop keys altogether. Every function here takes the raw JSON value and returns
``None`` for "no value sent" (missing, ``null``, or blank), a typed value, or raises
:class:`ValueError` with a message fit to show a user in a Clay cell.

Number rules (used for money such as ``arr``):

* Currency symbols and ISO codes around the number are ignored (``$``, ``€``, ``£``,
  ``USD``…), as are spaces and underscores used for grouping.
* Suffixes ``k``, ``m``/``mm``, ``b``/``bn`` multiply by 10^3, 10^6, 10^9.
* Separators: when both ``,`` and ``.`` appear, the one that comes last is the decimal
  point (``1,234.50`` and ``1.234,50`` are both 1234.5). Several of the same separator
  are grouping (``1.234.567``). One ``,`` followed by exactly three digits is grouping
  (``120,000``); otherwise a lone ``,`` is a decimal comma (``95,5``).
* **Ambiguous:** a lone ``.`` followed by exactly three digits (``€95.000``) reads as
  95 in the US and 95,000 in much of Europe. A 1000x error in revenue is worse than a
  rejected row, so it is refused with a message that says how to send it unambiguously.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

_CURRENCY_CODES = frozenset(
    {"USD", "EUR", "GBP", "JPY", "CAD", "AUD", "CHF", "INR", "SEK", "NOK", "DKK", "NZD", "SGD"}
)
_SYMBOLS = "$€£¥₹"
_SUFFIXES = {"k": 3, "m": 6, "mm": 6, "b": 9, "bn": 9}
_NUMBER = re.compile(r"^[+-]?\d+(?:\.\d+)?$")
_SUFFIX_ORDER = tuple(sorted(_SUFFIXES, key=len, reverse=True))  # longest first: "mm" before "m"
# The shapes most cells have (``120000``, ``$120,000``, ``$120,000.50``, ``99.5``): read
# directly. Every value this admits reads the same under the full rules below (comma
# groups of exactly three, a dot with at most two decimals is never the ambiguous case).
PLAIN_AMOUNT = re.compile(r"^\$?(\d{1,3}(?:,\d{3})+|\d+)(\.\d{1,2})?$")
_CENT = Decimal("0.01")
# The largest amount stored (customers.arr is NUMERIC(18, 2) on PostgreSQL, and SQLite
# keeps the same bound so both databases accept the same rows).
MONEY_MAX = Decimal("9999999999999999.99")


def is_blank(value: Any) -> bool:
    """Whether ``value`` means "no value sent": ``None`` or a string of only whitespace."""
    return value is None or (isinstance(value, str) and not value.strip())


# Type tuples, not ``A | B``: a union object is built on every evaluation.
_NOT_TEXT = (bool, dict, list)
_NUMERIC = (int, float)


def text(value: Any) -> str | None:
    """A trimmed string; numbers are accepted and rendered; objects and lists are not."""
    if type(value) is str:  # nearly every Clay cell
        return value.strip() or None
    if value is None:
        return None
    if isinstance(value, _NOT_TEXT):
        raise ValueError("expected text")
    if isinstance(value, _NUMERIC):
        return str(value)
    return str(value).strip() or None


_CURRENCY_AFFIX = re.compile(
    r"^\s*(?:(?P<pre>[A-Za-z]{3})\s*)?[$€£¥₹]?\s*(?P<num>.*?)\s*[$€£¥₹]?\s*"
    r"(?:(?P<post>[A-Za-z]{3}))?\s*$"
)


def _strip_currency(raw: str) -> str:
    """``raw`` without a currency symbol or a known ISO code before or after it."""
    m = _CURRENCY_AFFIX.match(raw)
    if m is None:  # pragma: no cover - the pattern matches any string
        return raw.strip()
    pre, post = m.group("pre"), m.group("post")
    if (pre and pre.upper() not in _CURRENCY_CODES) or (
        post and post.upper() not in _CURRENCY_CODES
    ):
        return raw.strip().strip(_SYMBOLS).strip()
    return m.group("num")


_GROUPED = re.compile(r"^[+-]?\d{1,3}(?:X\d{3})+$")


def _ungroup(s: str, sep: str, original: str) -> str:
    """Remove grouping separator ``sep``; groups after the first must be 3 digits."""
    if not _GROUPED.match(s.replace(sep, "X")):
        raise ValueError(f"{original!r} is not a number")
    return s.replace(sep, "")


def _normalise_separators(s: str, original: str) -> str:
    """``s`` with grouping removed and ``.`` as the decimal point (rules in module doc)."""
    commas, dots = s.count(","), s.count(".")
    if commas and dots:
        decimal, group = (",", ".") if s.rfind(",") > s.rfind(".") else (".", ",")
        if s.count(decimal) > 1:
            raise ValueError(f"{original!r} is not a number")
        whole, _, frac = s.rpartition(decimal)
        return f"{_ungroup(whole, group, original)}.{frac}"
    if commas > 1:
        return _ungroup(s, ",", original)
    if dots > 1:
        return _ungroup(s, ".", original)
    if commas == 1:
        whole, frac = s.split(",")
        return _ungroup(s, ",", original) if len(frac) == 3 else f"{whole}.{frac}"
    if dots == 1:
        whole, frac = s.split(".")
        digits = whole.lstrip("+-")
        if len(frac) == 3 and frac.isdigit() and digits.isdigit() and digits != "0":
            raise ValueError(
                f"{original!r} is ambiguous: it reads as {digits}.{frac} in the US and as "
                f"{digits}{frac} in much of Europe; send the amount without grouping "
                f"separators, e.g. {digits}{frac} or {digits}.{frac[:2]}"
            )
    return s


def number(value: Any) -> Decimal | None:
    """A decimal from a number or a human-formatted numeric string (rules above)."""
    if is_blank(value):
        return None
    if isinstance(value, bool):
        raise ValueError("expected a number, got true/false")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("expected a finite number")
        return Decimal(repr(value))
    if not isinstance(value, str):
        raise ValueError("expected a number")
    original = value.strip()
    if original.isascii() and original.isdigit():  # the common plain cell: "120000"
        return Decimal(original)
    plain = PLAIN_AMOUNT.match(original)
    if plain is not None:
        whole, fraction = plain.groups()
        return Decimal(whole.replace(",", "") + (fraction or ""))
    return number_by_rules(original)


def number_by_rules(original: str) -> Decimal:
    """``original`` (stripped, non-blank text) read by the full rules of the module doc."""
    s = _strip_currency(original)
    negative = s.startswith("(") and s.endswith(")")
    if negative:
        s = s[1:-1].strip()
    s = s.replace(" ", "").replace("\u00a0", "").replace("_", "")
    lowered = s.lower()
    exponent = 0
    for suffix in _SUFFIX_ORDER:
        if lowered.endswith(suffix) and lowered[: -len(suffix)][-1:].isdigit():
            exponent = _SUFFIXES[suffix]
            s = s[: -len(suffix)]
            break
    s = _strip_currency(s)
    s = _normalise_separators(s, original)
    if not _NUMBER.match(s):
        raise ValueError(f"{original!r} is not a number")
    try:
        result = Decimal(s).scaleb(exponent)
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only valid input
        raise ValueError(f"{original!r} is not a number") from exc
    return -result if negative else result


def money(value: Any) -> Decimal | None:
    """A non-negative amount up to :data:`MONEY_MAX`, rounded to cents."""
    if type(value) is str:  # the usual cell, "$120,000", read without number()'s steps
        plain = PLAIN_AMOUNT.match(value)
        if plain is not None:
            whole, fraction = plain.groups()
            plain_amount = Decimal(whole.replace(",", "") + (fraction or ""))
            return _bounded(plain_amount).quantize(_CENT)
    amount = number(value)
    if amount is None:
        return None
    if amount < 0:
        raise ValueError("must not be negative")
    return _bounded(amount).quantize(_CENT)


def _bounded(amount: Decimal) -> Decimal:
    # (before quantize: an amount of more than 26 digits would overflow its context)
    if amount > MONEY_MAX:
        raise ValueError(f"is larger than the largest amount stored, {MONEY_MAX:,}")
    return amount


_DATE_FORMATS = (
    "%B %d, %Y",  # March 1, 2026
    "%b %d, %Y",  # Mar 1, 2026
    "%B %d %Y",
    "%b %d %Y",
    "%d %B %Y",  # 1 March 2026
    "%d %b %Y",
    "%Y/%m/%d",
    "%Y.%m.%d",
)
_SLASH_DATE = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")


def calendar_date(value: Any, order: str = "MDY") -> date | None:
    """A date from ISO 8601 (date or datetime), a slash date, or an English long date.

    Slash dates (``03/01/2026``, also with ``-`` or ``.``) are read in ``order``: ``MDY``
    (month first, Clay's US default) or ``DMY``. A value impossible in that order (a
    13th month) is refused rather than silently read the other way round. A datetime
    keeps the calendar date it was written with (no shift to UTC): a renewal on
    ``2026-03-01T23:30-05:00`` is on March 1.
    """
    if type(value) is str and (slash := _SLASH_DATE.match(value)) is not None:
        s = value  # the usual cell, "03/01/2026": nothing to strip (the pattern is anchored)
    elif is_blank(value):
        return None
    elif not isinstance(value, str):
        raise ValueError("expected a date such as 2026-03-01")
    else:
        s = value.strip()
        slash = _SLASH_DATE.match(s)
    if slash:
        a, b, year = map(int, slash.groups())
        month, day = (a, b) if order == "MDY" else (b, a)
        try:
            return date(year, month, day)
        except ValueError:
            shape = "MM/DD/YYYY" if order == "MDY" else "DD/MM/YYYY"
            raise ValueError(
                f"{s!r} is not a valid {shape} date; send ISO 2026-03-01 to be unambiguous"
            ) from None
    try:
        return date.fromisoformat(s)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(s.replace("Z", "+00:00")).date()
    except ValueError:
        pass
    cleaned = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", s).replace("Sept ", "Sep ")
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(cleaned, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"{s!r} is not a date; send ISO 2026-03-01 or March 1, 2026")


# An http(s) URL or a bare host with no credentials, brackets or odd port: the host is
# group 1 (the general steps in domain() give the same host for every such value).
PLAIN_URL = re.compile(r"(?:https?://)?([A-Za-z0-9.-]+)(?::\d+)?(?:[/?#]|$)")
_HOSTNAME = re.compile(r"^(?:(?!-)[a-z0-9-]{1,63}(?<!-)\.)+(?!-)[a-z0-9-]{1,63}(?<!-)$")


def host_of(raw: str) -> str:
    """The lower-cased host of a URL or bare host name (before ``www.`` and checks)."""
    host = raw
    scheme_end = host.find("://")
    if scheme_end != -1:
        host = host[scheme_end + 3 :]
    elif host.startswith("//"):
        host = host[2:]
    for sep in "/?#":
        cut = host.find(sep)
        if cut != -1:
            host = host[:cut]
    host = host.rpartition("@")[2]
    if host.startswith("["):
        raise ValueError(f"{raw!r} is an IP address, not a domain")
    return host.partition(":")[0].rstrip(".").lower()


def domain(value: Any) -> str | None:
    """The normalised website domain of a URL or bare host name.

    Scheme, credentials, ``www.``, path, query, port, case and a trailing dot are
    removed, and international names are converted to their ASCII (IDNA) form, so
    ``https://www.Acme.com/about`` and ``acme.com`` give the same domain. A value with
    no plausible public host name (no dot, an IP address, bad characters) is refused.
    """
    raw = text(value)
    if raw is None:
        return None
    plain = PLAIN_URL.match(raw)
    # The usual cell is read by one pattern; it gives the host host_of would.
    host = plain.group(1).rstrip(".").lower() if plain is not None else host_of(raw)
    if host.startswith("www."):
        host = host[4:]
    if not host:
        raise ValueError(f"{raw!r} has no domain")
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise ValueError(f"{raw!r} is not a valid domain") from None
    if len(host) > 253 or not _HOSTNAME.match(host):
        raise ValueError(f"{raw!r} is not a valid domain")
    tld = host.rpartition(".")[2]
    if tld.isdigit():
        raise ValueError(f"{raw!r} is an IP address, not a domain")
    if not (tld[0].isalpha() or tld.startswith("xn--")):
        raise ValueError(f"{raw!r} is not a valid domain")
    return host


def email(value: Any) -> str | None:
    """A trimmed, lower-cased email address with one ``@`` and a dotted domain."""
    raw = text(value)
    if raw is None:
        return None
    local, at, host = raw.rpartition("@")
    if not at or not local or "." not in host or " " in raw:
        raise ValueError(f"{raw!r} is not an email address")
    return raw.lower()
