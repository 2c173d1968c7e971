"""Redaction of secrets from headers and bodies before they reach logs or the event log.

Contract: a header is redacted when its lower-cased name is in ``SECRET_HEADERS`` or
contains one of ``SECRET_MARKERS``; a body key likewise, at any depth. The value is
replaced by ``REDACTED``; the key stays so the log still shows what was sent. A body
that is not valid JSON is redacted as text (:func:`redact_text`): every ``"key": value``
pair whose key is secret-named.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

REDACTED = "[redacted]"

SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "x-clay-webhook-auth",
    }
)
SECRET_MARKERS = (
    "token",
    "secret",
    "password",
    "passwd",
    "credential",
    "private_key",
    "private-key",
    "privatekey",
    "auth",
    "signature",
    "api-key",
    "apikey",
    "api_key",
)


@lru_cache(maxsize=4096)
def is_secret_name(name: str) -> bool:
    """Whether a header or body key with this name carries a secret."""
    lowered = name.lower()
    return lowered in SECRET_HEADERS or any(marker in lowered for marker in SECRET_MARKERS)


def redact_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Headers as a dict with lower-case names and secret values replaced.

    Repeated headers are joined with ``", "`` as HTTP allows.
    """
    out: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        shown = REDACTED if is_secret_name(key) else value
        out[key] = f"{out[key]}, {shown}" if key in out else shown
    return out


def redact_body(value: Any, _depth: int = 0) -> Any:
    """A copy of a parsed JSON value with secret-named keys' values replaced."""
    if _depth > 64:
        return value
    if isinstance(value, Mapping):
        return {
            k: (REDACTED if is_secret_name(str(k)) else redact_body(v, _depth + 1))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact_body(v, _depth + 1) for v in value]
    return value


def has_secrets(value: Any) -> bool:
    """Whether :func:`redact_body` would change anything in ``value``."""
    return scan(value, max_depth=1 << 30)[1]


# A tuple, not ``dict | list``: a union object is built on every evaluation.
_CONTAINERS = (dict, list)


def scan(value: Any, max_depth: int) -> tuple[int, bool]:
    """One walk over a parsed body: ``(depth, has_secrets)``.

    Stops early, returning a depth over ``max_depth``, as soon as nesting exceeds it.
    """
    deepest = 1
    secrets = False
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > deepest:
            deepest = depth
            if depth > max_depth:
                return depth, secrets
        if isinstance(item, dict):
            for k, v in item.items():
                if not secrets and is_secret_name(str(k)):
                    secrets = True
                if isinstance(v, _CONTAINERS):
                    stack.append((v, depth + 1))
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item if isinstance(v, _CONTAINERS))
    return deepest, secrets


# A JSON-looking pair in text that may not parse: a quoted key, a colon, then a quoted
# string or a bare token (a number, a literal, or whatever a broken body has there).
_PAIR = re.compile(r'"((?:[^"\\]|\\.)*)"(\s*:\s*)("(?:[^"\\]|\\.)*"?|[^,}\]\s]+)')


def redact_text(text: str) -> str:
    """``text`` (a body that is not valid JSON) with secret-named pairs' values replaced."""

    def replace(match: re.Match[str]) -> str:
        if not is_secret_name(match.group(1)):
            return match.group(0)
        return f'"{match.group(1)}"{match.group(2)}"{REDACTED}"'

    return _PAIR.sub(replace, text)
