"""Signature verification and secret encryption (pure, no server)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import stat
import time
from pathlib import Path

import pytest
from standardwebhooks import Webhook

from claybridge.core.signatures import (
    SignatureError,
    sign_standard,
    verify_hmac,
    verify_standard,
)
from claybridge.secretbox import PREFIX, SecretBox, load_key

SECRET = "whsec_" + base64.b64encode(os.urandom(24)).decode()
BODY = b'{"email": "ada@example.com"}'


def test_hmac_with_and_without_prefix() -> None:
    """A hex HMAC-SHA256 of the raw body verifies, with or without sha256=."""
    digest = hmac.new(b"s3cret", BODY, hashlib.sha256).hexdigest()
    verify_hmac(BODY, digest, ["s3cret"])
    verify_hmac(BODY, f"sha256={digest}", ["old", "s3cret"])
    with pytest.raises(SignatureError, match="does not match"):
        verify_hmac(BODY + b" ", digest, ["s3cret"])
    with pytest.raises(SignatureError, match="missing"):
        verify_hmac(BODY, None, ["s3cret"])
    with pytest.raises(SignatureError, match="hex"):
        verify_hmac(BODY, "zz", ["s3cret"])


def test_reference_library_signatures_verify_here() -> None:
    """Signatures made by the standardwebhooks reference library pass our check."""
    now = int(time.time())
    signature = Webhook(SECRET).sign("msg_1", _dt(now), BODY.decode())
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(now),
        "webhook-signature": f"v1,bogus {signature}",
    }
    verify_standard(BODY, headers, ["whsec_b3RoZXI=", SECRET], now)


def test_our_signatures_verify_with_the_reference_library() -> None:
    """What sign_standard produces, the reference library accepts."""
    now = int(time.time())
    headers = {
        "webhook-id": "msg_2",
        "webhook-timestamp": str(now),
        "webhook-signature": sign_standard(SECRET, "msg_2", now, BODY),
    }
    Webhook(SECRET).verify(BODY, headers)


def test_standard_webhooks_refusals() -> None:
    """Missing headers, stale timestamps and wrong signatures are refused."""
    now = int(time.time())
    good = sign_standard(SECRET, "m", now, BODY)
    with pytest.raises(SignatureError, match="missing"):
        verify_standard(BODY, {"webhook-id": "m"}, [SECRET], now)
    stale = {
        "webhook-id": "m",
        "webhook-timestamp": str(now - 301),
        "webhook-signature": sign_standard(SECRET, "m", now - 301, BODY),
    }
    with pytest.raises(SignatureError, match="from now"):
        verify_standard(BODY, stale, [SECRET], now)
    wrong = {"webhook-id": "m", "webhook-timestamp": str(now), "webhook-signature": good}
    with pytest.raises(SignatureError, match="no signature"):
        verify_standard(BODY + b"x", wrong, [SECRET], now)


def test_secret_box_round_trip_and_key_file(tmp_path: Path) -> None:
    """Secrets encrypt to enc:v1:…, decrypt back; the key file is created owner-only."""
    box = SecretBox(lambda: load_key(tmp_path, None))
    stored = box.encrypt("s3cret")
    assert stored.startswith(PREFIX)
    assert "s3cret" not in stored
    assert box.decrypt(stored) == "s3cret"
    assert box.encrypt(stored) == stored
    mode = stat.S_IMODE((tmp_path / "secret.key").stat().st_mode)
    assert mode == 0o600
    other = SecretBox(load_key(tmp_path / "other", None))
    with pytest.raises(ValueError, match="cannot be decrypted"):
        other.decrypt(stored)


def _dt(ts: int):  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, tz=UTC)
