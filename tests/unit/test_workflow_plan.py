"""Workflow definitions and step planning (pure)."""

from __future__ import annotations

import pytest

from claybridge.errors import InvalidField
from claybridge.records.workflows import validate
from claybridge.workflows.executor import plan_steps

ICP = [
    {"kind": "forward", "destination": "outreach", "when": "event.icp_score >= 80"},
    {
        "kind": "forward",
        "destination": "nurture",
        "when": "event.icp_score >= 50 and event.icp_score < 80",
    },
]


@pytest.mark.parametrize(
    ("score", "sent_to"),
    [("91", ["outreach"]), ("65", ["nurture"]), ("12", []), (None, [])],
)
def test_icp_rule_routes_by_score(score: str | None, sent_to: list[str]) -> None:
    """Score ≥ 80 goes to outreach, ≥ 50 to nurture, otherwise nothing (Clay's strings)."""
    plans = plan_steps(ICP, {"icp_score": score, "email": "a@b.co"}, None)
    assert [p.destination for p in plans if p.action == "forward"] == sent_to
    assert all(p.reason for p in plans if p.action == "skip")


def test_payload_path_selects_what_is_sent() -> None:
    """A step's payload path picks part of the run's data."""
    steps = [{"kind": "forward", "destination": "d", "payload": "event.person"}]
    plans = plan_steps(steps, {"person": {"email": "a@b.co"}}, None)
    assert plans[0].payload == {"email": "a@b.co"}


def test_invalid_workflows_name_the_key() -> None:
    """Unknown names in conditions, bad keys and empty step lists are refused clearly."""
    with pytest.raises(InvalidField) as err:
        validate({"key": "w", "steps": [{"kind": "forward", "destination": "d", "when": "x > 1"}]})
    assert err.value.field == "steps[0].when"
    assert "unknown name 'x'" in err.value.message
    with pytest.raises(InvalidField, match="key"):
        validate({"key": "Bad Key", "steps": ICP})
    with pytest.raises(InvalidField, match="steps"):
        validate({"key": "w", "steps": []})
