"""Writing one client's like of a comment, under the locks of writes.py."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    delete,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from videolikes.db.tables import comment_likes


async def remove_like(conn: AsyncConnection, *, comment_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    removed = await conn.execute(
        delete(comment_likes).where(
            comment_likes.c.comment_id == comment_id,
            comment_likes.c.user_id == user_id,
            comment_likes.c.is_like,
        )
    )
    return bool(removed.rowcount)


async def add_like(
    conn: AsyncConnection, *, comment_id: uuid.UUID, user_id: uuid.UUID, created_at: datetime
) -> bool:
    insert = sqlite.insert if conn.dialect.name == "sqlite" else postgresql.insert
    added = await conn.execute(
        insert(comment_likes)
        .values(
            id=uuid.uuid4(),
            comment_id=comment_id,
            user_id=user_id,
            is_like=True,
            created_at=created_at,
        )
        .on_conflict_do_nothing(index_elements=["comment_id", "user_id"])
    )
    return bool(added.rowcount)
