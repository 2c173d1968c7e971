"""Requests planned before their batch (IngestJob.plan_ahead), on a real database."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
import pytest

from claybridge.ingest import pipeline
from claybridge.ingest.caches import IngestCaches
from claybridge.ingest.job import IngestJob
from claybridge.ingest.pipeline import IngestRequest, IngestResponse
from claybridge.records import owners, sources
from claybridge.storage.batch import run_jobs
from claybridge.storage.database import Database
from tests.conftest import now

ROW = {"name": "Acme", "websiteUrl": "https://acme.com", "owner": "Ada Lovelace", "arr": "$1,200"}


# What one app remembers across requests: these tests' requests share it, as a
# server's do.
CACHES = IngestCaches()


@pytest.fixture(autouse=True)
def _fresh_caches() -> None:
    """Each test starts as an app that has seen nothing."""
    CACHES.compiled.clear()
    CACHES.seen.clear()
    CACHES.verified_ahead.clear()


def _request(key: str, token: str, body: dict[str, Any] = ROW) -> IngestRequest:
    return IngestRequest(
        source_key=key,
        headers=[("authorization", f"Bearer {token}"), ("content-type", "application/json")],
        body=orjson.dumps(body),
        received_at=now(),
        max_body_bytes=1_000_000,
        authorization=f"Bearer {token}",
        caches=CACHES,
    )


def _run(db: Database, request: IngestRequest) -> IngestResponse:
    with db.write() as conn:
        [response] = run_jobs(conn, [IngestJob(request)])
    return response  # type: ignore[no-any-return]


@pytest.fixture
def source(db: Database) -> tuple[dict[str, Any], str]:
    """A clay-customers source that one request has already reached (so it was seen)."""
    with db.write() as conn:
        owners.add(conn, "Ada Lovelace", "ada@example.com", now())
        row, token = sources.create(conn, "Clay accounts", "clay-customers", now())
    assert _run(db, _request(row["key"], token)).status_code == 200
    return row, token


def test_a_plan_made_ahead_is_used_while_the_source_is_unchanged(
    db: Database, source: tuple[dict[str, Any], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch answers from the plan made ahead and does not plan again."""
    row, token = source
    request = _request(row["key"], token, {**ROW, "stage": "Won"})
    IngestJob(request).plan_ahead()
    assert request.preplan is not None

    def no_planning(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("planned again")

    monkeypatch.setattr(pipeline, "plan_event", no_planning)
    response = _run(db, request)
    assert response.status_code == 200, response.body
    assert response.body["customer"]["stage"] == "Won"
    assert response.body["customer"]["arr"] == 1200.0


def test_a_plan_made_ahead_is_dropped_when_the_source_was_saved_since(
    db: Database, source: tuple[dict[str, Any], str]
) -> None:
    """A source saved between the plan and the batch (made strict, with no mapping for
    its default event) is planned again: the answer follows the new configuration."""
    row, token = source
    request = _request(row["key"], token)
    IngestJob(request).plan_ahead()
    assert request.preplan is not None
    with db.write() as conn:
        sources.update(
            conn,
            row["id"],
            {"default_event": "nothing.mapped", "strict": True},
            now() + timedelta(seconds=1),
        )
    response = _run(db, request)
    assert response.status_code == 422
    assert response.body["error"]["code"] == "unmapped_event"


def test_no_plan_ahead_without_the_right_token(
    db: Database, source: tuple[dict[str, Any], str]
) -> None:
    """A wrong token gets no plan ahead, and its batch still answers 401."""
    row, _token = source
    request = _request(row["key"], "not-the-token")
    IngestJob(request).plan_ahead()
    assert request.preplan is None
    assert _run(db, request).status_code == 401


def test_a_token_verified_ahead_stops_counting_once_rotated(
    db: Database, source: tuple[dict[str, Any], str]
) -> None:
    """plan_ahead remembers a verified token by the hash it matched: after a rotation
    the old token gets no plan ahead, and its batch answers 401 while the new one works."""
    row, token = source
    first = _request(row["key"], token)
    IngestJob(first).plan_ahead()
    assert first.preplan is not None
    with db.write() as conn:
        _rotated, new_token = sources.rotate_token(conn, row["id"], now())
    assert _run(db, _request(row["key"], new_token)).status_code == 200  # seen: new hash
    stale = _request(row["key"], token)
    IngestJob(stale).plan_ahead()
    assert stale.preplan is None
    assert _run(db, stale).status_code == 401
