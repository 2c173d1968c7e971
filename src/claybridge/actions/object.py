"""``set_object``: a row becomes (or updates) the object with its key in a named
collection (accounts, deals, …), its properties merged."""

from __future__ import annotations

from typing import Any

from claybridge.actions.base import Action, Applying
from claybridge.actions.fields import CompiledField, Event, compile_field, properties_at, record_key
from claybridge.actions.person import RecordValues
from claybridge.mapping.conditions import Condition
from claybridge.mapping.model import ActionSpec
from claybridge.mapping.paths import Path, parse_path
from claybridge.records import objects


class SetObject(Action):
    """Create or update an object (:func:`claybridge.records.objects.set_object`)."""

    kind = "set_object"
    __slots__ = ("collection", "key", "properties")

    def __init__(
        self,
        index: int,
        condition: Condition | None,
        key: CompiledField,
        collection: str,
        properties: Path,
    ) -> None:
        super().__init__(index, condition)
        self.key = key
        self.collection = collection
        self.properties = properties

    @classmethod
    def from_spec(cls, index: int, spec: ActionSpec, condition: Condition | None) -> Action:
        """The key from ``id`` (a string); the collection as named."""
        key = compile_field("id", spec.id, "body.id", "string", required=True)
        assert spec.collection is not None  # the shape needs one
        return cls(index, condition, key, spec.collection, parse_path(spec.properties or "body"))

    def values(self, event: Event, date_order: str, typed: dict[str, Any] | None) -> Any:
        """The key and the properties object."""
        return RecordValues(record_key(self.key, event), {}, properties_at(self.properties, event))

    def apply(self, app: Applying, values: RecordValues, resolved: Any) -> dict[str, Any]:
        """Set the object now."""
        obj, created = objects.set_object(
            app.conn,
            self.collection,
            values.key,
            values.properties,
            source_id=app.source_id,
            now=app.now,
        )
        return self._answer(obj, created, "applied")

    def preview(self, app: Applying, values: RecordValues, resolved: Any) -> dict[str, Any]:
        """The object as :meth:`apply` would leave it."""
        obj, created = objects.preview(app.conn, self.collection, values.key, values.properties)
        return self._answer(obj, created, "would_apply")

    def _answer(self, obj: dict[str, Any], created: bool, status: str) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "status": status,
            "created": created,
            "object": objects.public(obj),
        }
