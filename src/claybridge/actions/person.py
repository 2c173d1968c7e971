"""``identify_person``: a row becomes (or updates) the person with its key (by default
the e-mail, lower-cased), its named fields set and its properties merged."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from claybridge.actions.base import Action, Applying
from claybridge.actions.fields import (
    CompiledField,
    Event,
    coerced,
    compile_field,
    properties_at,
    record_key,
)
from claybridge.mapping.conditions import Condition
from claybridge.mapping.kinds import PERSON_FIELDS
from claybridge.mapping.model import ActionSpec
from claybridge.mapping.paths import Path, parse_path
from claybridge.records import people

_TYPES = {"email": "email", "avatar_url": "url"}  # the other person fields are strings


@dataclass(frozen=True, slots=True)
class RecordValues:
    """A person's or an object's planned values: its key, its named fields and the
    properties merged into it."""

    key: str
    fields: dict[str, Any]
    properties: dict[str, Any]


class IdentifyPerson(Action):
    """Create or update a person by key (:func:`claybridge.records.people.identify`)."""

    kind = "identify_person"
    __slots__ = ("key", "properties")

    def __init__(
        self,
        index: int,
        condition: Condition | None,
        fields: tuple[CompiledField, ...],
        key: CompiledField,
        properties: Path,
    ) -> None:
        super().__init__(index, condition, fields)
        self.key = key
        self.properties = properties

    @classmethod
    def from_spec(cls, index: int, spec: ActionSpec, condition: Condition | None) -> Action:
        """The fields the mapping names (all four when it names none); the key from
        ``id``, else the e-mail, lower-cased (one person however Clay capitalises it)."""
        names = [n for n in PERSON_FIELDS if n in spec.fields] if spec.fields else PERSON_FIELDS
        fields = tuple(
            compile_field(n, spec.fields.get(n), f"body.{n}", _TYPES.get(n, "string"))
            for n in names
        )
        key_type = "email" if spec.id is None else "string"
        key = compile_field("id", spec.id, "body.email", key_type, required=True)
        return cls(index, condition, fields, key, parse_path(spec.properties or "body"))

    def values(self, event: Event, date_order: str, typed: dict[str, Any] | None) -> Any:
        """The key, the coerced fields and the properties object."""
        key = record_key(self.key, event)
        fields = {f.name: coerced(f, event, typed) for f in self.fields}
        return RecordValues(key, fields, properties_at(self.properties, event))

    def apply(self, app: Applying, values: RecordValues, resolved: Any) -> dict[str, Any]:
        """Identify the person now."""
        person, created = people.identify(
            app.conn,
            values.key,
            values.fields,
            values.properties,
            source_id=app.source_id,
            now=app.now,
        )
        return self._answer(person, created, "applied")

    def preview(self, app: Applying, values: RecordValues, resolved: Any) -> dict[str, Any]:
        """The person as :meth:`apply` would leave them."""
        person, created = people.preview(app.conn, values.key, values.fields, values.properties)
        return self._answer(person, created, "would_apply")

    def _answer(self, person: dict[str, Any], created: bool, status: str) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "status": status,
            "created": created,
            "person": people.public(person),
        }
