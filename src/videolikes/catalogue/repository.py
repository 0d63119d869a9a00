"""SQL for the catalogue: one video, and pages in keyset order (never OFFSET).

A page starts right after the last (sort value, id) the previous one served, so page 1,000
costs what page 1 costs, and a walk through an unchanging catalogue meets every video once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from videolikes.db.tables import AnyRow, upsert_insert, videos

VIDEO_COLUMNS = (
    videos.c.id,
    videos.c.title,
    videos.c.filename,
    videos.c.length,
    videos.c.has_thumbnail,
    videos.c.views,
    videos.c.likes,
    videos.c.is_shorts,
    videos.c.playlist,
    videos.c.dislikes,
)


VIDEO_WRITABLE_COLUMNS = (
    "title",
    "filename",
    "length",
    "has_thumbnail",
    "views",
    "is_shorts",
    "playlist",
)


async def insert_missing_videos(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> int:
    """Insert the rows that are not there yet; how many were."""
    insert = upsert_insert(conn, videos).on_conflict_do_nothing().returning(videos.c.id)
    return len((await conn.execute(insert, list(rows))).all())


Sort = Literal["views", "likes"]


@dataclass(frozen=True, slots=True)
class CatalogueQuery:
    sort: Sort = "views"
    playlist: str | None = None
    shorts: bool | None = None


@dataclass(frozen=True, slots=True)
class CatalogueKey:
    """Where a page ended: its last video's sort value and id."""

    value: int
    video_id: str


@dataclass(frozen=True, slots=True)
class VideoPage:
    rows: Sequence[AnyRow]
    next_key: CatalogueKey | None


async def get_video(conn: AsyncConnection, video_id: str) -> AnyRow | None:
    query = select(*VIDEO_COLUMNS).where(videos.c.id == video_id)
    return (await conn.execute(query)).first()


async def video_page(
    conn: AsyncConnection, query: CatalogueQuery, *, after: CatalogueKey | None, limit: int | None
) -> VideoPage:
    """Videos by the sort value, highest first, ties by id; all of them when `limit` is None."""
    sort_column = videos.c[query.sort]
    statement = select(*VIDEO_COLUMNS).order_by(sort_column.desc(), videos.c.id)
    if query.playlist is not None:
        statement = statement.where(videos.c.playlist == query.playlist)
    if query.shorts is not None:
        statement = statement.where(videos.c.is_shorts == query.shorts)
    if after is not None:
        # The `<=` alone is an index range condition; the OR then skips the ties already served.
        statement = statement.where(
            sort_column <= after.value,
            or_(sort_column < after.value, videos.c.id > after.video_id),
        )
    if limit is not None:
        statement = statement.limit(limit + 1)
    rows = (await conn.execute(statement)).all()
    if limit is None or len(rows) <= limit:
        return VideoPage(rows, next_key=None)
    last = rows[limit - 1]
    return VideoPage(rows[:limit], next_key=CatalogueKey(getattr(last, query.sort), last.id))
