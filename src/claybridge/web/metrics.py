"""``/metrics``: Prometheus text format.

Why the figures come from the database at scrape time: API and worker processes may be
many, on many machines, and the database is the one place that sees all of them. So
every process answers the same totals, nothing is lost when a process restarts, and no
multiprocess registry is needed. The cost is a few aggregate queries per scrape
(indexed; the attempt-latency histogram reads the attempts of the last hour).

Exposed: ``claybridge_events{source,outcome}`` (events in the log), ``claybridge_deliveries
{status}``, ``claybridge_queue_depth`` (deliveries still to send), ``claybridge_oldest_due_
delivery_age_seconds``, ``claybridge_delivery_attempt_latency_seconds`` (histogram, last
hour), ``claybridge_runs{status}``, ``claybridge_destination_circuit_open{destination}``,
and per Clay webhook ``claybridge_clay_webhook_submissions``, ``…_limit`` and ``…_state``.

Three figures are this process's own, since it started (labelled ``process`` in HELP):
``claybridge_ingest_commit_batches_total`` and ``claybridge_ingest_commit_jobs_total``,
the group commits and the requests they carried (jobs / batches is the mean batch size,
the first thing to look at when ingest throughput or latency changes), and
``claybridge_worker_crashes_total``, the in-process worker's crashes (alert on any).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from claybridge.operations.alerts import KINDS
from claybridge.records import alerts, deliveries, delivery_log, runs
from claybridge.state import AppState
from claybridge.storage.tables import (
    clay_webhooks,
    delivery_attempts,
    destinations,
    events,
    sources,
)

router = APIRouter(tags=["health"])
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
WINDOW = timedelta(hours=1)


class DatabaseCollector(Collector):
    """Collects the metrics above from one database."""

    def __init__(self, state: AppState) -> None:
        self.state = state

    @staticmethod
    def _events(conn: sa.Connection) -> GaugeMetricFamily:
        family = GaugeMetricFamily(
            "claybridge_events", "Events in the event log", labels=["source", "outcome"]
        )
        rows = conn.execute(
            sa.select(sources.c.name, events.c.status, sa.func.count())
            .join(sources, sources.c.id == events.c.source_id)
            .group_by(sources.c.name, events.c.status)
        )
        for name, status, n in rows:
            family.add_metric([name, status], n)
        return family

    @staticmethod
    def _queue(conn: sa.Connection, now: datetime) -> Iterator[GaugeMetricFamily]:
        by_status = delivery_log.counts(conn)
        family = GaugeMetricFamily(
            "claybridge_deliveries", "Deliveries by status", labels=["status"]
        )
        for status in deliveries.STATUSES:
            family.add_metric([status], by_status.get(status, 0))
        yield family
        depth = sum(by_status.get(s, 0) for s in deliveries.UNFINISHED)
        yield GaugeMetricFamily("claybridge_queue_depth", "Deliveries still to send", value=depth)
        oldest = delivery_log.oldest_due(conn, now)
        age = (now - oldest).total_seconds() if oldest else 0.0
        yield GaugeMetricFamily(
            "claybridge_oldest_due_delivery_age_seconds",
            "How long the longest-waiting due delivery has waited",
            value=max(age, 0.0),
        )

    @staticmethod
    def _alerts(conn: sa.Connection) -> GaugeMetricFamily:
        family = GaugeMetricFamily(
            "claybridge_alerts", "Unresolved alerts by kind and status", labels=["kind", "status"]
        )
        found = alerts.counts(conn)
        for kind in KINDS:
            for status in alerts.UNRESOLVED:
                family.add_metric([kind, status], found.get((kind, status), 0))
        return family

    def collect(self) -> Iterator[Any]:
        now = self.state.clock.now()
        with self.state.db.read() as conn:
            yield self._events(conn)
            yield from self._queue(conn, now)
            yield self._latency(conn, now)
            run_counts = runs.counts(conn)
            rn = GaugeMetricFamily("claybridge_runs", "Workflow runs by status", labels=["status"])
            for status in runs.STATUSES:
                rn.add_metric([status], run_counts.get(status, 0))
            yield rn
            circuit = GaugeMetricFamily(
                "claybridge_destination_circuit_open",
                "1 when the circuit breaker has paused the destination",
                labels=["destination"],
            )
            for name, state in conn.execute(
                sa.select(destinations.c.name, destinations.c.circuit_state)
            ):
                circuit.add_metric([name], 1.0 if state == "open" else 0.0)
            yield circuit
            yield from self._clay(conn)
            yield self._alerts(conn)
        committer = self.state.committer
        yield CounterMetricFamily(
            "claybridge_ingest_commit_batches",
            "Group commits run by this process since it started",
            value=committer.batches,
        )
        yield CounterMetricFamily(
            "claybridge_ingest_commit_jobs",
            "Ingest requests carried by this process's group commits since it started",
            value=committer.jobs,
        )
        yield CounterMetricFamily(
            "claybridge_worker_crashes",
            "Crashes of this process's in-process worker since it started (each one is "
            "logged with its traceback, and a new worker started)",
            value=self.state.supervision.crashes,
        )

    def _clay(self, conn: sa.Connection) -> Iterator[Any]:
        labels = ["destination", "position"]
        used = GaugeMetricFamily(
            "claybridge_clay_webhook_submissions",
            "Submissions Clay accepted per webhook (Clay allows 50,000 per webhook, ever)",
            labels=labels,
        )
        limit = GaugeMetricFamily(
            "claybridge_clay_webhook_limit", "Submission limit per webhook", labels=labels
        )
        state = GaugeMetricFamily(
            "claybridge_clay_webhook_state",
            "0 active, 1 warned (90% used), 2 exhausted",
            labels=labels,
        )
        rows = conn.execute(
            sa.select(
                destinations.c.name,
                clay_webhooks.c.position,
                clay_webhooks.c.submissions,
                clay_webhooks.c.submission_limit,
                clay_webhooks.c.status,
                clay_webhooks.c.warned_at,
            ).join(destinations, destinations.c.id == clay_webhooks.c.destination_id)
        )
        for name, position, count, cap, status, warned in rows:
            key = [name, str(position)]
            used.add_metric(key, count)
            limit.add_metric(key, cap)
            state.add_metric(key, 2.0 if status == "exhausted" else 1.0 if warned else 0.0)
        yield used
        yield limit
        yield state

    def _latency(self, conn: sa.Connection, now: Any) -> HistogramMetricFamily:
        ms = delivery_attempts.c.latency_ms
        columns = [sa.func.sum(sa.case((ms <= b * 1000, 1), else_=0)) for b in BUCKETS]
        row = conn.execute(
            sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(ms), 0), *columns).where(
                delivery_attempts.c.attempted_at >= now - WINDOW
            )
        ).one()
        total, total_ms, *cumulative = row
        buckets = [(str(b), float(c or 0)) for b, c in zip(BUCKETS, cumulative, strict=True)]
        buckets.append(("+Inf", float(total)))
        hist = HistogramMetricFamily(
            "claybridge_delivery_attempt_latency_seconds",
            "Latency of delivery attempts in the last hour",
        )
        hist.add_metric([], buckets, sum_value=float(total_ms) / 1000.0)
        return hist


@router.get("/metrics")
def metrics(request: Request) -> Response:
    """The metrics in Prometheus text format (no API key: bind it to a private network)."""
    state: AppState = request.app.state.claybridge
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(state))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
