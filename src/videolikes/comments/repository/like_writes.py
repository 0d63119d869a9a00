"""Writing one client's rating of a comment (a like or a dislike), under the locks of writes.py.

The caller holds the user's row lock, so nothing changes the client's rating between reading
it here and writing it.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ColumnElement, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from videolikes.db.tables import comment_likes
from videolikes.likes.folding import Rating


def _pair(
    comment_id: uuid.UUID, user_id: uuid.UUID
) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    return (comment_likes.c.comment_id == comment_id, comment_likes.c.user_id == user_id)


async def rating_of(conn: AsyncConnection, *, comment_id: uuid.UUID, user_id: uuid.UUID) -> Rating:
    rating: Rating = await conn.scalar(
        select(comment_likes.c.is_like).where(*_pair(comment_id, user_id))
    )
    return rating


async def set_rating(
    conn: AsyncConnection,
    *,
    comment_id: uuid.UUID,
    user_id: uuid.UUID,
    was: Rating,
    now: Rating,
    created_at: datetime,
) -> None:
    """Turn the client's rating `was` (as rating_of read it) into `now`."""
    pair = _pair(comment_id, user_id)
    if was is None:
        await conn.execute(
            insert(comment_likes).values(
                id=uuid.uuid4(),
                comment_id=comment_id,
                user_id=user_id,
                is_like=now,
                created_at=created_at,
            )
        )
    elif now is None:
        await conn.execute(delete(comment_likes).where(*pair))
    else:
        await conn.execute(
            update(comment_likes).where(*pair).values(is_like=now, created_at=created_at)
        )
