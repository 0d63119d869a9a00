"""Documented routes whose endpoints read the request and build the response themselves."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import request_response


class DirectRoute(APIRoute):
    """An APIRoute that FastAPI documents from its declaration as usual, but that runs its
    endpoint as Starlette runs one: no parameter solving, no dependency exit stacks, no
    response model. For endpoints that take the Request and return a Response.
    """

    def __init__(
        self, path: str, endpoint: Callable[[Request], Awaitable[Response]], **kwargs: Any
    ) -> None:
        super().__init__(path, endpoint, **kwargs)
        self.app = request_response(endpoint)
