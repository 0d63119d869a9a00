"""Posting a comment, and the locks every comment write takes first.

Each write locks what it depends on before it reads: the comment or video it writes under
(FOR KEY SHARE, so removal waits for it, and it sees a removal that committed first), then the
user's row (FOR UPDATE), so that one client's writes queue: the daily cap counts what the
previous writer committed, and concurrent toggles of one like each see the one before. SQLite
takes its write lock at BEGIN, which serialises the same steps.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    func,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from videolikes.db.tables import comments, users, videos
from videolikes.identity import ClientKeys


@dataclass(frozen=True, slots=True)
class CommentRef:
    video_id: str
    parent_id: uuid.UUID | None


async def lock_video(conn: AsyncConnection, video_id: str) -> bool:
    """Whether the video exists; it cannot be removed until this transaction ends."""
    query = (
        select(videos.c.id)
        .where(videos.c.id == video_id)
        .with_for_update(read=True, key_share=True)
    )
    return (await conn.execute(query)).first() is not None


async def lock_comment(conn: AsyncConnection, comment_id: uuid.UUID) -> CommentRef | None:
    """The comment's video and parent; it cannot be removed until this transaction ends."""
    query = (
        select(comments.c.video_id, comments.c.parent_id)
        .where(comments.c.id == comment_id)
        .with_for_update(read=True, key_share=True)
    )
    row = (await conn.execute(query)).first()
    return None if row is None else CommentRef(row.video_id, row.parent_id)


async def own_user_id(conn: AsyncConnection, client: ClientKeys) -> uuid.UUID | None:
    """The user under this client's own hash, if it has one (after any legacy move)."""
    query = select(users.c.id).where(users.c.ip_hash == client.ip_hash)
    user_id: uuid.UUID | None = await conn.scalar(query)
    return user_id


async def lock_user(conn: AsyncConnection, user_id: uuid.UUID) -> None:
    """Queue this client's comment writes behind each other until this transaction ends."""
    await conn.execute(select(users.c.id).where(users.c.id == user_id).with_for_update())


async def count_comments_since(
    conn: AsyncConnection, *, video_id: str, user_id: uuid.UUID, since: datetime
) -> int:
    query = select(func.count()).where(
        comments.c.video_id == video_id,
        comments.c.user_id == user_id,
        comments.c.created_at > since,
    )
    return int(await conn.scalar(query) or 0)


async def insert_comment(
    conn: AsyncConnection,
    *,
    video_id: str,
    user_id: uuid.UUID,
    parent_id: uuid.UUID | None,
    content: str,
    created_at: datetime,
) -> uuid.UUID:
    comment_id = uuid.uuid4()
    await conn.execute(
        comments.insert().values(
            id=comment_id,
            video_id=video_id,
            user_id=user_id,
            parent_id=parent_id,
            content=content,
            created_at=created_at,
        )
    )
    return comment_id
