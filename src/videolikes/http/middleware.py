"""Pure ASGI middleware for abuse resistance: rate limits, body bounds, CORS, security headers."""

from __future__ import annotations

import re
from collections.abc import Iterable

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from videolikes.config import Settings
from videolikes.errors import AppError, PayloadTooLarge
from videolikes.http.methods import HeadAndOptionsMiddleware
from videolikes.ratelimit import RateLimiter
from videolikes.state import AppState
from videolikes.wire import error_body

__all__ = [
    "MAX_BODY_BYTES",
    "BodyLimitMiddleware",
    "RateLimitMiddleware",
    "SecurityHeadersMiddleware",
    "add_abuse_middleware",
    "with_security_headers",
]

# Only posting a comment reads a body; elsewhere a few bytes are tolerated for clients that
# always send one (`{}`).
MAX_BODY_BYTES = 1024
# A comment of 300 characters is up to 1,200 bytes of UTF-8, or 3,600 as JSON escapes.
COMMENT_BODY_BYTES = 8192
_COMMENT_POST_PATH = re.compile(r"/api/videos/[^/]+/comments")

_WRITE_PATH = re.compile(
    r"/api/videos/[^/]+/(?:like|dislike|comments)|/api/comments/[^/]+/(?:like|dislike)"
)
_WRITE_METHODS = frozenset({"POST", "PUT", "DELETE"})

_ALWAYS = ((b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"))
# JSON is never a document: it loads nothing, runs nothing and is never framed. HTML pages
# (/docs and the web page) keep their own policy, since they load scripts and styles.
_JSON_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
# Closing the connection spares reading the rest of a body nobody wants.
_CLOSE = ((b"connection", b"close"),)
_RATE_LIMIT_HEADERS = ["Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"]


def add_abuse_middleware(app: FastAPI, settings: Settings) -> None:
    """Install in this order, outermost first: headers, CORS, HEAD and OPTIONS, body bound,
    rate limit. A CORS preflight is answered before OPTIONS is; a HEAD counts as its GET."""
    app.add_middleware(RateLimitMiddleware)
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(HeadAndOptionsMiddleware)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"],
        allow_headers=["*"],
        allow_credentials=False,
        expose_headers=_RATE_LIMIT_HEADERS,
        max_age=600,
    )
    app.add_middleware(SecurityHeadersMiddleware)


async def _send_app_error(
    send: Send, error: AppError, headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    # Outside the app (pure ASGI), so rendered here rather than raised to its handler.
    await _send_error(send, error.status_code, error.message, headers)


async def _send_error(
    send: Send, status: int, message: str, headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    body = error_body(message)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode("ascii")),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _is_api(path: str) -> bool:
    return path.startswith("/api/") or path == "/api"


def _is_write(method: str, path: str) -> bool:
    return method in _WRITE_METHODS and _WRITE_PATH.fullmatch(path) is not None


class RateLimitMiddleware:
    """Counts every /api request per client; like, dislike and comment writes also count
    against the write limit."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _is_api(scope["path"]):
            await self.app(scope, receive, send)
            return
        services: AppState = scope["app"].state.services
        limiter: RateLimiter | None = services.rate_limiter
        if limiter is None:
            await self.app(scope, receive, send)
            return
        write = _is_write(scope["method"], scope["path"])
        # The identity after trusted-proxy resolution: a forwarding header from anyone else
        # cannot move a client into a fresh bucket.
        rejection = await limiter.check(services.identity.ip_hash(scope), write=write)
        if rejection is None:
            await self.app(scope, receive, send)
            return
        await _send_error(send, rejection.status_code, rejection.message, rejection.headers)


class BodyLimitMiddleware:
    """Answers 413 to a request body over the bound, before any other work is done: `max_bytes`,
    or COMMENT_BODY_BYTES for posting a comment."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.max_bytes
        if scope["method"] == "POST" and _COMMENT_POST_PATH.fullmatch(scope["path"]):
            max_bytes = max(max_bytes, COMMENT_BODY_BYTES)
        chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit():
                    await _send_error(send, 400, "Invalid Content-Length", _CLOSE)
                    return
                if int(value) > max_bytes:
                    await _send_error(
                        send, PayloadTooLarge.status_code, PayloadTooLarge.message, _CLOSE
                    )
                    return
            elif name == b"transfer-encoding":
                chunked = True
        if not chunked:
            await self.app(scope, receive, send)
            return
        # A chunked body announces no size: read it (up to the bound) before the app runs.
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > max_bytes:
                await _send_error(
                    send, PayloadTooLarge.status_code, PayloadTooLarge.message, _CLOSE
                )
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


class SecurityHeadersMiddleware:
    """nosniff and Referrer-Policy on every response; a locked-down CSP on JSON responses."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                message = {**message, "headers": _secured(headers)}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _secured(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    present = {name.lower() for name, _ in headers}
    for name, value in _ALWAYS:
        if name not in present:
            headers.append((name, value))
    json = any(name.lower() == b"content-type" and _is_json(value) for name, value in headers)
    if json and _JSON_CSP[0] not in present:
        headers.append(_JSON_CSP)
    return headers


def _is_json(content_type: bytes) -> bool:
    return content_type.startswith(b"application/json") or b"+json" in content_type


def with_security_headers(response: Response) -> Response:
    """For the one response Starlette sends outside all middleware: the unexpected-error 500."""
    response.raw_headers = _secured(list(response.raw_headers))
    return response
