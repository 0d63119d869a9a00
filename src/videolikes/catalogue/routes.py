from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, FastAPI, Query, Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import Scope

from videolikes.catalogue.repository import CatalogueQuery, Sort
from videolikes.catalogue.service import get_video, list_videos
from videolikes.http.endpoints import VideoId, bounded_header, error_responses
from videolikes.http.paging import (
    ETAG_HEADER,
    LINK_HEADER,
    MAX_IF_NONE_MATCH_LENGTH,
    NOT_MODIFIED,
    Cursor,
    IfNoneMatch,
    etag_of,
    next_link,
    with_etag,
)
from videolikes.state import AppState, app_state
from videolikes.wire import TEXT_WITHOUT_NUL, VIDEO_EXAMPLE, VideoOut, dump, video_to_wire

router = APIRouter(prefix="/api/videos", tags=["videos"])

# The original service's answer: every video, most viewed first.
WHOLE_CATALOGUE = CatalogueQuery()

Limit = Annotated[
    int | None,
    Query(
        ge=1, le=1000, description="Page size; without it, every (remaining) video", examples=[7]
    ),
]
SortBy = Annotated[Sort, Query(description="Highest first, ties by id", examples=["likes"])]
Playlist = Annotated[
    str | None,
    Query(
        max_length=100,
        pattern=TEXT_WITHOUT_NUL,
        description="Only videos of this playlist",
        examples=["coast"],
    ),
]
Shorts = Annotated[
    bool | None,
    Query(description="Only shorts (true) or only regular videos (false)", examples=[False]),
]


@router.get(
    "",
    response_model=list[VideoOut],
    summary="The catalogue, most viewed first (ties by id)",
    description="Without parameters: every video, exactly as the original service answered. "
    "With `limit`, a page; the next page's URL is in the `Link` header and the body stays a "
    "bare array. Pages are keyset-paginated, so every page costs the same. The whole list "
    "is reused per worker process for VIDEOS_CACHE_SECONDS (default 1 s), so its counters may "
    "be that old.",
    responses={
        200: {
            "headers": {"ETag": ETAG_HEADER, "Link": LINK_HEADER},
            "content": {"application/json": {"example": [VIDEO_EXAMPLE]}},
        },
        304: NOT_MODIFIED,
        **error_responses(
            400, 429, 503, bad_request="Invalid limit: Input should be less than or equal to 1000"
        ),
    },
)
async def get_videos(
    request: Request,
    limit: Limit = None,
    cursor: Cursor = None,
    sort: SortBy = "views",
    playlist: Playlist = None,
    shorts: Shorts = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    state = app_state(request)
    query = CatalogueQuery(sort=sort, playlist=playlist, shorts=shorts)
    if limit is None and cursor is None and query == WHOLE_CATALOGUE:
        return await _whole_catalogue_answer(state, if_none_match)
    after = None if cursor is None else state.cursors.catalogue_key(cursor, query)
    reader = state.identity.keys(request.scope).ip_hash
    page = await list_videos(state.database, query, after=after, limit=limit, reader=reader)
    headers = {}
    if page.next_key is not None:
        headers["Link"] = next_link(request, state.cursors.for_catalogue(query, page.next_key))
    dislikes = state.settings.dislikes_enabled
    body = dump([video_to_wire(row, dislikes=dislikes) for row in page.rows])
    return with_etag(body, if_none_match, headers)


class _WithoutQueryRoute(Route):
    """Matches its path only when the request has no query string; any other request goes on
    to the routes after it."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope.get("query_string"):
            return Match.NONE, {}
        match, child_scope = super().matches(scope)
        if match is not Match.NONE:
            # Where the request metrics and logs find the route's template.
            child_scope["route"] = self
        return match, child_scope


def add_whole_catalogue_route(app: FastAPI) -> None:
    """Answer `GET /api/videos` without parameters ahead of every other route.

    It is the original service's answer, asked for on every page, and this process holds its
    body ready: the route is a plain Starlette one, with none of FastAPI's per-request
    parameter machinery, and reads its one input (If-None-Match) itself by the rule
    `get_videos` documents, since FastAPI's machinery cost more than the answer
    (BENCHMARKS.md, S3). A request with a query string goes on to `get_videos`.
    """
    route = _WithoutQueryRoute("/api/videos", _whole_catalogue_endpoint, include_in_schema=False)
    # Starlette adds HEAD to a GET route; the documented endpoint answers GET alone.
    route.methods = {"GET"}
    app.router.routes.insert(0, route)


async def _whole_catalogue_endpoint(request: Request) -> Response:
    if_none_match = bounded_header(request, "If-None-Match", MAX_IF_NONE_MATCH_LENGTH)
    return await _whole_catalogue_answer(app_state(request), if_none_match)


async def _whole_catalogue_answer(state: AppState, if_none_match: str | None) -> Response:
    """This process's body of the whole catalogue (at most VIDEOS_CACHE_SECONDS old)."""
    body, etag = await state.video_list.get(lambda: _whole_catalogue(state))
    return with_etag(body, if_none_match, {}, etag=etag)


async def _whole_catalogue(state: AppState) -> tuple[bytes, str]:
    page = await list_videos(state.database, WHOLE_CATALOGUE, after=None, limit=None, reader=None)
    dislikes = state.settings.dislikes_enabled
    body = dump([video_to_wire(row, dislikes=dislikes) for row in page.rows])
    return body, etag_of(body)


@router.get(
    "/{videoId}",
    response_model=VideoOut,
    summary="One video, in the catalogue's shape",
    responses={
        200: {"headers": {"ETag": ETAG_HEADER}},
        304: NOT_MODIFIED,
        **error_responses(400, 404, 429, 503),
    },
)
async def get_one_video(
    video_id: VideoId, request: Request, if_none_match: IfNoneMatch = None
) -> Response:
    state = app_state(request)
    row = await get_video(
        state.database, video_id, reader=state.identity.keys(request.scope).ip_hash
    )
    body = dump(video_to_wire(row, dislikes=state.settings.dislikes_enabled))
    return with_etag(body, if_none_match, {})
