"""The setup file: parsing and validation with line numbers (pure, no server)."""

from __future__ import annotations

import pytest

from claybridge.diff import changes
from claybridge.setup.document import SetupError
from claybridge.setup.model import load
from claybridge.setup.secrets import Unset, resolve, variable_for

GOOD = """\
owners:
  - name: Ada Lovelace
    email: ada@example.com
sources:
  - name: Clay accounts
  - name: Clay leads
    template: clay-leads
    config:
      default_event: lead.enriched
      mappings:
        lead.enriched:
          - kind: identify_person
            when: body.icp_score >= 80
"""


def test_good_file_loads_with_template_defaults() -> None:
    """Owners and sources load; a source without config takes its template's."""
    setup = load(GOOD)
    assert setup.owners == [{"name": "Ada Lovelace", "email": "ada@example.com"}]
    assert [s["template"] for s in setup.sources] == ["clay-customers", "clay-leads"]
    assert "customer.upsert" in setup.sources[0]["config"]["mappings"]


def test_errors_name_the_line_and_key() -> None:
    """Every problem is reported with its line and key path, all at once."""
    bad = (
        GOOD.replace("body.icp_score >= 80", "body.icp_score >=").replace(
            "ada@example.com", "not-an-email"
        )
        + "  - name: Clay accounts\n"
    )
    with pytest.raises(SetupError) as info:
        load(bad)
    problems = info.value.problems
    assert any(p.startswith("line 3: owners[0].email") for p in problems), problems
    assert any(
        p.startswith("line 13: sources[1].config.mappings.lead.enriched[0].when") for p in problems
    ), problems
    assert any(p.startswith("line 14: sources[2].name") for p in problems), problems


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("owners: [\n", "not valid YAML"),
        ("- a\n- b\n", "must be a mapping"),
        ("sources:\n  - name: x\n    template: nope\n", "line 3: sources[0].template"),
        ("sources:\n  - name: x\n    colour: red\n", "line 3: sources[0].colour: unknown key"),
        ("owners: []\nowners: []\n", "duplicate key"),
        (
            "sources:\n  - name: x\n    config:\n      mappings:\n"
            "        e:\n          - kind: fly\n",
            "line 6: sources[0].config.mappings.e[0].kind",
        ),
    ],
)
def test_refusals(text: str, expected: str) -> None:
    """Syntax errors, wrong shapes, unknown keys and bad mappings are refused."""
    with pytest.raises(SetupError, match=expected.replace("[", r"\[").replace("]", r"\]")):
        load(text)


def test_a_block_key_is_reported_at_its_own_line() -> None:
    """A misspelt key whose value is an indented block is reported at the key's line."""
    text = "sources:\n  - name: x\n    configg:\n      mappings: {}\n"
    with pytest.raises(SetupError) as info:
        load(text)
    assert info.value.problems == [
        "line 3: sources[0].configg: unknown key (expected name, template, config)"
    ]


DESTINATIONS = """\
destinations:
  - name: ops
    kind: slack
    url: ${SLACK_URL}
    template: "{{ text }}"
    alerts: true
  - name: table
    kind: clay
    webhooks:
      - url: ${TABLE_1}
        submission_limit: 10
      - url: https://api.clay.com/v3/sources/webhook/2
"""


def test_destinations_load_with_references() -> None:
    """Destinations keep their ${VAR} references until apply; a Clay destination lists
    its webhook pool."""
    setup = load(DESTINATIONS)
    assert setup.destinations[0]["url"] == "${SLACK_URL}"
    assert [h["url"] for h in setup.destinations[1]["webhooks"]] == [
        "${TABLE_1}",
        "https://api.clay.com/v3/sources/webhook/2",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (DESTINATIONS.replace("kind: slack", "kind: fax"), "line 3: destinations[0].kind"),
        (
            DESTINATIONS.replace("    webhooks:\n", "    hooks:\n"),
            "line 9: destinations[1].hooks: unknown key",
        ),
        (
            DESTINATIONS.replace("submission_limit: 10", "submission_limit: -1"),
            "line 11: destinations[1].webhooks[0].submission_limit",
        ),
        (
            DESTINATIONS.replace("    alerts: true\n", "    alerts: true\n    webhooks: []\n"),
            "only a clay destination",
        ),
        (
            DESTINATIONS + "  - name: ops\n    kind: http\n    url: https://x.example\n",
            "line 13: destinations[2].name",
        ),
    ],
)
def test_destination_refusals(text: str, expected: str) -> None:
    """Bad destinations are refused at the line of the key at fault."""
    with pytest.raises(SetupError, match=expected.replace("[", r"\[").replace("]", r"\]")):
        load(text)


def test_references_resolve_from_the_environment() -> None:
    """${VAR} is replaced from the environment, inside a longer value too."""
    assert resolve("Bearer ${TOKEN}", {"TOKEN": "abc"}) == "Bearer abc"
    with pytest.raises(Unset, match="MISSING"):
        resolve("${MISSING}", {})
    assert variable_for("hot-leads slack", "url") == "HOT_LEADS_SLACK_URL"


def test_diff_lines_name_each_field() -> None:
    """The dry run's diff names each changed, added and removed field."""
    before = {"a": 1, "b": {"c": [1, 2]}, "d": "x"}
    after = {"a": 2, "b": {"c": [1, 3]}, "e": True}
    assert changes(before, after) == ["a: 1 -> 2", "b.c[1]: 2 -> 3", 'd: - "x"', "e: + true"]
