"""Mappings: paths, types, conditions, configuration and planning (pure, no server)."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

import pytest

from claybridge.actions.plan import compile_config, plan_event
from claybridge.errors import ClaybridgeError, InvalidField, MissingField
from claybridge.mapping.conditions import compile_condition, view
from claybridge.mapping.model import parse_config
from claybridge.mapping.paths import parse_path
from claybridge.mapping.types import coerce_as
from claybridge.records.merge import merge_properties
from claybridge.templates import TEMPLATES


def _event(body: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {"body": body, "headers": headers or {}}


def test_paths_resolve_body_lists_and_headers() -> None:
    """Body paths walk objects and list indexes; header names are case-insensitive."""
    event = _event({"a": {"b": [{"c": 1}]}}, {"x-clay-table-id": "t_1"})
    assert parse_path("body.a.b.0.c").resolve(event) == 1
    assert parse_path("body.a.missing.c").resolve(event) is None
    assert parse_path("headers.X-Clay-Table-Id").resolve(event) == "t_1"
    assert parse_path("body").resolve(event) == event["body"]


@pytest.mark.parametrize("bad", ["", "email", "bod.x", "body..x", "headers", "body.a b!"])
def test_bad_paths_are_refused(bad: str) -> None:
    """Paths must start with body. or headers. and have valid segments."""
    with pytest.raises(ValueError, match="path"):
        parse_path(bad)


@pytest.mark.parametrize(
    ("type_name", "raw", "expected"),
    [
        ("integer", "1,200", 1200),
        ("boolean", "Yes", True),
        ("boolean", "0", False),
        ("percent", "45%", Decimal("45")),
        ("currency", "$1.2k", Decimal("1200.00")),
        ("date", "03/01/2026", "2026-03-01"),
        ("datetime", "2026-03-01T10:00:00Z", "2026-03-01T10:00:00+00:00"),
        ("email", "A@B.io", "a@b.io"),
        ("url", "acme.com/x", "https://acme.com/x"),
        ("domain", "https://www.acme.com", "acme.com"),
        ("string", 42, "42"),
        ("any", "", None),
    ],
)
def test_declared_types_coerce(type_name: str, raw: object, expected: object) -> None:
    """Each declared type turns Clay's strings into its value."""
    assert coerce_as(type_name, raw) == expected


def test_integer_refuses_fractions() -> None:
    """An integer field refuses 1.5 rather than truncating it."""
    with pytest.raises(ValueError, match="whole"):
        coerce_as("integer", "1.5")


def test_conditions_see_numbers_and_missing_keys() -> None:
    """Numeric strings compare as numbers, blanks and missing keys read as None."""
    cond = compile_condition("body.icp_score >= 80 and body.email")
    assert cond.evaluate({"body": view({"icp_score": "87", "email": "a@b.io"}), "headers": {}})[0]
    assert not cond.evaluate({"body": view({"icp_score": "87", "email": ""}), "headers": {}})[0]
    assert not cond.evaluate({"body": view({"icp_score": "12"}), "headers": {}})[0]
    ok, error = cond.evaluate({"body": view({"icp_score": "high"}), "headers": {}})
    assert not ok
    assert error is not None


def test_conditions_read_keys_named_like_dict_methods() -> None:
    """A row's ``items``, ``update`` or ``keys`` column is read as that column's value."""
    row = view({"items": "3", "update": "", "keys": "a", "nested": {"values": "7"}})
    names = {"body": row, "headers": view({})}
    assert compile_condition("body.items == 3 and body.keys == 'a'").evaluate(names) == (True, None)
    assert compile_condition("body.update").evaluate(names) == (False, None)
    assert compile_condition("body.nested.values > 5").evaluate(names) == (True, None)
    assert compile_condition("len(body) == 4 and body['items'] == 3").evaluate(names)[0]


@pytest.mark.parametrize(
    "bad", ["body.x >=", "os.system('x')", "body.__class__", "[x for x in body]", "lambda: 1"]
)
def test_unsafe_or_broken_conditions_are_refused(bad: str) -> None:
    """Conditions that do not parse or reach beyond body/headers are refused when saved."""
    with pytest.raises(ValueError, match="condition"):
        compile_condition(bad)


@pytest.mark.parametrize(
    ("config", "where"),
    [
        ({"mappings": {"x": [{"kind": "send_email"}]}}, "mappings.x[0].kind"),
        (
            {"mappings": {"x": [{"kind": "identify_person", "when": "body.a >="}]}},
            "mappings.x[0].when",
        ),
        (
            {"mappings": {"x": [{"kind": "identify_person", "fields": {"email": "bod.x"}}]}},
            "mappings.x[0].fields.email.path",
        ),
        (
            {
                "mappings": {
                    "x": [
                        {
                            "kind": "identify_person",
                            "fields": {"email": {"path": "body.e", "type": "money"}},
                        }
                    ]
                }
            },
            "mappings.x[0].fields.email.type",
        ),
        (
            {"mappings": {"x": [{"kind": "identify_person", "fields": {"title": "body.t"}}]}},
            "mappings.x[0]",
        ),
        ({"mappings": {"x": [{"kind": "set_object", "id": "body.id"}]}}, "mappings.x[0]"),
        ({"event_path": "event"}, "event_path"),
        ({"mappings": {"x": []}}, "mappings"),
        ({"unknown": True}, "unknown"),
    ],
)
def test_config_errors_name_the_key(config: dict[str, Any], where: str) -> None:
    """A bad configuration is refused with the location of the mistake."""
    with pytest.raises(InvalidField) as info:
        parse_config(config)
    assert info.value.field == where
    assert info.value.code == "invalid_config"


LEADS = compile_config(
    parse_config(
        {
            "mappings": {
                "lead.enriched": [
                    {
                        "kind": "identify_person",
                        "when": "body.icp_score >= 80",
                        "fields": {
                            "email": {"path": "body.email", "type": "email", "required": True},
                            "full_name": "body.name",
                        },
                    },
                    {
                        "kind": "set_object",
                        "collection": "accounts",
                        "id": {"path": "body.domain", "type": "domain"},
                    },
                ]
            },
            "default_event": "lead.enriched",
        }
    )
)


def test_plan_runs_actions_in_order_with_conditions() -> None:
    """Actions keep their order; a false condition skips only its action."""
    plan = plan_event(
        LEADS,
        _event({"email": "A@x.io", "icp_score": "40", "domain": "https://www.x.io", "name": "Ann"}),
    )
    assert [a.status for a in plan.actions] == ["skipped", "apply"]
    assert "false" in (plan.actions[0].reason or "")
    assert plan.actions[1].values.key == "x.io"
    hot = plan_event(LEADS, _event({"email": "A@x.io", "icp_score": "90", "domain": "x.io"}))
    assert hot.actions[0].values.key == "a@x.io"
    assert hot.actions[0].values.fields["email"] == "a@x.io"


def test_required_field_names_its_path() -> None:
    """A required field that resolves to nothing is missing_field naming the path."""
    with pytest.raises(MissingField) as info:
        plan_event(LEADS, _event({"icp_score": "90", "domain": "x.io"}))
    assert info.value.field == "body.email"


def test_unmapped_events_warn_or_fail_when_strict() -> None:
    """An unmapped event is a warning, or 422 unmapped_event on a strict source."""
    plan = plan_event(LEADS, _event({"event": "other"}))
    assert plan.actions == []
    assert "no mapping" in plan.warnings[0]
    strict = compile_config(
        parse_config(
            {
                "strict": True,
                "mappings": {"a": [{"kind": "set_object", "collection": "c", "id": "body.id"}]},
            }
        )
    )
    with pytest.raises(ClaybridgeError) as info:
        plan_event(strict, _event({"event": "b"}))
    assert (info.value.code, info.value.status_code) == ("unmapped_event", 422)


def test_customer_template_keeps_issue_two_errors() -> None:
    """The clay-customers template reports customer fields by their names."""
    config = compile_config(parse_config(TEMPLATES["clay-customers"].config))
    with pytest.raises(MissingField) as info:
        plan_event(config, _event({"name": "Acme"}))
    assert info.value.field == "websiteUrl"


def test_custom_customer_paths_are_named_in_errors() -> None:
    """When a customer field is mapped to a custom path, errors name that path."""
    config = compile_config(
        parse_config(
            {
                "mappings": {
                    "c": [
                        {"kind": "upsert_customer", "fields": {"websiteUrl": "body.company.site"}}
                    ]
                },
                "default_event": "c",
            }
        )
    )
    with pytest.raises(MissingField) as info:
        plan_event(config, _event({"name": "Acme"}))
    assert info.value.field == "body.company.site"


def test_merge_never_erases() -> None:
    """Merging adds and updates keys; blank values leave stored ones alone."""
    stored = {"a": 1, "b": "keep", "c": "old"}
    assert merge_properties(stored, {"b": "", "c": "new", "d": None, "e": 2}) == {
        "a": 1,
        "b": "keep",
        "c": "new",
        "e": 2,
    }


def test_conditions_never_change_the_event() -> None:
    """Coercing fields for a condition leaves the stored body exactly as sent."""
    config = compile_config(
        parse_config(
            {
                "default_event": "e",
                "mappings": {
                    "e": [
                        {
                            "kind": "set_object",
                            "collection": "c",
                            "id": "body.id",
                            "when": "body.score >= 5 and body.deal.amount > 10",
                        },
                        {
                            "kind": "identify_person",
                            "when": "body.score >= 5",
                            "fields": {"email": {"path": "body.email", "type": "email"}},
                        },
                    ]
                },
            }
        )
    )
    body = {"id": "1", "score": "7", "email": "A@B.io", "deal": {"amount": "20"}}
    plan = plan_event(config, _event(body))
    assert [a.status for a in plan.actions] == ["apply", "apply"]
    assert body == {"id": "1", "score": "7", "email": "A@B.io", "deal": {"amount": "20"}}


_EXPRESSIONS = [
    "body.icp_score >= 30 and body.email",
    "body.icp_score >= 30 or body.email",
    "not body.email",
    "-body.icp_score < -10",
    "body.icp_score > 10 > 5",
    "1 < body.icp_score <= 99 != 50",
    "body.stage == 'Closed Won'",
    "body.stage != 'Closed Won' and body.missing is None",
    "body.email is not None",
    "'acme' in body.email",
    "body.stage not in ['Lost', 'Churned']",
    "body.tags == ['a', 'b']",
    "body.company.name == 'Acme'",
    "body.company.size.value > 3",
    "body.email.lower == 'x'",
    "body.icp_score.real > 1",
    "body.company and body.company.name",
    "body.items == 3 or body.keys",
    "headers.authorization == 'Bearer x'",
    "body.icp_score >= 'ten'",
    "body.email > 5",
    "lower(body.email) == 'ada@acme.com'",
    "len(body) > 2",
    "body['icp_score'] > 5",
    "body.icp_score * 2 > 100",
    "True and body.email",
    "None",
    "false or body.blank",
]

_BODIES: list[dict[str, object]] = [
    {"icp_score": "87", "email": "ada@acme.com", "stage": "Closed Won", "tags": ["a", "b"]},
    {"icp_score": "12.5", "email": "", "stage": "Lost", "company": {"name": "Acme"}},
    {"icp_score": "ten", "email": None, "company": {"size": {"value": "4"}}, "blank": "  "},
    {"items": "3", "keys": "k", "icp_score": 50, "company": "Acme"},
    {},
]


@pytest.mark.parametrize("expression", _EXPRESSIONS)
def test_compiled_conditions_agree_with_simpleeval(expression: str) -> None:
    """Every condition gives the same result and the same error through its compiled
    closures as through simpleeval alone, on rows with numbers, blanks, nesting and
    missing keys."""
    compiled = compile_condition(expression)
    plain = dataclasses.replace(compiled, closure=None)
    for body in _BODIES:
        names = {"body": view(body), "headers": view({"authorization": "Bearer x"})}
        assert compiled.evaluate(names) == plain.evaluate(names), body


def test_common_conditions_compile_to_closures() -> None:
    """Names, reads, constants, comparisons and and/or/not compile; a call does not."""
    assert compile_condition("body.icp_score >= 30 and not body.email").closure is not None
    assert compile_condition("'x' in body.a or body.b is None").closure is not None
    assert compile_condition("len(body) > 2").closure is None
    assert compile_condition("body.a * 2 > 1").closure is None


HOT = compile_config(
    parse_config(
        {
            "default_event": "e",
            "mappings": {"e": [{"kind": "identify_person", "when": "body.icp_score >= 80"}]},
        }
    )
)


@pytest.mark.parametrize(
    ("score", "status", "reason"),
    [
        (None, "skipped", "icp_score is empty, so condition 'body.icp_score >= 80' is not met"),
        ("", "skipped", "icp_score is empty, so condition"),
        ("high", "skipped", "icp_score 'high' is not a number, so condition"),
        ("85%", "apply", None),
        ("85.5 %", "apply", None),
        ("79%", "skipped", "condition 'body.icp_score >= 80' is false"),
    ],
)
def test_skip_reasons_in_plain_words_and_percent_cells(
    score: str | None, status: str, reason: str | None
) -> None:
    """A skipped condition says why in the row's words; a percent cell compares as a number."""
    body = {"email": "a@b.co"} if score is None else {"email": "a@b.co", "icp_score": score}
    planned = plan_event(HOT, _event(body)).actions[0]
    assert planned.status == status
    if reason is None:
        assert planned.reason is None
    else:
        assert planned.reason is not None
        assert planned.reason.startswith(reason)
