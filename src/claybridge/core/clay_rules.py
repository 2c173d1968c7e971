"""Clay table destinations: the row that is sent, and the rules around Clay's limits.

Pure: no I/O. :func:`prepare_row` adds ``request_id``, ``external_id`` and
``callback_url`` to a payload when given and absent (keys already in the payload are
never overwritten). :func:`check_size` refuses a row over the table's size limit before
anything is sent. :class:`ClayOptions` holds a destination's Clay settings.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator

from claybridge.core.schedule import parse_duration
from claybridge.errors import ClaybridgeError

WARN_AT = 0.9  # share of a webhook's limit at which Claybridge warns


class ClayOptions(BaseModel):
    """A Clay table destination's settings (Clay's own figures by default)."""

    model_config = ConfigDict(extra="forbid")

    workspace: str = Field(default="default", min_length=1, max_length=100)
    workspace_rate: float = Field(default=10.0, gt=0, le=10_000)
    # Clay allows bursts of 20; Claybridge bursts to 10 by default, so that network jitter
    # (two requests arriving closer together than they were sent) never tips one over
    # Clay's limit: the rate is the same, the spare burst absorbs the jitter.
    workspace_burst: int = Field(default=10, ge=1, le=10_000)
    max_payload_bytes: int = Field(default=100_000, ge=100, le=10_000_000)
    submission_limit: int = Field(default=50_000, ge=1)
    callback_source: str | None = Field(default=None, max_length=200)
    callback_timeout: float = Field(default=3600.0, gt=0, le=30 * 86400)

    @field_validator("callback_timeout", mode="before")
    @classmethod
    def _timeout(cls, value: Any) -> float:
        return parse_duration(value) if isinstance(value, str) else float(value)


class PayloadTooLarge(ClaybridgeError):
    """The row is over the Clay table's size limit (refused before sending)."""

    status_code = 413
    code = "payload_too_large"


def exhausted_message(name: str) -> str:
    """Why a row for ``name`` cannot be sent: its code first (``webhook_exhausted: …``),
    as the delivery's error records it."""
    return (
        "webhook_exhausted: "
        f"every webhook of Clay destination {name!r} has reached its submission limit "
        "(Clay allows 50,000 per webhook, for its whole life): create a new webhook in the "
        f"Clay table and add it with `claybridge destinations add-webhook {name} --url …`"
    )


def prepare_row(
    payload: Any,
    *,
    request_id: str | None = None,
    external_id: str | None = None,
    callback_url: str | None = None,
) -> dict[str, Any]:
    """The row to submit: ``payload`` plus the given ids where it lacks those keys."""
    row = dict(payload) if isinstance(payload, dict) else {"value": payload}
    for key, value in (
        ("request_id", request_id),
        ("external_id", external_id),
        ("callback_url", callback_url),
    ):
        if value is not None and key not in row:
            row[key] = value
    return row


def encoded(row: dict[str, Any]) -> bytes:
    """The row as sent (JSON)."""
    return orjson.dumps(row)


def check_size(body: bytes, limit: int) -> None:
    """Raise :class:`PayloadTooLarge` if ``body`` is over ``limit`` bytes."""
    if len(body) > limit:
        raise PayloadTooLarge(
            f"the row is {len(body):,} bytes; the Clay table accepts up to {limit:,} "
            "(drop large fields, or send a reference instead)"
        )


def content_id(row: dict[str, Any]) -> str:
    """A request id derived from the row's content (canonical JSON, SHA-256)."""
    digest = hashlib.sha256(orjson.dumps(row, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return f"sha256:{digest[:32]}"
