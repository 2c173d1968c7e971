"""``claybridge apply`` and ``export`` against SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from claybridge.cli import app
from claybridge.config import Settings

runner = CliRunner()
SETUP = """\
owners:
  - name: Ada Lovelace
    email: ada@example.com
sources:
  - name: Clay leads
    template: clay-leads
    config:
      default_event: lead.enriched
      signature:
        scheme: hmac_sha256
        secrets: [s3cret]
      mappings:
        lead.enriched:
          - kind: identify_person
"""


def _run(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.usefixtures("cli_env")
def test_apply_is_idempotent_and_exports_round_trip(tmp_path: Path) -> None:
    """apply creates, a second apply changes nothing, export then apply changes nothing."""
    file = tmp_path / "claybridge.yaml"
    file.write_text(SETUP)
    preview = _run("apply", "-f", str(file), "--dry-run")
    assert "+ owner ada@example.com" in preview
    assert "2 would change" in preview
    assert json.loads(_run("owners", "list", "--json")) == []
    first = _run("apply", "-f", str(file))
    assert "+ source Clay leads (clay-leads)" in first
    assert "token for new source 'Clay leads' (shown once): cbt_" in first
    again = _run("apply", "-f", str(file))
    assert "0 changed, 2 unchanged" in again
    assert "token" not in again
    exported = tmp_path / "export.yaml"
    _run("export", "-o", str(exported))
    text = exported.read_text()
    assert "s3cret" not in text
    assert "********" in text
    assert "0 changed, 2 unchanged" in _run("apply", "-f", str(exported))
    changed = SETUP.replace("Ada Lovelace", "Ada King").replace("[s3cret]", "[n3w]")
    file.write_text(changed)
    out = _run("apply", "-f", str(file))
    assert "~ owner ada@example.com: name 'Ada Lovelace' -> 'Ada King'" in out
    assert "~ source Clay leads: config changed" in out
    config = json.loads(_run("sources", "mappings", "Clay leads"))
    assert config["signature"]["secrets"] == ["********"]


@pytest.mark.usefixtures("cli_env")
def test_a_bad_file_changes_nothing(tmp_path: Path, settings: Settings) -> None:
    """A file with any error is refused whole, naming line and key."""
    file = tmp_path / "bad.yaml"
    file.write_text(
        SETUP + "  - name: Second\n    template: clay-leads\n    config:\n"
        "      mappings:\n        x:\n          - kind: identify_person\n"
        "            when: 'body.a >'\n"
    )
    result = runner.invoke(app, ["apply", "-f", str(file)])
    assert result.exit_code == 1
    assert "nothing was changed" in result.output
    assert "line 21: sources[1].config.mappings.x[0].when" in result.output
    assert json.loads(_run("owners", "list", "--json")) == []
    assert json.loads(_run("sources", "list", "--json")) == []


WORKFLOWS = """\
workflows:
  - key: route-lead
    name: Route leads
    steps:
      - {kind: forward, destination: outreach, when: event.icp_score >= 80}
"""


@pytest.mark.usefixtures("cli_env")
def test_workflows_apply_idempotently_and_export(tmp_path: Path) -> None:
    """Workflows in the setup file are created, left alone when unchanged, then updated."""
    path = tmp_path / "flows.yaml"
    path.write_text(WORKFLOWS)
    assert "+ workflow route-lead" in _run("apply", "-f", str(path))
    assert "0 changed, 1 unchanged" in _run("apply", "-f", str(path))
    path.write_text(WORKFLOWS.replace(">= 80", ">= 90"))
    assert "~ workflow route-lead: changed" in _run("apply", "-f", str(path))
    exported = _run("export")
    assert "route-lead" in exported
    assert "event.icp_score >= 90" in exported
    bad = tmp_path / "bad.yaml"
    bad.write_text(WORKFLOWS.replace("event.icp_score", "body.icp_score"))
    result = runner.invoke(app, ["apply", "-f", str(bad)])
    assert result.exit_code == 1
    assert "workflows[0].steps[0].when" in result.output
