"""References between setup records: a mapping's actions and a workflow's steps name
destinations (by name) and workflows (by key).

Contract: a reference is checked when the record holding it is saved, in the API, the
CLI and the setup file alike (422 ``unknown_destination`` / ``unknown_workflow``, naming
the key), and a destination or workflow that something refers to is not deleted (or a
destination renamed) unless forced (409 ``destination_in_use`` / ``workflow_in_use``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from claybridge.errors import Conflict, InvalidField
from claybridge.mapping.model import SourceConfig, error_location, parse_config
from claybridge.mapping.workflow import WorkflowSpec
from claybridge.storage.tables import destinations, sources, workflows

DESTINATION, WORKFLOW = "destination", "workflow"


@dataclass(frozen=True)
class Reference:
    """The value at ``loc`` names a ``kind`` record called ``name``."""

    loc: tuple[Any, ...]
    kind: str
    name: str

    @property
    def field(self) -> str:
        """``loc`` as a dotted key path."""
        return error_location(self.loc)


def in_config(config: SourceConfig) -> Iterator[Reference]:
    """The references a source's mappings make."""
    for event, actions in config.mappings.items():
        for i, action in enumerate(actions):
            if action.destination:
                yield Reference(
                    ("mappings", event, i, "destination"), DESTINATION, action.destination
                )
            if action.workflow:
                yield Reference(("mappings", event, i, "workflow"), WORKFLOW, action.workflow)


def in_steps(spec: WorkflowSpec) -> Iterator[Reference]:
    """The references a workflow's steps make."""
    for i, step in enumerate(spec.steps):
        if step.destination:
            yield Reference(("steps", i, "destination"), DESTINATION, step.destination)


def known(conn: sa.Connection) -> dict[str, set[str]]:
    """The destination names and workflow keys that exist."""
    return {
        DESTINATION: set(conn.execute(sa.select(destinations.c.name)).scalars()),
        WORKFLOW: set(conn.execute(sa.select(workflows.c.key)).scalars()),
    }


def missing(refs: Iterable[Reference], exist: dict[str, set[str]]) -> Iterator[InvalidField]:
    """An error (422 ``unknown_destination`` / ``unknown_workflow``) for each reference
    to a name not in ``exist`` (from :func:`known`, plus names about to exist)."""
    for ref in refs:
        if ref.name not in exist[ref.kind]:
            listed = ", ".join(sorted(exist[ref.kind])) or "none yet"
            yield InvalidField(
                f"{ref.field}: no {ref.kind} {ref.name!r} (known: {listed})",
                field=ref.field,
                code=f"unknown_{ref.kind}",
            )


def check(conn: sa.Connection, refs: Iterable[Reference]) -> None:
    """Refuse the first reference to a record that does not exist."""
    for error in missing(refs, known(conn)):
        raise error


def users(conn: sa.Connection, kind: str, name: str) -> list[str]:
    """What refers to the ``kind`` record ``name``, in words (``source 'Leads' at
    mappings.lead[0].destination``)."""
    found = []
    for row in conn.execute(sa.select(sources.c.name, sources.c.config).order_by(sources.c.name)):
        for ref in in_config(parse_config(dict(row.config or {}))):
            if ref.kind == kind and ref.name == name:
                found.append(f"source {row.name!r} at {ref.field}")
    if kind == DESTINATION:
        query = sa.select(workflows.c.key, workflows.c.steps).order_by(workflows.c.key)
        for key, steps in conn.execute(query):
            for i, step in enumerate(steps or []):
                if step.get("destination") == name:
                    found.append(f"workflow {key!r} at steps[{i}].destination")
    return found


def refuse_if_used(conn: sa.Connection, kind: str, name: str, *, doing: str = "delete") -> None:
    """409 ``<kind>_in_use`` when something refers to the record (callers skip this when
    forced)."""
    used_by = users(conn, kind, name)
    if used_by:
        raise Conflict(
            f"{kind} {name!r} is used by {'; '.join(used_by)}: change those first, or "
            f"{doing} with force",
            code=f"{kind}_in_use",
        )
