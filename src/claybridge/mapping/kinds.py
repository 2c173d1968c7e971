"""Action kinds as a mapping may write them: the one statement of what each kind takes.

Pure data, checked when a configuration is saved (:meth:`ActionSpec._kind_rules`); what a
kind *does* (plan, apply, preview) is its class in :mod:`claybridge.actions`, which
refers back to the shape here by the same name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Field names each action accepts (and, for upsert_customer, requires).
CUSTOMER_FIELDS = ("name", "websiteUrl", "owner", "ownerEmail", "stage", "arr", "renewalDate")
PERSON_FIELDS = ("full_name", "email", "phone_number", "avatar_url")

# The options of an action besides ``kind``, ``when`` and ``fields``.
OPTIONS = (
    "id",
    "collection",
    "properties",
    "destination",
    "workflow",
    "payload",
    "idempotency_key",
    "request_id",
    "external_id",
    "callback",
)


@dataclass(frozen=True)
class KindShape:
    """What one kind of action may say.

    ``fields``: the named fields it accepts; ``needs``: options it cannot do without,
    each with the hint shown when missing; ``takes``: every other option it accepts;
    ``outbound``: it sends or queues its payload (a path) rather than writing a record.
    """

    fields: tuple[str, ...] = ()
    needs: dict[str, str] = field(default_factory=dict)
    takes: frozenset[str] = frozenset()
    outbound: bool = False

    def problem(self, kind: str, spec: dict[str, Any]) -> str | None:
        """The first thing wrong with an action of this kind (``spec``: its options as
        given, ``None``/``False``/empty when left out), or ``None``."""
        unknown = sorted(set(spec.get("fields") or ()) - set(self.fields))
        if unknown:
            known = ", ".join(self.fields) or (
                "none (use payload)" if self.outbound else "none (use properties)"
            )
            return f"{kind} has no field {unknown[0]!r}; its fields: {known}"
        for option, hint in self.needs.items():
            if not spec.get(option):
                return f"{kind} needs {hint}"
        for option in OPTIONS:
            if spec.get(option) and option not in self.needs and option not in self.takes:
                return f"{kind} takes no {option}" + (
                    " (it sends a payload path)" if self.outbound else ""
                )
        return None


_DESTINATION = "a destination (its name), e.g. destination: crm"

SHAPES: dict[str, KindShape] = {
    "upsert_customer": KindShape(fields=CUSTOMER_FIELDS),
    "identify_person": KindShape(fields=PERSON_FIELDS, takes=frozenset({"id", "properties"})),
    "set_object": KindShape(
        needs={
            "collection": "a collection, e.g. collection: accounts",
            "id": "an id path, e.g. id: body.domain",
        },
        takes=frozenset({"properties"}),
    ),
    "forward": KindShape(
        needs={"destination": _DESTINATION}, takes=frozenset({"payload"}), outbound=True
    ),
    "trigger_workflow": KindShape(
        needs={"workflow": "a workflow (its key)"},
        takes=frozenset({"payload", "idempotency_key"}),
        outbound=True,
    ),
    "clay_submit": KindShape(
        needs={"destination": _DESTINATION},
        takes=frozenset({"payload", "request_id", "external_id", "callback"}),
        outbound=True,
    ),
    "complete_request": KindShape(takes=frozenset({"payload", "request_id"}), outbound=True),
}
