from __future__ import annotations

from fastapi import APIRouter, Request

from videolikes.repository import list_videos
from videolikes.responses import JSONBytes
from videolikes.routes import error_responses
from videolikes.schemas import VideoOut, dump, video_to_wire
from videolikes.state import AppState, app_state

router = APIRouter(prefix="/api/videos", tags=["videos"])


@router.get(
    "",
    response_model=list[VideoOut],
    summary="The catalogue, most viewed first (ties by id)",
    description="Counters may be up to VIDEOS_CACHE_SECONDS (default 1 s) old.",
    responses=error_responses(503),
)
async def get_videos(request: Request) -> JSONBytes:
    state = app_state(request)
    return JSONBytes(await state.video_list.get(lambda: _catalogue(state)))


async def _catalogue(state: AppState) -> bytes:
    async with state.database.unit_of_work() as conn:
        rows = await list_videos(conn)
    return dump([video_to_wire(row) for row in rows])
