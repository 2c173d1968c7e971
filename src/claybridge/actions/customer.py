"""``upsert_customer``: a Clay account row becomes (or updates) the customer with its
domain, owned by the owner it names.

The answer's top-level ``customer`` is the record itself (``ingest.pipeline`` lifts it
out of the action's entry, which names its id).
"""

from __future__ import annotations

from typing import Any

from claybridge.actions.base import Action, Applying
from claybridge.actions.fields import CompiledField, Event, compile_field
from claybridge.errors import ClaybridgeError
from claybridge.mapping.conditions import Condition
from claybridge.mapping.customer import CustomerInput, parse_customer
from claybridge.mapping.kinds import CUSTOMER_FIELDS
from claybridge.mapping.model import ActionSpec
from claybridge.records import customers, owners

Owner = dict[str, Any] | None


class UpsertCustomer(Action):
    """Create or update a customer by its domain (see :mod:`claybridge.records.customers`
    for the merge rule)."""

    kind = "upsert_customer"
    # Every field reads ``body.<its own name>``: the body itself is the field mapping
    # (the clay-customers default), read without a lookup per field.
    __slots__ = ("body_as_fields",)

    def __init__(
        self, index: int, condition: Condition | None, fields: tuple[CompiledField, ...]
    ) -> None:
        super().__init__(index, condition, fields)
        self.body_as_fields = all(f.top_level == f.name for f in fields)

    @classmethod
    def from_spec(cls, index: int, spec: ActionSpec, condition: Condition | None) -> Action:
        """Each customer field from its configured path, or ``body.<name>``."""
        fields = tuple(
            compile_field(name, spec.fields.get(name), f"body.{name}", by_name=True)
            for name in CUSTOMER_FIELDS
        )
        return cls(index, condition, fields)

    def values(self, event: Event, date_order: str, typed: dict[str, Any] | None) -> Any:
        """The row as a :class:`CustomerInput`; errors name the configured path."""
        body = event["body"]
        if self.body_as_fields and isinstance(body, dict):
            raw = body  # parse_customer reads only its own field names
        else:
            raw = {f.name: f.resolve(event) for f in self.fields}
        try:
            return parse_customer(raw, date_order=date_order)
        except ClaybridgeError as exc:
            label = next((f.label for f in self.fields if f.name == exc.field), None)
            if label is not None and label != exc.field:
                exc.message = exc.message.replace(str(exc.field), label, 1)
                exc.field = label
            raise

    def resolve(self, app: Applying, values: CustomerInput) -> Owner:
        """The owner the row names (an unknown or ambiguous one refuses the event)."""
        return app.batch.owner(app.conn, name=values.owner_name, email=values.owner_email)

    def apply(self, app: Applying, values: CustomerInput, resolved: Owner) -> dict[str, Any]:
        """The upsert, as the batch does it (:attr:`Batch.customer_upsert`)."""
        row, created = app.batch.customer_upsert(
            app.conn,
            app.batch,
            values,
            owner_id=resolved["id"] if resolved else None,
            source_id=app.source_id,
            now=app.now,
        )
        return self._answer(app, row, created, resolved, "applied")

    def preview(self, app: Applying, values: CustomerInput, resolved: Owner) -> dict[str, Any]:
        """The customer as the upsert would leave it."""
        owner_id = resolved["id"] if resolved else None
        row, created = customers.preview(
            app.conn, values, owner_id=owner_id, source_id=app.source_id, now=app.now
        )
        return self._answer(app, row, created, resolved, "would_apply")

    def _answer(
        self, app: Applying, row: dict[str, Any], created: bool, owner: Owner, status: str
    ) -> dict[str, Any]:
        if owner is None and row["owner_id"]:
            owner = owners.get(app.conn, row["owner_id"])  # kept from an earlier row: show it
        body = customers.public(row, owner)
        body["created"] = created
        return {
            "kind": self.kind,
            "status": status,
            "created": created,
            "customer_id": body["id"],
            "_customer": body,
        }
