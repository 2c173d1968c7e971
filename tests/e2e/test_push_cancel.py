"""Stopping a `claybridge push` (Ctrl-C, or `pushes cancel` from another shell) while
`claybridge serve` runs too: against the Clay imitation, counting what it received."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from claybridge.clay.imitation import ImitationConfig, serve_in_thread
from tests.conftest import serve_process
from tests.receiver import wait_until

CLAYBRIDGE = str(Path(sys.executable).parent / "claybridge")
ROWS = 60


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAYBRIDGE_", "XDG_"))}
    return {
        **env,
        "HOME": str(home),
        "COLUMNS": "200",
        "CLAYBRIDGE_ALLOW_NETWORKS": "127.0.0.1/32",
        "CLAYBRIDGE_POLL_INTERVAL": "0.05",
        **extra,
    }


def _run(env: dict[str, str], *args: str, code: int = 0) -> str:
    done = subprocess.run([CLAYBRIDGE, *args], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == code, done.stdout + done.stderr
    return done.stdout


def _push(env: dict[str, str], rows: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [CLAYBRIDGE, "push", str(rows), "--to", "table", "--request-id-column", "id"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _setup(tmp_path: Path, url: str, extra: dict[str, str]) -> tuple[dict[str, str], Path]:
    env = _env(tmp_path / "home", **extra)
    _run(env, "migrate")
    _run(
        env,
        "destinations",
        "create",
        "--name",
        "table",
        "--kind",
        "clay",
        "--url",
        url,
        "--workspace-rate",
        "5",
    )
    rows = tmp_path / "rows.csv"
    rows.write_text("id,email\n" + "".join(f"r{i},p{i}@x.co\n" for i in range(ROWS)))
    return env, rows


def _backend(backend: str, request: pytest.FixtureRequest) -> dict[str, str]:
    if backend == "pg":
        return {"CLAYBRIDGE_DATABASE_URL": request.getfixturevalue("empty_pg_url")}
    return {}


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("pg", marks=pytest.mark.postgresql)])
def test_ctrl_c_stops_every_unsent_row_and_a_rerun_resumes(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    """Ctrl-C on push cancels the rows not sent, in the push's worker and the server's;
    the imitation receives nothing more; pushing again sends exactly the cancelled rows."""
    with serve_in_thread(ImitationConfig(rate=None)) as (imitation, url):
        env, rows = _setup(tmp_path, url, _backend(backend, request))
        with serve_process({**env}):
            push = _push(env, rows)
            wait_until(lambda: imitation.state.submissions >= 5, timeout=30)
            push.send_signal(signal.SIGINT)
            out, _ = push.communicate(timeout=60)
            assert push.returncode == 130, out
            assert "Traceback" not in out
            time.sleep(1.5)  # what was in flight in the server has landed by now
            received = imitation.state.submissions
            time.sleep(1.5)
            assert imitation.state.submissions == received  # nothing more is sent
            shown = json.loads(_run(env, "pushes", "list", "--json"))[0]
            by_status = shown["deliveries"]
            assert shown["status"] == "cancelled"
            assert by_status.get("delivered", 0) == received
            assert by_status["cancelled"] == ROWS - received
            assert received < ROWS
            assert f"cancelled {ROWS - received} (not sent)" in out
            again = _run(env, "push", str(rows), "--to", "table", "--request-id-column", "id")
            assert f"Sent {ROWS - received}, skipped {received}" in again
    assert sorted(r["request_id"] for r in imitation.state.rows) == sorted(
        f"r{i}" for i in range(ROWS)
    )


def test_pushes_cancel_from_another_shell(tmp_path: Path) -> None:
    """`pushes cancel ID` stops a push running elsewhere; its process reports it."""
    with serve_in_thread(ImitationConfig(rate=None)) as (imitation, url):
        env, rows = _setup(tmp_path, url, {})
        push = _push(env, rows)
        wait_until(lambda: imitation.state.submissions >= 3, timeout=30)
        push_id = json.loads(_run(env, "pushes", "list", "--json"))[0]["id"]
        cancelled = _run(env, "pushes", "cancel", push_id)
        assert f"Cancelled push {push_id}" in cancelled
        out, _ = push.communicate(timeout=60)
        assert push.returncode == 130, out
        assert f"Push {push_id} cancelled" in out
        shown = json.loads(_run(env, "pushes", "show", push_id, "--json"))
        assert shown["deliveries"].get("delivered", 0) == imitation.state.submissions
        done = subprocess.run(
            [CLAYBRIDGE, "pushes", "cancel", push_id], env=env, capture_output=True, text=True
        )
        assert done.returncode == 1
        assert f"push_not_running: push {push_id} is cancelled" in done.stderr
