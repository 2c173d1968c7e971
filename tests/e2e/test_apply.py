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
    """apply creates, a second apply changes nothing, export then apply changes nothing;
    a change is shown field by field."""
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
    changed = changed.replace("lead.enriched\n", "lead.scored\n", 1)
    file.write_text(changed)
    dry = _run("apply", "-f", str(file), "--dry-run")
    assert "~ owner ada@example.com: name 'Ada Lovelace' -> 'Ada King'" in dry
    assert '~ source Clay leads: config.default_event: "lead.enriched" -> "lead.scored"' in dry
    assert "~ source Clay leads: config.signature.secrets: changed (secret)" in dry
    assert "n3w" not in dry
    assert "2 would change" in dry
    _run("apply", "-f", str(file))
    config = json.loads(_run("sources", "config", "Clay leads"))
    assert config["signature"]["secrets"] == ["********"]
    assert config["default_event"] == "lead.scored"


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
destinations:
  - name: outreach
    kind: http
    url: ${OUTREACH_URL}
workflows:
  - key: route-lead
    name: Route leads
    steps:
      - {kind: forward, destination: outreach, when: event.icp_score >= 80}
"""


@pytest.mark.usefixtures("cli_env")
def test_workflows_apply_idempotently_and_export(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Workflows in the setup file are created, left alone when unchanged, then updated
    with a field diff."""
    monkeypatch.setenv("CLAYBRIDGE_ALLOW_NETWORKS", "127.0.0.1/32")
    monkeypatch.setenv("OUTREACH_URL", "http://127.0.0.1:9/in")
    path = tmp_path / "flows.yaml"
    path.write_text(WORKFLOWS)
    assert "+ workflow route-lead" in _run("apply", "-f", str(path))
    assert "0 changed, 2 unchanged" in _run("apply", "-f", str(path))
    path.write_text(WORKFLOWS.replace(">= 80", ">= 90"))
    out = _run("apply", "-f", str(path))
    assert '~ workflow route-lead: steps[0].when: "event.icp_score >= 80" -> ' in out
    exported = _run("export")
    assert "route-lead" in exported
    assert "event.icp_score >= 90" in exported
    bad = tmp_path / "bad.yaml"
    bad.write_text(WORKFLOWS.replace("event.icp_score", "body.icp_score"))
    result = runner.invoke(app, ["apply", "-f", str(bad)])
    assert result.exit_code == 1
    assert "workflows[0].steps[0].when" in result.output


REFERENCES = """\
workflows:
  - key: route
    steps:
      - kind: forward
        destination: slak
sources:
  - name: Leads
    template: clay-leads
    config:
      mappings:
        lead.enriched:
          - kind: trigger_workflow
            workflow: rout
"""


@pytest.mark.usefixtures("cli_env")
def test_unknown_references_are_refused_with_their_lines(tmp_path: Path) -> None:
    """A step or mapping naming a destination or workflow that neither exists nor is in
    the file is refused at its line, and nothing is written."""
    path = tmp_path / "refs.yaml"
    path.write_text(REFERENCES)
    result = runner.invoke(app, ["apply", "-f", str(path)])
    assert result.exit_code == 1
    assert "line 5: workflows[0].steps[0].destination: no destination 'slak'" in result.output
    assert (
        "line 13: sources[0].config.mappings.lead.enriched[0].workflow: no workflow 'rout' "
        "(known: route)" in result.output
    )
    assert json.loads(_run("sources", "list", "--json")) == []


@pytest.mark.usefixtures("cli_env")
def test_unset_secret_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A new destination whose ${VAR} is unset is refused at its line; an existing one
    keeps its stored secret; a changed secret shows as changed, never its value."""
    path = tmp_path / "d.yaml"
    path.write_text(WORKFLOWS)
    result = runner.invoke(app, ["apply", "-f", str(path)])
    assert result.exit_code == 1
    assert "line 4: destinations[0].url: ${OUTREACH_URL} is not set in the environment" in (
        result.output
    )
    monkeypatch.setenv("CLAYBRIDGE_ALLOW_NETWORKS", "127.0.0.1/32")
    monkeypatch.setenv("OUTREACH_URL", "http://127.0.0.1:9/in?key=k1")
    _run("apply", "-f", str(path))
    monkeypatch.delenv("OUTREACH_URL")
    assert "0 changed, 2 unchanged" in _run("apply", "-f", str(path))
    monkeypatch.setenv("OUTREACH_URL", "http://127.0.0.1:9/in?key=k2")
    out = _run("apply", "-f", str(path), "--dry-run")
    assert "~ destination outreach: url: changed (secret)" in out
    assert "k2" not in out
