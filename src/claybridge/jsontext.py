"""Reading JSON text into values every part of Claybridge can store. Pure: bytes in,
a value out or an error.

The one rule for request bodies, used by ingest (``ingest.parse``) and by the admin
API's JSON bodies (``web.guard``):

* UTF-8 only (a UTF-8 byte-order mark is skipped); a UTF-16 or UTF-32 body is refused
  with 400 ``invalid_json`` saying so.
* Strict JSON first (orjson); if that fails, a lenient reading that also accepts raw
  control characters inside strings (a multi-line Clay cell) and nothing else. ``NaN``,
  ``Infinity`` and an integer literal longer than Python's int-string limit are not
  JSON: 400 ``invalid_json``.
* Values must be storable, on SQLite and PostgreSQL alike; otherwise 422
  ``invalid_field`` naming the field's path: no lone surrogate (not UTF-8), no NUL
  character in a string or key (PostgreSQL's text and JSON types cannot hold it; it is
  refused, not stripped, so what is stored is what was sent), no number beyond double
  range, no integer outside ``[-2**63, 2**64 - 1]`` (what the JSON encoder writes
  exactly; send larger ones as strings).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import orjson

from claybridge.errors import InvalidBody, InvalidField

INT_MIN = -(2**63)
INT_MAX = 2**64 - 1
_BOM = b"\xef\xbb\xbf"
# Text the strict parser accepts but may not store or read exactly: an escaped NUL, and
# a run of 20 digits (an integer orjson may have read as an inexact float). A match
# (even inside a string) only sends the body through the exact reading below.
_SUSPECT = re.compile(rb"\\u0000|[0-9]{20}")


class _NotJSON(Exception):
    """``NaN`` / ``Infinity`` / ``-Infinity``: accepted by Python's json, not JSON."""


def _refuse_constant(name: str) -> Any:
    raise _NotJSON(name)


def _foreign_encoding(raw: bytes) -> str | None:
    """``"UTF-16"`` / ``"UTF-32"`` when ``raw`` is in one of them (BOM or NUL pattern of
    RFC 4627 section 3: JSON text starts with an ASCII character)."""
    if raw.startswith((b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00")):
        return "UTF-32"
    if raw.startswith((b"\xfe\xff", b"\xff\xfe")):
        return "UTF-16"
    head = raw[:4]
    if len(head) == 4 and (head[:3] == b"\x00\x00\x00" or head[1:] == b"\x00\x00\x00"):
        return "UTF-32"
    if len(head) >= 2 and (head[0] == 0 or head[1] == 0):
        return "UTF-16"
    return None


def loads(raw: bytes) -> Any:
    """The JSON value of ``raw`` by the module's rules, or :class:`InvalidBody` /
    :class:`InvalidField` saying why not."""
    encoding = _foreign_encoding(raw)
    if encoding is not None:
        raise InvalidBody(f"the request body is {encoding}; send it as UTF-8 JSON")
    if raw.startswith(_BOM):
        raw = raw[len(_BOM) :]
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        value = _lenient(raw)
        check_storable(value)
        return value
    if _SUSPECT.search(raw) is not None:
        value = _lenient(raw)
        check_storable(value)
    return value


def _lenient(raw: bytes) -> Any:
    """Python's reading of ``raw``: control characters allowed in strings, exact integers."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidBody("the request body is not valid UTF-8") from None
    try:
        return json.loads(text, strict=False, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise InvalidBody(f"the request body is not valid JSON: {exc.msg}") from None
    except RecursionError:
        raise InvalidBody("the request body is not valid JSON: too deeply nested") from None
    except _NotJSON as exc:
        raise InvalidBody(
            f"the request body is not valid JSON: {exc} is not a JSON value "
            "(send a finite number, or the text as a string)"
        ) from None
    except ValueError:  # an integer literal over sys.get_int_max_str_digits()
        raise InvalidBody(
            "the request body is not valid JSON: an integer literal is too long to read"
        ) from None


def _path(parts: tuple[str, ...]) -> str:
    """The dotted path, printable and storable: a NUL or a lone surrogate in a key is
    written as its escape."""
    text = ".".join(parts) or "(body)"
    return text.replace("\x00", "\\u0000").encode("utf-8", "backslashreplace").decode()


def check_storable(value: Any) -> None:
    """Raise :class:`InvalidField` for the first value (or key) that cannot be stored."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(value, ())]
    while stack:
        item, parts = stack.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                key_text = str(key)
                _check_text(key_text, (*parts, key_text), "key")
                stack.append((child, (*parts, key_text)))
        elif isinstance(item, list):
            stack.extend((child, (*parts, str(i))) for i, child in enumerate(item))
        elif isinstance(item, str):
            _check_text(item, parts, "value")
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int) and not INT_MIN <= item <= INT_MAX:
            field = _path(parts)
            raise InvalidField(
                f"{field}: the integer is beyond 64 bits and cannot be stored exactly; "
                "send it as a string",
                field=field,
            )
        elif isinstance(item, float) and not math.isfinite(item):
            field = _path(parts)
            raise InvalidField(f"{field}: the number is beyond double range", field=field)


def _check_text(text: str, parts: tuple[str, ...], what: str) -> None:
    if "\x00" in text:
        field = _path(parts)
        raise InvalidField(
            f"{field}: the {what} contains a NUL character (\\u0000), which cannot be "
            "stored; remove it",
            field=field,
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        field = _path(parts)
        raise InvalidField(
            f"{field}: the {what} contains a lone surrogate (an unpaired \\ud800-\\udfff "
            "escape), which is not text",
            field=field,
        ) from None
