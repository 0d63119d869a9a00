"""A path with a trailing slash that a route would serve without it: 307 to that path.

Starlette's own redirect builds an absolute URL from the request's Host header, so a client
(or anything that can set Host) chose the host it was sent to. The Location here is a relative
reference made of the request's own path and query, which a client resolves against the URL it
asked for.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["redirect_trailing_slashes"]


def redirect_trailing_slashes(app: FastAPI) -> None:
    router = app.router
    router.redirect_slashes = False
    router.default = _TrailingSlashRedirect(router.default)


class _TrailingSlashRedirect:
    """The router's default app (what runs when no route matched), with the redirect first."""

    def __init__(self, not_found: ASGIApp) -> None:
        self.not_found = not_found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        location = _location_without_slash(scope) if scope["type"] == "http" else None
        if location is None:
            await self.not_found(scope, receive, send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 307,
                "headers": [(b"location", location), (b"content-length", b"0")],
            }
        )
        await send({"type": "http.response.body", "body": b""})


def _location_without_slash(scope: Scope) -> bytes | None:
    path: str = scope["path"]
    target = path.rstrip("/")
    # "//host" would be a reference to another host.
    if not path.endswith("/") or not target.startswith("/") or target.startswith("//"):
        return None
    routes = scope["app"].router.routes
    probe = {**scope, "path": target}
    if not any(route.matches(probe)[0] is not Match.NONE for route in routes):
        return None
    # Some clients' ASGI adapters put the query in raw_path; the spec does not.
    raw_path: bytes = (scope.get("raw_path") or quote(path).encode("ascii")).split(b"?", 1)[0]
    if not raw_path.endswith(b"/"):
        # The slash was written %2F: stripping it would redirect to the same request.
        return None
    location = raw_path.rstrip(b"/")
    if scope.get("query_string"):
        location += b"?" + scope["query_string"]
    return location
