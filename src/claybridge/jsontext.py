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
from typing import Any

import orjson

from claybridge.errors import InvalidBody, InvalidField

INT_MIN = -(2**63)
INT_MAX = 2**64 - 1
_BOM = b"\xef\xbb\xbf"
# orjson reads an integer beyond 64 bits as a float; a float this large may have been
# one, so the body is read again exactly (a genuine large float reads the same).
_INEXACT = float(2**63)
_CONTAINERS = (dict, list)  # a tuple: ``dict | list`` builds a union on every call


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
    if len(raw) < 2 or raw[0] != 0x7B or raw[1] == 0:  # not the usual start, '{' in UTF-8
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
    if not isinstance(value, _CONTAINERS):
        return value
    # (find, not a regular expression: this runs for every Clay row, and a pattern
    # search costs several times more; figures in docs/performance.md.)
    if raw.find(b"\\u0000") != -1 or _maybe_inexact(value):
        value = _lenient(raw)
        check_storable(value)
    return value


def _maybe_inexact(value: Any) -> bool:
    """Whether ``value`` holds a float of 2**63 or more in size (see ``_INEXACT``)."""
    stack = [value]
    while stack:
        item = stack.pop()
        for child in item.values() if type(item) is dict else item:
            kind = type(child)
            if kind is float:
                if child >= _INEXACT or child <= -_INEXACT:
                    return True
            elif kind is dict or kind is list:
                stack.append(child)
    return False


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
