"""docs/configuration.md holds the settings reference generated from Settings."""

from __future__ import annotations

from pathlib import Path

from claybridge.config import Settings
from claybridge.settings_reference import render, replace_in

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_the_documented_reference_is_the_generated_one() -> None:
    """The table in docs/configuration.md is what `claybridge config reference` prints
    (run it and paste, or `replace_in`, after changing a setting)."""
    text = DOC.read_text(encoding="utf-8")
    assert replace_in(text) == text


def test_every_setting_is_in_the_reference() -> None:
    """Each setting has a row with its variable and a description."""
    reference = render()
    for name, info in Settings.model_fields.items():
        assert f"| `{name}` | `CLAYBRIDGE_{name.upper()}` |" in reference
        assert info.description, f"{name} has no description"
