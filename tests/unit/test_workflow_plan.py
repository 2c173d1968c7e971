"""Workflow definitions and step planning (pure)."""

from __future__ import annotations

import pytest

from claybridge.errors import InvalidField
from claybridge.records.workflows import validate
from claybridge.workflows.executor import evaluate

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
    data = {"event": {"icp_score": score, "email": "a@b.co"}, "source": {}, "steps": []}
    outcomes = [evaluate(step, data) for step in ICP]
    assert [s["destination"] for s, o in zip(ICP, outcomes, strict=True) if o[0]] == sent_to
    assert all(reason for go, reason, _ in outcomes if not go)


def test_payload_path_selects_what_is_sent() -> None:
    """A step's payload path picks part of the run's data, earlier results included."""
    data = {
        "event": {"person": {"email": "a@b.co"}},
        "source": {},
        "steps": [{"index": 0}, {"index": 1, "result": {"icp_score": 90}}],
    }
    step = {"kind": "forward", "destination": "d", "payload": "event.person"}
    assert evaluate(step, data)[2] == {"email": "a@b.co"}
    later = {
        "kind": "forward",
        "destination": "d",
        "payload": "steps.1.result",
        "when": "steps[1].result.icp_score > 80",
    }
    assert evaluate(later, data) == (True, None, {"icp_score": 90})


def test_waits_must_follow_a_submit_with_a_callback() -> None:
    """wait_for_callback needs an earlier clay_submit that asked for a callback."""
    with pytest.raises(InvalidField, match="clay_submit before it"):
        validate({"key": "w", "steps": [{"kind": "wait_for_callback"}]})
    no_callback = [{"kind": "clay_submit", "destination": "t"}, {"kind": "wait_for_callback"}]
    with pytest.raises(InvalidField, match="callback: true"):
        validate({"key": "w", "steps": no_callback})
    ok = [
        {"kind": "clay_submit", "destination": "t", "callback": True},
        {"kind": "wait_for_callback"},
    ]
    assert validate({"key": "w", "steps": ok}).steps[1].kind == "wait_for_callback"


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
