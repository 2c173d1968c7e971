"""A bounded schemathesis pass over the app's own OpenAPI document, on a real server
(SQLite): a fixed seed and example count, no 5xx, and every error body in the
documented shape."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from claybridge.config import Settings
from claybridge.records import api_keys, sources
from claybridge.storage.database import Database
from tests.conftest import LiveServer, now


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[Any]:
    """One server for the whole pass, with an admin key and a source to find."""
    data = tmp_path_factory.mktemp("openapi") / "data"
    data.mkdir()
    shutil.copy(sqlite_template, data / "claybridge.db")
    url = f"sqlite:///{data / 'claybridge.db'}"
    db = Database(url)
    with db.write() as conn:
        _row, key = api_keys.create(conn, "fuzz", now())
        sources.create(conn, "Clay accounts", "clay-customers", now())
    db.dispose()
    server = LiveServer(
        Settings(data_dir=data, database_url=url, port=0, log_format="console", log_level="ERROR")
    )
    server.start()
    yield server, key
    server.stop()


def _documented_error_shape(response: Any) -> None:
    if response.status_code < 400 or response.status_code == 405:
        return
    body = response.json()
    assert body["ok"] is False, body
    assert isinstance(body["error"]["code"], str), body
    assert isinstance(body["error"]["message"], str), body
    assert set(body["error"]) <= {"code", "message", "field"}, body


EXAMPLES = settings(
    max_examples=int(os.environ.get("CLAYBRIDGE_FUZZ_EXAMPLES", "25")),
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def test_no_operation_answers_5xx(live: Any) -> None:
    """Every operation of the API, fed schemathesis's cases, answers below 500 with
    errors in the documented body."""
    server, key = live
    api = schemathesis.openapi.from_dict(server.app.admin.openapi())
    calls = 0

    def call(case: Any) -> None:
        nonlocal calls
        if case.query and "wait" in case.query:
            case.query["wait"] = 0  # the rows and bridge routes may hold a call for 90 s
        response = case.call(
            base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=20
        )
        calls += 1
        case.validate_response(response, checks=[not_a_server_error])
        _documented_error_shape(response)

    operations = [result.ok() for result in api.get_all_operations()]
    for operation in operations:
        EXAMPLES(given(case=operation.as_strategy())(call))()
    assert len(operations) > 40
    print(f"schemathesis: {len(operations)} operations, {calls} requests, no 5xx")
