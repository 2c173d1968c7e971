"""Which idempotency key an event carries. Pure.

Modes, per source: ``off``; ``key`` (a path such as ``body.clay_row_id`` or
``headers.idempotency-key``); ``content_hash`` (SHA-256 of the body as canonical JSON:
sorted keys, no spaces, so re-running a Clay column on an unchanged row repeats it).

A key must be a string (numbers are accepted and rendered) of 1 to 255 characters. An
absent or invalid key does not reject the event: it is processed without idempotency,
and the returned note says why (it goes into the event log and the answer's warnings).
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from claybridge.actions.fields import MAX_KEY
from claybridge.mapping.paths import Path


def content_hash(body: dict[str, Any]) -> str:
    """``sha256:<hex>`` of the canonical JSON of ``body``."""
    canonical = orjson.dumps(body, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    return "sha256:" + hashlib.sha256(canonical).hexdigest()


def event_key(
    mode: str, key_path: Path | None, event: dict[str, Any]
) -> tuple[str | None, str | None]:
    """``(key, note)``: the event's key, or ``None`` and why there is none."""
    if mode == "off":
        return None, None
    if mode == "content_hash":
        return content_hash(event["body"]), None
    assert key_path is not None  # the configuration model requires it for mode "key"
    raw = key_path.resolve(event)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None, f"no idempotency key at {key_path}; processed without idempotency"
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        return None, (
            f"the idempotency key at {key_path} is not a string; processed without idempotency"
        )
    key = str(raw).strip()
    if len(key) > MAX_KEY:
        return None, (
            f"the idempotency key at {key_path} is longer than {MAX_KEY} characters; "
            "processed without idempotency"
        )
    return key, None
