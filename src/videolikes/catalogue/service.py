"""The catalogue's reads: a page of videos, or one video, each in one read unit."""

from __future__ import annotations

from videolikes.catalogue import repository
from videolikes.catalogue.repository import CatalogueKey, CatalogueQuery, VideoPage
from videolikes.db.tables import AnyRow
from videolikes.db.units import Database
from videolikes.errors import VideoNotFound


async def list_videos(
    database: Database, query: CatalogueQuery, *, after: CatalogueKey | None, limit: int | None
) -> VideoPage:
    async with database.read() as conn:
        return await repository.video_page(conn, query, after=after, limit=limit)


async def get_video(database: Database, video_id: str) -> AnyRow:
    async with database.read() as conn:
        row = await repository.get_video(conn, video_id)
    if row is None:
        raise VideoNotFound
    return row
