"""The real `claybridge` command, run from fresh working directories: one configuration
for the server and every command, `config show`, `init`, `status`, one-line errors."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import serve_process

CLAYBRIDGE = str(Path(sys.executable).parent / "claybridge")


def _env(home: Path, **extra: str) -> dict[str, str]:
    """A user's environment: their own HOME, no CLAYBRIDGE_* variable but ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAYBRIDGE_", "XDG_"))}
    return {**env, "HOME": str(home), "COLUMNS": "250", **extra}


def _run(
    env: dict[str, str], cwd: Path, *args: str, code: int = 0
) -> subprocess.CompletedProcess[str]:
    cwd.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [CLAYBRIDGE, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == code, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    return done


def _write_settings(home: Path, text: str) -> Path:
    path = home / ".config" / "claybridge" / "claybridge.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_every_directory_finds_the_same_database(tmp_path: Path) -> None:
    """With no settings at all, commands in two directories use one database."""
    env = _env(tmp_path / "home")
    made = _run(env, tmp_path / "a", "migrate").stdout
    data = tmp_path / "home" / ".local" / "share" / "claybridge" / "claybridge.db"
    assert f"created database: {data}" in made
    created = json.loads(
        _run(env, tmp_path / "a", "sources", "create", "--name", "Leads", "--json").stdout
    )
    listed = json.loads(_run(env, tmp_path / "b" / "deep", "sources", "list", "--json").stdout)
    assert [s["key"] for s in listed] == [created["key"]]


def test_a_command_never_creates_an_empty_database(tmp_path: Path) -> None:
    """Without a database, a command says where it looked and how to create one."""
    env = _env(tmp_path / "home", CLAYBRIDGE_DATA_DIR=str(tmp_path / "data"))
    done = _run(env, tmp_path, "sources", "list", code=1)
    assert done.stderr.count("\n") == 1
    assert f"no Claybridge database at {tmp_path / 'data' / 'claybridge.db'}" in done.stderr
    assert "claybridge migrate" in done.stderr
    assert not (tmp_path / "data" / "claybridge.db").exists()


def test_not_found_names_the_database(tmp_path: Path) -> None:
    """An error for a missing record names the database the command looked in."""
    env = _env(tmp_path / "home")
    _run(env, tmp_path, "migrate")
    done = _run(env, tmp_path, "destinations", "show", "x", code=1)
    assert "not_found" in done.stderr
    assert "(database: " in done.stderr
    assert "claybridge.db)" in done.stderr


def test_settings_file_and_precedence(tmp_path: Path) -> None:
    """Flags beat variables, variables beat the file, the file beats defaults; secrets
    are masked and each setting says where it came from."""
    home = tmp_path / "home"
    path = _write_settings(
        home,
        'data_dir = "data"\nport = 9001\nlog_level = "DEBUG"\nsecret_key = "s3cr3t-key"\n'
        'database_url = "postgresql://app:hunter2@127.0.0.1:5432/claybridge"\n',
    )
    env = _env(home, CLAYBRIDGE_PORT="9002")
    shown = json.loads(_run(env, tmp_path, "config", "show", "--json").stdout)
    settings = shown["settings"]
    assert shown["settings_file"] == str(path)
    assert settings["port"] == {"value": "9002", "from": "environment (CLAYBRIDGE_PORT)"}
    assert settings["log_level"] == {"value": "DEBUG", "from": f"file ({path})"}
    assert settings["data_dir"]["value"] == str(path.parent / "data")
    assert settings["host"]["from"] == "default"
    assert settings["secret_key"]["value"] == "********"
    assert "hunter2" not in json.dumps(shown)
    assert settings["database_url"]["value"].startswith("postgresql://app:***@127.0.0.1")
    other = tmp_path / "other.toml"
    other.write_text('host = "::1"\n')
    flagged = json.loads(
        _run(env, tmp_path, "--config", str(other), "config", "show", "--json").stdout
    )
    assert flagged["found_by"] == "--config"
    assert flagged["settings"]["host"]["value"] == "::1"
    text = _run(env, tmp_path, "config", "show").stdout
    assert f"settings file: {path} (found by user file)" in text
    assert "environment (CLAYBRIDGE_PORT)" in text
    assert "hunter2" not in text


def test_refused_settings_are_one_line(tmp_path: Path) -> None:
    """A misspelt key, a bad value or a missing --config file: one line, exit 1."""
    home = tmp_path / "home"
    path = _write_settings(home, 'databse_url = "sqlite:///x.db"\n')
    done = _run(_env(home), tmp_path, "sources", "list", code=1)
    assert done.stderr.strip() == (
        f"error invalid_config (databse_url): {path}: unknown setting 'databse_url'; "
        "did you mean 'database_url'?"
    )
    path.write_text("port = 80\n")
    done = _run(_env(home, CLAYBRIDGE_PORT="eighty"), tmp_path, "config", "show", code=1)
    assert "port (from environment (CLAYBRIDGE_PORT))" in done.stderr
    assert done.stderr.count("\n") == 1
    path.write_text("log_level = 'INFO'\nport = 80 80\n")
    done = _run(_env(home), tmp_path, "status", code=1)
    assert "not valid TOML" in done.stderr
    assert "line 2" in done.stderr
    missing = tmp_path / "nope.toml"
    done = _run(_env(home), tmp_path, "--config", str(missing), "status", code=1)
    assert f"settings file {missing} (from --config) does not exist" in done.stderr


def test_init_writes_settings_and_creates_the_database(tmp_path: Path) -> None:
    """init writes the user's settings file, creates the database, and refuses to
    overwrite without --force."""
    home = tmp_path / "home"
    env = _env(home)
    out = _run(env, tmp_path, "init", "--public-url", "https://cb.example.test").stdout
    path = home / ".config" / "claybridge" / "claybridge.toml"
    assert f"wrote settings file: {path}" in out
    assert "created database:" in out
    assert 'public_url = "https://cb.example.test"' in path.read_text()
    made = json.loads(
        _run(env, tmp_path / "x", "sources", "create", "--name", "A", "--json").stdout
    )
    assert made["url"].startswith("https://cb.example.test/hooks/")
    assert "exists already" in _run(env, tmp_path, "init", code=1).stderr


def test_port_in_use_is_one_line(tmp_path: Path) -> None:
    """serve on a taken port says so in one line, with how to choose another."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _run(_env(tmp_path / "home"), tmp_path, "serve", "--port", str(port), code=1)
    assert f"error address_in_use: cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "--port" in done.stderr
    assert not (tmp_path / "home" / ".local").exists()


def test_unreachable_database_is_one_line(tmp_path: Path) -> None:
    """A database that does not answer is one line naming it, not a traceback."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    url = f"postgresql://claybridge:pw@127.0.0.1:{port}/claybridge"
    done = _run(_env(tmp_path, CLAYBRIDGE_DATABASE_URL=url), tmp_path, "owners", "list", code=1)
    assert done.stderr.startswith("error database_unreachable: cannot reach the database at ")
    assert f"127.0.0.1:{port}/claybridge" in done.stderr
    assert ":pw@" not in done.stderr
    assert done.stderr.count("\n") == 1


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("pg", marks=pytest.mark.postgresql)])
def test_commands_print_the_servers_url_and_status_sees_it(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    """A server started with its own address records it: a command run elsewhere,
    without that setting, prints source URLs on it; status finds server and worker."""
    extra = {}
    if backend == "pg":
        extra["CLAYBRIDGE_DATABASE_URL"] = request.getfixturevalue("empty_pg_url")
    home = tmp_path / "home"
    with serve_process({**_env(home, **extra), "PWD": str(tmp_path)}) as url:
        env = _env(home, **extra)
        made = json.loads(
            _run(env, tmp_path / "elsewhere", "sources", "create", "--name", "A", "--json").stdout
        )
        assert made["url"] == f"{url}/hooks/{made['key']}"
        status = json.loads(_run(env, tmp_path, "status", "--json").stdout)
    assert status["public_url"] == url
    assert status["server"]["answers"] is True
    assert status["schema"]["current"] is True
    assert status["workers"] >= 1
    assert {"queue_depth", "dead_deliveries", "open_alerts"} <= status.keys()
    text = _run(env, tmp_path, "status").stdout
    assert "does not answer" in text  # the server has stopped


def test_narrow_tables_keep_ids_keys_and_urls_whole(tmp_path: Path) -> None:
    """In a 60-column terminal, list tables still show every id, key and URL whole, so
    one can be copied from `list` into `show`; --json lists the same."""
    env = _env(tmp_path / "home", COLUMNS="60", CLAYBRIDGE_PUBLIC_URL="https://hooks.example.test")
    _run(env, tmp_path, "migrate")
    made = json.loads(_run(env, tmp_path, "sources", "create", "--name", "A", "--json").stdout)
    listing = _run(env, tmp_path, "sources", "list").stdout
    assert made["key"] in listing
    assert made["url"] in listing
    key = json.loads(_run(env, tmp_path, "api-keys", "create", "--name", "ops", "--json").stdout)
    assert key["id"] in _run(env, tmp_path, "api-keys", "list").stdout
    listed = json.loads(_run(env, tmp_path, "api-keys", "list", "--json").stdout)
    assert [k["id"] for k in listed] == [key["id"]]
    assert "key" not in listed[0]


def test_a_missing_file_is_one_line(tmp_path: Path) -> None:
    """A missing file given to push, apply, owners import or workflows save is one line."""
    env = _env(tmp_path / "home")
    _run(env, tmp_path, "migrate")
    for args in (
        ("push", "nope.csv", "--to", "t"),
        ("apply", "-f", "nope.yaml"),
        ("owners", "import", "nope.csv"),
        ("workflows", "save", "nope.yaml"),
    ):
        done = _run(env, tmp_path, *args, code=1)
        assert done.stderr.startswith("error file_unreadable (file): nope."), done.stderr
        assert done.stderr.count("\n") == 1
