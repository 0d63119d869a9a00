from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request

from videolikes.captcha import MAX_TOKEN_LENGTH
from videolikes.errors import BadRequest
from videolikes.http.direct import DirectRoute
from videolikes.http.endpoints import (
    VIDEO_ID_DESCRIPTION,
    VIDEO_ID_EXAMPLE,
    bounded_header,
    error_responses,
)
from videolikes.http.responses import JSONBytes
from videolikes.likes.folding import Rating
from videolikes.likes.service import LikeService
from videolikes.state import app_state
from videolikes.wire import INVALID_VIDEO_ID, VIDEO_ID_PATTERN, UserLikeOut, user_like_body

LIKE_PATH = "/api/videos/{videoId}/like"
DISLIKE_PATH = "/api/videos/{videoId}/dislike"
# What the web client asks reCAPTCHA for before a like write (RECAPTCHA_CHECK_ACTION).
LIKE_VIDEO_ACTION = "like_video"
DISLIKE_VIDEO_ACTION = "dislike_video"
_CAPTCHA_HEADER_DESCRIPTION = (
    "reCAPTCHA v3 token (action like_video); not needed when no secret is set"
)
_DISLIKE_CAPTCHA_HEADER_DESCRIPTION = (
    "reCAPTCHA v3 token (action dislike_video); not needed when no secret is set"
)
_CAPTCHA_HEADER_EXAMPLE = "03AFcWeA5xyzTokenFromGrecaptchaExecute"


def add_like_routes(app: FastAPI, *, dislikes: bool = False) -> None:
    """Register the like (and, with `dislikes`, dislike) endpoints ahead of every other route.

    They sit on every video page, so they skip FastAPI's per-request parameter machinery: each
    endpoint takes the Request and reads its two inputs itself, by the rules the OpenAPI
    document states (_VIDEO_ID_PARAMETER, _CAPTCHA_HEADER_PARAMETER). As DirectRoutes they
    also skip FastAPI's request handler and its exit stacks; both were measured to cost more
    than the like itself (BENCHMARKS.md). Registered on the app rather than through an
    included router, a like request meets its route first.
    """
    routes = app.router.routes
    before = len(routes)
    operations = [(LIKE_PATH, _CAPTCHA_HEADER_PARAMETER, *operation) for operation in _OPERATIONS]
    if dislikes:
        operations += [
            (DISLIKE_PATH, _DISLIKE_CAPTCHA_HEADER_PARAMETER, *operation)
            for operation in _DISLIKE_OPERATIONS
        ]
    for path, captcha_header, method, endpoint, summary, description, errors in operations:
        parameters = [_VIDEO_ID_PARAMETER]
        if method != "GET":
            parameters.append(captcha_header)
        app.router.add_api_route(
            path,
            endpoint,
            route_class_override=DirectRoute,
            methods=[method],
            tags=["likes"],
            summary=summary,
            description=description,
            response_model=UserLikeOut,
            responses=error_responses(*errors),
            openapi_extra={"parameters": parameters},
        )
    routes[:] = routes[before:] + routes[:before]


def _parameter(
    name: str, location: str, schema: dict[str, Any], description: str, example: str
) -> dict[str, Any]:
    """An OpenAPI parameter in the shape FastAPI gives its own declared parameters."""
    schema = {**schema, "description": description, "examples": [example], "title": name.title()}
    required = location == "path"
    return {
        "name": name,
        "in": location,
        "required": required,
        "schema": schema,
        "description": description,
    }


_VIDEO_ID_PARAMETER = _parameter(
    "videoId",
    "path",
    {"type": "string", "pattern": VIDEO_ID_PATTERN},
    VIDEO_ID_DESCRIPTION,
    VIDEO_ID_EXAMPLE,
)
_CAPTCHA_HEADER_PARAMETER = _parameter(
    "X-Recaptcha-Token",
    "header",
    {"anyOf": [{"type": "string", "maxLength": MAX_TOKEN_LENGTH}, {"type": "null"}]},
    _CAPTCHA_HEADER_DESCRIPTION,
    _CAPTCHA_HEADER_EXAMPLE,
)
_DISLIKE_CAPTCHA_HEADER_PARAMETER = _parameter(
    "X-Recaptcha-Token",
    "header",
    {"anyOf": [{"type": "string", "maxLength": MAX_TOKEN_LENGTH}, {"type": "null"}]},
    _DISLIKE_CAPTCHA_HEADER_DESCRIPTION,
    _CAPTCHA_HEADER_EXAMPLE,
)
_VALID_VIDEO_ID = re.compile(VIDEO_ID_PATTERN)


def _video_id(request: Request) -> str:
    video_id: str = request.path_params["videoId"]
    if _VALID_VIDEO_ID.fullmatch(video_id) is None:
        raise BadRequest(INVALID_VIDEO_ID)
    return video_id


async def get_like(request: Request) -> JSONBytes:
    state = app_state(request)
    rating = await state.likes.status(
        video_id=_video_id(request), client=state.identity.keys(request.scope)
    )
    return JSONBytes(user_like_body(rating))


async def toggle_like(request: Request) -> JSONBytes:
    return await _write_like(request, LikeService.toggle, LIKE_VIDEO_ACTION)


async def put_like(request: Request) -> JSONBytes:
    return await _write_like(request, LikeService.like, LIKE_VIDEO_ACTION)


async def delete_like(request: Request) -> JSONBytes:
    return await _write_like(request, LikeService.unlike, LIKE_VIDEO_ACTION)


async def toggle_dislike(request: Request) -> JSONBytes:
    return await _write_like(request, LikeService.toggle_dislike, DISLIKE_VIDEO_ACTION)


async def put_dislike(request: Request) -> JSONBytes:
    return await _write_like(request, LikeService.dislike, DISLIKE_VIDEO_ACTION)


async def delete_dislike(request: Request) -> JSONBytes:
    return await _write_like(request, LikeService.undislike, DISLIKE_VIDEO_ACTION)


async def _write_like(
    request: Request, write: Callable[..., Awaitable[Rating]], action: str
) -> JSONBytes:
    video_id = _video_id(request)
    token = bounded_header(request, "X-Recaptcha-Token", MAX_TOKEN_LENGTH)
    state = app_state(request)
    await state.captcha.verify(token, action=action)
    rating = await write(state.likes, video_id=video_id, client=state.identity.keys(request.scope))
    # This process's cached catalogue would otherwise hide the write for up to its lifetime.
    state.video_list.invalidate()
    return JSONBytes(user_like_body(rating))


_OPERATIONS: list[
    tuple[str, Callable[[Request], Awaitable[JSONBytes]], str, str | None, tuple[int, ...]]
] = [
    ("GET", get_like, "Does this client like the video?", None, (400, 404, 429, 503)),
    (
        "POST",
        toggle_like,
        "Toggle this client's like",
        "Not liked: creates the like and adds one to the counter. Liked: removes it "
        "and subtracts one (never below zero). Both commit atomically with the counter.",
        (400, 403, 404, 429, 500, 503),
    ),
    (
        "PUT",
        put_like,
        "Like the video (idempotent)",
        "Leaves the video liked by this client. Liking a liked video changes nothing "
        "and answers the same, so a retried request can never flip the like back.",
        (400, 403, 404, 429, 500, 503),
    ),
    (
        "DELETE",
        delete_like,
        "Remove this client's like (idempotent)",
        "Leaves the video not liked by this client; the counter never goes below zero. "
        "Unliking a video that is not liked changes nothing and creates no user.",
        (400, 403, 404, 429, 500, 503),
    ),
]

_DISLIKE_OPERATIONS: list[
    tuple[str, Callable[[Request], Awaitable[JSONBytes]], str, str | None, tuple[int, ...]]
] = [
    (
        "POST",
        toggle_dislike,
        "Toggle this client's dislike",
        "Not disliked: dislikes the video (replacing a like) and answers `false`. Disliked: "
        "removes the dislike and answers `null`. Each counter moves atomically with its rows. "
        "Answers the client's rating after it, as GET /api/videos/{videoId}/like does.",
        (400, 403, 404, 429, 500, 503),
    ),
    (
        "PUT",
        put_dislike,
        "Dislike the video (idempotent)",
        "Leaves the video disliked by this client (replacing a like); repeating it changes "
        "nothing.",
        (400, 403, 404, 429, 500, 503),
    ),
    (
        "DELETE",
        delete_dislike,
        "Remove this client's dislike (idempotent)",
        "Leaves the video not disliked by this client: a like stays, answered `true`. "
        "Creates no user.",
        (400, 403, 404, 429, 500, 503),
    ),
]
