"""Removing comments for moderation: by id or by user, with their replies and likes."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import (
    and_,
    delete,
    exists,
    func,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from videolikes.db.tables import comment_likes, comments, users


@dataclass(frozen=True, slots=True)
class Removed:
    comments: int
    replies: int
    likes: int


async def user_ids_named(conn: AsyncConnection, username: str) -> list[uuid.UUID]:
    """Usernames are drawn at random and not unique: every user of that name."""
    query = select(users.c.id).where(users.c.username == username).order_by(users.c.id)
    return list((await conn.execute(query)).scalars())


async def user_exists(conn: AsyncConnection, user_id: uuid.UUID) -> bool:
    return bool(await conn.scalar(select(exists().where(users.c.id == user_id))))


async def remove_comments(
    conn: AsyncConnection,
    *,
    comment_ids: Sequence[uuid.UUID] = (),
    user_ids: Sequence[uuid.UUID] = (),
) -> Removed:
    """Remove these comments, every comment of these users, their replies and their likes.

    The comments are locked first (FOR UPDATE): a reply or like being written under one of
    them holds its key-share lock, and is waited for; one that starts later finds the comment
    gone. The removal itself then reads a snapshot taken after the locks, so it removes every
    reply committed before them.
    """
    chosen = or_(comments.c.id.in_(comment_ids), comments.c.user_id.in_(user_ids))
    locked = await conn.execute(
        select(comments.c.id).where(chosen).order_by(comments.c.id).with_for_update()
    )
    ids = list(locked.scalars())
    if not ids:
        return Removed(comments=0, replies=0, likes=0)
    doomed = or_(comments.c.id.in_(ids), comments.c.parent_id.in_(ids))
    replies = and_(comments.c.parent_id.in_(ids), comments.c.id.not_in(ids))
    counts = (
        await conn.execute(
            select(
                select(func.count()).where(replies).scalar_subquery(),
                select(func.count())
                .select_from(comment_likes)
                .where(comment_likes.c.comment_id.in_(select(comments.c.id).where(doomed)))
                .scalar_subquery(),
            )
        )
    ).one()
    # The original has no foreign key from a reply to its parent: replies go explicitly; the
    # likes of everything removed go with their comments (ON DELETE CASCADE).
    await conn.execute(delete(comments).where(doomed))
    return Removed(comments=len(ids), replies=int(counts[0]), likes=int(counts[1]))
