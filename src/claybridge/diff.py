"""Field-by-field differences between two JSON-like values, for ``apply --dry-run``.

Pure. Each difference is one line: ``path: old -> new`` for a changed value,
``path: + new`` for an added one and ``path: - old`` for a removed one; paths are
dotted keys with ``[i]`` list indexes (``mappings.lead[0].when``).
"""

from __future__ import annotations

import json
from typing import Any

SHOWN = 60  # characters of a value a line shows


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= SHOWN else text[: SHOWN - 1] + "…"


def _join(prefix: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{prefix}[{key}]"
    return f"{prefix}.{key}" if prefix else str(key)


def changes(before: Any, after: Any, prefix: str = "") -> list[str]:
    """The lines that turn ``before`` into ``after`` (none when they are equal)."""
    if before == after:
        return []
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[str] = []
        for key in [*before, *(k for k in after if k not in before)]:
            path = _join(prefix, key)
            if key not in after:
                out.append(f"{path}: - {_shown(before[key])}")
            elif key not in before:
                out.append(f"{path}: + {_shown(after[key])}")
            else:
                out += changes(before[key], after[key], path)
        return out
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return [
            line
            for i, pair in enumerate(zip(before, after, strict=True))
            for line in changes(*pair, _join(prefix, i))
        ]
    return [f"{prefix or '(value)'}: {_shown(before)} -> {_shown(after)}"]
