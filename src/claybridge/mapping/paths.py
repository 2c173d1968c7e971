"""Dot paths over an event: ``body.company.domain``, ``headers.x-clay-table-id``.

A path starts with ``body`` or ``headers``. Body segments are object keys (or list
indexes written as numbers: ``body.contacts.0.email``); a header name is the one segment
after ``headers`` and is matched case-insensitively (HTTP header names may contain
dots or dashes, so everything after ``headers.`` is the name).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_SEGMENT = re.compile(r"^[A-Za-z0-9_\-$@ ]+$")
ROOTS = ("body", "headers")


@dataclass(frozen=True)
class Path:
    """A parsed path: its root and segments."""

    root: str
    segments: tuple[str, ...]

    def __str__(self) -> str:
        return ".".join((self.root, *self.segments))

    def resolve(self, event: dict[str, Any]) -> Any:
        """The value at this path in ``{"body": …, "headers": …}``, or ``None``."""
        value: Any = event.get(self.root)
        if len(self.segments) == 1 and isinstance(value, dict):  # the usual body.field
            return value.get(self.segments[0])
        for segment in self.segments:
            if isinstance(value, dict):
                value = value.get(segment)
            elif isinstance(value, list) and segment.isdigit():
                index = int(segment)
                value = value[index] if index < len(value) else None
            else:
                return None
            if value is None:
                return None
        return value


def parse_path(text: str, roots: tuple[str, ...] = ROOTS) -> Path:
    """Parse ``text`` or raise :class:`ValueError` saying what is wrong with it.

    ``roots``: the names a path may start with (workflow steps use ``event``,
    ``source`` and ``steps``); every root but ``headers`` reads like ``body``.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"a path must be a non-empty string such as {roots[0]}.email")
    text = text.strip()
    root, _, rest = text.partition(".")
    if root not in roots:
        allowed = " or ".join(f"{r}." for r in roots)
        raise ValueError(f"path {text!r} must start with {allowed}")
    if not rest:
        if root != "headers":
            return Path(root, ())
        raise ValueError("a headers path names one header, e.g. headers.x-clay-table-id")
    if root == "headers":
        return Path("headers", (rest.lower(),))
    segments = tuple(rest.split("."))
    for segment in segments:
        if not segment or not _SEGMENT.match(segment):
            raise ValueError(f"path {text!r} has an empty or invalid segment {segment!r}")
    return Path(root, segments)
