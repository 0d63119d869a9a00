from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Query, Request

from videolikes.errors import BadRequest
from videolikes.http.endpoints import error_responses
from videolikes.http.paging import LINK_HEADER, Cursor, next_link
from videolikes.http.responses import JSONBytes
from videolikes.state import app_state
from videolikes.users.service import get_or_create
from videolikes.wire import VIDEO_ID_PATTERN, MeOut, UserLikesOut, dump, user_likes_body

router = APIRouter(prefix="/api/me", tags=["me"])

MAX_IDS = 100
_VIDEO_ID = re.compile(VIDEO_ID_PATTERN)

Ids = Annotated[
    str | None,
    Query(
        max_length=MAX_IDS * 51,
        description=f"Up to {MAX_IDS} video ids, separated by commas; when given, `limit` and "
        "`cursor` are ignored",
        examples=["DEMO00000001,DEMO00000002,NO_SUCH_VIDEO"],
    ),
]
Limit = Annotated[int, Query(ge=1, le=100, description="Page size", examples=[20])]


@router.get(
    "",
    response_model=MeOut,
    summary="This client's anonymous user, created on first call",
    responses=error_responses(429, 503),
)
async def get_me(request: Request) -> JSONBytes:
    state = app_state(request)
    user = await get_or_create(state.database, state.identity.keys(request.scope))
    return JSONBytes(dump({"id": str(user.id), "username": user.username}))


@router.get(
    "/likes",
    response_model=UserLikesOut | list[str],
    summary="This client's likes: for some videos, or all of them newest first",
    description='With `ids`: `{"userLikes": {id: true | null}}`, true where this client likes '
    "the video and null otherwise (unknown videos included). Without `ids`: a bare array of the "
    "ids of the videos this client likes, newest like first, one page at a time; the next "
    "page's URL is in the `Link` header. Never creates a user.",
    responses={
        200: {"headers": {"Link": LINK_HEADER}},
        **error_responses(400, 429, 503, bad_request="Invalid ids: at most 100 video ids, got 101"),
    },
)
async def get_my_likes(
    request: Request, ids: Ids = None, limit: Limit = 20, cursor: Cursor = None
) -> JSONBytes:
    state = app_state(request)
    client = state.identity.keys(request.scope)
    if ids is not None:
        statuses = await state.likes.statuses(video_ids=_parse_ids(ids), client=client)
        return JSONBytes(user_likes_body(statuses))
    after = None if cursor is None else state.cursors.liked_key(cursor)
    page = await state.likes.liked(client=client, after=after, limit=limit)
    headers = {}
    if page.next_key is not None:
        headers["Link"] = next_link(request, state.cursors.for_liked(page.next_key))
    return JSONBytes(dump(page.video_ids), headers=headers)


def _parse_ids(ids: str) -> list[str]:
    video_ids = ids.split(",")
    if len(video_ids) > MAX_IDS:
        raise BadRequest(f"Invalid ids: at most {MAX_IDS} video ids, got {len(video_ids)}")
    for position, video_id in enumerate(video_ids, start=1):
        if not _VIDEO_ID.fullmatch(video_id):
            raise BadRequest(
                f"Invalid ids: entry {position} is not a video id "
                "(1-50 characters of A-Z, a-z, 0-9, _ and -)"
            )
    return video_ids
