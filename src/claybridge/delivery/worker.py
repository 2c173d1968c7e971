"""The worker: claims due deliveries, sends them, records every attempt.

One asyncio loop per worker process. Database work (claiming, settling, running
workflow steps) runs in threads so the loop keeps sending while SQLite or PostgreSQL
works; HTTP runs on the loop through one shared aiohttp session whose resolver is the
SSRF guard (see ``delivery.sender`` for why aiohttp).

Flow: claim a batch whenever there is room (``concurrency`` requests in flight at most,
and each destination's own ``concurrency`` cap, per worker); send each as a task;
results go to a buffer that one flusher writes in batches (attempt rows, the deliveries'
new state, the circuit breaker's counters) in one transaction. Idle, the worker polls
every ``poll_interval`` seconds; :meth:`Worker.wake` (called in-process after ingest
enqueues work) cuts that wait short. The idle poll is one read
(:mod:`claybridge.records.due`); a worker claims only when it finds something due.

Shutdown (:meth:`Worker.run` returns when ``stop`` is set): no new claims; deliveries in
flight get ``grace`` seconds to finish and be recorded; whatever is still unfinished is
released (due again at once) for another worker. A worker killed outright leaves leases
that expire after ``lease_seconds`` plus the destination's timeout.

Storage errors: a round that fails on the database (locked past its busy timeout,
PostgreSQL restarting, a dropped connection) is logged and tried again after
``error_pause`` seconds. The work is still queued in the database; before, the error
ended :meth:`Worker.run`, which in ``claybridge serve`` left the API taking events
while nothing delivered them until a restart. Any other error is a bug: the worker shuts
down as on a stop (in-flight work finished or released) and the error propagates to the
supervisor, which logs it and starts a new worker (``delivery.service.supervise``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import aiohttp
import sqlalchemy as sa
import structlog

from claybridge.clock import Clock, SystemClock
from claybridge.config import Settings
from claybridge.core.ssrf import Network, guarded_session
from claybridge.delivery.clay_router import ClayRouter, Result
from claybridge.delivery.due_poll import DuePoll
from claybridge.delivery.sender import Attempt, send
from claybridge.delivery.verdicts import counts_for_circuit, log_circuit_change, verdict
from claybridge.records import circuits, claims, deliveries, destinations, targets
from claybridge.records.claims import Claimed
from claybridge.records.deliveries import Settled
from claybridge.records.targets import Target
from claybridge.secretbox import SecretBox
from claybridge.storage.database import Database
from claybridge.storage.tables import destinations as destinations_table

log = structlog.get_logger(__name__)

# Extra work the worker does each round (workflow runs, pruning); a job opens its own
# transactions: ``job(db, now, worker_name) -> number of items handled``.
Job = Callable[[Database, datetime, str], int]
# The settings' defaults (config.py is the one place they are stated).
DEFAULTS = {name: info.default for name, info in Settings.model_fields.items()}

# How often an idle worker (nothing due) still runs its jobs, for their own clocks
# (``claybridge serve`` passes the alert interval).
IDLE_JOBS_EVERY = 30.0


def worker_name() -> str:
    """``host:pid:random``: unique per process, readable in attempt logs."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(2)}"


class Worker:
    """Sends queued deliveries (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        box: SecretBox,
        *,
        clock: Clock | None = None,
        name: str | None = None,
        concurrency: int = DEFAULTS["worker_concurrency"],
        batch: int = DEFAULTS["worker_batch"],
        lease_seconds: float = DEFAULTS["lease_seconds"],
        poll_interval: float = DEFAULTS["poll_interval"],
        grace: float = 10.0,
        allow: Sequence[Network] = (),
        jobs: Sequence[Job] = (),
        idle_jobs_every: float = IDLE_JOBS_EVERY,
        error_pause: float = 1.0,
    ) -> None:
        self.db = db
        self.box = box
        self.clock = clock or SystemClock()
        self.name = name or worker_name()
        self.concurrency = concurrency
        self.batch = batch
        self.lease_seconds = lease_seconds
        self.poll_interval = poll_interval
        self.grace = grace
        self.error_pause = error_pause
        self.allow = tuple(allow)
        self.jobs = tuple(jobs)
        self.idle_jobs_every = idle_jobs_every
        self._targets: dict[str, tuple[Any, Target]] = {}
        self._in_flight: dict[str, asyncio.Task[None]] = {}
        self._per_destination: dict[str, int] = {}  # held (claimed, unsettled) per destination
        self._gates: dict[str, tuple[int, asyncio.Semaphore]] = {}
        self.clay = ClayRouter(box)  # Clay submissions: webhook pools and their counts
        self._results: list[Result] = []
        self._wake = asyncio.Event()
        self._jobs_at = 0.0
        self._busy = False
        self._have_results = asyncio.Event()
        self._poll = DuePoll(db)
        self.sent = 0

    def wake(self) -> None:
        """New work may be due: stop waiting for the next poll."""
        self._wake.set()

    # -- the loop ----------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Work until ``stop`` is set, then shut down gracefully."""
        # Set on the way out, whether stopped or crashed: the flusher writes what is left
        # and ends (watching ``stop`` alone, it never ended after a crash, and the
        # shutdown waited for it forever).
        ending = asyncio.Event()
        async with guarded_session(self.allow, limit=self.concurrency) as client:
            flusher = asyncio.create_task(self._flush_loop(ending))
            log.info("worker started", worker=self.name, concurrency=self.concurrency)
            try:
                while not stop.is_set():
                    try:
                        busy = await self._round(client)
                    except sa.exc.DBAPIError as exc:
                        log.warning(
                            "worker round failed; retrying", worker=self.name, error=repr(exc)
                        )
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(stop.wait(), self.error_pause)
                        continue
                    if not busy:
                        await self._idle(stop)
            finally:
                ending.set()
                await self._shutdown(flusher)
            log.info("worker stopped", worker=self.name, sent=self.sent)

    async def _idle(self, stop: asyncio.Event) -> None:
        self._wake.clear()
        waits = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
        try:
            await asyncio.wait(waits, timeout=self.poll_interval, return_when="FIRST_COMPLETED")
        finally:
            for w in waits:
                w.cancel()

    async def _round(self, client: aiohttp.ClientSession) -> bool:
        """One claim; True when the worker should go again at once rather than wait."""
        free = self.concurrency - len(self._in_flight)
        if free < max(1, min(self.batch, self.concurrency) // 4) and self._in_flight:
            await self._wait_for_room()
            return True
        now = self.clock.now()
        if not self._busy and not await self._anything_due(now):
            # Nothing due: the jobs have nothing to act on either, apart from their own
            # clocks (pruning is hourly), so an idle worker runs them only now and then.
            if self.jobs and time.monotonic() - self._jobs_at >= self.idle_jobs_every:
                self._jobs_at = time.monotonic()
                await asyncio.to_thread(self._run_jobs, now)
            if self._in_flight:
                await self._wait_for_room()
                return True
            return False
        if self.jobs and time.monotonic() - self._jobs_at >= self.poll_interval:
            # Runs and expiries are checked once per poll interval, not on every claim.
            self._jobs_at = time.monotonic()
            await asyncio.to_thread(self._run_jobs, now)
        held = dict(self._per_destination)
        claimed = await asyncio.to_thread(self._claim, now, min(free, self.batch), held)
        for item in claimed:
            target = self._targets[item.destination_id][1]
            self._per_destination[target.id] = self._per_destination.get(target.id, 0) + 1
            task = asyncio.create_task(self._deliver(client, item, target))
            self._in_flight[item.id] = task
        if claimed:
            return True
        if self._in_flight:
            await self._wait_for_room()
            return True
        return False

    async def _wait_for_room(self) -> None:
        tasks = list(self._in_flight.values())
        if tasks:
            await asyncio.wait(tasks, timeout=self.poll_interval, return_when="FIRST_COMPLETED")

    def _run_jobs(self, now: datetime) -> None:
        for job in self.jobs:
            try:
                job(self.db, now, self.name)
            except Exception:  # a job's bug must not stop deliveries
                log.exception("worker job failed", job=getattr(job, "__name__", repr(job)))

    async def _anything_due(self, now: datetime) -> bool:
        return await self._poll.anything_due(now)

    def _claim(self, now: datetime, limit: int, held: dict[str, int]) -> list[Claimed]:
        if limit <= 0:
            return []
        with self.db.write() as conn:
            claimed = claims.claim(
                conn,
                worker=self.name,
                now=now,
                limit=limit,
                lease_seconds=self.lease_seconds,
                held=held,
            )
            if claimed:
                broken = self._refresh_targets(conn, {c.destination_id for c in claimed})
                routable = [c for c in claimed if c.destination_id not in broken]
                broken |= self.clay.route(conn, routable, lambda d: self._targets[d][1].kind)
                if broken:
                    claimed = self._set_aside(conn, claimed, broken, now)
        self._busy = bool(claimed)  # work found: skip the idle check next time
        return claimed

    def _refresh_targets(self, conn: sa.Connection, ids: set[str]) -> dict[str, str]:
        """Decrypt the destinations ``ids`` that changed; returns those that cannot be
        (their secrets do not decrypt with this key), with the reason."""
        rows = conn.execute(
            sa.select(destinations_table).where(destinations_table.c.id.in_(list(ids)))
        ).all()
        broken: dict[str, str] = {}
        for row in rows:
            cached = self._targets.get(row.id)
            if cached is None or cached[0] != row.updated_at:
                try:
                    target = targets.target(destinations.Destination.of(row._mapping), self.box)
                except Exception as exc:  # one destination's fault is not the worker's
                    self._targets.pop(row.id, None)
                    broken[row.id] = str(exc)
                    continue
                self._targets[row.id] = (row.updated_at, target)
        return broken

    def _set_aside(
        self, conn: sa.Connection, claimed: list[Claimed], broken: dict[str, str], now: datetime
    ) -> list[Claimed]:
        """Pause each destination in ``broken`` with its reason and hand its claimed
        deliveries back untried (they wait for a person to fix and resume it); returns
        the rest, which are sent as usual."""
        for dest_id, reason in broken.items():
            destinations.pause_broken(conn, dest_id, f"the worker cannot send: {reason}", now)
            held = [c.id for c in claimed if c.destination_id == dest_id]
            deliveries.release(conn, self.name, held, now)
            log.error(
                "destination paused: the worker cannot send to it",
                destination=dest_id,
                reason=reason,
                deliveries_waiting=len(held),
            )
        return [c for c in claimed if c.destination_id not in broken]

    def _gate(self, target: Target) -> asyncio.Semaphore:
        """The destination's concurrency cap in this worker (rebuilt when it changes)."""
        found = self._gates.get(target.id)
        if found is None or found[0] != target.concurrency:
            found = (target.concurrency, asyncio.Semaphore(target.concurrency))
            self._gates[target.id] = found
        return found[1]

    async def _deliver(self, client: aiohttp.ClientSession, item: Claimed, target: Target) -> None:
        try:
            wait = item.send_at - self.clock.now().timestamp()
            if wait > 0:  # the shared rate limit gave this delivery a slot a little later
                await asyncio.sleep(wait)
            async with self._gate(target):
                started = self.clock.now()
                attempt = await self._attempt(client, item, target, started)
            self._results.append((item, target, attempt, started, self.clock.now()))
            self._have_results.set()
            self.sent += 1
            if attempt.succeeded:
                self._release_slot(target.id)  # nothing for the circuit breaker to learn
        except BaseException:
            self._release_slot(target.id)  # cancelled at shutdown: nothing to record
            raise
        finally:
            self._in_flight.pop(item.id, None)

    async def _attempt(
        self, client: aiohttp.ClientSession, item: Claimed, target: Target, started: datetime
    ) -> Attempt:
        """Send ``item`` once. Anything wrong with this one delivery (a payload that
        cannot be encoded, a bug on one path) is its permanent failure, with the error
        recorded, never the worker's crash."""
        try:
            if target.kind == "clay":
                return await self.clay.submit(client, item, target, self.allow)
            return await send(
                client, target, item.payload, item.id, int(started.timestamp()), self.allow
            )
        except Exception as exc:
            log.exception("delivery could not be sent", delivery=item.id)
            return Attempt(
                None, 0.0, f"could not be sent: {type(exc).__name__}: {exc}", None, permanent=True
            )

    def _release_slot(self, destination_id: str) -> None:
        """A held delivery is done: its destination has room for one more. A failed
        attempt keeps its slot until its result is written, so the next claim sees the
        circuit breaker's verdict on it (a failing receiver is not sent a burst)."""
        n = self._per_destination.get(destination_id, 1) - 1
        if n <= 0:
            self._per_destination.pop(destination_id, None)
        else:
            self._per_destination[destination_id] = n

    # -- recording ---------------------------------------------------------------------

    async def _flush_loop(self, ending: asyncio.Event) -> None:
        """Write results as they come: while one batch is written, the next gathers;
        once ``ending`` is set, until nothing is in flight."""
        while not ending.is_set() or self._in_flight:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._have_results.wait(), timeout=0.1)
            self._have_results.clear()
            await self.flush()

    async def flush(self) -> None:
        """Write the buffered attempt results (one transaction)."""
        if not self._results:
            return
        batch, self._results = self._results, []
        try:
            await asyncio.to_thread(self._settle, batch)
        except Exception:
            # Keep the results and try again next time (the database may be briefly
            # unavailable); the leases still protect the deliveries meanwhile.
            log.exception("writing delivery results failed; will retry", count=len(batch))
            self._results = batch + self._results
            await asyncio.sleep(0.5)
            return
        for _item, target, attempt, _started, _ended in batch:
            if not attempt.succeeded:
                self._release_slot(target.id)

    def _settle(self, batch: list[Result]) -> None:
        now = self.clock.now()
        settled: list[Settled] = []
        outcomes: dict[str, tuple[Target, list[bool]]] = {}
        for item, target, attempt, started, ended in batch:
            settled.append(verdict(item, target, attempt, started, ended, worker=self.name))
            if counts_for_circuit(attempt):
                outcomes.setdefault(target.id, (target, []))[1].append(attempt.succeeded)
        pools = self.clay.outcomes(batch, settled)
        with self.db.write() as conn:
            deliveries.settle(conn, settled, now)
            self.clay.write(conn, pools, now)
            for target, results in outcomes.values():
                change = circuits.record_outcomes(conn, target, results, now)
                log_circuit_change(change, target)
        self.clay.release(pools)  # only now, with the new counts committed
        for s in settled:
            if s.status == deliveries.DEAD:
                log.warning("delivery dead", delivery=s.delivery_id, error=s.error)

    async def _shutdown(self, flusher: asyncio.Task[None]) -> None:
        self._poll.close()
        pending = list(self._in_flight.values())
        if pending:
            await asyncio.wait(pending, timeout=self.grace)
        left = [i for i, t in self._in_flight.items() if not t.done()]
        for task in self._in_flight.values():
            task.cancel()
        await asyncio.gather(*self._in_flight.values(), return_exceptions=True)
        # Not cancelled: a write in progress must finish (cancelling the await would leave
        # its outcome unseen). The flusher ends by itself once nothing is in flight.
        await asyncio.gather(flusher, return_exceptions=True)
        for _ in range(3):  # what is still buffered, retried if the database hiccups
            await self.flush()
            if not self._results:
                break
        if left:
            now = self.clock.now()
            with self.db.write() as conn:
                released = deliveries.release(conn, self.name, left, now)
            log.info("released unfinished deliveries", worker=self.name, count=released)
