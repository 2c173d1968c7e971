"""Fixtures for the CLI tests."""

from __future__ import annotations

import pytest

from claybridge.config import Settings


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> Settings:
    """Point the CLI at the test database through CLAYBRIDGE_* variables."""
    monkeypatch.setenv("CLAYBRIDGE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("CLAYBRIDGE_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("CLAYBRIDGE_PUBLIC_URL", "https://hooks.example.test")
    monkeypatch.setenv("COLUMNS", "250")
    return settings
