"""Swagger UI for a FastAPI app from local files: the docs work offline (no CDN).

FastAPI's own ``/docs`` page loads Swagger UI from a CDN, so it is blank on a machine without
internet access. :func:`install_docs` replaces it with the same page served from the
``swagger-ui-bundle-v2`` package (Swagger UI 5, which reads OpenAPI 3.1) under ``/docs/assets``,
and drops FastAPI's CDN-based ReDoc page. Without the package the app keeps no docs page and
says so in its log.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

log = logging.getLogger("shared.apidocs")

ASSETS = "/docs/assets"
_DEFAULT_DOCS = ("/docs", "/docs/oauth2-redirect", "/redoc")


def swagger_ui_dir() -> str | None:
    """The folder of the Swagger UI files, or None when the package is not installed."""
    try:
        import swagger_ui_bundle
    except ImportError:
        return None
    return str(swagger_ui_bundle.swagger_ui_path)


def install_docs(app: FastAPI, title: str | None = None) -> bool:
    """Serve ``/docs`` (Swagger UI) from local files instead of a CDN; False when unavailable."""
    app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", None) not in _DEFAULT_DOCS]
    folder = swagger_ui_dir()
    if folder is None:
        log.warning("swagger-ui-bundle-v2 is not installed: no /docs page (the schema stays at %s)",
                    app.openapi_url)
        return False
    app.mount(ASSETS, StaticFiles(directory=folder), name="docs-assets")
    page_title = title or f"{app.title} API"

    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json", title=page_title,
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js", swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon-32x32.png", oauth2_redirect_url="/docs/oauth2-redirect",
            swagger_ui_parameters={"persistAuthorization": False})

    async def redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    kw: dict[str, Any] = {"include_in_schema": False}
    app.add_api_route("/docs", docs, methods=["GET"], **kw)
    app.add_api_route("/docs/oauth2-redirect", redirect, methods=["GET"], **kw)
    return True
