"""Property-based search for 5xx answers: random rows on the hooks endpoint and random
JSON bodies on the admin API's JSON routes, against a real server, on both databases.
Every answer must be below 500, and every error must have the documented body."""

from __future__ import annotations

import json
import os
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claybridge.config import Settings
from tests.conftest import SourceInfo

# Characters that have broken storage before, mixed into generated text.
AWKWARD = st.sampled_from(["\x00", "\ud800", "\udfff", "\n", "\t", '"', "\\", "é", "💥", "%"])
TEXT = st.one_of(
    st.text(max_size=12), st.lists(st.one_of(st.text(max_size=6), AWKWARD), max_size=4).map("".join)
)
NUMBER = st.one_of(
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=2**63, max_value=2**80),
    st.sampled_from([1e308, -1e308, 5e-324, 1e400, float("nan"), float("inf")]),
)
SCALAR = st.one_of(st.none(), st.booleans(), NUMBER, TEXT)
VALUE = st.recursive(
    SCALAR,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(TEXT, inner, max_size=3)),
    max_leaves=8,
)
REQUIRED = {
    "name": st.one_of(st.just("Acme"), TEXT, SCALAR),
    "websiteUrl": st.one_of(st.sampled_from(["acme.com", "https://www.b.io/x"]), TEXT, SCALAR),
}
CELLS = {
    "owner": SCALAR,
    "ownerEmail": st.one_of(st.just("ada@example.com"), TEXT),
    "stage": st.one_of(TEXT, st.text(min_size=990, max_size=1100)),
    "arr": st.one_of(NUMBER, TEXT, st.sampled_from(["$120,000", "99999999999999999999", "1e5"])),
    "renewalDate": st.one_of(TEXT, st.sampled_from(["2026-03-01", "13/01/2026", "March 1, 2026"])),
    "event": st.one_of(TEXT, st.text(min_size=195, max_size=210)),
}
ROW = st.fixed_dictionaries(REQUIRED, optional=CELLS).flatmap(
    lambda row: st.dictionaries(st.text(max_size=8), VALUE, max_size=2).map(
        lambda extra: {**extra, **row}
    )
)


def _encode(value: Any, ascii_only: bool) -> bytes:
    """JSON text as a sloppy sender writes it: NaN/Infinity and big integers literally,
    lone surrogates escaped (ASCII) or raw (invalid UTF-8)."""
    text = json.dumps(value, ensure_ascii=ascii_only, allow_nan=True)
    return text.encode("utf-8", "surrogatepass")


PLAIN = st.text(st.characters(min_codepoint=32, max_codepoint=0x2FFF), max_size=30)
GOOD_ROW = st.fixed_dictionaries(
    {"name": PLAIN.map(lambda t: "A" + t), "websiteUrl": st.sampled_from(["acme.com", "b.io"])},
    optional={
        "stage": st.one_of(PLAIN, st.text(min_size=990, max_size=1010)),
        "arr": st.one_of(st.sampled_from(["$120,000", "1.2M", "", "9999999999999999.99"]), NUMBER),
        "renewalDate": st.sampled_from(["2026-03-01", "03/01/2026", "", "March 1, 2026"]),
        "notes": VALUE,
        "event": st.one_of(PLAIN, st.text(min_size=199, max_size=201)),
    },
)
BODY = st.one_of(
    GOOD_ROW.map(lambda row: _encode(row, True)),
    st.tuples(ROW, st.booleans()).map(lambda pair: _encode(*pair)),
    st.tuples(VALUE, st.booleans()).map(lambda pair: _encode(*pair)),
    st.binary(max_size=64),
    st.sampled_from(["utf-16", "utf-32"]).map(lambda e: '{"name": "A"}'.encode(e)),
)


def _check(answer: httpx.Response) -> None:
    assert answer.status_code < 500, (answer.status_code, answer.text)
    if answer.status_code >= 400:
        body = answer.json()
        assert body["ok"] is False
        assert isinstance(body["error"]["code"], str)
        assert isinstance(body["error"]["message"], str)
        assert set(body["error"]) <= {"code", "message", "field"}


FUZZ = settings(
    max_examples=int(os.environ.get("CLAYBRIDGE_FUZZ_EXAMPLES", "300")),
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(body=BODY)
def test_hooks_never_answer_5xx(client: httpx.Client, source: SourceInfo, body: bytes) -> None:
    """Whatever a sender posts to a source, the answer is below 500 with the error shape."""
    _check(client.post(source.path, content=body, headers=source.auth))


ADMIN_BODIES = st.one_of(
    st.dictionaries(
        st.sampled_from(
            [
                "name",
                "email",
                "template",
                "kind",
                "url",
                "body",
                "event",
                "key",
                "steps",
                "strict",
                "event_path",
                "default_event",
                "mappings",
                "headers",
                "payload",
                "rows",
                "idempotency_key",
                "rate_limit",
                "retry_schedule",
                "template",
            ]
        ),
        VALUE,
        max_size=4,
    ),
    VALUE,
)
ROUTES = [
    ("POST", "/v1/sources"),
    ("PATCH", "/v1/sources/{key}"),
    ("PUT", "/v1/sources/{key}/config"),
    ("PUT", "/v1/sources/{key}/mappings/lead.enriched"),
    ("POST", "/v1/sources/{key}/dry-run"),
    ("POST", "/v1/owners"),
    ("POST", "/v1/destinations"),
    ("PATCH", "/v1/destinations/d"),
    ("POST", "/v1/destinations/d/rows?wait=0"),
    ("POST", "/v1/workflows"),
    ("PUT", "/v1/workflows/wf"),
    ("POST", "/v1/workflows/wf/runs"),
    ("POST", "/v1/deliveries/replay"),
]


@FUZZ
@given(route=st.sampled_from(ROUTES), body=st.tuples(ADMIN_BODIES, st.booleans()))
def test_admin_json_routes_never_answer_5xx(
    admin: httpx.Client, source: SourceInfo, route: tuple[str, str], body: tuple[Any, bool]
) -> None:
    """Whatever JSON an API client sends to a JSON route, the answer is below 500."""
    method, path = route
    raw = _encode(*body)
    answer = admin.request(
        method,
        path.format(key=source.key),
        content=raw,
        headers={"content-type": "application/json"},
    )
    _check(answer)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The test settings, with loopback destinations allowed."""
    return settings.model_copy(update={"allow_networks": "127.0.0.1/32"})


@pytest.fixture(autouse=True)
def _destination_and_workflow(admin: httpx.Client) -> None:
    """A Clay destination ``d`` and a workflow ``wf`` for the routes that name them."""
    made = admin.post(
        "/v1/destinations", json={"name": "d", "kind": "clay", "url": "http://127.0.0.1:9/"}
    )
    assert made.status_code == 201, made.text
    steps = [{"kind": "forward", "destination": "d"}]
    made = admin.post("/v1/workflows", json={"key": "wf", "steps": steps})
    assert made.status_code == 201, made.text
