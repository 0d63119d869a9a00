"""The web page at `/`: static files shipped in the package, with the public site key put in.

The page is HTML, CSS and plain JavaScript with no inline script, so its own Content Security
Policy can allow scripts from this origin only, plus Google's reCAPTCHA hosts when a site key
is configured. The policy is set here, on the HTML response, because it depends on that key.
"""

from __future__ import annotations

import hashlib
import html
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from string import Template

from fastapi import FastAPI, Request
from starlette.responses import Response
from starlette.staticfiles import StaticFiles

from videolikes.state import app_state

STATIC_PACKAGE = ("videolikes", "static")
# Swagger UI's files for /docs (routes/docs.py), served beside the page's own.
SWAGGER_UI_PACKAGE = ("fastapi_offline", "static")
STATIC_PATH = "/static"
RECAPTCHA_SCRIPT_HOSTS = "https://www.google.com/recaptcha/ https://www.gstatic.com/recaptcha/"
RECAPTCHA_FRAME_HOSTS = "https://www.google.com/recaptcha/ https://recaptcha.google.com/recaptcha/"

_BASE_POLICY = {
    "default-src": "'none'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "connect-src": "'self'",
    "base-uri": "'none'",
    "form-action": "'none'",
    "frame-ancestors": "'none'",
}
_RECAPTCHA_POLICY = {
    "script-src": f"'self' {RECAPTCHA_SCRIPT_HOSTS}",
    "frame-src": RECAPTCHA_FRAME_HOSTS,
    # Google's script styles its badge with inline styles; styles cannot run code.
    "style-src": "'self' 'unsafe-inline'",
}


def add_page(app: FastAPI) -> None:
    # On the app itself rather than through an included router, so the request metrics find
    # its template by the app's own routes.
    app.add_api_route("/", index, methods=["GET"], include_in_schema=False)
    static_files = StaticFiles(packages=[STATIC_PACKAGE, SWAGGER_UI_PACKAGE])
    app.mount(STATIC_PATH, static_files, name="static")


def content_security_policy(site_key: str | None) -> str:
    policy = _BASE_POLICY | _RECAPTCHA_POLICY if site_key else _BASE_POLICY
    return "; ".join(f"{name} {value}" for name, value in policy.items())


async def index(request: Request) -> Response:
    site_key = app_state(request).settings.recaptcha_site_key or ""
    return Response(
        _render_index(site_key),
        media_type="text/html; charset=utf-8",
        headers={
            "Content-Security-Policy": content_security_policy(site_key),
            "Cache-Control": "no-cache",
        },
    )


@cache
def _render_index(site_key: str) -> bytes:
    template = Template(static_text("index.html"))
    page = template.substitute(
        recaptcha_site_key=html.escape(site_key, quote=True),
        style_url=asset_url("style.css"),
        script_url=asset_url("app.js"),
        icon_url=asset_url("icon.svg"),
    )
    return page.encode()


@cache
def asset_url(name: str, package: tuple[str, str] = STATIC_PACKAGE) -> str:
    """The URL of a file under /static, with its content's hash in the query: it changes with
    the file, so browsers never run an old script against a new page after an upgrade."""
    digest = hashlib.sha256(_static_file(package, name).read_bytes()).hexdigest()[:12]
    return f"{STATIC_PATH}/{name}?v={digest}"


def static_text(name: str) -> str:
    return _static_file(STATIC_PACKAGE, name).read_text("utf-8")


def _static_file(package: tuple[str, str], name: str) -> Traversable:
    return files(package[0]).joinpath(package[1], name)
