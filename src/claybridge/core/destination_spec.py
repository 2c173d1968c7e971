"""What a destination is, as a user writes it (API, CLI, YAML), validated when saved.

Shape::

    name: hot-leads-slack
    kind: slack                       # or http, or clay (a Clay table's webhook)
    url: https://hooks.slack.com/services/T000/B000/XXXX
    template: "Hot lead from Clay: {{ first_name }} {{ last_name }} - ICP {{ icp_score }}"
    # http only: method (POST), headers, template (default: the whole row as JSON),
    # signing_secret ("generate" or a whsec_… secret: Standard Webhooks signatures)
    timeout_seconds: 10
    rate_limit: 5                     # requests per second, shared by every worker
    concurrency: 10                   # requests in flight at once, per worker
    retry_schedule: [0, 5s, 5m, 30m, 2h, 5h, 10h, 10h]
    circuit_threshold: 10             # failures in a row that pause the destination
    circuit_cooldown: 60s             # wait before probing a paused destination

Validation that needs no I/O lives here; the URL's SSRF check (DNS) is done by
:mod:`claybridge.records.destinations` when it saves.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from claybridge.core.clay_rules import ClayOptions
from claybridge.core.render import check_template
from claybridge.core.schedule import DEFAULT_SCHEDULE, parse_duration, parse_schedule

HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$")
RESERVED_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
    }
)
GENERATE = "generate"


class DestinationSpec(BaseModel):
    """A destination's settings (secrets as plaintext, or masked to keep the stored one)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    kind: Literal["http", "slack", "clay"]
    url: str = Field(min_length=1, max_length=2000)
    method: Literal["POST", "PUT", "PATCH"] = "POST"
    headers: dict[str, str] = Field(default_factory=dict, max_length=30)
    template: str | None = None
    signing_secret: str | None = None
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    rate_limit: float | None = Field(default=None, gt=0, le=10_000)
    concurrency: int = Field(default=10, ge=1, le=1000)
    retry_schedule: list[float] = Field(default_factory=lambda: list(DEFAULT_SCHEDULE))
    circuit_threshold: int = Field(default=10, ge=1, le=10_000)
    circuit_cooldown: float = Field(default=60.0, ge=0.1, le=86_400)
    enabled: bool = True
    # http and slack: alerts are sent here too (see claybridge.operations.alerts)
    alerts: bool = False
    # kind clay: the first webhook's auth header, and the table's settings
    auth_header_name: str | None = Field(default=None, max_length=100)
    auth_header_value: str | None = Field(default=None, max_length=2000)
    clay: ClayOptions | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        clean = " ".join(value.split())
        if not clean:
            raise ValueError("name is required")
        return clean

    @field_validator("retry_schedule", mode="before")
    @classmethod
    def _schedule(cls, value: Any) -> list[float]:
        if isinstance(value, str | list | tuple):
            return list(parse_schedule(value))
        raise ValueError("a list of delays such as [0, 5s, 5m] or a string '0,5s,5m'")

    @field_validator("circuit_cooldown", mode="before")
    @classmethod
    def _cooldown(cls, value: Any) -> float:
        return parse_duration(value) if isinstance(value, str) else float(value)

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, item in value.items():
            if not HEADER_NAME.match(name):
                raise ValueError(f"{name!r} is not a valid header name")
            if name.lower() in RESERVED_HEADERS:
                raise ValueError(f"header {name!r} is set by Claybridge")
            if "\r" in item or "\n" in item:
                raise ValueError(f"header {name!r} has a line break in its value")
        return value

    @field_validator("template")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                check_template(value)
            except Exception as exc:  # InvalidField: keep pydantic's error shape
                raise ValueError(getattr(exc, "message", str(exc))) from None
        return value

    @model_validator(mode="after")
    def _kind_rules(self) -> DestinationSpec:
        if self.kind == "clay":
            return self._clay_rules()
        if self.clay is not None or self.auth_header_name or self.auth_header_value:
            raise ValueError("clay settings and auth_header_* are for kind clay only")
        if self.kind == "slack":
            if not self.template:
                raise ValueError("a slack destination needs a template (the message text)")
            if self.signing_secret:
                raise ValueError("slack destinations are not signed")
        secret = self.signing_secret
        if secret and secret != GENERATE and not secret.startswith(("whsec_", "enc:v1:", "*")):
            raise ValueError("signing_secret must be 'generate' or a whsec_… secret")
        return self

    def _clay_rules(self) -> DestinationSpec:
        """A Clay table takes the row as JSON, and its own auth header; no alerts."""
        if self.template or self.signing_secret or self.headers:
            raise ValueError(
                "a clay destination sends the row as JSON: no template, headers or "
                "signing (use auth_header_name/auth_header_value)"
            )
        if self.alerts:
            raise ValueError("alerts go to an http or slack destination, not a Clay table")
        if self.clay is None:
            self.clay = ClayOptions()
        return self
