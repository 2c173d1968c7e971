"""A workflow as a user writes it, validated when saved.

Shape (YAML; JSON alike)::

    key: route-lead
    name: Route leads by ICP score
    steps:
      - kind: forward
        destination: outreach-slack
        when: event.icp_score >= 80
      - kind: forward
        destination: nurture-webhook
        when: event.icp_score >= 50 and event.icp_score < 80

Steps run in order. A ``when`` sees ``event`` (the run's data), ``source`` (what started
it) and ``steps`` (earlier steps' outcomes by index: ``steps[1].result.icp_score`` in a
condition, ``steps.1.result`` in a path, is the row a callback returned), with the same
rules as mapping conditions (Clay's numeric strings read as numbers); false skips that
step only. ``payload`` (default ``event``) is
a path to what a ``forward`` or ``clay_submit`` step sends.

Round trips::

      - kind: clay_submit               # into a Clay table, whose last column calls back
        destination: enrich-table
        callback: true
      - kind: wait_for_callback         # the run waits (status waiting) for that row
      - kind: forward
        destination: crm
        payload: steps.1.result         # the enriched row
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from claybridge.mapping.conditions import compile_condition
from claybridge.mapping.model import model_errors
from claybridge.mapping.paths import parse_path

STEP_NAMES = ("event", "source", "steps")
PATH_ROOTS = STEP_NAMES  # payload paths: event.x, source.x, steps.0.result.x
KEY = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")
MAX_STEPS = 50


class StepSpec(BaseModel):
    """One step of a workflow."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["forward", "clay_submit", "wait_for_callback"]
    destination: str | None = Field(default=None, min_length=1, max_length=200)
    when: str | None = None
    payload: str = "event"
    # clay_submit
    callback: bool = False
    request_id: str | None = None
    external_id: str | None = None
    # wait_for_callback: the index of the clay_submit step to wait for (default: the
    # nearest one before it)
    step: int | None = Field(default=None, ge=0)

    @field_validator("request_id", "external_id")
    @classmethod
    def _id_paths(cls, value: str | None) -> str | None:
        if value is not None:
            parse_path(value, PATH_ROOTS)
        return value

    @model_validator(mode="after")
    def _kind_rules(self) -> StepSpec:
        if self.kind in ("forward", "clay_submit") and not self.destination:
            raise ValueError(f"{self.kind} needs a destination (its name)")
        if self.kind == "wait_for_callback" and self.destination:
            raise ValueError("wait_for_callback takes no destination (it waits for a step)")
        if self.kind != "clay_submit" and (self.callback or self.request_id or self.external_id):
            raise ValueError("callback, request_id and external_id are for clay_submit steps")
        if self.kind != "wait_for_callback" and self.step is not None:
            raise ValueError("step is for wait_for_callback")
        return self

    @field_validator("when")
    @classmethod
    def _when(cls, value: str | None) -> str | None:
        if value is not None:
            compile_condition(value, STEP_NAMES)
        return value

    @field_validator("payload")
    @classmethod
    def _payload(cls, value: str) -> str:
        parse_path(value, PATH_ROOTS)
        return value


class WorkflowSpec(BaseModel):
    """A workflow's definition."""

    model_config = ConfigDict(extra="forbid")

    key: str
    name: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    steps: list[StepSpec] = Field(min_length=1, max_length=MAX_STEPS)

    @model_validator(mode="after")
    def _waits(self) -> WorkflowSpec:
        for index, step in enumerate(self.steps):
            if step.kind != "wait_for_callback":
                continue
            target = step.step
            if target is None:
                before = [i for i, s in enumerate(self.steps[:index]) if s.kind == "clay_submit"]
                if not before:
                    raise ValueError(
                        f"steps[{index}]: wait_for_callback needs a clay_submit before it"
                    )
                target = before[-1]
            if target >= index or self.steps[target].kind != "clay_submit":
                raise ValueError(f"steps[{index}].step must name an earlier clay_submit step")
            if not self.steps[target].callback:
                raise ValueError(f"steps[{target}]: set callback: true to wait for its callback")
        return self

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        if not KEY.match(value):
            raise ValueError(
                "key must be 1 to 100 lower-case letters, digits, '.', '_' or '-' "
                "(starting with a letter or digit)"
            )
        return value


def workflow_errors(data: Any) -> list[tuple[tuple[Any, ...], str]]:
    """Every problem with ``data`` as ``(location, message)``; empty when valid."""
    return model_errors(WorkflowSpec, data)
