"""SQLite like writes: each one serialised transaction of plain statements."""

from __future__ import annotations

import uuid

from sqlalchemy import (
    delete,
    exists,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from videolikes.db.tables import users, video_likes, videos
from videolikes.identity import ClientKeys
from videolikes.likes.changes import LikeChange
from videolikes.metrics import record_legacy_moves
from videolikes.users.repository import (
    get_or_create_user,
    move_legacy_user,
)

# CURRENT_TIMESTAMP, the column default, keeps whole seconds; with milliseconds a client's
# likes made in quick succession still list newest first.
_SQLITE_NOW = func.strftime("%Y-%m-%d %H:%M:%f", "now")


async def toggle_one(conn: AsyncConnection, *, video_id: str, client: ClientKeys) -> LikeChange:
    found = await conn.scalar(select(exists().where(videos.c.id == video_id)))
    if not found:
        return LikeChange(video_found=False, liked=False, changed=False)
    user = await get_or_create_user(conn, client=client)
    removed = await conn.execute(
        delete(video_likes).where(
            video_likes.c.video_id == video_id,
            video_likes.c.user_id == user.id,
            video_likes.c.is_like,
        )
    )
    if removed.rowcount:
        await _add_to_counter(conn, video_id=video_id, delta=-1)
        return LikeChange(video_found=True, liked=False, changed=True)
    await conn.execute(
        insert(video_likes).values(
            id=uuid.uuid4(),
            video_id=video_id,
            user_id=user.id,
            is_like=True,
            created_at=_SQLITE_NOW,
        )
    )
    await _add_to_counter(conn, video_id=video_id, delta=1)
    return LikeChange(video_found=True, liked=True, changed=True)


async def like_one(conn: AsyncConnection, *, video_id: str, client: ClientKeys) -> LikeChange:
    found = await conn.scalar(select(exists().where(videos.c.id == video_id)))
    if not found:
        return LikeChange(video_found=False, liked=False, changed=False)
    user = await get_or_create_user(conn, client=client)
    added = await conn.execute(
        sqlite_insert(video_likes)
        .values(
            id=uuid.uuid4(),
            video_id=video_id,
            user_id=user.id,
            is_like=True,
            created_at=_SQLITE_NOW,
        )
        .on_conflict_do_nothing(index_elements=["video_id", "user_id"])
    )
    if added.rowcount:
        await _add_to_counter(conn, video_id=video_id, delta=1)
    return LikeChange(video_found=True, liked=True, changed=bool(added.rowcount))


async def unlike_one(conn: AsyncConnection, *, video_id: str, client: ClientKeys) -> LikeChange:
    found = await conn.scalar(select(exists().where(videos.c.id == video_id)))
    if not found:
        return LikeChange(video_found=False, liked=False, changed=False)
    if await move_legacy_user(conn, client):
        record_legacy_moves(1)
    user_id = select(users.c.id).where(users.c.ip_hash == client.ip_hash).scalar_subquery()
    removed = await conn.execute(
        delete(video_likes).where(
            video_likes.c.video_id == video_id,
            video_likes.c.user_id == user_id,
            video_likes.c.is_like,
        )
    )
    if removed.rowcount:
        await _add_to_counter(conn, video_id=video_id, delta=-1)
    return LikeChange(video_found=True, liked=False, changed=bool(removed.rowcount))


async def _add_to_counter(conn: AsyncConnection, *, video_id: str, delta: int) -> None:
    await conn.execute(
        update(videos)
        .where(videos.c.id == video_id)
        .values(likes=func.max(videos.c.likes + delta, 0))
    )
