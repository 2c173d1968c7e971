"""The error hierarchy and the one JSON shape every user-caused error answers with.

Body: ``{"ok": false, "error": {"code": ..., "message": ..., "field": ...}}``. ``field``
is present only when one input field is at fault. Codes are stable API: add new ones,
never rename.
"""

from __future__ import annotations

from typing import Any


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    """Build the error body; ``field`` is omitted when ``None``."""
    error: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    return {"ok": False, "error": error}


class ClaybridgeError(Exception):
    """An error with a stable code, an HTTP status and an optional offending field."""

    status_code: int = 400
    code: str = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        code: str | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code

    def to_body(self) -> dict[str, Any]:
        """The JSON body for this error."""
        return error_body(self.code, self.message, self.field)


class MissingField(ClaybridgeError):
    """A required field is absent or empty."""

    status_code = 400
    code = "missing_field"


class InvalidField(ClaybridgeError):
    """A field is present but its value cannot be used."""

    status_code = 422
    code = "invalid_field"


class InvalidBody(ClaybridgeError):
    """The body is not JSON, or not a JSON object."""

    status_code = 400
    code = "invalid_json"


class PayloadTooLarge(ClaybridgeError):
    """The body is larger than the configured limit."""

    status_code = 413
    code = "payload_too_large"


class Unauthorized(ClaybridgeError):
    """No credentials, or credentials that are wrong, rotated or revoked."""

    status_code = 401
    code = "unauthorized"


class Forbidden(ClaybridgeError):
    """Authenticated, but this role may not do that (a viewer changing something)."""

    status_code = 403
    code = "forbidden"


class NotFound(ClaybridgeError):
    """The addressed resource does not exist."""

    status_code = 404
    code = "not_found"


class Conflict(ClaybridgeError):
    """The request conflicts with the current state (a duplicate name, say)."""

    status_code = 409
    code = "conflict"


class UnknownOwner(ClaybridgeError):
    """``owner`` / ``ownerEmail`` matches no owner."""

    status_code = 422
    code = "unknown_owner"


class AmbiguousOwner(ClaybridgeError):
    """``owner`` matches more than one owner by display name."""

    status_code = 422
    code = "ambiguous_owner"
