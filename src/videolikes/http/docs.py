"""The interactive API docs at /docs: Swagger UI, served by this server itself.

FastAPI's own page loads Swagger UI from a CDN and starts it with an inline script, so without
internet (or under a policy that runs no inline script) it stays blank. Here Swagger UI's files
come from the fastapi-offline package, the page starts it from a file of its own (docs.js),
and it carries the web page's Content Security Policy: everything from this origin only.
"""

from __future__ import annotations

import html
from functools import cache
from string import Template

from fastapi import FastAPI, Request
from starlette.responses import Response

from videolikes.http.page import (
    SWAGGER_UI_PACKAGE,
    asset_url,
    content_security_policy,
    static_text,
)

DOCS_PATH = "/docs"


def add_docs(app: FastAPI) -> None:
    """For an app made with `docs_url=None`, which leaves out FastAPI's page."""
    app.add_api_route(DOCS_PATH, docs_page, methods=["GET"], include_in_schema=False)


async def docs_page(request: Request) -> Response:
    app: FastAPI = request.app
    return Response(
        _render(app.title, app.openapi_url or ""),
        media_type="text/html; charset=utf-8",
        headers={
            "Content-Security-Policy": content_security_policy(None),
            "Cache-Control": "no-cache",
        },
    )


@cache
def _render(title: str, openapi_url: str) -> bytes:
    page = Template(static_text("docs.html")).substitute(
        title=html.escape(title),
        openapi_url=html.escape(openapi_url, quote=True),
        icon_url=asset_url("icon.svg"),
        swagger_css_url=asset_url("swagger-ui.css", SWAGGER_UI_PACKAGE),
        swagger_js_url=asset_url("swagger-ui-bundle.js", SWAGGER_UI_PACKAGE),
        docs_js_url=asset_url("docs.js"),
    )
    return page.encode()
