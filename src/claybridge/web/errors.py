"""Exception handlers that give every admin API error the standard JSON body.

Errors no handler here covers (a bug, the database unavailable) are answered by
:class:`claybridge.web.guard.AdminGuard`.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from claybridge.errors import ClaybridgeError, error_body

_HTTP_CODES = {
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
}


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on ``app``."""

    @app.exception_handler(ClaybridgeError)
    async def _claybridge(_request: Request, exc: ClaybridgeError) -> JSONResponse:
        return JSONResponse(exc.to_body(), status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
        field = ".".join(loc) or None
        message = first.get("msg", "invalid request")
        if field:
            message = f"{field}: {message}"
        if first.get("type") == "json_invalid":
            detail = first.get("ctx", {}).get("error", "JSON decode error")
            return JSONResponse(
                error_body("invalid_json", f"the request body is not valid JSON: {detail}"),
                status_code=400,
            )
        code = "missing_field" if first.get("type") == "missing" else "invalid_field"
        return JSONResponse(error_body(code, message, field), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return JSONResponse(
            error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
        )
