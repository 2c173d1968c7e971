"""The source configuration: event routing, mappings and their actions.

Validated when saved (API, CLI or YAML), never discovered at request time: unknown
action kinds, paths that do not parse, conditions that do not compile and unknown
types are refused with a message naming where (``mappings.lead.enriched[0].when``).

Shape (YAML shown; JSON is the same)::

    event_path: body.event          # where the event name is read
    default_event: lead.enriched    # used when that path is empty
    strict: false                   # true: an unmapped event is 422, not 200 + warning
    mappings:
      lead.enriched:
        - kind: identify_person
          id: body.email            # the person's key (default body.email)
          when: body.icp_score >= 80 and body.email
          fields:
            full_name: body.full_name
            email: {path: body.email, type: email, required: true}
          properties: body          # merged into the person (default: the whole row)
        - kind: set_object
          collection: accounts
          id: {path: body.company_domain, type: domain}
        - kind: forward                 # queue a delivery (sent by a worker)
          destination: hot-leads-slack
          when: body.icp_score >= 80
          payload: body                 # what is sent (default: the whole row)
        - kind: trigger_workflow        # start a run of a workflow
          workflow: route-lead
          idempotency_key: body.clay_row_id   # optional: one run per key
        - kind: clay_submit             # send the row into another Clay table
          destination: enrich-table
          request_id: body.clay_row_id  # optional (generated when callback is true)
          external_id: body.crm_id      # optional
          callback: true                # the enriched row comes back to complete_request
    request.completed:
        - kind: complete_request        # a callback source: body.request_id by default

A field is a path string, or ``{path, type, required}``, or ``{value: <constant>}``.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from claybridge.mapping.conditions import compile_condition
from claybridge.mapping.kinds import OPTIONS, SHAPES
from claybridge.mapping.paths import parse_path
from claybridge.mapping.types import TYPE_NAMES

MAX_ACTIONS = 20


class FieldSpec(BaseModel):
    """Where a value comes from and how it is coerced."""

    model_config = ConfigDict(extra="forbid")

    path: str | None = None
    type: str = "any"
    required: bool = False
    value: Any = None

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, data: Any) -> Any:
        return {"path": data} if isinstance(data, str) else data

    @field_validator("path")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        if value is not None:
            parse_path(value)
        return value

    @field_validator("type")
    @classmethod
    def _type(cls, value: str) -> str:
        if value not in TYPE_NAMES:
            raise ValueError(f"unknown type {value!r}; known: {', '.join(TYPE_NAMES)}")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> FieldSpec:
        if self.path is None and self.value is None:
            raise ValueError("a field needs a path or a constant value")
        if self.path is not None and self.value is not None:
            raise ValueError("a field has a path or a constant value, not both")
        return self


class ActionSpec(BaseModel):
    """One action of a mapping."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(json_schema_extra={"enum": list(SHAPES)})
    when: str | None = None
    fields: dict[str, FieldSpec] = Field(default_factory=dict)
    id: FieldSpec | None = None
    collection: str | None = Field(default=None, min_length=1, max_length=100)
    properties: str | None = None
    destination: str | None = Field(default=None, min_length=1, max_length=200)
    workflow: str | None = Field(default=None, min_length=1, max_length=100)
    payload: str | None = None
    idempotency_key: str | None = None
    request_id: str | None = None
    external_id: str | None = None
    callback: bool = False

    @field_validator("payload", "idempotency_key", "request_id", "external_id")
    @classmethod
    def _paths(cls, value: str | None) -> str | None:
        if value is not None:
            parse_path(value)
        return value

    @field_validator("when")
    @classmethod
    def _when(cls, value: str | None) -> str | None:
        if value is not None:
            compile_condition(value)
        return value

    @field_validator("properties")
    @classmethod
    def _properties(cls, value: str | None) -> str | None:
        if value is not None:
            parse_path(value)
        return value

    @field_validator("kind")
    @classmethod
    def _kind(cls, value: str) -> str:
        if value not in SHAPES:
            raise ValueError(f"unknown action kind {value!r}; known: {', '.join(SHAPES)}")
        return value

    @model_validator(mode="after")
    def _kind_rules(self) -> ActionSpec:
        given = {name: getattr(self, name) for name in ("fields", *OPTIONS)}
        problem = SHAPES[self.kind].problem(self.kind, given)
        if problem is not None:
            raise ValueError(problem)
        return self


class Idempotency(BaseModel):
    """How repeats of one row are recognised (see ``claybridge.ingest.idempotency``)."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["off", "key", "content_hash"] = "off"
    key_path: str | None = None
    window_seconds: int = Field(default=86_400, ge=1, le=30 * 86_400)

    @field_validator("key_path")
    @classmethod
    def _key_path(cls, value: str | None) -> str | None:
        if value is not None:
            parse_path(value)
        return value

    @model_validator(mode="after")
    def _needs_path(self) -> Idempotency:
        if self.mode == "key" and not self.key_path:
            raise ValueError("mode key needs a key_path, e.g. body.clay_row_id")
        return self


class Signature(BaseModel):
    """Signed requests (see ``claybridge.core.signatures``). Secrets are stored
    encrypted and shown masked; sending the mask back keeps the stored secret."""

    model_config = ConfigDict(extra="forbid")

    scheme: Literal["none", "hmac_sha256", "standard_webhooks"] = "none"
    header: str = Field(default="x-signature", min_length=1, max_length=100)
    secrets: list[str] = Field(default_factory=list, max_length=5)
    tolerance_seconds: int = Field(default=300, ge=1, le=3600)

    @model_validator(mode="after")
    def _needs_secret(self) -> Signature:
        if self.scheme != "none" and not [s for s in self.secrets if s.strip()]:
            raise ValueError(f"scheme {self.scheme} needs at least one secret")
        return self


class SourceConfig(BaseModel):
    """Everything a source does with the events it receives."""

    model_config = ConfigDict(extra="forbid")

    event_path: str = "body.event"
    default_event: str | None = None
    strict: bool = False
    idempotency: Idempotency = Field(default_factory=Idempotency)
    signature: Signature = Field(default_factory=Signature)
    mappings: dict[str, list[ActionSpec]] = Field(default_factory=dict)

    @field_validator("event_path")
    @classmethod
    def _event_path(cls, value: str) -> str:
        parse_path(value)
        return value

    @field_validator("mappings")
    @classmethod
    def _mappings(cls, value: dict[str, list[ActionSpec]]) -> dict[str, list[ActionSpec]]:
        for name, actions in value.items():
            if not name.strip() or len(name) > 200:
                raise ValueError(f"event name {name!r} must be 1 to 200 characters")
            if not actions:
                raise ValueError(f"mapping {name!r} has no actions")
            if len(actions) > MAX_ACTIONS:
                raise ValueError(f"mapping {name!r} has more than {MAX_ACTIONS} actions")
        return value


def error_location(loc: tuple[Any, ...]) -> str:
    """A pydantic error location as a dotted key path: ``mappings.lead.enriched[0].when``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("function-after", "function-before") or str(part).startswith("function"):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out


def model_errors(model: type[BaseModel], data: Any) -> list[tuple[tuple[Any, ...], str]]:
    """Every problem validating ``data`` as ``model``: ``(location, message)``; empty
    when valid."""
    from pydantic import ValidationError

    try:
        model.model_validate(data)
    except ValidationError as exc:
        return [
            (
                tuple(p for p in e["loc"] if not str(p).startswith("function")),
                str(e["msg"]).removeprefix("Value error, "),
            )
            for e in exc.errors()
        ]
    return []


M = TypeVar("M", bound=BaseModel)


def validated(model: type[M], data: Any, *, code: str) -> M:
    """``data`` as ``model``, or :class:`claybridge.errors.InvalidField` with ``code``
    naming the first bad key (``mappings.lead.enriched[0].when: …``)."""
    from claybridge.errors import InvalidField

    problems = model_errors(model, data)
    if problems:
        loc, message = problems[0]
        where = error_location(loc)
        raise InvalidField(
            f"{where}: {message}" if where else message, field=where or None, code=code
        )
    return model.model_validate(data)


def config_errors(data: Any) -> list[tuple[tuple[Any, ...], str]]:
    """Every problem with a source configuration; empty when valid."""
    return model_errors(SourceConfig, data)


def parse_config(data: dict[str, Any]) -> SourceConfig:
    """Validate ``data``; raises :class:`claybridge.errors.InvalidField` naming the key."""
    return validated(SourceConfig, data, code="invalid_config")
