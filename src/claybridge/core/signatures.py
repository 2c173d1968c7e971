"""Verifying signed requests. Pure: raw body, headers and secrets in, a verdict out.

Clay does not sign its requests, but a proxy in front of Clay, or another sender, may.
Two schemes, per source:

* ``hmac_sha256``: hex HMAC-SHA256 of the raw body with the secret, in a configurable
  header, with or without a ``sha256=`` prefix.
* ``standard_webhooks`` (standardwebhooks.com): ``webhook-id``, ``webhook-timestamp``
  and ``webhook-signature`` headers; the signed content is ``{id}.{timestamp}.{body}``,
  the key is the base64 secret after ``whsec_``, the header holds space-separated
  ``v1,<base64>`` signatures (several during key rotation), and the timestamp must be
  within ``tolerance`` seconds of now.

Several secrets may be configured (rotation): any one matching is enough. Every
comparison is constant-time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence

TOLERANCE_SECONDS = 300


class SignatureError(Exception):
    """The request's signature is missing, malformed, stale or wrong (the message says)."""


def verify_hmac(body: bytes, presented: str | None, secrets: Sequence[str]) -> None:
    """Raise :class:`SignatureError` unless ``presented`` is the body's HMAC-SHA256."""
    if not presented:
        raise SignatureError("missing signature header")
    value = presented.strip()
    if value.lower().startswith("sha256="):
        value = value[7:]
    try:
        given = bytes.fromhex(value)
    except ValueError:
        raise SignatureError("the signature is not hex") from None
    for secret in secrets:
        expected = hmac.new(secret.encode(), body, hashlib.sha256).digest()
        if hmac.compare_digest(expected, given):
            return
    raise SignatureError("the signature does not match the body")


def _standard_key(secret: str) -> bytes:
    raw = secret[len("whsec_") :] if secret.startswith("whsec_") else secret
    try:
        return base64.b64decode(raw + "==")
    except binascii.Error:
        raise SignatureError("a configured secret is not valid whsec_ base64") from None


def sign_standard(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``v1,<base64>`` Standard Webhooks signature (used by tests and senders)."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_standard_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify_standard(
    body: bytes,
    headers: Mapping[str, str],
    secrets: Sequence[str],
    now: float,
    tolerance: int = TOLERANCE_SECONDS,
) -> None:
    """Raise :class:`SignatureError` unless the Standard Webhooks headers verify."""
    msg_id = headers.get("webhook-id")
    stamp = headers.get("webhook-timestamp")
    signature = headers.get("webhook-signature")
    if not (msg_id and stamp and signature):
        raise SignatureError("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise SignatureError("webhook-timestamp is not a number") from None
    if abs(now - timestamp) > tolerance:
        raise SignatureError(f"webhook-timestamp is more than {tolerance} s from now")
    given = []
    for part in signature.split():
        version, _, value = part.partition(",")
        if version == "v1" and value:
            try:
                given.append(base64.b64decode(value))
            except binascii.Error:
                continue
    for secret in secrets:
        expected = base64.b64decode(sign_standard(secret, msg_id, timestamp, body)[3:])
        if any(hmac.compare_digest(expected, g) for g in given):
            return
    raise SignatureError("no signature matches")
