"""A new user's whole setup from one file, with the real `claybridge` command: a source,
a Slack destination, a forward mapping and an alert channel in one `apply -f`; then the
setup rebuilt on an empty database from `export`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import serve_process
from tests.receiver import Receiver, running_receiver, wait_until

CLAYBRIDGE = str(Path(sys.executable).parent / "claybridge")

SETUP = """\
destinations:
  - name: hot-leads-slack
    kind: slack
    url: ${SLACK_WEBHOOK_URL}
    template: "Hot lead: {{ name }} ({{ icp_score }})"
  - name: ops-alerts
    kind: http
    url: ${OPS_ALERTS_URL}
    headers:
      Authorization: Bearer ${OPS_TOKEN}
      X-Team: revops
    alerts: true
  - name: enrich-table
    kind: clay
    webhooks:
      - url: ${CLAY_WEBHOOK_1}
        auth_header_name: x-clay-webhook-auth
        auth_header_value: ${CLAY_AUTH_1}
        submission_limit: 40000
      - url: ${CLAY_WEBHOOK_2}
    clay: {workspace: acme, workspace_rate: 5}
workflows:
  - key: route-lead
    steps:
      - {kind: forward, destination: hot-leads-slack}
sources:
  - name: Clay leads
    template: clay-leads
    config:
      default_event: lead.enriched
      mappings:
        lead.enriched:
          - kind: forward
            destination: hot-leads-slack
            when: body.icp_score >= 80
"""


def _user(home: Path, receiver: Receiver, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAYBRIDGE_", "XDG_"))}
    return {
        **env,
        "HOME": str(home),
        "CLAYBRIDGE_ALLOW_NETWORKS": "127.0.0.1/32",
        "SLACK_WEBHOOK_URL": f"{receiver.url}/slack",
        "OPS_ALERTS_URL": f"{receiver.url}/ops",
        "OPS_TOKEN": "t0ken",
        "CLAY_WEBHOOK_1": f"{receiver.url}/clay/1",
        "CLAY_AUTH_1": "clay-secret",
        "CLAY_WEBHOOK_2": f"{receiver.url}/clay/2",
        **extra,
    }


def _run(env: dict[str, str], cwd: Path, *args: str) -> str:
    cwd.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [CLAYBRIDGE, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("pg", marks=pytest.mark.postgresql)])
def test_one_file_sets_up_everything_and_export_rebuilds_it(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    """One apply sets up source, Slack destination, mapping, workflow, Clay pool and
    alert channel; a hot row reaches Slack; export holds no secret, and applying it to an
    empty database with the variables set rebuilds the same setup."""
    first_db = {}
    if backend == "pg":
        first_db["CLAYBRIDGE_DATABASE_URL"] = request.getfixturevalue("empty_pg_url")
    with running_receiver() as receiver:
        env = _user(tmp_path / "ada", receiver, **first_db)
        (tmp_path / "work").mkdir()
        (tmp_path / "work" / "claybridge.yaml").write_text(SETUP)
        _run(env, tmp_path / "work", "migrate")
        applied = _run(env, tmp_path / "work", "apply", "-f", "claybridge.yaml")
        assert "5 changed, 0 unchanged" in applied
        token = applied.split("(shown once): ")[1].split()[0]
        with serve_process({**env, "CLAYBRIDGE_ALERT_INTERVAL": "0.2"}) as url:
            sources = json.loads(_run(env, tmp_path, "sources", "list", "--json"))
            hook = f"{url}/hooks/{sources[0]['key']}"
            answer = httpx.post(
                hook,
                json={"name": "Ada", "icp_score": 91},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert answer.status_code == 200, answer.text
            seen = wait_until(lambda: [s for s in list(receiver.seen) if s.path == "/slack"])
            assert seen[0].json() == {"text": "Hot lead: Ada (91)"}
        exported = _run(env, tmp_path, "export")
        for secret in ("t0ken", "clay-secret", receiver.url):
            assert secret not in exported
        for variable in (
            "HOT_LEADS_SLACK_URL",
            "OPS_ALERTS_AUTHORIZATION",
            "ENRICH_TABLE_WEBHOOK_2_URL",
        ):
            assert f"#   {variable}" in exported
        assert "X-Team: revops" in exported
        (tmp_path / "export.yaml").write_text(exported)
        again = _run(env, tmp_path, "apply", "-f", str(tmp_path / "export.yaml"), "--dry-run")
        assert "0 would change, 5 unchanged" in again
        second = _user(
            tmp_path / "grace",
            receiver,
            HOT_LEADS_SLACK_URL=f"{receiver.url}/slack",
            OPS_ALERTS_URL=f"{receiver.url}/ops",
            OPS_ALERTS_AUTHORIZATION="Bearer t0ken",
            ENRICH_TABLE_WEBHOOK_1_URL=f"{receiver.url}/clay/1",
            ENRICH_TABLE_WEBHOOK_1_AUTH="clay-secret",
            ENRICH_TABLE_WEBHOOK_2_URL=f"{receiver.url}/clay/2",
        )
        _run(second, tmp_path, "migrate")
        rebuilt = _run(second, tmp_path, "apply", "-f", str(tmp_path / "export.yaml"))
        assert "5 changed" in rebuilt
        assert _run(second, tmp_path, "export") == exported
        shown = json.loads(_run(second, tmp_path, "destinations", "show", "enrich-table", "--json"))
        hooks = shown["destination"]["config"]["webhooks"]
        assert [h["submission_limit"] for h in hooks] == [40000, 50000]
        assert hooks[0]["webhook_url"] == f"{receiver.url}/clay/1"
