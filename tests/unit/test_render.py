"""Sandboxed templates and request building (pure)."""

from __future__ import annotations

import orjson
import pytest
from standardwebhooks.webhooks import Webhook

from claybridge.core.render import RenderError, check_template, render
from claybridge.delivery.sender import build_request
from claybridge.errors import InvalidField
from claybridge.records.targets import Target

ROW = {"first_name": "Ada", "last_name": "Lovelace", "icp_score": "91", "company_name": "AE"}
SLACK = (
    "Hot lead from Clay: {{ first_name }} {{ last_name }} ({{ job_title }}) at "
    "{{ company_name }} - ICP {{ icp_score }}"
)


def target(**changes: object) -> Target:
    base: dict[str, object] = {
        "id": "dst_1",
        "name": "t",
        "kind": "http",
        "url": "http://receiver.test/hook",
        "method": "POST",
        "headers": (("x-api-key", "k"),),
        "template": None,
        "signing_secret": None,
        "timeout": 5.0,
        "rate_limit": None,
        "concurrency": 1,
        "schedule": (0,),
        "circuit_threshold": 5,
        "circuit_cooldown": 60.0,
    }
    base.update(changes)
    return Target(**base)  # type: ignore[arg-type]


def test_missing_values_render_empty() -> None:
    """A cell Clay left out renders as nothing, not an error."""
    text = render(SLACK, ROW)
    assert text == "Hot lead from Clay: Ada Lovelace () at AE - ICP 91"


def test_sandbox_refuses_python_internals() -> None:
    """Reaching for Python internals fails the render instead of running code."""
    with pytest.raises(RenderError):
        render("{{ row.__class__.__mro__[1].__subclasses__() }}", ROW)


def test_syntax_error_is_refused_when_saved() -> None:
    """A broken template is refused with its line number."""
    with pytest.raises(InvalidField) as err:
        check_template("ok\n{{ first_name ")
    assert err.value.code == "invalid_template"
    assert "line 2" in err.value.message


def test_http_without_template_sends_the_row_as_json() -> None:
    """The default http body is the whole row as JSON, with the destination's headers."""
    req = build_request(target(), ROW, "dlv_1", 1_700_000_000)
    assert orjson.loads(req.body) == ROW
    headers = dict(req.headers)
    assert headers["content-type"] == "application/json"
    assert headers["x-api-key"] == "k"
    assert "webhook-signature" not in headers


def test_json_template_and_text_template() -> None:
    """A template rendering JSON is sent as JSON; other text as text/plain."""
    as_json = build_request(target(template='{"who": {{ first_name|tojson }}}'), ROW, "d", 1)
    assert orjson.loads(as_json.body) == {"who": "Ada"}
    as_text = build_request(target(template="hi {{ first_name }}"), ROW, "d", 1)
    assert dict(as_text.headers)["content-type"].startswith("text/plain")


def test_slack_wraps_the_message() -> None:
    """A slack destination sends {"text": message}."""
    req = build_request(target(kind="slack", template=SLACK), ROW, "d", 1)
    assert orjson.loads(req.body)["text"].startswith("Hot lead from Clay: Ada Lovelace")


def test_signature_verifies_with_the_reference_library() -> None:
    """Our Standard Webhooks headers verify with the standardwebhooks package."""
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    import time

    stamp = int(time.time())
    req = build_request(target(signing_secret=secret), ROW, "dlv_abc", stamp)
    headers = dict(req.headers)
    assert headers["webhook-id"] == "dlv_abc"
    assert Webhook(secret).verify(req.body, headers) == ROW


def test_signature_matches_the_spec_test_vector() -> None:
    """The published Standard Webhooks vector signs to the published signature."""
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    req = build_request(
        target(signing_secret=secret, template='{"test": 2432232314}'),
        {},
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
    )
    assert dict(req.headers)["webhook-signature"] == (
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )
