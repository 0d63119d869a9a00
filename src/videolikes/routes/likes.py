from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Header, Path, Request

from videolikes.likes import LikeService
from videolikes.responses import JSONBytes
from videolikes.routes import error_responses
from videolikes.schemas import VIDEO_ID_PATTERN, UserLikeOut, user_like_body
from videolikes.state import app_state

router = APIRouter(prefix="/api/videos", tags=["likes"])

VideoId = Annotated[
    str,
    Path(
        alias="videoId",
        pattern=VIDEO_ID_PATTERN,
        description="The video's id: 1-50 characters of A-Z, a-z, 0-9, _ and -",
        examples=["EFTA01683563"],
    ),
]
RecaptchaToken = Annotated[
    str | None,
    Header(
        alias="X-Recaptcha-Token",
        max_length=4096,
        description="reCAPTCHA v3 token (action like_video); not needed when no secret is set",
        examples=["03AFcWeA5xyzTokenFromGrecaptchaExecute"],
    ),
]


@router.get(
    "/{videoId}/like",
    response_model=UserLikeOut,
    summary="Does this client like the video?",
    responses=error_responses(400, 404, 429, 503),
)
async def get_like(video_id: VideoId, request: Request) -> JSONBytes:
    state = app_state(request)
    liked = await state.likes.status(
        video_id=video_id, ip_hash=state.identity.ip_hash(request.scope)
    )
    return JSONBytes(user_like_body(liked))


@router.post(
    "/{videoId}/like",
    response_model=UserLikeOut,
    summary="Toggle this client's like",
    description="Not liked: creates the like and adds one to the counter. Liked: removes it "
    "and subtracts one (never below zero). Both commit atomically with the counter.",
    responses=error_responses(400, 403, 404, 429, 500, 503),
)
async def toggle_like(
    video_id: VideoId, request: Request, recaptcha_token: RecaptchaToken = None
) -> JSONBytes:
    return await _write_like(request, recaptcha_token, video_id, LikeService.toggle)


@router.put(
    "/{videoId}/like",
    response_model=UserLikeOut,
    summary="Like the video (idempotent)",
    description="Leaves the video liked by this client. Liking a liked video changes nothing "
    "and answers the same, so a retried request can never flip the like back.",
    responses=error_responses(400, 403, 404, 429, 500, 503),
)
async def put_like(
    video_id: VideoId, request: Request, recaptcha_token: RecaptchaToken = None
) -> JSONBytes:
    return await _write_like(request, recaptcha_token, video_id, LikeService.like)


@router.delete(
    "/{videoId}/like",
    response_model=UserLikeOut,
    summary="Remove this client's like (idempotent)",
    description="Leaves the video not liked by this client; the counter never goes below zero. "
    "Unliking a video that is not liked changes nothing and creates no user.",
    responses=error_responses(400, 403, 404, 429, 500, 503),
)
async def delete_like(
    video_id: VideoId, request: Request, recaptcha_token: RecaptchaToken = None
) -> JSONBytes:
    return await _write_like(request, recaptcha_token, video_id, LikeService.unlike)


async def _write_like(
    request: Request,
    recaptcha_token: str | None,
    video_id: str,
    write: Callable[..., Awaitable[bool]],
) -> JSONBytes:
    state = app_state(request)
    await state.captcha.verify(recaptcha_token)
    liked = await write(
        state.likes, video_id=video_id, ip_hash=state.identity.ip_hash(request.scope)
    )
    # This process's cached catalogue would otherwise hide the write for up to its lifetime.
    state.video_list.invalidate()
    return JSONBytes(user_like_body(liked))
