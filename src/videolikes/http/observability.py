"""Per-request logs and metrics, as pure ASGI wrapped around the whole application."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from time import perf_counter

from fastapi import FastAPI
from starlette.routing import Mount, compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from videolikes.logs import REQUEST_ID
from videolikes.metrics import observe_request

_access_log = logging.getLogger("videolikes.access")

_REQUEST_ID_HEADER = b"x-request-id"
# No dots or colons: a client-chosen id can never spell an IP address into the logs, and no
# spaces or control characters can forge a log line.
_WELL_FORMED_REQUEST_ID = re.compile(rb"[A-Za-z0-9_-]{1,128}")
UNMATCHED_ROUTE = "unmatched"


class ObservedFastAPI(FastAPI):
    """FastAPI with RequestObservability outside every other layer.

    Outside even the server-error layer, so that an unexpected error is counted, its traceback
    is logged under the request's id, and the 500 it produces still carries X-Request-ID.
    """

    def build_middleware_stack(self) -> ASGIApp:
        return RequestObservability(super().build_middleware_stack(), self.route_templates)

    def route_templates(self) -> list[tuple[re.Pattern[str], str]]:
        """Every route's template: the app's own routes (the docs, the static files, the like
        endpoints), then the documented ones of the routers it includes."""
        templates: list[tuple[str, str]] = []
        for route in self.router.routes:
            if isinstance(route, Mount):
                templates.append((f"{route.path}/{{path:path}}", f"{route.path}/{{path}}"))
            elif isinstance(path := getattr(route, "path", None), str):
                templates.append((path, path))
        templates += [(path, path) for path in self.openapi()["paths"]]
        return [(compile_path(path)[0], template) for path, template in templates]


class RequestObservability:
    def __init__(
        self, app: ASGIApp, templates: Callable[[], list[tuple[re.Pattern[str], str]]]
    ) -> None:
        self.app = app
        self._load_templates = templates
        self._templates: list[tuple[re.Pattern[str], str]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        # A mount moves part of the path into the root path of the scope it is handed.
        route_path = scope["path"].removeprefix(scope.get("root_path", ""))
        request_id = _request_id(scope)
        id_header = (_REQUEST_ID_HEADER, request_id.encode("ascii"))
        token = REQUEST_ID.set(request_id)
        status = 500
        complete = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, complete
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), id_header]}
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                complete = True
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # A complete answer means the error layer already sent the 500 and logged the
            # traceback under this request id; re-raising would only have the server log it
            # a second time, without the id.
            if not complete:
                raise
        finally:
            route = self._route_template(scope, route_path)
            _finish(scope, route, status, perf_counter() - started)
            REQUEST_ID.reset(token)

    def _route_template(self, scope: Scope, route_path: str) -> str:
        path: str | None = getattr(scope.get("route"), "path", None)
        if path is not None:
            return path
        # Answered before routing (a rate limit, a body too large, HEAD, OPTIONS), or by a
        # route that does not record itself in the scope (the docs, the static files): find
        # the template anyway, so the answer is counted under the route it was aimed at.
        if self._templates is None:
            self._templates = self._load_templates()
        for pattern, template in self._templates:
            if pattern.match(route_path):
                return template
        return UNMATCHED_ROUTE


def _request_id(scope: Scope) -> str:
    name: bytes
    value: bytes
    for name, value in scope["headers"]:
        if name == _REQUEST_ID_HEADER:
            if _WELL_FORMED_REQUEST_ID.fullmatch(value):
                return value.decode("ascii")
            break
    return os.urandom(16).hex()


def _finish(scope: Scope, route: str, status: int, seconds: float) -> None:
    method = scope["method"]
    observe_request(method, route, status, seconds)
    if _access_log.isEnabledFor(logging.INFO):
        milliseconds = round(seconds * 1000, 2)
        _access_log.info(
            "%s %s %d %.2fms",
            method,
            route,
            status,
            milliseconds,
            extra={
                "fields": {
                    "method": method,
                    "route": route,
                    "status": status,
                    "duration_ms": milliseconds,
                }
            },
        )
