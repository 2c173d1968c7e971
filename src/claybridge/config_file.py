"""The settings file (``claybridge.toml``), and where each effective setting came from.

Lookup, first match wins (a file named by 1 or 2 must exist):

1. ``--config PATH`` on the command line;
2. the ``CLAYBRIDGE_CONFIG`` variable;
3. ``$XDG_CONFIG_HOME/claybridge/claybridge.toml`` (``~/.config/claybridge/claybridge.toml``);
4. ``/etc/claybridge/claybridge.toml``.

No working directory is searched, so every command of one user finds the same file
from anywhere. Precedence for each setting: command-line flags, then ``CLAYBRIDGE_*``
variables, then the file, then the defaults in :mod:`claybridge.config`.

The file holds the same names as the variables, lower case, without the prefix::

    public_url = "https://claybridge.example.com"
    database_url = "postgresql://claybridge@db.internal/claybridge"
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from claybridge.config import Settings
from claybridge.errors import ClaybridgeError

CONFIG_ENV = "CLAYBRIDGE_CONFIG"
ENV_PREFIX = "CLAYBRIDGE_"
FILE_NAME = "claybridge.toml"
SYSTEM_FILE = Path("/etc/claybridge") / FILE_NAME
MASK = "********"
SECRET_SETTINGS = frozenset({"secret_key"})
FLAG, ENVIRONMENT, FILE, DEFAULT = "flag", "environment", "file", "default"


class ConfigError(ClaybridgeError):
    """The settings (file, variable or flag) are refused; the message says where."""

    code = "invalid_config"


def user_file(environ: Mapping[str, str]) -> Path:
    """``$XDG_CONFIG_HOME/claybridge/claybridge.toml``, else under ``~/.config``."""
    base = environ.get("XDG_CONFIG_HOME")
    root = Path(base) if base else Path(environ.get("HOME") or Path.home()) / ".config"
    return root / "claybridge" / FILE_NAME


@dataclass(frozen=True)
class Found:
    """The settings file in effect (``path`` None: none), how it was found, and the
    places looked at."""

    path: Path | None
    how: str
    searched: tuple[Path, ...]


def locate(explicit: Path | None, environ: Mapping[str, str]) -> Found:
    """Find the settings file by the lookup order in the module docstring."""
    named = explicit or (Path(environ[CONFIG_ENV]) if environ.get(CONFIG_ENV) else None)
    if named is not None:
        how = "--config" if explicit else CONFIG_ENV
        if not named.is_file():
            raise ConfigError(f"settings file {named} (from {how}) does not exist")
        return Found(named.resolve(), how, (named,))
    searched = (user_file(environ), SYSTEM_FILE)
    for place, how in zip(searched, ("user file", "system file"), strict=True):
        if place.is_file():
            return Found(place.resolve(), how, searched)
    return Found(None, "none", searched)


def read(path: Path) -> dict[str, Any]:
    """The file's settings; :class:`ConfigError` names the line of a syntax error and
    any unknown key (with the nearest known one)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read: {exc}") from None
    known = list(Settings.model_fields)
    for key, value in data.items():
        if key not in known:
            near = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            raise ConfigError(f"{path}: unknown setting {key!r}{hint}", field=key)
        if isinstance(value, dict | list):
            raise ConfigError(f"{path}: {key} must be a single value", field=key)
    if "data_dir" in data:
        data["data_dir"] = str(path.parent / Path(str(data["data_dir"])).expanduser())
    return data


@dataclass(frozen=True)
class Loaded:
    """Effective settings, the file they were read from, and each setting's origin."""

    settings: Settings
    found: Found
    origins: dict[str, str] = field(default_factory=dict)

    def describe(self) -> list[tuple[str, str, str]]:
        """(setting, value with secrets masked, origin) for every setting."""
        rows = []
        for name in Settings.model_fields:
            value = getattr(self.settings, name)
            rows.append((name, shown(name, value), self.origin_label(name)))
        return rows

    def origin_label(self, name: str) -> str:
        """Where ``name`` came from, in words (``environment (CLAYBRIDGE_PORT)``)."""
        origin = self.origins.get(name, DEFAULT)
        if origin == ENVIRONMENT:
            return f"environment ({ENV_PREFIX}{name.upper()})"
        if origin == FILE:
            return f"file ({self.found.path})"
        return origin


def shown(name: str, value: Any) -> str:
    """A setting as ``config show`` prints it: secrets masked, a URL's password too."""
    if value is None:
        return "-"
    if name in SECRET_SETTINGS:
        return MASK
    if name == "database_url":
        try:
            url = make_url(str(value))
        except ArgumentError:
            return MASK
        return url.render_as_string(hide_password=True)
    return str(value)


def _from_environment(environ: Mapping[str, str]) -> dict[str, str]:
    upper = {k.upper(): v for k, v in environ.items()}
    return {
        name: upper[f"{ENV_PREFIX}{name.upper()}"]
        for name in Settings.model_fields
        if f"{ENV_PREFIX}{name.upper()}" in upper
    }


def load(
    explicit: Path | None = None,
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Loaded:
    """Settings from flags, environment, file and defaults, in that precedence."""
    environ = os.environ if environ is None else environ
    found = locate(explicit, environ)
    layers = [
        (FILE, read(found.path) if found.path else {}),
        (ENVIRONMENT, _from_environment(environ)),
        (FLAG, {k: v for k, v in (flags or {}).items() if v is not None}),
    ]
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for origin, layer in layers:
        for name, value in layer.items():
            values[name] = value
            origins[name] = origin
    try:
        settings = Settings(**values)
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]) if error["loc"] else ""
        where = Loaded(Settings.model_construct(), found, origins).origin_label(name)
        raise ConfigError(f"{name} (from {where}): {error['msg']}", field=name) from None
    return Loaded(settings, found, origins)
