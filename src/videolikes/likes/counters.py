"""SQL for counters against their like rows: pages to check, recounts that fix."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import (
    func,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from videolikes.db.tables import video_likes, videos


@dataclass(frozen=True, slots=True)
class CounterCheck:
    video_id: str
    counter: int
    rows: int


_COUNTER_PAGE = text(
    """
    SELECT page.id, page.likes,
           (SELECT count(*) FROM video_likes AS l WHERE l.video_id = page.id AND l.is_like) AS rows
    FROM (SELECT id, likes FROM videos WHERE id > :after ORDER BY id LIMIT :limit) AS page
    ORDER BY page.id
    """
)


async def counter_page(conn: AsyncConnection, *, after: str, limit: int) -> list[CounterCheck]:
    """Counter and like rows of the next `limit` videos by id, reading without locks."""
    result = await conn.execute(_COUNTER_PAGE, {"after": after, "limit": limit})
    return [CounterCheck(row.id, row.likes, row.rows) for row in result]


async def recount_likes(conn: AsyncConnection, video_ids: Sequence[str]) -> list[CounterCheck]:
    """Set each video's counter to its like rows; returns the videos changed, with old counts.

    Call inside a transaction. The video rows are locked first, in id order, by a statement
    of their own; the recount that follows then takes a fresh snapshot that already holds
    every like committed before the locks. Like writes on PostgreSQL lock their videos first
    too, in the same order, so none can change a like row of these videos until the commit,
    and none deadlocks with the recount. On SQLite the whole recount is serialised anyway.
    """
    locked = await conn.execute(
        select(videos.c.id, videos.c.likes)
        .where(videos.c.id.in_(video_ids))
        .order_by(videos.c.id)
        .with_for_update()
    )
    before = {row.id: row.likes for row in locked}
    counted = (
        select(func.count())
        .where(video_likes.c.video_id == videos.c.id, video_likes.c.is_like)
        .scalar_subquery()
    )
    changed = await conn.execute(
        update(videos)
        .where(videos.c.id.in_(video_ids), videos.c.likes != counted)
        .values(likes=counted)
        .returning(videos.c.id, videos.c.likes)
    )
    return [CounterCheck(row.id, before[row.id], row.likes) for row in changed]
