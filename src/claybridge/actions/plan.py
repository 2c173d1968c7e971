"""Turning one event into a plan: which actions run, with which coerced values.

Pure: no I/O. :func:`plan_event` never writes; it raises :class:`MissingField` /
:class:`InvalidField` (and ``unmapped_event`` in strict mode) before anything is applied,
so a bad row rejects the whole event with nothing written.

Execution order (documented): actions run in the order the mapping lists them. A
``when`` that is false (or cannot be evaluated) skips that action and only that one;
the response says so. Every action that will run is fully validated before the first
write.
"""

from __future__ import annotations

from dataclasses import dataclass

from claybridge.actions.base import Action, Planned
from claybridge.actions.fields import Event
from claybridge.actions.kinds import KINDS
from claybridge.errors import ClaybridgeError, InvalidField
from claybridge.mapping.conditions import compile_condition
from claybridge.mapping.model import ActionSpec, SourceConfig
from claybridge.mapping.paths import Path, parse_path

MAX_EVENT_NAME = 200  # the event log's event_name column


@dataclass(frozen=True)
class CompiledConfig:
    """A source configuration with paths and conditions compiled once."""

    event_path: Path
    default_event: str | None
    strict: bool
    mappings: dict[str, tuple[Action, ...]]
    idempotency_mode: str = "off"
    idempotency_path: Path | None = None
    idempotency_window: int = 86_400
    signature_scheme: str = "none"
    signature_header: str = "x-signature"
    signature_secrets: tuple[str, ...] = ()  # stored form (encrypted); see ingest.auth
    signature_tolerance: int = 300


def compile_action(index: int, spec: ActionSpec) -> Action:
    """The action ``spec`` describes, as its kind's class."""
    condition = compile_condition(spec.when) if spec.when else None
    return KINDS[spec.kind].from_spec(index, spec, condition)


def compile_config(config: SourceConfig) -> CompiledConfig:
    """Compile a validated configuration."""
    key_path = config.idempotency.key_path
    return CompiledConfig(
        event_path=parse_path(config.event_path),
        default_event=config.default_event,
        strict=config.strict,
        mappings={
            name: tuple(compile_action(i, a) for i, a in enumerate(actions))
            for name, actions in config.mappings.items()
        },
        idempotency_mode=config.idempotency.mode,
        idempotency_path=parse_path(key_path) if key_path else None,
        idempotency_window=config.idempotency.window_seconds,
        signature_scheme=config.signature.scheme,
        signature_header=config.signature.header.lower(),
        signature_secrets=tuple(config.signature.secrets),
        signature_tolerance=config.signature.tolerance_seconds,
    )


@dataclass(slots=True)
class Plan:
    """The event name, the planned actions (in mapping order) and any warnings."""

    event_name: str | None
    actions: list[Planned]
    warnings: list[str]


_SCALARS = (str, int, float)  # a tuple: ``A | B`` builds a union on every call


def event_name(config: CompiledConfig, event: Event) -> str | None:
    """The event's name from ``event_path``, or the source's default; a name longer than
    the event log's column is refused (422 ``invalid_field``)."""
    raw = config.event_path.resolve(event)
    name = str(raw).strip() if isinstance(raw, _SCALARS) else ""
    if len(name) > MAX_EVENT_NAME:
        field = str(config.event_path)
        raise InvalidField(
            f"{field}: the event name is longer than {MAX_EVENT_NAME} characters", field=field
        )
    return name or config.default_event


def plan_event(config: CompiledConfig, event: Event, *, date_order: str = "MDY") -> Plan:
    """Plan ``event`` (``{"body": …, "headers": …}``); see the module docstring."""
    name = event_name(config, event)
    actions = config.mappings.get(name) if name else None
    if actions is None:
        message = (
            f"no mapping for event {name!r}"
            if name
            else f"no event name at {config.event_path} and no default event"
        )
        if config.strict:
            raise ClaybridgeError(
                message, code="unmapped_event", status_code=422, field=str(config.event_path)
            )
        return Plan(name, [], [f"{message}; nothing was done"])
    return Plan(name, [a.plan(event, date_order) for a in actions], [])
