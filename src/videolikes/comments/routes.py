"""HTTP for comments: a video's comments, posting one, and comment likes."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Path, Query, Request
from starlette.responses import Response

from videolikes.captcha import MAX_TOKEN_LENGTH
from videolikes.comments.errors import CommentNotFound
from videolikes.comments.service import PAGE_SIZE, CommentService, validated_content
from videolikes.comments.wire import (
    NEW_COMMENT_EXAMPLE,
    CommentIn,
    CommentLikeOut,
    CommentOut,
    CommentsOut,
    comment_to_wire,
    page_to_wire,
)
from videolikes.errors import BadRequest
from videolikes.http.endpoints import VideoId, error_responses
from videolikes.http.paging import LINK_HEADER, Cursor, next_link
from videolikes.http.responses import JSONBytes
from videolikes.likes.folding import Rating
from videolikes.state import app_state
from videolikes.wire import dump, user_like_body

POST_COMMENT_ACTION = "post_comment"
LIKE_COMMENT_ACTION = "like_comment"
DISLIKE_COMMENT_ACTION = "dislike_comment"

router = APIRouter(tags=["comments"])
# Included with DISLIKES_ENABLED only.
dislike_router = APIRouter(tags=["comments"])

COMMENT_ID_EXAMPLE = "3e0c7d52-8b1a-4f6e-9c3d-2a1b0c9d8e7f"
CommentId = Annotated[
    uuid.UUID,
    Path(alias="commentId", description="The comment's id", examples=[COMMENT_ID_EXAMPLE]),
]
CaptchaToken = Annotated[
    str | None,
    Header(
        alias="X-Recaptcha-Token",
        max_length=MAX_TOKEN_LENGTH,
        description="reCAPTCHA v3 token; not needed when no secret is set",
        examples=["03AFcWeA5xyzTokenFromGrecaptchaExecute"],
    ),
]
Limit = Annotated[
    int,
    Query(ge=1, le=PAGE_SIZE, description="Top-level comments per page", examples=[20]),
]

_NOT_AN_OBJECT = 'Invalid body: expected a JSON object like {"content": "..."}'
_COMMENT_NOT_FOUND: dict[int | str, Any] = {
    404: {
        "description": "Unknown comment",
        "content": {"application/json": {"example": {"error": CommentNotFound.message}}},
    }
}
_TOO_LARGE: dict[int | str, Any] = {
    413: {
        "description": "Body over the bound",
        "content": {"application/json": {"example": {"error": "Request body too large"}}},
    }
}


@router.get(
    "/api/videos/{videoId}/comments",
    response_model=CommentsOut,
    summary="A video's comments, newest first, each with its replies oldest first",
    description="The 100 newest top-level comments (or `limit`), as the original service "
    "answered; the next page's URL is in the `Link` header. `totalCount` is the top-level "
    "comments listed plus every reply of the video. Never creates a user.",
    responses={
        200: {"headers": {"Link": LINK_HEADER}},
        **error_responses(400, 404, 429, 503),
    },
)
async def get_comments(
    request: Request, video_id: VideoId, limit: Limit = PAGE_SIZE, cursor: Cursor = None
) -> Response:
    state = app_state(request)
    after = None if cursor is None else state.cursors.comments_key(cursor, video_id)
    page = await state.comments.page(
        video_id=video_id, client=state.identity.keys(request.scope), after=after, limit=limit
    )
    headers = {}
    if page.next_key is not None:
        headers["Link"] = next_link(request, state.cursors.for_comments(video_id, page.next_key))
    dislikes = state.settings.dislikes_enabled
    return JSONBytes(dump(page_to_wire(page, dislikes=dislikes)), headers=headers)


@router.post(
    "/api/videos/{videoId}/comments",
    status_code=201,
    response_model=CommentOut,
    summary="Post a comment, or a reply to a top-level comment",
    description="At most 10 comments per client per video within 24 hours (429 after). "
    "The body is at most 8 KiB.",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": CommentIn.model_json_schema()}},
        }
    },
    responses={
        201: {"content": {"application/json": {"example": NEW_COMMENT_EXAMPLE}}},
        **error_responses(400, 403, 404, 429, 500, 503, bad_request="Content is required"),
        **_TOO_LARGE,
    },
)
async def post_comment(
    request: Request, video_id: VideoId, token: CaptchaToken = None
) -> JSONBytes:
    content, parent_id = _comment_input(await request.body())
    state = app_state(request)
    await state.captcha.verify(token, action=POST_COMMENT_ACTION)
    view = await state.comments.post(
        video_id=video_id,
        client=state.identity.keys(request.scope),
        content=content,
        parent_id=parent_id,
    )
    body = comment_to_wire(view, dislikes=state.settings.dislikes_enabled)
    return JSONBytes(dump(body), status_code=201)


def _comment_input(body: bytes) -> tuple[str, uuid.UUID | None]:
    try:
        data: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadRequest(_NOT_AN_OBJECT) from None
    if not isinstance(data, dict):
        raise BadRequest(_NOT_AN_OBJECT)
    content = data.get("content")
    if content is not None and not isinstance(content, str):
        raise BadRequest("Invalid content: expected a string")
    return validated_content(content), _parent_id(data.get("parentId"))


def _parent_id(value: object) -> uuid.UUID | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return uuid.UUID(value)
        except ValueError:
            pass
    raise BadRequest("Invalid parentId: expected a comment id")


_LikeWrite = Callable[..., Awaitable[Rating]]
_LIKE_OPERATIONS: list[tuple[str, _LikeWrite, str, str]] = [
    (
        "POST",
        CommentService.toggle_like,
        "Toggle this client's like of the comment",
        "Not liked: likes it. Liked: removes the like.",
    ),
    (
        "PUT",
        CommentService.like,
        "Like the comment (idempotent)",
        "Leaves the comment liked by this client; repeating it changes nothing.",
    ),
    (
        "DELETE",
        CommentService.unlike,
        "Remove this client's like of the comment (idempotent)",
        "Leaves the comment not liked by this client; creates no user.",
    ),
]
_DISLIKE_OPERATIONS: list[tuple[str, _LikeWrite, str, str]] = [
    (
        "POST",
        CommentService.toggle_dislike,
        "Toggle this client's dislike of the comment",
        "Not disliked: dislikes it (replacing a like), answering `false`. Disliked: removes "
        "the dislike, answering `null`.",
    ),
    (
        "PUT",
        CommentService.dislike,
        "Dislike the comment (idempotent)",
        "Leaves the comment disliked by this client; repeating it changes nothing.",
    ),
    (
        "DELETE",
        CommentService.undislike,
        "Remove this client's dislike of the comment (idempotent)",
        "Leaves the comment not disliked by this client (a like stays); creates no user.",
    ),
]


def _rating_endpoint(write: _LikeWrite, action: str) -> Callable[..., Awaitable[JSONBytes]]:
    async def endpoint(
        request: Request, comment_id: CommentId, token: CaptchaToken = None
    ) -> JSONBytes:
        state = app_state(request)
        await state.captcha.verify(token, action=action)
        rating = await write(
            state.comments, comment_id=comment_id, client=state.identity.keys(request.scope)
        )
        return JSONBytes(user_like_body(rating))

    return endpoint


_RATING_ERRORS: dict[int | str, Any] = {
    **error_responses(
        400,
        403,
        429,
        500,
        503,
        bad_request="Invalid commentId: Input should be a valid UUID",
    ),
    **_COMMENT_NOT_FOUND,
}
for _router, _path, _action, _operations in (
    (router, "/api/comments/{commentId}/like", LIKE_COMMENT_ACTION, _LIKE_OPERATIONS),
    (
        dislike_router,
        "/api/comments/{commentId}/dislike",
        DISLIKE_COMMENT_ACTION,
        _DISLIKE_OPERATIONS,
    ),
):
    for _method, _write, _summary, _description in _operations:
        _router.add_api_route(
            _path,
            _rating_endpoint(_write, _action),
            methods=[_method],
            response_model=CommentLikeOut,
            summary=_summary,
            description=_description,
            responses=_RATING_ERRORS,
        )
