"""All comment SQL: comments with their replies, comment likes, and removal.

Writes run in one transaction on either database (Database.transaction). Each locks what it
depends on before it reads: the comment or video it writes under (FOR KEY SHARE, so removal
waits for it, and it sees a removal that committed first), then the user's row (FOR UPDATE),
so that one client's writes queue: the daily cap counts what the previous writer committed,
and concurrent toggles of one like each see the one before. SQLite takes its write lock at
BEGIN, which serialises the same steps. Likes are counted on read from comment_user_unique,
whose leading column is comment_id.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    Select,
    and_,
    delete,
    exists,
    func,
    or_,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
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


@dataclass(frozen=True, slots=True)
class CommentRef:
    video_id: str
    parent_id: uuid.UUID | None


@dataclass(frozen=True, slots=True)
class Removed:
    comments: int
    replies: int
    likes: int


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


async def liked_by(
    conn: AsyncConnection, *, comment_ids: Sequence[uuid.UUID], client: ClientKeys
) -> set[uuid.UUID]:
    """Which of these comments this client likes; never creates a user."""
    if not comment_ids:
        return set()
    query = select(comment_likes.c.comment_id).where(
        comment_likes.c.comment_id.in_(comment_ids),
        comment_likes.c.user_id == client_user_id(client),
        comment_likes.c.is_like,
    )
    return set((await conn.execute(query)).scalars())


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
