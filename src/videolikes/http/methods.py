"""HEAD and OPTIONS wherever a route answers, and an Allow that names all of a path's methods.

FastAPI routes answer only the methods they declare (none declares HEAD, which FastAPI leaves out
of the OpenAPI document), and a path served by one route per method, as the like endpoints are,
would name only the first of them in a 405's Allow. Which methods a path has is found by asking
the app's own routes, so the answer can never disagree with the routing.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["HeadAndOptionsMiddleware", "allow_header", "allowed_methods"]

# In the order Allow lists them.
_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")
_ROUTED = ("GET", "POST", "PUT", "DELETE", "PATCH")
# A mounted static-file app matches any method and answers GET and HEAD alone.
_MOUNTED = frozenset({"GET"})


def allowed_methods(scope: Scope) -> list[str]:
    """The methods the app answers on this request's path; empty when no route serves it."""
    routes: list[BaseRoute] = scope["app"].router.routes
    # Once a mount has taken the request, its part of the path is in the root path.
    scope = {**scope, "root_path": scope.get("app_root_path", scope.get("root_path", ""))}
    found: set[str] = set()
    for route in routes:
        if isinstance(route, Mount):
            if route.matches(scope)[0] is not Match.NONE:
                found |= _MOUNTED
            continue
        for method in _ROUTED:
            if method not in found and route.matches({**scope, "method": method})[0] is Match.FULL:
                found.add(method)
    if not found:
        return []
    found.add("OPTIONS")
    if "GET" in found:
        found.add("HEAD")
    return [method for method in _METHODS if method in found]


def allow_header(scope: Scope) -> str:
    return ", ".join(allowed_methods(scope))


class HeadAndOptionsMiddleware:
    """HEAD runs the GET and sends its status and headers without the body; OPTIONS (other than
    a CORS preflight, answered outside this layer) is a 204 whose Allow lists the path's methods.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
        elif scope["method"] == "HEAD":
            await self.app({**scope, "method": "GET"}, receive, _without_body(send))
        elif allow := allow_header(scope):
            await send(
                {
                    "type": "http.response.start",
                    "status": 204,
                    "headers": [(b"allow", allow.encode("ascii"))],
                }
            )
            await send({"type": "http.response.body", "body": b""})
        else:
            # No route: the router's 404.
            await self.app(scope, receive, send)


def _without_body(send: Send) -> Send:
    async def send_head(message: Message) -> None:
        if message["type"] == "http.response.body":
            message = {**message, "body": b""}
        await send(message)

    return send_head
