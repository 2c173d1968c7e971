"""The CLI commands, in process, against SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from claybridge.cli import app
from claybridge.config import Settings

runner = CliRunner()


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> Settings:
    """Point the CLI at the test database through CLAYBRIDGE_* variables."""
    monkeypatch.setenv("CLAYBRIDGE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("CLAYBRIDGE_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("CLAYBRIDGE_PUBLIC_URL", "https://hooks.example.test")
    monkeypatch.setenv("COLUMNS", "250")
    return settings


def _run(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_every_command_has_help() -> None:
    """--help works on every command and group."""
    groups = {
        "sources": ["create", "list", "show", "rotate-token", "disconnect", "templates"],
        "owners": ["add", "import", "list", "remove"],
        "events": ["list", "show"],
        "customers": ["list", "show"],
        "api-keys": ["create", "list", "revoke"],
    }
    assert "serve" in _run("--help")
    for command in ("serve", "migrate"):
        assert "Usage" in _run(command, "--help")
    for group, commands in groups.items():
        _run(group, "--help")
        for command in commands:
            assert "Usage" in _run(group, command, "--help")


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
    """migrate reports a current database."""
    assert "Database is current" in _run("migrate")
