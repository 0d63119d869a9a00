"""The catalogue's reads: a page of videos, or one video, each in one read unit.

A reader (a client's key) may be served by a replica that holds its own writes; without
one, the primary answers: the whole catalogue, cached per process, is read there.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from videolikes.catalogue import repository
from videolikes.catalogue.repository import CatalogueKey, CatalogueQuery, VideoPage
from videolikes.db.tables import AnyRow
from videolikes.db.units import Database
from videolikes.errors import VideoNotFound


async def list_videos(
    database: Database,
    query: CatalogueQuery,
    *,
    after: CatalogueKey | None,
    limit: int | None,
    reader: str | None,
) -> VideoPage:
    async def page(conn: AsyncConnection) -> VideoPage:
        return await repository.video_page(conn, query, after=after, limit=limit)

    if reader is None:
        async with database.read() as conn:
            return await page(conn)
    return await database.lagging_read(reader, page)


async def get_video(database: Database, video_id: str, *, reader: str) -> AnyRow:
    row = await database.lagging_read(reader, lambda conn: repository.get_video(conn, video_id))
    if row is None:
        raise VideoNotFound
    return row
