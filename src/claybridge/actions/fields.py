"""Reading an action's values out of an event: compiled fields, keys and payloads.

Pure: no I/O. Every reader raises :class:`MissingField` / :class:`InvalidField` naming
the configured path (or, for the default customer fields, the field's name), so a bad
row is refused before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from claybridge.errors import InvalidField, MissingField
from claybridge.mapping.model import FieldSpec
from claybridge.mapping.paths import Path, parse_path
from claybridge.mapping.types import coerce_as

MAX_KEY = 255  # person/object keys and idempotency keys: their columns hold 255 chars

Event = dict[str, Any]  # {"body": …, "headers": …}


@dataclass(frozen=True)
class CompiledField:
    """A field spec with its path parsed."""

    name: str
    path: Path | None
    type: str
    required: bool
    value: Any
    by_name: bool = False  # errors name the field, not the path (default customer fields)

    def resolve(self, event: Event) -> Any:
        """The raw value: the constant, or what the path finds (``None`` if nothing)."""
        return self.value if self.path is None else self.path.resolve(event)

    @property
    def label(self) -> str:
        """How errors name this field: its path, or its name for default customer fields."""
        return self.name if (self.by_name or self.path is None) else str(self.path)

    @property
    def top_level(self) -> str | None:
        """The body key this field reads, when it reads one top-level body key."""
        path = self.path
        if path is not None and path.root == "body" and len(path.segments) == 1:
            return path.segments[0]
        return None


def compile_field(
    name: str,
    spec: FieldSpec | None,
    default_path: str,
    default_type: str = "any",
    required: bool = False,
    by_name: bool = False,
) -> CompiledField:
    """Compile ``spec`` (or the default path when the mapping leaves the field out)."""
    if spec is None:
        return CompiledField(name, parse_path(default_path), default_type, required, None, by_name)
    type_name = spec.type if spec.type != "any" else default_type
    path = parse_path(spec.path) if spec.path else None
    return CompiledField(name, path, type_name, spec.required or required, spec.value)


def coerced(f: CompiledField, event: Event, typed: dict[str, Any] | None = None) -> Any:
    """``f``'s value coerced to its type; ``typed``: values already coerced for a
    condition. A required field that comes out empty is :class:`MissingField`."""
    if typed is not None and f.name in typed:
        value = typed[f.name]
    else:
        try:
            value = coerce_as(f.type, f.resolve(event))
        except ValueError as exc:
            raise InvalidField(f"{f.label}: {exc}", field=f.label) from None
    if value is None and f.required:
        raise MissingField(f"{f.label} is required", field=f.label)
    return value


def record_key(f: CompiledField, event: Event) -> str:
    """A record's key: the field's value as trimmed text, never blank, at most
    :data:`MAX_KEY` characters."""
    key = str(coerced(f, event)).strip()
    if not key:
        raise MissingField(f"{f.label} is required", field=f.label)
    if len(key) > MAX_KEY:
        raise InvalidField(f"{f.label}: longer than {MAX_KEY} characters", field=f.label)
    return key


def optional_key(path: Path | None, event: Event) -> str | None:
    """The text at ``path`` (``None`` when absent or blank); over 255 chars is refused."""
    if path is None:
        return None
    raw = path.resolve(event)
    key = str(raw).strip() if raw is not None else ""
    if len(key) > MAX_KEY:
        raise InvalidField(f"{path}: longer than {MAX_KEY} characters", field=str(path))
    return key or None


def properties_at(path: Path | None, event: Event) -> dict[str, Any]:
    """The object at ``path`` (``{}`` when absent); anything but an object is refused."""
    value = path.resolve(event) if path else None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidField(f"{path}: properties must be an object", field=str(path))
    return value
