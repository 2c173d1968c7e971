"""GCRA scheduling (pure)."""

from __future__ import annotations

from claybridge.records.rate_limits import Limit, next_free, schedule


def test_burst_then_steady_rate() -> None:
    """10/s with bursts of 5: five go at once, then one every 0.1 s."""
    times, tat = schedule(0.0, 100.0, Limit(10, burst=5), 8)
    assert times[:5] == [100.0] * 5
    assert [round(t - 100, 3) for t in times[5:]] == [0.1, 0.2, 0.3]
    assert round(tat - 100, 3) == 0.8


def test_state_carries_over_between_calls() -> None:
    """A second batch continues where the first left off."""
    limit = Limit(2, burst=1)
    first, tat = schedule(0.0, 10.0, limit, 2)
    second, _ = schedule(tat, 10.0, limit, 1)
    assert first == [10.0, 10.5]
    assert second == [11.0]


def test_idle_time_refills_the_burst() -> None:
    """After a quiet period a full burst is available again, and no more."""
    limit = Limit(1, burst=3)
    _, tat = schedule(0.0, 0.0, limit, 3)
    times, _ = schedule(tat, 100.0, limit, 4)
    assert times == [100.0, 100.0, 100.0, 101.0]


def test_next_free_does_not_take_a_slot() -> None:
    """next_free reports the next slot time without consuming it."""
    limit = Limit(4, burst=1)
    _, tat = schedule(0.0, 50.0, limit, 1)
    assert next_free(tat, 50.0, limit) == 50.25
    assert next_free(tat, 60.0, limit) == 60.0
