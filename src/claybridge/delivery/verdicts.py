"""What an attempt means: the delivery's next state (delivered, retried when, or dead),
and whether it tells the circuit breaker anything about the receiver's health. Pure."""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog

from claybridge.core.schedule import decide
from claybridge.delivery.sender import Attempt
from claybridge.records import deliveries
from claybridge.records.claims import Claimed
from claybridge.records.deliveries import Settled
from claybridge.records.targets import Target

log = structlog.get_logger("claybridge.delivery.worker")


def verdict(
    item: Claimed,
    target: Target,
    attempt: Attempt,
    started: datetime,
    ended: datetime,
    *,
    worker: str,
) -> Settled:
    """The attempt's record and what comes next.

    The next retry is due ``delay`` after the attempt *ended*, not after it started: a
    receiver that took 20 s to time out must still get the schedule's pause before the
    next try, and a ``Retry-After`` counts from the answer that carried it.
    """
    attempts = item.attempts + 1
    if attempt.skipped:
        status, delay, error = deliveries.DELIVERED, 0.0, attempt.error
    elif attempt.permanent:
        status, delay, error = deliveries.DEAD, 0.0, attempt.error
    else:
        decided = decide(
            attempts=attempts,
            schedule=target.schedule,
            status_code=attempt.status_code,
            retry_after_header=attempt.retry_after,
            now=ended,
        )
        status = {"delivered": deliveries.DELIVERED, "retry": deliveries.FAILED}.get(
            decided.status, deliveries.DEAD
        )
        delay = decided.delay or 0.0
        error = attempt.error
        if decided.reason and status == deliveries.DEAD:
            error = f"{attempt.error}; {decided.reason}" if attempt.error else decided.reason
    return Settled(
        delivery_id=item.id,
        worker=worker,
        attempted_at=started,
        status=status,
        attempts=attempts,
        next_attempt_at=ended + timedelta(seconds=delay),
        status_code=attempt.status_code,
        latency_ms=attempt.latency_ms,
        error=error,
        response_excerpt=attempt.excerpt,
    )


def counts_for_circuit(attempt: Attempt) -> bool:
    """Whether the attempt feeds the circuit breaker: a success, or a failure that says
    the receiver is unwell (a permanent failure, a template say, says nothing)."""
    return not attempt.permanent and (attempt.succeeded or _health_failure(attempt.status_code))


def log_circuit_change(change: str | None, target: Target) -> None:
    """Log a circuit that opened or closed."""
    if change == "opened":
        log.warning(
            "circuit opened: destination paused after failures in a row",
            destination=target.name,
            threshold=target.circuit_threshold,
            probe_in_seconds=target.circuit_cooldown,
        )
    elif change == "closed":
        log.info("circuit closed: probe succeeded", destination=target.name)


def _health_failure(status_code: int | None) -> bool:
    """Whether a failed attempt says the receiver is unwell (network, timeout, 5xx, 429,
    408). A 4xx about the payload says nothing about the endpoint's health."""
    return status_code is None or status_code >= 500 or status_code in (408, 429)
