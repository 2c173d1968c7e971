"""Who may post to a source: its bearer token (and the one before the last rotation,
told apart), a disconnected source, and a signed source's signature."""

from __future__ import annotations

from claybridge.actions.plan import CompiledConfig
from claybridge.core.signatures import SignatureError, verify_hmac, verify_standard
from claybridge.errors import Unauthorized
from claybridge.ingest.request import IngestRequest
from claybridge.records import sources
from claybridge.records.sources import Source
from claybridge.security import bearer_token, matches


def authenticate(
    source: Source, authorization: str | None, verified: set[tuple[str | None, str]]
) -> None:
    """Raise :class:`Unauthorized` unless ``authorization`` carries the source's token.

    ``verified`` remembers ``Authorization`` values already checked against this
    version of the source (its token hash), so a burst from one Clay column (which
    sends the same header every time) parses and hashes its token once.
    """
    if source.status == sources.DISCONNECTED:
        raise Unauthorized(
            "this source is disconnected; rotate its token to reconnect it, "
            "then update the Authorization header in the Clay column",
            code="source_disconnected",
        )
    # Keyed by the stored hash: a rotation changes it, so nothing verified before counts.
    if authorization is not None and (source.token_hash, authorization) in verified:
        return
    token = bearer_token(authorization)
    if token is None:
        raise Unauthorized(
            "missing bearer token: add the header Authorization: Bearer <token>",
            code="missing_token",
        )
    if matches(token, source.token_hash):
        assert authorization is not None  # it carried a token
        verified.add((source.token_hash, authorization))
    elif matches(token, source.previous_token_hash):
        raise Unauthorized(
            "this token was rotated; update the Authorization header in the Clay column "
            "with the source's new token",
            code="rotated_token",
        )
    else:
        raise Unauthorized(
            "the bearer token is wrong or has been rotated; "
            "update the Authorization header in the Clay column",
            code="invalid_token",
        )


def verify_signature(config: CompiledConfig, req: IngestRequest) -> None:
    """Check the request's signature over the raw body; 401 ``invalid_signature``."""
    raw = {name.lower(): value for name, value in req.headers}
    body = req.body or b""
    try:
        if config.signature_scheme == "hmac_sha256":
            verify_hmac(body, raw.get(config.signature_header), config.signature_secrets)
        else:
            verify_standard(
                body,
                raw,
                config.signature_secrets,
                req.received_at.timestamp(),
                config.signature_tolerance,
            )
    except SignatureError as exc:
        raise Unauthorized(f"signature check failed: {exc}", code="invalid_signature") from None
