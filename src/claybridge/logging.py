"""Structured logs (structlog): JSON lines by default, secrets redacted."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

from claybridge.redact import REDACTED, is_secret_name


def _redact(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event):
        if key != "event" and is_secret_name(key):
            event[key] = REDACTED
    return event


def configure(level: str = "INFO", fmt: str = "json", sink: TextIO | None = None) -> None:
    """Configure structlog and the standard library's logging once for the process.

    Log lines go to standard error, or to ``sink`` (``claybridge push`` passes one that
    prints above its progress bar, so a log line never breaks the bar). Timestamps are
    ISO 8601 in UTC, like every time Claybridge shows.
    """
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sink is None and sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sink or sys.stderr),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(level=numeric, stream=sink or sys.stderr, format="%(message)s")
    # Alembic narrates every migration step at INFO; only its warnings matter here.
    logging.getLogger("alembic").setLevel(max(numeric, logging.WARNING))
