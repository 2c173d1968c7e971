"""A destination decrypted for sending: what the worker and a test send hold in memory,
never stored."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from claybridge.core.clay_rules import ClayOptions
from claybridge.core.schedule import DEFAULT_SCHEDULE
from claybridge.secretbox import SecretBox


@dataclass(frozen=True, slots=True)
class Target:
    """A destination decrypted for sending (lives in a worker's memory only)."""

    id: str
    name: str
    kind: str
    url: str
    method: str
    headers: tuple[tuple[str, str], ...]
    template: str | None
    signing_secret: str | None
    timeout: float
    rate_limit: float | None
    concurrency: int
    schedule: tuple[float, ...]
    circuit_threshold: int
    circuit_cooldown: float
    clay: ClayOptions | None = None


def target(row: dict[str, Any], box: SecretBox) -> Target:
    """Decrypt ``row`` for the worker."""
    return Target(
        id=row["id"],
        name=row["name"],
        kind=row["kind"],
        url=box.decrypt(row["url"]),
        method=row["method"],
        headers=tuple((k, box.decrypt(v)) for k, v in row["headers"].items()),
        template=row["template"],
        signing_secret=box.decrypt(row["signing_secret"]) if row["signing_secret"] else None,
        timeout=row["timeout_seconds"],
        rate_limit=row["rate_limit"],
        concurrency=row["concurrency"],
        schedule=tuple(row["retry_schedule"] or DEFAULT_SCHEDULE),
        circuit_threshold=row["circuit_threshold"],
        circuit_cooldown=row["circuit_cooldown_seconds"],
        clay=ClayOptions.model_validate(row["clay"]) if row.get("clay") else None,
    )
