"""The CLI commands, in process, against SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from claybridge.cli import app
from claybridge.cli.common import database_label
from claybridge.config import Settings
from claybridge.records import console
from claybridge.storage.database import Database

runner = CliRunner()


def _run(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_every_command_has_help() -> None:
    """--help works on every command and group."""
    groups = {
        "sources": [
            "create",
            "list",
            "show",
            "update",
            "delete",
            "rotate-token",
            "disconnect",
            "templates",
            "config",
        ],
        "sources mappings": ["get", "set", "delete"],
        "alerts": ["list", "show", "ack", "resolve"],
        "config": ["show"],
        "owners": ["add", "import", "list", "remove"],
        "events": ["list", "show"],
        "customers": ["list", "show"],
        "api-keys": ["create", "list", "revoke"],
        "destinations": ["create", "update", "list", "show", "pause", "resume", "delete", "test"],
        "deliveries": ["list", "show", "replay"],
        "workflows": ["save", "list", "show", "delete"],
        "runs": ["start", "list", "show", "cancel"],
    }
    assert "serve" in _run("--help")
    for command in ("serve", "api", "worker", "prune", "migrate", "init", "status"):
        assert "Usage" in _run(command, "--help")
    for group, commands in groups.items():
        _run(*group.split(), "--help")
        for command in commands:
            assert "Usage" in _run(*group.split(), command, "--help")
    create_help = _run("destinations", "create", "--help")
    assert "clay" in create_help
    assert "--submission-limit" in create_help


def test_sources_create_prints_setup_and_json(cli_env: Settings) -> None:
    """create prints URL, token once and the Clay column setup; --json gives key, url, token."""
    out = _run("sources", "create", "--name", "Clay accounts", "--template", "clay-customers")
    assert "https://hooks.example.test/hooks/" in out
    assert "Authorization: Bearer cbt_" in out
    assert '"websiteUrl": "{{Domain}}"' in out
    assert "Method:  POST" in out
    data = json.loads(_run("sources", "create", "--name", "Second", "--json"))
    assert {"key", "url", "token"} <= data.keys()
    assert data["url"] == f"https://hooks.example.test/hooks/{data['key']}"
    shown = _run("sources", "show", data["key"])
    assert data["token"] not in shown
    rotated = json.loads(_run("sources", "rotate-token", "Second", "--json"))
    assert rotated["token"] != data["token"]
    assert "Disconnected" in _run("sources", "disconnect", data["key"])
    listing = _run("sources", "list")
    assert "disconnected" in listing
    assert "clay-customers" in _run("sources", "templates")


def test_user_errors_exit_1_with_a_message(cli_env: Settings) -> None:
    """A user error prints its code and message, without a traceback."""
    result = runner.invoke(app, ["sources", "show", "nope"])
    assert result.exit_code == 1
    assert "not_found" in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(app, ["sources", "create", "--name", "X", "--template", "nope"])
    assert result.exit_code == 1
    assert "invalid_field (template)" in result.output


def test_owners_commands(cli_env: Settings, tmp_path: Path) -> None:
    """owners add / import / list / remove."""
    assert "Added owner Ada Lovelace" in _run(
        "owners", "add", "--name", "Ada Lovelace", "--email", "ada@example.com"
    )
    team = tmp_path / "team.csv"
    team.write_text("name,email\nGrace Hopper,grace@example.com\nAda King,ada@example.com\n")
    assert "1 added, 1 renamed, 0 unchanged" in _run("owners", "import", str(team))
    bad = tmp_path / "bad.csv"
    bad.write_text("name,email\nNobody,not-an-email\n")
    result = runner.invoke(app, ["owners", "import", str(bad)])
    assert result.exit_code == 1
    assert "line 2" in result.output
    listed = json.loads(_run("owners", "list", "--json"))
    assert [o["name"] for o in listed] == ["Ada King", "Grace Hopper"]
    _run("owners", "remove", "grace@example.com")
    assert len(json.loads(_run("owners", "list", "--json"))) == 1


def test_api_keys_commands(cli_env: Settings) -> None:
    """api-keys create prints a key once; list hides it; revoke works."""
    data = json.loads(_run("api-keys", "create", "--name", "ops", "--json"))
    assert data["key"].startswith("cbk_")
    listing = _run("api-keys", "list")
    assert data["key"] not in listing
    assert "ops" in listing
    _run("api-keys", "revoke", data["id"])
    assert "20" in _run("api-keys", "list")  # the revoked timestamp (year 20xx) is shown


def test_migrate_command(cli_env: Settings) -> None:
    """migrate says which database it brought to the current schema."""
    assert f"database: {database_label(cli_env)}" in _run("migrate")


def test_outbound_commands(
    cli_env: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Destinations, workflows, runs, deliveries and prune from the CLI, start to finish."""
    monkeypatch.setenv("CLAYBRIDGE_ALLOW_NETWORKS", "127.0.0.1/32")
    from tests.receiver import running_receiver

    with running_receiver() as receiver:
        out = _run(
            "destinations",
            "create",
            "--name",
            "crm",
            "--url",
            f"{receiver.url}/crm?key=abc",
            "-H",
            "Authorization: Bearer secret-token",
            "--sign",
            "--rate-limit",
            "5",
        )
        assert "signing secret (shown once" in out
        assert "secret-token" not in out
        shown = json.loads(_run("destinations", "show", "crm", "--json"))["destination"]
        assert shown["headers"] == {"Authorization": "********"}
        assert "abc" not in shown["url"]
        sent = json.loads(_run("destinations", "test", "crm", "--json"))
        assert sent["status_code"] == 200
        assert receiver.seen[0].headers["authorization"] == "Bearer secret-token"
        _run("destinations", "update", "crm", "--timeout", "3", "-H", "X-Team: ops")
        updated = json.loads(_run("destinations", "show", "crm", "--json"))["destination"]
        assert updated["timeout_seconds"] == 3
        assert updated["headers"] == {"Authorization": "********", "X-Team": "ops"}
        _run("destinations", "pause", "crm")
        assert "paused" in _run("destinations", "list")
        _run("destinations", "resume", "crm")

    flow = tmp_path / "flow.yaml"
    flow.write_text(
        "key: notify\nsteps:\n  - kind: forward\n    destination: crm\n"
        "    when: event.score >= 50\n"
    )
    assert "Created workflow notify" in _run("workflows", "save", str(flow))
    assert "notify" in _run("workflows", "list")
    started = json.loads(
        _run(
            "runs",
            "start",
            "notify",
            "--event",
            '{"score": 70}',
            "--idempotency-key",
            "k1",
            "--json",
        )
    )
    assert started["created"] is True
    repeat = json.loads(
        _run(
            "runs",
            "start",
            "notify",
            "--event",
            '{"score": 70}',
            "--idempotency-key",
            "k1",
            "--json",
        )
    )
    assert repeat["run"]["id"] == started["run"]["id"]
    listed = json.loads(_run("runs", "list", "--status", "queued", "--json"))["data"]
    assert [r["id"] for r in listed] == [started["run"]["id"]]
    assert "Cancelled" in _run("runs", "cancel", started["run"]["id"])
    bad = runner.invoke(app, ["runs", "cancel", started["run"]["id"]])
    assert bad.exit_code == 1
    assert "conflict" in bad.output
    assert json.loads(_run("deliveries", "list", "--json"))["data"] == []
    assert "Replaying 0 deliveries" in _run("deliveries", "replay", "--status", "dead")
    assert "Pruned" in _run("prune", "--older-than", "30d")
    refused = runner.invoke(
        app, ["destinations", "create", "--name", "x", "--url", "http://10.0.0.1/h"]
    )
    assert refused.exit_code == 1
    assert "blocked_url" in refused.output


def test_api_key_roles_and_console_links(cli_env: Settings, database_url: str) -> None:
    """api-keys create --role viewer makes a read-only key (listed with its role); a
    wrong role is refused; console-link prints a single-use link on the public URL that
    opens a session of its role."""
    made = json.loads(_run("api-keys", "create", "--name", "dash", "--role", "viewer", "--json"))
    assert made["role"] == "viewer"
    assert "viewer" in _run("api-keys", "list")
    refused = runner.invoke(app, ["api-keys", "create", "--name", "x", "--role", "owner"])
    assert refused.exit_code != 0
    assert "role must be one of admin, viewer" in refused.output
    link = _run("console-link", "--role", "viewer").split()[0]
    assert link.startswith("https://hooks.example.test/ui/login?token=")
    token = link.split("token=", 1)[1]
    db = Database(cli_env.resolved_database_url)
    try:
        with db.write() as conn:
            assert console.redeem_link(conn, token, datetime.now(UTC)) == "viewer"
            assert console.redeem_link(conn, token, datetime.now(UTC)) is None  # single use
    finally:
        db.dispose()


def test_alerts_commands(cli_env: Settings, db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """alerts list / show / ack / resolve, with --json; a narrow table keeps ids whole."""
    from claybridge.operations import alerts as alerting

    with db.write() as conn:
        made = alerting.report(conn, "requests_expired", "clay", "3 expired", datetime.now(UTC))
    listed = json.loads(_run("alerts", "list", "--json"))
    assert [a["id"] for a in listed] == [made["id"]]
    monkeypatch.setenv("COLUMNS", "60")
    assert made["id"] in _run("alerts", "list")
    assert json.loads(_run("alerts", "show", made["id"], "--json"))["count"] == 1
    assert "Acknowledged" in _run("alerts", "ack", made["id"])
    assert json.loads(_run("alerts", "resolve", made["id"], "--json"))["resolved_by"] == "cli"
    assert "No unresolved alerts" in _run("alerts", "list")
    assert made["id"] in _run("alerts", "list", "--status", "all")
    result = runner.invoke(app, ["alerts", "show", "alr_nope"])
    assert result.exit_code == 1
    assert "not_found" in result.output


def test_sources_update_delete_and_mappings(cli_env: Settings, tmp_path: Path) -> None:
    """sources update / delete and sources mappings get / set / delete do what the API
    does, with refusals as one line."""
    _run("sources", "create", "--name", "Leads", "--template", "clay-leads")
    _run(
        "sources",
        "update",
        "Leads",
        "--name",
        "Hot leads",
        "--default-event",
        "lead.hot",
        "--strict",
        "--idempotency",
        "key",
        "--idempotency-key",
        "body.clay_row_id",
        "--idempotency-window",
        "2h",
    )
    config = json.loads(_run("sources", "config", "Hot leads"))
    assert config["default_event"] == "lead.hot"
    assert config["strict"] is True
    assert config["idempotency"] == {
        "mode": "key",
        "key_path": "body.clay_row_id",
        "window_seconds": 7200,
    }
    actions = tmp_path / "actions.yaml"
    actions.write_text("- kind: identify_person\n  when: body.icp_score >= 80\n")
    assert "1 actions" in _run(
        "sources", "mappings", "set", "Hot leads", "lead.hot", "-f", str(actions)
    )
    got = json.loads(_run("sources", "mappings", "get", "Hot leads", "lead.hot"))
    assert got == [{"kind": "identify_person", "when": "body.icp_score >= 80"}]
    actions.write_text('[{"kind": "forward", "destination": "nowhere"}]')
    refused = runner.invoke(
        app, ["sources", "mappings", "set", "Hot leads", "x", "-f", str(actions)]
    )
    assert refused.exit_code == 1
    assert "unknown_destination (mappings.x[0].destination)" in refused.output
    _run("sources", "mappings", "delete", "Hot leads", "lead.hot")
    missing = runner.invoke(app, ["sources", "mappings", "get", "Hot leads", "lead.hot"])
    assert missing.exit_code == 1
    assert "no mapping for 'lead.hot'" in missing.output
    assert "Deleted source Hot leads" in _run("sources", "delete", "Hot leads", "--yes")
    assert json.loads(_run("sources", "list", "--json")) == []
