"""The comment operations, free of HTTP: read a video's comments, post one, rate one."""

from __future__ import annotations

import uuid
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from sqlalchemy.ext.asyncio import AsyncConnection

from videolikes.comments.errors import (
    CommentNotFound,
    ContentRequired,
    ContentTooLong,
    InvalidParent,
    TooManyComments,
)
from videolikes.comments.repository import like_writes, reads, writes
from videolikes.comments.repository.reads import CommentKey, CommentRow
from videolikes.db.units import Database
from videolikes.errors import VideoNotFound
from videolikes.identity import ClientKeys
from videolikes.likes.folding import LikeOp, Rating, creates_rating, op_map, rated
from videolikes.metrics import record_legacy_moves
from videolikes.users.repository import get_or_create_user, move_legacy_user

MAX_CONTENT_LENGTH = 300
# The original's limit: comments per client per video within DAILY_WINDOW.
DAILY_CAP = 10
DAILY_WINDOW = timedelta(hours=24)
PAGE_SIZE = 100


@dataclass(frozen=True, slots=True)
class CommentView:
    row: CommentRow
    likes: int
    # This client's rating, as shown: with dislikes off, true or null only.
    user_like: Rating
    # None for a reply: replies carry no replies of their own.
    replies: list[CommentView] | None = field(default=None)
    # Counted with dislikes on only.
    dislikes: int = 0


class _PageRows(NamedTuple):
    """What one read of a page finds: top-level rows (one more than the page, if there are
    more), their replies, like and dislike counts, this client's ratings and the reply count."""

    top: list[CommentRow]
    replies: list[CommentRow]
    likes: dict[uuid.UUID, int]
    dislikes: dict[uuid.UUID, int]
    ratings: dict[uuid.UUID, bool]
    reply_count: int


@dataclass(frozen=True, slots=True)
class CommentPage:
    comments: list[CommentView]
    total_count: int
    next_key: CommentKey | None


def validated_content(content: str | None) -> str:
    """The content as stored: trimmed, present, at most MAX_CONTENT_LENGTH characters."""
    trimmed = (content or "").strip()
    if not trimmed:
        raise ContentRequired
    if len(trimmed) > MAX_CONTENT_LENGTH:
        raise ContentTooLong
    return trimmed


def _now() -> datetime:
    # Stored as the original stores it: UTC, without a zone.
    return datetime.now(UTC).replace(tzinfo=None)


class CommentService:
    """With `dislikes` off, a dislike row reads as no rating and no write changes it."""

    def __init__(self, database: Database, *, dislikes: bool = False) -> None:
        self._database = database
        self._dislikes = dislikes

    def _writing(self, client: ClientKeys) -> AbstractAsyncContextManager[AsyncConnection]:
        # One transaction: a write's locks (the user's row above all) must last until its
        # comment or like is committed. Its writer's reads see it, replicas or not.
        return self._database.write(writer=client.ip_hash)

    async def page(
        self, *, video_id: str, client: ClientKeys, after: CommentKey | None, limit: int
    ) -> CommentPage:
        """Top-level comments newest first, each with every reply oldest first.

        `total_count` is the original's: the top-level comments listed plus every reply of
        the video.
        """

        async def read(conn: AsyncConnection) -> _PageRows:
            if not await reads.video_exists(conn, video_id):
                raise VideoNotFound
            top = await reads.top_level_page(conn, video_id=video_id, after=after, limit=limit + 1)
            replies = await reads.replies_of(
                conn, video_id=video_id, parent_ids=[row.id for row in top[:limit]]
            )
            ids = [row.id for row in (*top[:limit], *replies)]
            return _PageRows(
                top,
                replies,
                await reads.like_counts(conn, ids),
                await reads.dislike_counts(conn, ids) if self._dislikes else {},
                await reads.ratings_by(
                    conn, comment_ids=ids, client=client, dislikes=self._dislikes
                ),
                await reads.count_replies(conn, video_id=video_id),
            )

        top, replies, likes, dislikes, ratings, reply_count = await self._database.lagging_read(
            client.ip_hash, read
        )
        more, top = len(top) > limit, top[:limit]

        def view(row: CommentRow, replies: list[CommentView] | None = None) -> CommentView:
            return CommentView(
                row, likes.get(row.id, 0), ratings.get(row.id), replies, dislikes.get(row.id, 0)
            )

        replies_by_parent: dict[uuid.UUID, list[CommentView]] = {row.id: [] for row in top}
        for reply in replies:
            assert reply.parent_id is not None
            replies_by_parent[reply.parent_id].append(view(reply))
        listed = [view(row, replies_by_parent[row.id]) for row in top]
        next_key = CommentKey(top[-1].created_at, top[-1].id) if more else None
        return CommentPage(listed, len(listed) + reply_count, next_key)

    async def post(
        self, *, video_id: str, client: ClientKeys, content: str, parent_id: uuid.UUID | None
    ) -> CommentView:
        """Store a comment (a reply when `parent_id` is given) by this client."""
        async with self._writing(client) as conn:
            if not await writes.lock_video(conn, video_id):
                raise VideoNotFound
            if parent_id is not None:
                parent = await writes.lock_comment(conn, parent_id)
                if parent is None or parent.video_id != video_id or parent.parent_id is not None:
                    raise InvalidParent
            user = await get_or_create_user(conn, client=client)
            await writes.lock_user(conn, user.id)
            now = _now()
            recent = await writes.count_comments_since(
                conn, video_id=video_id, user_id=user.id, since=now - DAILY_WINDOW
            )
            if recent >= DAILY_CAP:
                raise TooManyComments
            comment_id = await writes.insert_comment(
                conn,
                video_id=video_id,
                user_id=user.id,
                parent_id=parent_id,
                content=content,
                created_at=now,
            )
        row = CommentRow(comment_id, parent_id, content, now, user.id, user.username)
        return CommentView(row, likes=0, user_like=None, replies=[])

    async def toggle_like(self, *, comment_id: uuid.UUID, client: ClientKeys) -> Rating:
        return await self._rate(LikeOp.TOGGLE, comment_id, client)

    async def like(self, *, comment_id: uuid.UUID, client: ClientKeys) -> Rating:
        return await self._rate(LikeOp.LIKE, comment_id, client)

    async def unlike(self, *, comment_id: uuid.UUID, client: ClientKeys) -> Rating:
        """Leaves the comment not liked by this client; creates no user."""
        return await self._rate(LikeOp.UNLIKE, comment_id, client)

    async def toggle_dislike(self, *, comment_id: uuid.UUID, client: ClientKeys) -> Rating:
        return await self._rate(LikeOp.TOGGLE_DISLIKE, comment_id, client)

    async def dislike(self, *, comment_id: uuid.UUID, client: ClientKeys) -> Rating:
        return await self._rate(LikeOp.DISLIKE, comment_id, client)

    async def undislike(self, *, comment_id: uuid.UUID, client: ClientKeys) -> Rating:
        """Leaves the comment not disliked by this client; creates no user."""
        return await self._rate(LikeOp.UNDISLIKE, comment_id, client)

    async def _rate(self, op: LikeOp, comment_id: uuid.UUID, client: ClientKeys) -> Rating:
        """This client's rating after `op`, its writes queued behind each other."""
        state_map = op_map(op, dislikes=self._dislikes)
        async with self._writing(client) as conn:
            if await writes.lock_comment(conn, comment_id) is None:
                raise CommentNotFound
            user_id: uuid.UUID | None
            if creates_rating(state_map):
                user_id = (await get_or_create_user(conn, client=client)).id
            else:
                if await move_legacy_user(conn, client):
                    record_legacy_moves(1)
                user_id = await writes.own_user_id(conn, client)
            if user_id is None:
                return None
            await writes.lock_user(conn, user_id)
            was = await like_writes.rating_of(conn, comment_id=comment_id, user_id=user_id)
            now = rated(state_map, was)
            if now != was:
                await like_writes.set_rating(
                    conn,
                    comment_id=comment_id,
                    user_id=user_id,
                    was=was,
                    now=now,
                    created_at=_now(),
                )
        # The original's answers are true or null: a dislike left from a time dislikes were
        # on is not shown while they are off.
        return now if self._dislikes or now else None
