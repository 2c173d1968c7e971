"""A source as the API, the CLI and the console show it (never its token or hash)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from claybridge.records.sources import Source, display_config


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def source_json(source: Source, url: str) -> dict[str, Any]:
    """``source`` as JSON; ``url``: where Clay posts to it."""
    return {
        "id": source.id,
        "key": source.key,
        "name": source.name,
        "template": source.template,
        "status": source.status,
        "url": url,
        "token_hint": f"…{source.token_hint}" if source.token_hint else None,
        "created_at": source.created_at.isoformat(),
        "updated_at": source.updated_at.isoformat(),
        "token_rotated_at": _iso(source.token_rotated_at),
        "disconnected_at": _iso(source.disconnected_at),
        "config": display_config(source),
    }
