"""The worker's supervisor: a worker that crashes on a bug is logged, counted and replaced."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.fernet import Fernet

from claybridge.config import Settings
from claybridge.delivery.service import Supervision, supervise
from claybridge.delivery.worker import Worker
from claybridge.secretbox import SecretBox
from claybridge.storage.database import Database
from tests.conftest import LiveServer, SourceInfo
from tests.integration.conftest import admin_client, make_destination
from tests.integration.test_deliveries import ROW, post_row, settled, setup_forward
from tests.receiver import Receiver


class CrashingWorker(Worker):
    """A worker whose polls raise a bug (not a storage error) while ``crashing`` is set,
    or once it has polled ``crash_after`` times."""

    crashing = True
    crash_after: int | None = None
    polls = 0

    async def _anything_due(self, now: Any) -> bool:
        if self.crashing or self.polls == self.crash_after:
            raise RuntimeError("a bug in the worker")
        self.polls += 1
        return await super()._anything_due(now)


def _run(
    make: Any,
    seconds: float,
    report: Supervision,
    until: Callable[[], bool] = lambda: False,
    **pauses: float,
) -> list[Worker]:
    """Supervise ``make()`` for ``seconds`` (or less, once ``until()`` holds), then stop;
    the workers started, in order."""
    started: list[Worker] = []

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(
            supervise(make, stop, on_start=started.append, report=report, **pauses)
        )
        deadline = time.monotonic() + seconds
        # Polled: the condition is any predicate over the test's own state.
        while time.monotonic() < deadline and not until():  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        assert not task.done(), "the supervisor ended while not stopped"
        stop.set()
        await asyncio.wait_for(task, 5)  # a clean stop, no exception

    asyncio.run(scenario())
    return started


def test_a_crashed_worker_is_counted_and_replaced(db: Database) -> None:
    """A bug ends the first worker; the crash is counted and a new worker keeps polling."""
    box = SecretBox(Fernet.generate_key())
    made: list[CrashingWorker] = []

    def make() -> Worker:
        worker = CrashingWorker(db, box, poll_interval=0.02)
        worker.crashing = not made  # only the first one has the bug
        made.append(worker)
        return worker

    report = Supervision()
    started = _run(
        make, 10.0, report, until=lambda: len(made) == 2 and made[1].polls >= 3, first_pause=0.05
    )
    assert started == made
    assert len(made) == 2
    assert report.crashes == 1
    assert report.last_error is not None
    assert "a bug in the worker" in report.last_error
    assert made[1].polls >= 3, "the new worker did not go on polling"


def test_a_worker_that_keeps_crashing_is_restarted_ever_more_slowly(db: Database) -> None:
    """Pauses double from first_pause up to max_pause: a bug that strikes at once does
    not spin."""
    box = SecretBox(Fernet.generate_key())
    report = Supervision()
    _run(
        lambda: CrashingWorker(db, box, poll_interval=0.02),
        10.0,
        report,
        until=lambda: report.crashes >= 5,
        first_pause=0.02,
        max_pause=0.08,
    )
    assert list(report.pauses)[:5] == [0.02, 0.04, 0.08, 0.08, 0.08]


def test_a_worker_that_ran_a_while_before_crashing_restarts_after_the_first_pause(
    db: Database,
) -> None:
    """The pause starts again from first_pause after a worker that ran ``settle`` seconds:
    an occasional crash is not punished by the backoff of an earlier crash loop."""
    box = SecretBox(Fernet.generate_key())
    # The third worker runs ~0.5 s (25 polls), well past settle; the others crash on
    # their first poll, well within it even on a loaded machine.
    polls_before_crash = iter([0, 0, 25, 0])

    def make() -> Worker:
        worker = CrashingWorker(db, box, poll_interval=0.02)
        worker.crashing = False
        worker.crash_after = next(polls_before_crash, 0)
        return worker

    report = Supervision()
    _run(
        make,
        10.0,
        report,
        until=lambda: report.crashes >= 4,
        first_pause=0.02,
        max_pause=1.0,
        settle=0.25,
    )
    assert list(report.pauses)[:4] == [0.02, 0.04, 0.02, 0.04]


def test_a_worker_that_cannot_be_built_is_retried(db: Database) -> None:
    """An error while building the worker is a crash too: logged, counted, tried again."""
    box = SecretBox(Fernet.generate_key())
    attempts: list[CrashingWorker | None] = []

    def make() -> Worker:
        if not attempts:
            attempts.append(None)
            raise ValueError("bad worker settings")
        worker = CrashingWorker(db, box, poll_interval=0.02)
        worker.crashing = False
        attempts.append(worker)
        return worker

    report = Supervision()

    def polled() -> bool:
        worker = attempts[-1] if len(attempts) == 2 else None
        return worker is not None and worker.polls >= 3

    started = _run(make, 10.0, report, until=polled, first_pause=0.05)
    assert report.crashes == 1
    assert report.last_error is not None
    assert "bad worker settings" in report.last_error
    assert started == attempts[1:]
    assert attempts[1] is not None
    assert attempts[1].polls >= 3, "the worker built on the second try did not poll"


def test_stop_during_the_pause_ends_the_supervisor_at_once(db: Database) -> None:
    """A stop that arrives while waiting to restart is not held up by the pause."""
    box = SecretBox(Fernet.generate_key())
    report = Supervision()
    began = time.monotonic()
    _run(
        lambda: CrashingWorker(db, box),
        10.0,
        report,
        until=lambda: report.crashes == 1,
        first_pause=30.0,
    )
    assert report.crashes == 1
    assert time.monotonic() - began < 5


def test_serve_delivers_after_its_worker_crashed(
    outbound_settings: Settings,
    db: Database,
    receiver: Receiver,
    source: SourceInfo,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """In a real server, a worker bug is survived: /metrics counts the crash and a row
    accepted afterwards is still delivered by the replacement worker."""
    rounds: list[int] = []
    original = Worker._round

    async def first_round_crashes(self: Worker, client: Any) -> bool:
        rounds.append(1)
        if len(rounds) == 1:
            raise RuntimeError("a bug in the worker")
        return await original(self, client)

    monkeypatch.setattr(Worker, "_round", first_round_crashes)
    live = LiveServer(outbound_settings, worker=True)
    live.start()
    try:
        with admin_client(live.url, db) as client:
            make_destination(client, f"{receiver.url}/crm")
            setup_forward(client, source)
            action = post_row(client, source, ROW)["actions"][0]
            settled(client, action["delivery_id"])
            assert receiver.seen[0].json() == ROW
            metrics = client.get("/metrics").text
            assert "claybridge_worker_crashes_total 1.0" in metrics
    finally:
        live.stop()
