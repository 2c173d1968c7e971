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

from dataclasses import dataclass, field
from typing import Any

from claybridge.actions.upsert_customer import CustomerInput, parse_customer
from claybridge.errors import ClaybridgeError, InvalidField, MissingField
from claybridge.mapping.conditions import Condition, compile_condition, view
from claybridge.mapping.model import (
    CUSTOMER_FIELDS,
    PERSON_FIELDS,
    ActionSpec,
    FieldSpec,
    SourceConfig,
)
from claybridge.mapping.paths import Path, parse_path
from claybridge.mapping.types import coerce_as

MAX_KEY = 255  # person/object keys and idempotency keys: their columns hold 255 chars
MAX_EVENT_NAME = 200  # the event log's event_name column
_PERSON_TYPES = {"email": "email", "avatar_url": "url"}


@dataclass(frozen=True)
class CompiledField:
    """A field spec with its path parsed."""

    name: str
    path: Path | None
    type: str
    required: bool
    value: Any
    by_name: bool = False  # errors name the field, not the path (default customer fields)

    def resolve(self, event: dict[str, Any]) -> Any:
        return self.value if self.path is None else self.path.resolve(event)

    @property
    def label(self) -> str:
        """How errors name this field: its path, or its name for default customer fields."""
        return self.name if (self.by_name or self.path is None) else str(self.path)


def _field(
    name: str,
    spec: FieldSpec | None,
    default_path: str,
    default_type: str = "any",
    required: bool = False,
    by_name: bool = False,
) -> CompiledField:
    """Compile ``spec`` (or the default path when the mapping leaves the field out)."""
    if spec is None:
        path = parse_path(default_path)
        return CompiledField(name, path, default_type, required, None, by_name)
    type_name = spec.type if spec.type != "any" else default_type
    path_or_none = parse_path(spec.path) if spec.path else None
    return CompiledField(name, path_or_none, type_name, spec.required or required, spec.value)


@dataclass(frozen=True)
class CompiledAction:
    """An action ready to plan."""

    index: int
    kind: str
    condition: Condition | None
    fields: tuple[CompiledField, ...]
    key: CompiledField | None = None
    collection: str | None = None
    properties: Path | None = None
    target: str | None = None  # forward: destination name; trigger_workflow: workflow key
    run_key: Path | None = None  # trigger_workflow: idempotency key; clay_*: request id
    external_id: Path | None = None
    callback: bool = False
    # Every field reads ``body.<its own name>``: the body itself is the field mapping
    # (the clay-customers default), with no per-field lookups.
    body_as_fields: bool = False


@dataclass(frozen=True)
class CompiledConfig:
    """A source configuration with paths and conditions compiled once."""

    event_path: Path
    default_event: str | None
    strict: bool
    mappings: dict[str, tuple[CompiledAction, ...]]
    idempotency_mode: str = "off"
    idempotency_path: Path | None = None
    idempotency_window: int = 86_400
    signature_scheme: str = "none"
    signature_header: str = "x-signature"
    signature_secrets: tuple[str, ...] = ()  # stored form (encrypted); see ingest.pipeline
    signature_tolerance: int = 300


def _compile_action(index: int, spec: ActionSpec) -> CompiledAction:
    condition = compile_condition(spec.when) if spec.when else None
    if spec.kind == "upsert_customer":
        fields = tuple(
            _field(name, spec.fields.get(name), f"body.{name}", by_name=True)
            for name in CUSTOMER_FIELDS
        )
        as_body = all(
            f.path is not None and f.path.root == "body" and f.path.segments == (f.name,)
            for f in fields
        )
        return CompiledAction(index, spec.kind, condition, fields, body_as_fields=as_body)
    if spec.kind in ("forward", "trigger_workflow", "clay_submit", "complete_request"):
        key_path = spec.idempotency_key or spec.request_id
        if spec.kind == "complete_request" and key_path is None:
            key_path = "body.request_id"
        return CompiledAction(
            index,
            spec.kind,
            condition,
            (),
            properties=parse_path(spec.payload or "body"),
            target=spec.destination or spec.workflow,
            run_key=parse_path(key_path) if key_path else None,
            external_id=parse_path(spec.external_id) if spec.external_id else None,
            callback=spec.callback,
        )
    props = parse_path(spec.properties or "body")
    if spec.kind == "identify_person":
        names = [n for n in PERSON_FIELDS if n in spec.fields] if spec.fields else PERSON_FIELDS
        fields = tuple(
            _field(n, spec.fields.get(n), f"body.{n}", _PERSON_TYPES.get(n, "string"))
            for n in names
        )
        # Default key: the email, lower-cased (one person however Clay capitalises it).
        key_type = "email" if spec.id is None else "string"
        key = _field("id", spec.id, "body.email", key_type, required=True)
        return CompiledAction(index, spec.kind, condition, fields, key, None, props)
    key = _field("id", spec.id, "body.id", "string", required=True)
    return CompiledAction(index, spec.kind, condition, (), key, spec.collection, props)


def compile_config(config: SourceConfig) -> CompiledConfig:
    """Compile a validated configuration."""
    return CompiledConfig(
        event_path=parse_path(config.event_path),
        default_event=config.default_event,
        strict=config.strict,
        mappings={
            name: tuple(_compile_action(i, a) for i, a in enumerate(actions))
            for name, actions in config.mappings.items()
        },
        idempotency_mode=config.idempotency.mode,
        idempotency_path=(
            parse_path(config.idempotency.key_path) if config.idempotency.key_path else None
        ),
        idempotency_window=config.idempotency.window_seconds,
        signature_scheme=config.signature.scheme,
        signature_header=config.signature.header.lower(),
        signature_secrets=tuple(config.signature.secrets),
        signature_tolerance=config.signature.tolerance_seconds,
    )


@dataclass(slots=True)
class PlannedAction:
    """What one action will do (``skipped`` with a reason, or ``apply`` with values)."""

    index: int
    kind: str
    status: str
    reason: str | None = None
    customer: CustomerInput | None = None
    key: str | None = None
    collection: str | None = None
    values: dict[str, Any] = field(default_factory=dict)
    properties: dict[str, Any] = field(default_factory=dict)
    target: str | None = None
    payload: Any = None
    external_id: str | None = None
    callback: bool = False


@dataclass(slots=True)
class Plan:
    """The event name, the planned actions and any warnings."""

    event_name: str | None
    actions: list[PlannedAction]
    warnings: list[str]


def _coerced(f: CompiledField, event: dict[str, Any], typed: dict[str, Any] | None = None) -> Any:
    """``f``'s coerced value; ``typed``: values already coerced for a condition."""
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


def _key(f: CompiledField, event: dict[str, Any]) -> str:
    value = _coerced(f, event)
    key = str(value).strip()
    if not key:
        raise MissingField(f"{f.label} is required", field=f.label)
    if len(key) > MAX_KEY:
        raise InvalidField(f"{f.label}: longer than {MAX_KEY} characters", field=f.label)
    return key


def _properties(path: Path | None, event: dict[str, Any]) -> dict[str, Any]:
    value = path.resolve(event) if path else None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidField(f"{path}: properties must be an object", field=str(path))
    return value


def _plan_action(
    action: CompiledAction, event: dict[str, Any], date_order: str, names: dict[str, Any] | None
) -> PlannedAction:
    typed: dict[str, Any] | None = None  # field name -> value coerced for the condition
    if action.condition is not None:
        if names is None:
            names = {"body": view(event["body"]), "headers": view(event["headers"])}
        typed = {}
        for f in action.fields:  # the condition sees declared fields with their types
            # Top-level body fields only: the view is a copy there (nested objects are
            # the event's own; they follow the default numeric-string rule).
            top = f.path is not None and f.path.root == "body" and len(f.path.segments) == 1
            if top and f.path is not None and f.type != "any":
                # An uncoercible value stays as sent; the action's validation reports it.
                # (try/except, not contextlib.suppress: that is three Python calls a row.)
                try:
                    typed[f.name] = coerce_as(f.type, f.resolve(event))
                except ValueError:
                    continue
                names["body"][f.path.segments[0]] = typed[f.name]
        ok, error = action.condition.evaluate(names)
        if not ok:
            return PlannedAction(
                action.index,
                action.kind,
                "skipped",
                error or f"condition {action.condition.source!r} is false",
            )
    if action.kind == "upsert_customer":
        body = event["body"]
        if action.body_as_fields and isinstance(body, dict):
            raw = body  # parse_customer reads only its own field names
        else:
            raw = {f.name: f.resolve(event) for f in action.fields}
        try:
            customer = parse_customer(raw, date_order=date_order)
        except ClaybridgeError as exc:
            # Name the configured path rather than the action's field name, if custom.
            label = next((f.label for f in action.fields if f.name == exc.field), None)
            if label is not None and label != exc.field:
                exc.message = exc.message.replace(str(exc.field), label, 1)
                exc.field = label
            raise
        return PlannedAction(action.index, action.kind, "apply", customer=customer)
    if action.kind in ("forward", "trigger_workflow", "clay_submit", "complete_request"):
        assert action.properties is not None
        payload = action.properties.resolve(event)
        if payload is None:
            label = str(action.properties)
            raise MissingField(f"{label} is empty: nothing to send", field=label)
        run_key = _optional_key(action.run_key, event)
        if action.kind == "complete_request" and run_key is None:
            label = str(action.run_key)
            raise MissingField(
                f"{label} is required: which request this row completes", field=label
            )
        return PlannedAction(
            action.index,
            action.kind,
            "apply",
            key=run_key,
            target=action.target,
            payload=payload,
            external_id=_optional_key(action.external_id, event),
            callback=action.callback,
        )
    assert action.key is not None
    key = _key(action.key, event)
    values = {f.name: _coerced(f, event, typed) for f in action.fields}
    return PlannedAction(
        action.index,
        action.kind,
        "apply",
        key=key,
        collection=action.collection,
        values=values,
        properties=_properties(action.properties, event),
    )


def _optional_key(path: Path | None, event: dict[str, Any]) -> str | None:
    """The text at ``path`` (``None`` when absent or blank); over 255 chars is refused."""
    if path is None:
        return None
    raw = path.resolve(event)
    key = str(raw).strip() if raw is not None else ""
    if len(key) > MAX_KEY:
        raise InvalidField(f"{path}: longer than {MAX_KEY} characters", field=str(path))
    return key or None


_SCALARS = (str, int, float)  # a tuple: ``A | B`` builds a union on every call


def event_name(config: CompiledConfig, event: dict[str, Any]) -> str | None:
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


def plan_event(config: CompiledConfig, event: dict[str, Any], *, date_order: str = "MDY") -> Plan:
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
    names: dict[str, Any] | None = None
    planned = [_plan_action(a, event, date_order, names) for a in actions]
    return Plan(name, planned, [])
