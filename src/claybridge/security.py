"""Secrets we hand out: generation, hashing and constant-time checks.

Source tokens and API keys are 256-bit random values, so a single SHA-256 is enough to
store them (no slow KDF is needed for secrets with that much entropy, and the hot path
stays cheap). Only the hash is stored; the plaintext is shown once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SOURCE_TOKEN_PREFIX = "cbt_"  # noqa: S105 - a public prefix, not a secret
API_KEY_PREFIX = "cbk_"


def hash_secret(value: str) -> str:
    """Hex SHA-256 of ``value``; what is stored in place of a token or key."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def matches(presented: str | None, stored_hash: str | None) -> bool:
    """Whether ``presented`` hashes to ``stored_hash``, compared in constant time."""
    if presented is None or stored_hash is None:
        return False
    return hmac.compare_digest(hash_secret(presented), stored_hash)


def new_source_token() -> str:
    """A fresh bearer token for a source."""
    return SOURCE_TOKEN_PREFIX + secrets.token_urlsafe(32)


def new_source_key() -> str:
    """A fresh, URL-safe source key (the ``{source_key}`` in ``/hooks/{source_key}``)."""
    return secrets.token_hex(12)


def new_api_key() -> tuple[str, str]:
    """A fresh admin API key and its public lookup prefix: ``cbk_<prefix>_<secret>``."""
    prefix = secrets.token_hex(4)
    return f"{API_KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}", prefix


def api_key_prefix(key: str) -> str | None:
    """The lookup prefix of a presented API key, or ``None`` if it is not one of ours."""
    if not key.startswith(API_KEY_PREFIX):
        return None
    prefix, sep, rest = key[len(API_KEY_PREFIX) :].partition("_")
    if not sep or not rest or len(prefix) != 8:
        return None
    return prefix


def bearer_token(authorization: str | None) -> str | None:
    """The token from an ``Authorization: Bearer <token>`` value, or ``None``.

    The scheme is case-insensitive and surrounding spaces are ignored, as RFC 6750 and
    pasted Clay headers need.
    """
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    token = token.strip()
    return token or None
