"""Reading a video's comments: top-level pages, their replies, like counts, this client's likes.

Reads never create a user. Likes (and dislikes) are counted on read.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    Select,
    and_,
    exists,
    func,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from videolikes.db.tables import comment_likes, comments, users, videos
from videolikes.identity import ClientKeys
from videolikes.users.repository import client_user_id


@dataclass(frozen=True, slots=True)
class CommentRow:
    id: uuid.UUID
    parent_id: uuid.UUID | None
    content: str
    created_at: datetime
    user_id: uuid.UUID
    username: str


@dataclass(frozen=True, slots=True)
class CommentKey:
    """Where a page of top-level comments ended: its last comment's time and id."""

    created_at: datetime
    comment_id: uuid.UUID


_COMMENT_COLUMNS = (
    comments.c.id,
    comments.c.parent_id,
    comments.c.content,
    comments.c.created_at,
    comments.c.user_id,
    users.c.username,
)


def _row(row: object) -> CommentRow:
    return CommentRow(*row)  # type: ignore[misc]


async def video_exists(conn: AsyncConnection, video_id: str) -> bool:
    return bool(await conn.scalar(select(exists().where(videos.c.id == video_id))))


async def top_level_page(
    conn: AsyncConnection, *, video_id: str, after: CommentKey | None, limit: int
) -> list[CommentRow]:
    """Up to `limit` top-level comments of the video, newest first, older than `after`."""
    query = (
        select(*_COMMENT_COLUMNS)
        .join(users, users.c.id == comments.c.user_id)
        .where(comments.c.video_id == video_id, comments.c.parent_id.is_(None))
        .order_by(comments.c.created_at.desc(), comments.c.id.desc())
        .limit(limit)
    )
    if after is not None:
        # Spelled out rather than as a row comparison, so that each value is bound as its
        # column's type (SQLite compares the stored text).
        query = query.where(
            or_(
                comments.c.created_at < after.created_at,
                and_(
                    comments.c.created_at == after.created_at,
                    comments.c.id < after.comment_id,
                ),
            )
        )
    return [_row(row) for row in await conn.execute(query)]


async def replies_of(
    conn: AsyncConnection, *, video_id: str, parent_ids: Sequence[uuid.UUID]
) -> list[CommentRow]:
    """Every reply to these comments, oldest first."""
    if not parent_ids:
        return []
    query = (
        select(*_COMMENT_COLUMNS)
        .join(users, users.c.id == comments.c.user_id)
        .where(comments.c.video_id == video_id, comments.c.parent_id.in_(parent_ids))
        .order_by(comments.c.created_at, comments.c.id)
    )
    return [_row(row) for row in await conn.execute(query)]


async def count_replies(conn: AsyncConnection, *, video_id: str) -> int:
    query = select(func.count()).where(
        comments.c.video_id == video_id, comments.c.parent_id.is_not(None)
    )
    return int(await conn.scalar(query) or 0)


async def like_counts(
    conn: AsyncConnection, comment_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, int]:
    if not comment_ids:
        return {}
    query = like_counts_query(comment_ids)
    return {comment_id: int(count) for comment_id, count in await conn.execute(query)}


def like_counts_query(comment_ids: Sequence[uuid.UUID]) -> Select[uuid.UUID, int]:
    """Counted from comment_likes_liked_idx alone (an index-only scan on PostgreSQL)."""
    return (
        select(comment_likes.c.comment_id, func.count())
        .where(comment_likes.c.comment_id.in_(comment_ids), comment_likes.c.is_like)
        .group_by(comment_likes.c.comment_id)
    )


async def dislike_counts(
    conn: AsyncConnection, comment_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, int]:
    """Counted through comment_user_unique, whose leading column is comment_id."""
    if not comment_ids:
        return {}
    query = (
        select(comment_likes.c.comment_id, func.count())
        .where(comment_likes.c.comment_id.in_(comment_ids), comment_likes.c.is_like.is_(False))
        .group_by(comment_likes.c.comment_id)
    )
    return {comment_id: int(count) for comment_id, count in await conn.execute(query)}


async def ratings_by(
    conn: AsyncConnection,
    *,
    comment_ids: Sequence[uuid.UUID],
    client: ClientKeys,
    dislikes: bool,
) -> dict[uuid.UUID, bool]:
    """This client's rating of those of these comments it rated (without `dislikes`, its
    likes); never creates a user."""
    if not comment_ids:
        return {}
    query = select(comment_likes.c.comment_id, comment_likes.c.is_like).where(
        comment_likes.c.comment_id.in_(comment_ids),
        comment_likes.c.user_id == client_user_id(client),
    )
    if not dislikes:
        query = query.where(comment_likes.c.is_like)
    return {comment_id: bool(is_like) for comment_id, is_like in await conn.execute(query)}
