"""The retry schedule and outcome classes (pure)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from claybridge.core.schedule import (
    DEFAULT_SCHEDULE,
    classify,
    decide,
    jittered,
    parse_duration,
    parse_schedule,
    retry_after,
)

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def test_default_schedule_is_the_documented_one() -> None:
    """Immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h."""
    assert DEFAULT_SCHEDULE == (0, 5, 300, 1800, 7200, 18000, 36000, 36000)


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (200, "delivered"),
        (204, "delivered"),
        (None, "retry"),
        (500, "retry"),
        (503, "retry"),
        (408, "retry"),
        (409, "retry"),
        (425, "retry"),
        (429, "retry"),
        (400, "permanent"),
        (401, "permanent"),
        (404, "permanent"),
        (410, "permanent"),
        (301, "permanent"),
    ],
)
def test_classify(code: int | None, kind: str) -> None:
    """2xx delivers; 408/409/425/429, 5xx and no answer retry; other statuses are final."""
    assert classify(code) == kind


def test_permanent_failure_is_dead_at_once() -> None:
    """A 400 on the first attempt is dead, with the reason."""
    verdict = decide(
        attempts=1, schedule=DEFAULT_SCHEDULE, status_code=400, retry_after_header=None, now=NOW
    )
    assert verdict.status == "dead"
    assert "400" in (verdict.reason or "")


def test_retry_uses_the_next_delay_with_jitter() -> None:
    """After attempt 2 fails, the wait is the third delay (300 s) within ±20 %."""
    for seed in range(50):
        verdict = decide(
            attempts=2,
            schedule=DEFAULT_SCHEDULE,
            status_code=500,
            retry_after_header=None,
            now=NOW,
            rng=random.Random(seed),
        )
        assert verdict.status == "retry"
        assert verdict.delay is not None
        assert 240 <= verdict.delay <= 360


def test_last_attempt_makes_it_dead() -> None:
    """When the schedule is spent the delivery is dead."""
    verdict = decide(
        attempts=8, schedule=DEFAULT_SCHEDULE, status_code=503, retry_after_header=None, now=NOW
    )
    assert verdict.status == "dead"
    assert "8 attempts" in (verdict.reason or "")


@pytest.mark.parametrize("code", [429, 503])
def test_retry_after_replaces_the_schedule(code: int) -> None:
    """On 429 and 503 a Retry-After in seconds sets the wait."""
    verdict = decide(
        attempts=1, schedule=DEFAULT_SCHEDULE, status_code=code, retry_after_header="42", now=NOW
    )
    assert verdict.delay == 42


def test_retry_after_is_ignored_on_other_statuses() -> None:
    """A 500's Retry-After does not change the schedule."""
    verdict = decide(
        attempts=1,
        schedule=(0, 7),
        status_code=500,
        retry_after_header="999",
        now=NOW,
        rng=random.Random(1),
    )
    assert verdict.delay is not None
    assert verdict.delay < 10


def test_retry_after_http_date_and_garbage() -> None:
    """HTTP dates count from now; unparseable values are ignored; huge ones are capped."""
    assert retry_after(format_datetime(NOW + timedelta(seconds=90), usegmt=True), NOW) == 90
    assert retry_after("soon", NOW) is None
    assert retry_after(None, NOW) is None
    assert retry_after("99999999", NOW) == 86400
    assert retry_after("-5", NOW) == 0


def test_jitter_keeps_zero_at_zero() -> None:
    """An immediate attempt stays immediate."""
    assert jittered(0) == 0


def test_parse_schedule_and_durations() -> None:
    """Schedules read from strings or lists of durations; bad ones say why."""
    assert parse_schedule("0, 5s, 5m, 2h, 1d") == (0, 5, 300, 7200, 86400)
    assert parse_schedule([0, "30s", 1.5]) == (0, 30, 1.5)
    assert parse_duration("250") == 250
    with pytest.raises(ValueError, match="duration"):
        parse_duration("5 minutes")
    with pytest.raises(ValueError, match="at least one"):
        parse_schedule([])
