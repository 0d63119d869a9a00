"""SQL for the like and dislike counters against their rows: pages to check, recounts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ScalarSelect, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from videolikes.db.tables import video_likes, videos


@dataclass(frozen=True, slots=True)
class CounterCheck:
    """A video's two counters and the rows they count."""

    video_id: str
    likes: int
    like_rows: int
    dislikes: int
    dislike_rows: int

    @property
    def drifted(self) -> bool:
        return self.likes != self.like_rows or self.dislikes != self.dislike_rows

    def drift(self) -> list[str]:
        """Each counter that differs from its rows: `likes 7, like rows 3`."""
        return [
            f"{name}s {counter}, {name} rows {rows}"
            for name, counter, rows in (
                ("like", self.likes, self.like_rows),
                ("dislike", self.dislikes, self.dislike_rows),
            )
            if counter != rows
        ]


_COUNTER_PAGE = text(
    """
    SELECT page.id, page.likes, page.dislikes,
           (SELECT count(*) FROM video_likes AS l WHERE l.video_id = page.id AND l.is_like)
               AS like_rows,
           (SELECT count(*) FROM video_likes AS l WHERE l.video_id = page.id AND NOT l.is_like)
               AS dislike_rows
    FROM (SELECT id, likes, dislikes FROM videos WHERE id > :after ORDER BY id LIMIT :limit)
         AS page
    ORDER BY page.id
    """
)


async def counter_page(conn: AsyncConnection, *, after: str, limit: int) -> list[CounterCheck]:
    """Counters and rows of the next `limit` videos by id, reading without locks."""
    result = await conn.execute(_COUNTER_PAGE, {"after": after, "limit": limit})
    return [
        CounterCheck(row.id, row.likes, row.like_rows, row.dislikes, row.dislike_rows)
        for row in result
    ]


def _rows(is_like: bool) -> ScalarSelect[int]:
    return (
        select(func.count())
        .where(video_likes.c.video_id == videos.c.id, video_likes.c.is_like.is_(is_like))
        .scalar_subquery()
    )


async def recount_likes(conn: AsyncConnection, video_ids: Sequence[str]) -> list[CounterCheck]:
    """Set each video's counters to its rows; returns the videos changed: the counters they
    had, and the rows they count now.

    Call inside a transaction. The video rows are locked first, in id order, by a statement
    of their own; the recount that follows then takes a fresh snapshot that already holds
    every like and dislike committed before the locks. Like writes on PostgreSQL lock their
    videos first too, in the same order, so none can change a like row of these videos until
    the commit, and none deadlocks with the recount. On SQLite the whole recount is
    serialised anyway.
    """
    locked = await conn.execute(
        select(videos.c.id, videos.c.likes, videos.c.dislikes)
        .where(videos.c.id.in_(video_ids))
        .order_by(videos.c.id)
        .with_for_update()
    )
    before = {row.id: (row.likes, row.dislikes) for row in locked}
    like_rows, dislike_rows = _rows(True), _rows(False)
    changed = await conn.execute(
        update(videos)
        .where(
            videos.c.id.in_(video_ids),
            or_(videos.c.likes != like_rows, videos.c.dislikes != dislike_rows),
        )
        .values(likes=like_rows, dislikes=dislike_rows)
        .returning(videos.c.id, videos.c.likes, videos.c.dislikes)
    )
    return [
        CounterCheck(row.id, before[row.id][0], row.likes, before[row.id][1], row.dislikes)
        for row in changed
    ]
