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
it) and ``steps`` (earlier steps' outcomes by index), with the same rules as mapping
conditions (Clay's numeric strings read as numbers); false skips that step only.
``payload`` (default ``event``) is a path to what a ``forward`` step sends.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from claybridge.mapping.conditions import compile_condition
from claybridge.mapping.model import model_errors
from claybridge.mapping.paths import parse_path

STEP_NAMES = ("event", "source", "steps")
KEY = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")
MAX_STEPS = 50


class StepSpec(BaseModel):
    """One step of a workflow."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["forward"]
    destination: str = Field(min_length=1, max_length=200)
    when: str | None = None
    payload: str = "event"

    @field_validator("when")
    @classmethod
    def _when(cls, value: str | None) -> str | None:
        if value is not None:
            compile_condition(value, STEP_NAMES)
        return value

    @field_validator("payload")
    @classmethod
    def _payload(cls, value: str) -> str:
        parse_path(value, ("event", "source"))
        return value


class WorkflowSpec(BaseModel):
    """A workflow's definition."""

    model_config = ConfigDict(extra="forbid")

    key: str
    name: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    steps: list[StepSpec] = Field(min_length=1, max_length=MAX_STEPS)

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
