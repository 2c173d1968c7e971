"""The merge rule for people and object properties. Pure.

New keys are added, sent keys are updated, and a key sent blank (``""``, only spaces, or
``null``) leaves the stored value alone: an empty Clay cell never erases data. The merge
is shallow: a nested object sent for a key replaces the stored one.
"""

from __future__ import annotations

from typing import Any

from claybridge.core.coerce import is_blank


def changed_fields(values: dict[str, Any]) -> dict[str, Any]:
    """The values that were sent (not blank, by :func:`is_blank`): what an update writes."""
    return {k: v for k, v in values.items() if not is_blank(v)}


def merge_properties(stored: dict[str, Any], sent: dict[str, Any]) -> dict[str, Any]:
    """``stored`` updated with the non-blank values of ``sent`` (a new dict)."""
    return {**stored, **changed_fields(sent)}
