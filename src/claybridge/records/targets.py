"""A destination decrypted for sending: what the worker and a test send hold in memory,
never stored."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from claybridge.core.clay_rules import ClayOptions
from claybridge.secretbox import SecretBox

if TYPE_CHECKING:  # (records.destinations imports circuits, which imports this module)
    from claybridge.records.destinations import Destination


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


def target(dest: Destination, box: SecretBox) -> Target:
    """Decrypt ``dest`` for the worker."""
    return Target(
        id=dest.id,
        name=dest.name,
        kind=dest.kind,
        url=box.decrypt(dest.url),
        method=dest.method,
        headers=tuple((k, box.decrypt(v)) for k, v in dest.headers.items()),
        template=dest.template,
        signing_secret=box.decrypt(dest.signing_secret) if dest.signing_secret else None,
        timeout=dest.timeout_seconds,
        rate_limit=dest.rate_limit,
        concurrency=dest.concurrency,
        schedule=tuple(dest.schedule),
        circuit_threshold=dest.circuit_threshold,
        circuit_cooldown=dest.circuit_cooldown_seconds,
        clay=ClayOptions.model_validate(dest.clay) if dest.clay else None,
    )
