"""``claybridge push`` and the Clay CLI commands against the Clay imitation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from claybridge.clay.imitation import ImitationConfig, serve_in_thread
from claybridge.cli import app
from claybridge.config import Settings

runner = CliRunner()

CSV = """id,email,company
r1,ada@ae.co,AE
r2,bob@b.co,B
r3,"unterminated,x
"""


def _run(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture
def clay_env(cli_env: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The CLI allowed to reach 127.0.0.1, with fast worker polling."""
    monkeypatch.setenv("CLAYBRIDGE_ALLOW_NETWORKS", "127.0.0.1/32")
    monkeypatch.setenv("CLAYBRIDGE_POLL_INTERVAL", "0.05")
    return cli_env


@pytest.mark.usefixtures("clay_env")
def test_push_reports_bad_rows_and_resumes(tmp_path: Path) -> None:
    """Good rows are sent, bad ones reported by line; a re-run sends nothing again."""
    rows = tmp_path / "rows.csv"
    big = "x" * 120_000
    rows.write_text(
        "id,email,company\n"
        "r1,ada@ae.co,AE\n"
        "r2,bob@b.co,B\n"
        "r3,too,many,fields\n"
        f"r4,big@b.co,{big}\n"
        ",noid@b.co,C\n"
        "r6,eve@e.co,E\n"
    )
    with serve_in_thread(ImitationConfig(auth_value="k")) as (imitation, url):
        _run(
            "destinations",
            "create",
            "--name",
            "leads-table",
            "--kind",
            "clay",
            "--url",
            url,
            "--auth-header-name",
            "x-clay-webhook-auth",
            "--auth-header-value",
            "k",
        )
        dry = _run(
            "push", str(rows), "--to", "leads-table", "--request-id-column", "id", "--dry-run"
        )
        assert "Dry run: 3 to send" in dry
        assert imitation.state.submissions == 0
        out = _run("push", str(rows), "--to", "leads-table", "--request-id-column", "id", code=1)
        assert "Sent 3, skipped 0" in out
        assert "line 4: expected 3 fields, found 4" in out
        assert "line 5: the row is" in out
        assert "line 6: no value in the request id column 'id'" in out
        assert sorted(r["request_id"] for r in imitation.state.rows) == ["r1", "r2", "r6"]
        again = _run("push", str(rows), "--to", "leads-table", "--request-id-column", "id", code=1)
        assert "Sent 0, skipped 3" in again
        assert imitation.state.submissions == 3
        shown = json.loads(_run("destinations", "show", "leads-table", "--json"))["destination"]
        assert shown["config"]["webhooks"][0]["submissions"] == 3


@pytest.mark.usefixtures("clay_env")
def test_push_jsonl_with_content_hash_ids(tmp_path: Path) -> None:
    """Without an id column, a row's content is its id: unchanged rows are not re-sent."""
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"email": "a@a.co"}\n[1, 2]\n{"email": "b@b.co"}\nnot json\n')
    with serve_in_thread(ImitationConfig()) as (imitation, url):
        _run("destinations", "create", "--name", "t", "--kind", "clay", "--url", url)
        out = _run("push", str(rows), "--to", "t", code=1)
        assert "line 2: not a JSON object" in out
        assert "line 4: not valid JSON" in out
        assert imitation.state.submissions == 2
        rows.write_text('{"email": "a@a.co"}\n{"email": "c@c.co"}\n')
        assert "Sent 1, skipped 1" in _run("push", str(rows), "--to", "t")
        added = _run("destinations", "add-webhook", "t", "--url", url)
        assert "webhook 2" in added
        _run(
            "destinations",
            "create",
            "--name",
            "small",
            "--kind",
            "clay",
            "--url",
            url,
            "--submission-limit",
            "100",
        )
        shown = json.loads(_run("destinations", "show", "small", "--json"))["destination"]
        assert shown["config"]["webhooks"][0]["submission_limit"] == 100


@pytest.mark.usefixtures("clay_env")
def test_malformed_csv_line_is_reported(tmp_path: Path) -> None:
    """An unterminated quote is reported with its line; the rows before it are sent."""
    rows = tmp_path / "rows.csv"
    rows.write_text(CSV)
    with serve_in_thread(ImitationConfig()) as (imitation, url):
        _run("destinations", "create", "--name", "t", "--kind", "clay", "--url", url)
        out = _run("push", str(rows), "--to", "t", "--request-id-column", "id", code=1)
        assert "line 4: invalid CSV" in out
        assert imitation.state.submissions == 2


@pytest.mark.usefixtures("clay_env")
def test_push_follows_rows_already_queued(tmp_path: Path, settings: Settings) -> None:
    """Rows a cut-short push had queued are followed by the next push, not queued twice."""
    from claybridge.clay import push as pushing
    from claybridge.clay.rows_file import read_rows
    from claybridge.records import destinations
    from claybridge.storage.database import Database
    from tests.conftest import now

    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"id": "a"}\n{"id": "b"}\n')
    with serve_in_thread(ImitationConfig()) as (imitation, url):
        _run("destinations", "create", "--name", "t", "--kind", "clay", "--url", url)
        db = Database(settings.resolved_database_url)
        with db.read() as conn:
            dest = destinations.find(conn, "t")
        first = pushing.plan(db, dest, read_rows(rows, "id"))
        pushing.enqueue(db, dest, first, now())  # queued, then "Ctrl-C" before sending
        second = pushing.plan(db, dest, read_rows(rows, "id"))
        db.dispose()
        assert (len(second.to_queue), len(second.already_queued)) == (0, 2)
        assert "Sent 2, skipped 0" in _run(
            "push", str(rows), "--to", "t", "--request-id-column", "id"
        )
        assert imitation.state.submissions == 2
