"""Settings: every default Claybridge has lives here, read from ``CLAYBRIDGE_*`` variables.

Nothing in this module touches the disk or the network; deriving paths and URLs is
pure so that ``Settings()`` is cheap and safe to build anywhere (tests build many).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DateOrder = Literal["MDY", "DMY"]


def default_data_dir(environ: Mapping[str, str]) -> Path:
    """``$XDG_DATA_HOME/claybridge``, else ``~/.local/share/claybridge`` (no disk access)."""
    xdg = environ.get("XDG_DATA_HOME")
    if xdg:
        return Path(xdg) / "claybridge"
    return Path(environ.get("HOME") or Path.home()) / ".local" / "share" / "claybridge"


class Settings(BaseSettings):
    """Process settings. Each field maps to ``CLAYBRIDGE_<FIELD>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="CLAYBRIDGE_", extra="ignore")

    data_dir: Path = Field(
        default_factory=lambda: default_data_dir(os.environ),
        json_schema_extra={"shown_default": "~/.local/share/claybridge"},
        description="Directory for the embedded SQLite database and the secret key; "
        "$XDG_DATA_HOME/claybridge (~/.local/share/claybridge) by default, the same from "
        "every working directory. A relative path in the settings file is relative to "
        "the file.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; unset means SQLite at <data_dir>/claybridge.db. "
        "postgresql:// URLs use the psycopg 3 driver.",
    )
    database_connect_timeout: int = Field(
        default=5,
        ge=1,
        le=600,
        description="PostgreSQL: seconds to wait for a new connection (connect and "
        "handshake) before giving up.",
    )
    database_statement_timeout: float = Field(
        default=30.0,
        ge=0,
        description="PostgreSQL: seconds a statement may run before the server cancels "
        "it (0: no limit).",
    )
    database_keepalive_idle: int = Field(
        default=10,
        ge=1,
        le=3600,
        description="PostgreSQL: seconds a connection is idle before TCP keepalive probes "
        "start (then every 5 s, 3 probes); unacknowledged data also ends a connection "
        "after this many seconds (tcp_user_timeout), so a lost network is noticed fast.",
    )
    storage_timeout: float = Field(
        default=10.0,
        gt=0,
        le=90,
        description="Seconds an ingest request, and /readyz, wait for the database "
        "(a lock, a connection, a commit) before answering 503 storage_unavailable; a "
        "row not yet written by then is not written. Under Clay's ~100 s column timeout.",
    )
    host: str = Field(default="127.0.0.1", description="Address `serve` binds to.")
    port: int = Field(default=8787, ge=0, le=65535, description="Port `serve` binds to.")
    public_url: str | None = Field(
        default=None,
        description="Base URL Clay reaches Claybridge at (source URLs are built on it); "
        "defaults to http://<host>:<port>.",
    )
    max_body_bytes: int = Field(
        default=1_000_000, ge=1, description="Largest request body a source accepts (413 above)."
    )
    date_order: DateOrder = Field(
        default="MDY",
        description="How slash dates such as 03/01/2026 are read: MDY (US, Clay's default) or DMY.",
    )
    sqlite_synchronous: Literal["OFF", "NORMAL", "FULL", "EXTRA"] = Field(
        default="FULL",
        description="SQLite synchronous pragma. FULL makes every acknowledged event durable "
        "against power loss; group commit keeps the cost of that low.",
    )
    commit_batch_max: int = Field(
        default=256, ge=1, description="Most ingest requests grouped into one transaction."
    )
    secret_key: str | None = Field(
        default=None,
        description="Fernet key encrypting stored signing secrets; unset means "
        "<data_dir>/secret.key, created on first use (mode 0600).",
    )
    allow_networks: str = Field(
        default="",
        description="Comma-separated CIDRs outbound requests may reach even though they are "
        "loopback/private (e.g. 127.0.0.1/32 for a receiver on this machine). Empty: only "
        "public addresses.",
    )
    worker_concurrency: int = Field(
        default=64, ge=1, le=4096, description="Most deliveries one worker sends at once."
    )
    worker_batch: int = Field(
        default=100, ge=1, le=1000, description="Most deliveries one worker claims at a time."
    )
    lease_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How long a claimed delivery stays with its worker beyond the "
        "destination's timeout; a dead worker's deliveries are taken over after it.",
    )
    poll_interval: float = Field(
        default=0.1, gt=0, le=60, description="Seconds an idle worker waits between claims."
    )
    retention_days: float | None = Field(
        default=30.0,
        gt=0,
        description="The worker prunes events, finished deliveries and their attempts, and "
        "finished runs older than this many days, hourly; pending work is never pruned. "
        "`off` (or 0) keeps everything.",
    )
    alert_interval: float = Field(
        default=10.0,
        gt=0,
        le=3600,
        description="Seconds between a worker's looks for the causes of alerts (dead "
        "deliveries, open circuits, Clay webhook limits, rejection spikes, lost processes).",
    )
    log_level: str = Field(default="INFO", description="Log level (DEBUG, INFO, WARNING, ERROR).")
    log_format: Literal["json", "console"] = Field(
        default="json", description="Structured JSON logs, or human-friendly console lines."
    )

    @field_validator("retention_days", mode="before")
    @classmethod
    def _retention_off(cls, value: Any) -> Any:
        """``off``, ``none``, an empty value or 0 turn retention off."""
        if isinstance(value, str) and value.strip().lower() in ("", "off", "none", "0"):
            return None
        return None if value == 0 else value

    @property
    def resolved_database_url(self) -> str:
        """The SQLAlchemy URL to connect to, with the driver made explicit."""
        url = self.database_url
        if not url:
            return f"sqlite:///{(self.data_dir / 'claybridge.db').resolve()}"
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url

    @property
    def allowed_networks(self) -> tuple[Any, ...]:
        """``allow_networks`` parsed (``ValueError`` names a bad entry)."""
        from claybridge.core.ssrf import parse_networks

        return parse_networks(self.allow_networks)

    @property
    def is_sqlite(self) -> bool:
        """Whether the configured database is SQLite."""
        return self.resolved_database_url.startswith("sqlite")

    @property
    def base_url(self) -> str:
        """Public base URL without a trailing slash."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def source_url(self, key: str) -> str:
        """The URL Clay posts to for the source with ``key``."""
        return f"{self.base_url}/hooks/{key}"
