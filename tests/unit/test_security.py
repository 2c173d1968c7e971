"""Tokens, keys and redaction (pure, no server)."""

from __future__ import annotations

from claybridge.redact import REDACTED, has_secrets, redact_body, redact_headers
from claybridge.security import (
    api_key_prefix,
    bearer_token,
    hash_secret,
    matches,
    new_api_key,
    new_source_token,
)


def test_bearer_token_parsing() -> None:
    """The Bearer scheme is case-insensitive; other schemes and blanks give None."""
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("bearer   abc  ") == "abc"
    assert bearer_token("Basic abc") is None
    assert bearer_token("Bearer ") is None
    assert bearer_token(None) is None


def test_hash_and_constant_time_match() -> None:
    """A token matches its own hash only; None never matches."""
    token = new_source_token()
    stored = hash_secret(token)
    assert stored != token
    assert matches(token, stored)
    assert not matches(token + "x", stored)
    assert not matches(None, stored)
    assert not matches(token, None)


def test_api_key_prefix_round_trip() -> None:
    """A new API key carries its lookup prefix; foreign strings have none."""
    key, prefix = new_api_key()
    assert api_key_prefix(key) == prefix
    assert api_key_prefix("cbt_whatever") is None
    assert api_key_prefix("cbk_short_x") is None


def test_tokens_are_unique_and_long() -> None:
    """Tokens carry at least 256 bits of randomness."""
    tokens = {new_source_token() for _ in range(100)}
    assert len(tokens) == 100
    assert all(len(t) >= 40 for t in tokens)


def test_redact_headers() -> None:
    """Authorization, cookies, Clay's auth header and *token* / *secret* headers are hidden."""
    out = redact_headers(
        [
            ("Authorization", "Bearer x"),
            ("X-Clay-Webhook-Auth", "y"),
            ("X-Custom-Token", "z"),
            ("Content-Type", "application/json"),
        ]
    )
    assert out == {
        "authorization": REDACTED,
        "x-clay-webhook-auth": REDACTED,
        "x-custom-token": REDACTED,
        "content-type": "application/json",
    }


def test_redact_body_at_any_depth() -> None:
    """Secret-named keys are hidden wherever they are; other values are kept."""
    body = {"name": "Acme", "nested": [{"api_key": "k", "ok": 1}], "password": "p"}
    assert has_secrets(body)
    assert redact_body(body) == {
        "name": "Acme",
        "nested": [{"api_key": REDACTED, "ok": 1}],
        "password": REDACTED,
    }
    assert not has_secrets({"name": "Acme", "list": [1, {"a": 2}]})
