"""The setup file: parsing and validation with line numbers (pure, no server)."""

from __future__ import annotations

import pytest

from claybridge.setup_file import SetupError, dump, load

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


def test_dump_round_trips() -> None:
    """What dump writes, load reads back to the same setup."""
    setup = load(GOOD)
    text = dump(setup.owners, setup.sources)
    again = load(text)
    assert again.owners == setup.owners
    assert again.sources == setup.sources
