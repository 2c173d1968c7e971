"""A destination as the API, the CLI and the console show it: secrets masked (header
values by name, as in :mod:`claybridge.redact`), a clay destination with its pool."""

from __future__ import annotations

from typing import Any

from claybridge.records import clay
from claybridge.records.destinations import Destination
from claybridge.redact import is_secret_name
from claybridge.secretbox import MASK, SecretBox

UNREADABLE = "[cannot be decrypted with this secret key]"


def destination_json(
    dest: Destination, box: SecretBox, pool: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """A destination as the API and CLI show it (secrets masked). A ``clay`` destination
    shows ``config``: its first active webhook's URL and auth header name (never the
    value), its settings and its pool (``pool``: its webhook rows) with counts."""
    if dest.kind == "clay":
        return _clay_json(dest, pool or [])
    headers = {
        name: MASK if is_secret_name(name) else _shown(box, value)
        for name, value in dest.headers.items()
    }
    return {
        "id": dest.id,
        "name": dest.name,
        "kind": dest.kind,
        "url": dest.url_hint,
        "method": dest.method,
        "headers": headers,
        "template": dest.template,
        "signed": bool(dest.signing_secret),
        "signing_secret": MASK if dest.signing_secret else None,
        "timeout_seconds": dest.timeout_seconds,
        "rate_limit": dest.rate_limit,
        "concurrency": dest.concurrency,
        "retry_schedule": dest.schedule,
        "status": dest.status,
        "status_reason": dest.status_reason,
        "alerts": bool(dest.alerts),
        "circuit": {
            "state": dest.circuit_state,
            "consecutive_failures": dest.consecutive_failures,
            "threshold": dest.circuit_threshold,
            "cooldown_seconds": dest.circuit_cooldown_seconds,
            "opened_at": dest.circuit_opened_at.isoformat() if dest.circuit_opened_at else None,
            "next_probe_at": dest.probe_at.isoformat() if dest.probe_at else None,
        },
        "created_at": dest.created_at.isoformat(),
        "updated_at": dest.updated_at.isoformat(),
    }


def _shown(box: SecretBox, stored: str) -> str:
    """A stored header value for display, or a note when the key no longer fits."""
    try:
        return box.decrypt(stored)
    except ValueError:
        return UNREADABLE


def _clay_json(dest: Destination, pool: list[dict[str, Any]]) -> dict[str, Any]:
    hooks = [clay.public_webhook(w) for w in pool]
    current = next((h for h in hooks if h["status"] == clay.ACTIVE), None)
    return {
        "id": dest.id,
        "name": dest.name,
        "kind": "clay",
        "status": dest.status if current else "exhausted",
        "status_reason": dest.status_reason,
        "config": {
            "webhook_url": current["webhook_url"] if current else None,
            "auth_header_name": current["auth_header_name"] if current else None,
            **(dest.clay or {}),
            "webhooks": hooks,
        },
        "warnings": [f"webhook {h['position']}: {h['warning']}" for h in hooks if h["warning"]],
        "timeout_seconds": dest.timeout_seconds,
        "concurrency": dest.concurrency,
        "retry_schedule": dest.schedule,
        "circuit": {
            "state": dest.circuit_state,
            "consecutive_failures": dest.consecutive_failures,
            "threshold": dest.circuit_threshold,
            "cooldown_seconds": dest.circuit_cooldown_seconds,
        },
        "created_at": dest.created_at.isoformat(),
        "updated_at": dest.updated_at.isoformat(),
    }
