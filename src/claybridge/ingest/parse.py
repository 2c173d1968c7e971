"""Reading a request body into a JSON object. Pure: bytes in, dict out or an error.

Rules (documented for users in README):

* The body is JSON text read by :func:`claybridge.jsontext.loads` (UTF-8; raw control
  characters inside strings accepted; values that cannot be stored refused, naming
  their field), and its top level must be an object.
* Duplicate keys: the last one wins (as in JavaScript and Python).
* Nesting deeper than ``MAX_DEPTH`` is refused so one row cannot exhaust the stack.
"""

from __future__ import annotations

from typing import Any

from claybridge.errors import InvalidBody
from claybridge.jsontext import loads
from claybridge.redact import is_secret_name, scan

MAX_DEPTH = 64


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"


def parse_object(raw: bytes) -> tuple[dict[str, Any], bool]:
    """Parse ``raw`` into a JSON object or raise :class:`InvalidBody` (400) or
    :class:`~claybridge.errors.InvalidField` (422, a value that cannot be stored) saying why.

    Returns the object and whether it holds secret-named keys (found in the same walk
    that checks the nesting depth; see :func:`claybridge.redact.scan`).
    """
    if not raw or raw.isspace():  # (not raw.strip(): that copies the whole body)
        raise InvalidBody("the request body is empty; send a JSON object")
    value = loads(raw)
    if not isinstance(value, dict):
        raise InvalidBody(
            f"the request body must be a JSON object, not {_json_type(value)}",
            code="invalid_body",
        )
    # (find, not ``in``: bytes.__contains__ tries its argument as an integer first, and
    # raises and clears a TypeError for every bytes argument.)
    if raw.count(b"{") == 1 and raw.find(b"[") == -1:
        # One brace in the whole text: a flat object (the usual Clay row), so only its
        # own keys can be secret-named. (A brace inside a string only sends us the long way.)
        return value, any(map(is_secret_name, value))
    depth, secrets = scan(value, MAX_DEPTH)
    if depth > MAX_DEPTH:
        raise InvalidBody(
            f"the request body nests deeper than {MAX_DEPTH} levels", code="invalid_body"
        )
    return value, secrets
