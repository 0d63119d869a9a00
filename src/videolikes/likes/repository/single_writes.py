"""SQLite like writes: each one serialised transaction of plain statements.

SQLite takes its write lock at BEGIN, so a write reads the client's rating and changes it
with nothing in between: one statement reads the row, at most one changes it, and one moves
the counters.
"""

from __future__ import annotations

import uuid

from sqlalchemy import delete, exists, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from videolikes.db.tables import users, video_likes, videos
from videolikes.identity import ClientKeys
from videolikes.likes.changes import LikeChange
from videolikes.likes.folding import Rating, StateMap, creates_rating, rated
from videolikes.metrics import record_legacy_moves
from videolikes.users.repository import get_or_create_user, move_legacy_user

# CURRENT_TIMESTAMP, the column default, keeps whole seconds; with milliseconds a client's
# likes made in quick succession still list newest first.
_SQLITE_NOW = func.strftime("%Y-%m-%d %H:%M:%f", "now")


async def write_one(
    conn: AsyncConnection, *, video_id: str, client: ClientKeys, state_map: StateMap
) -> LikeChange:
    """Rate the video as `state_map` says of the client's rating now.

    A write that can only remove a rating (an unlike, an undislike) creates no user.
    """
    found = await conn.scalar(select(exists().where(videos.c.id == video_id)))
    if not found:
        return LikeChange(video_found=False, rating=None, changed=False)
    if creates_rating(state_map):
        user_id: uuid.UUID | None = (await get_or_create_user(conn, client=client)).id
    else:
        if await move_legacy_user(conn, client):
            record_legacy_moves(1)
        user_id = await conn.scalar(select(users.c.id).where(users.c.ip_hash == client.ip_hash))
    if user_id is None:
        return LikeChange(video_found=True, rating=None, changed=False)
    pair = (video_likes.c.video_id == video_id, video_likes.c.user_id == user_id)
    was: Rating = await conn.scalar(select(video_likes.c.is_like).where(*pair))
    now = rated(state_map, was)
    if now == was:
        return LikeChange(video_found=True, rating=now, changed=False)
    if was is None:
        await conn.execute(
            insert(video_likes).values(
                id=uuid.uuid4(),
                video_id=video_id,
                user_id=user_id,
                is_like=now,
                created_at=_SQLITE_NOW,
            )
        )
    elif now is None:
        await conn.execute(delete(video_likes).where(*pair))
    else:
        await conn.execute(
            update(video_likes).where(*pair).values(is_like=now, created_at=_SQLITE_NOW)
        )
    await _move_counters(conn, video_id=video_id, was=was, now=now)
    return LikeChange(video_found=True, rating=now, changed=True)


async def _move_counters(conn: AsyncConnection, *, video_id: str, was: Rating, now: Rating) -> None:
    counters = {}
    for column, rating in ((videos.c.likes, True), (videos.c.dislikes, False)):
        delta = (now is rating) - (was is rating)
        if delta:
            counters[column.key] = func.max(column + delta, 0)
    await conn.execute(update(videos).where(videos.c.id == video_id).values(**counters))
