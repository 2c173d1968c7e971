"""The OpenAPI description of ``POST /hooks/{source_key}``, served beside the admin API.

The hot path is a bare ASGI endpoint (see :mod:`claybridge.ingest.hooks`), so FastAPI
cannot describe it by itself; this is its hand-written description.
"""

from __future__ import annotations

from typing import Any

_ERROR = {
    "type": "object",
    "properties": {
        "ok": {"type": "boolean", "enum": [False]},
        "event_id": {"type": "string"},
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "field": {"type": "string"},
            },
            "required": ["code", "message"],
        },
    },
}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR}}}


def hooks_path_item() -> dict[str, Any]:
    """The path item for the source endpoint Clay posts rows to."""
    return {
        "post": {
            "tags": ["ingest"],
            "summary": "Receive one Clay row on a source",
            "description": (
                "Called by a Clay HTTP API column with `Authorization: Bearer <source token>`. "
                "Values may be strings as Clay renders them; see README for coercion rules."
            ),
            "operationId": "ingest_row",
            "security": [{"sourceToken": []}],
            "parameters": [
                {"name": "source_key", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"type": "object"}}},
            },
            "responses": {
                "200": {"description": "Applied; the body describes the customer."},
                "400": _error("missing_field, invalid_json or invalid_body"),
                "401": _error("missing_token, invalid_token or source_disconnected"),
                "404": _error("unknown_source"),
                "413": _error("payload_too_large"),
                "422": _error("invalid_field, unknown_owner or ambiguous_owner"),
            },
        }
    }
