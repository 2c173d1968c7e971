"""A new user's journey with the real program: `claybridge serve` in a subprocess."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from claybridge.config import Settings
from tests.conftest import serve_process

pytestmark = pytest.mark.slow


def _cli(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "claybridge", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture
def running(settings: Settings) -> Iterator[tuple[str, dict[str, str]]]:
    """`claybridge serve --port 0` started as a user would; yields its URL and env."""
    env = {
        **os.environ,
        "CLAYBRIDGE_DATA_DIR": str(settings.data_dir),
        "CLAYBRIDGE_DATABASE_URL": settings.resolved_database_url,
        "PYTHONUNBUFFERED": "1",
        "COLUMNS": "250",
    }
    env.pop("CLAYBRIDGE_PUBLIC_URL", None)
    with serve_process(env) as url:
        env["CLAYBRIDGE_PUBLIC_URL"] = url
        yield url, env


def test_new_user_journey(running: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    """owners, sources create, a Clay row, events, rotate and disconnect, end to end."""
    url, env = running
    _cli(env, "owners", "add", "--name", "Ada Lovelace", "--email", "ada@example.com")
    team = tmp_path / "team.csv"
    with team.open("w", newline="") as f:
        csv.writer(f).writerows([["name", "email"], ["Grace Hopper", "grace@example.com"]])
    _cli(env, "owners", "import", str(team))
    created = json.loads(
        _cli(
            env,
            "sources",
            "create",
            "--name",
            "Clay accounts",
            "--template",
            "clay-customers",
            "--json",
        )
    )
    assert created["url"] == f"{url}/hooks/{created['key']}"
    auth = {"Authorization": f"Bearer {created['token']}"}
    row = {
        "name": "Acme",
        "websiteUrl": "https://www.acme.com",
        "owner": "Grace Hopper",
        "stage": "Closed Won",
        "arr": "$120,000",
        "renewalDate": "March 1, 2026",
    }
    with httpx.Client(timeout=10) as http:
        ok = http.post(created["url"], json=row, headers=auth)
        assert ok.status_code == 200, ok.text
        assert ok.json()["customer"]["owner"]["email"] == "grace@example.com"
        bad = http.post(created["url"], json={"name": "Acme"}, headers=auth)
        assert bad.status_code == 400

        rejected = json.loads(_cli(env, "events", "list", "--status", "rejected", "--json"))
        assert [e["error"]["code"] for e in rejected["data"]] == ["missing_field"]
        shown = _cli(env, "events", "show", ok.json()["event_id"])
        assert "[redacted]" in shown
        assert created["token"] not in shown
        assert "acme.com" in _cli(env, "customers", "list")

        rotated = json.loads(_cli(env, "sources", "rotate-token", created["key"], "--json"))
        assert http.post(created["url"], json=row, headers=auth).status_code == 401
        new_auth = {"Authorization": f"Bearer {rotated['token']}"}
        assert http.post(created["url"], json=row, headers=new_auth).status_code == 200
        _cli(env, "sources", "disconnect", created["key"])
        gone = http.post(created["url"], json=row, headers=new_auth)
        assert gone.status_code == 401
        assert "disconnected" in gone.json()["error"]["message"]

        key = json.loads(_cli(env, "api-keys", "create", "--name", "me", "--json"))["key"]
        customers = http.get(f"{url}/v1/customers", headers={"Authorization": f"Bearer {key}"})
        assert [c["domain"] for c in customers.json()["data"]] == ["acme.com"]
