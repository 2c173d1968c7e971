"""When to try a delivery again, and whether to try at all. Pure: no I/O, no clock.

The default schedule is the delay before each attempt: immediately, then 5 s, 5 min,
30 min, 2 h, 5 h, 10 h and 10 h (eight attempts over about 28 hours, so a receiver that
is down overnight still gets its deliveries). Every non-zero delay gets ±20 % jitter, so
deliveries that failed together do not all come back in the same second.

Outcome classes:

* 2xx: delivered.
* 408, 409, 425, 429 and every 5xx, and network errors and timeouts: retry on schedule.
  On 429 and 503 a ``Retry-After`` header (seconds or an HTTP date) replaces the
  scheduled delay, capped at :data:`MAX_RETRY_AFTER`.
* Any other status (other 4xx; 1xx/3xx: redirects are not followed, because the SSRF
  guard checked the configured host, not where a redirect points): permanent failure,
  the delivery is dead at once.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime

DEFAULT_SCHEDULE: tuple[float, ...] = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
JITTER = 0.2
MAX_RETRY_AFTER = 86_400.0
RETRYABLE_4XX = frozenset({408, 409, 425, 429})
MAX_ATTEMPTS = 50

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """``"5m"`` → 300.0. Accepts a bare number of seconds or ``<number><s|m|h|d>``."""
    value = text.strip().lower()
    if not value:
        raise ValueError("empty duration")
    unit = _UNITS.get(value[-1])
    number = value[:-1] if unit else value
    try:
        seconds = float(number) * (unit or 1)
    except ValueError:
        raise ValueError(f"{text!r} is not a duration such as 30s, 5m, 2h or 7d") from None
    if seconds < 0:
        raise ValueError(f"{text!r} is negative")
    return seconds


def parse_schedule(value: str | Sequence[float | int | str]) -> tuple[float, ...]:
    """A schedule from ``"0,5s,5m"`` or a list of durations; at least one attempt."""
    items = value.split(",") if isinstance(value, str) else list(value)
    delays = tuple(parse_duration(item) if isinstance(item, str) else float(item) for item in items)
    if not delays:
        raise ValueError("a retry schedule needs at least one attempt")
    if len(delays) > MAX_ATTEMPTS:
        raise ValueError(f"a retry schedule has at most {MAX_ATTEMPTS} attempts")
    if any(d < 0 for d in delays):
        raise ValueError("delays cannot be negative")
    return delays


@dataclass(frozen=True, slots=True)
class Verdict:
    """What to do after an attempt: ``delivered``, ``retry`` (after ``delay``) or ``dead``."""

    status: str
    delay: float | None = None
    reason: str | None = None


def classify(status_code: int | None) -> str:
    """``delivered``, ``retry`` or ``permanent`` for a status code (``None``: no answer)."""
    if status_code is None:
        return "retry"
    if 200 <= status_code < 300:
        return "delivered"
    if status_code >= 500 or status_code in RETRYABLE_4XX:
        return "retry"
    return "permanent"


def retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or HTTP date)."""
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            return None
        seconds = (when - now).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def jittered(delay: float, rng: random.Random | None = None) -> float:
    """``delay`` ± 20 % (zero stays zero)."""
    if delay <= 0:
        return 0.0
    r = (rng or random).uniform(-JITTER, JITTER)
    return delay * (1 + r)


def decide(
    *,
    attempts: int,
    schedule: Sequence[float],
    status_code: int | None,
    retry_after_header: str | None,
    now: datetime,
    rng: random.Random | None = None,
) -> Verdict:
    """The verdict after attempt number ``attempts`` (1-based) ended with ``status_code``."""
    kind = classify(status_code)
    if kind == "delivered":
        return Verdict("delivered")
    if kind == "permanent":
        return Verdict("dead", reason=f"HTTP {status_code} is a permanent failure")
    if attempts >= len(schedule):
        return Verdict("dead", reason=f"gave up after {attempts} attempts")
    delay = jittered(schedule[attempts], rng)
    if status_code in (429, 503):
        wait = retry_after(retry_after_header, now)
        if wait is not None:
            delay = wait
    return Verdict("retry", delay=delay)
