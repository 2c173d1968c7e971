"""``/docs``: the interactive API docs, served entirely by Claybridge (Swagger UI's
assets come from the ``swagger-ui-bundle`` package, so the page works offline), and the
OpenAPI document's bearer scheme, so "Authorize" takes an API key."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

ASSETS = "/docs/assets"
SCHEME = "apiKey"


def install_docs(admin: FastAPI) -> None:
    """Serve ``/docs`` and its assets on ``admin`` (built with ``docs_url=None``)."""
    admin.mount(ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    @admin.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{admin.title} API",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon-32x32.png",
            swagger_ui_parameters={"persistAuthorization": True},
        )


def declare_bearer(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the API-key bearer scheme to ``schema`` and require it on every ``/v1`` path."""
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {})[SCHEME] = {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key: `claybridge api-keys create --name you`.",
    }
    for path, item in schema.get("paths", {}).items():
        if path.startswith("/v1/"):
            for operation in item.values():
                if isinstance(operation, dict):
                    operation["security"] = [{SCHEME: []}]
    return schema
