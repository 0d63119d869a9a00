"""Like status reads: a client's rating of a video, one at a time or many in one statement.

Reads never create a user. With dislikes off only like rows are read: a dislike left from a
time they were on reads as no rating, as the original answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
from sqlalchemy import exists, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from videolikes.db.driver import Numbered
from videolikes.db.tables import video_likes, videos
from videolikes.identity import ClientKeys
from videolikes.likes.changes import RatingRead
from videolikes.users.repository import client_user_id


async def like_status(conn: AsyncConnection, *, video_id: str, client: ClientKeys) -> RatingRead:
    """The client's rating of the video, as its like row holds it."""
    rating = (
        select(video_likes.c.is_like)
        .where(
            video_likes.c.video_id == video_id,
            video_likes.c.user_id == client_user_id(client),
        )
        .scalar_subquery()
    )
    row = (
        await conn.execute(
            select(
                exists().where(videos.c.id == video_id).label("video_found"),
                rating.label("rating"),
            )
        )
    ).one()
    return RatingRead(bool(row.video_found), None if row.rating is None else bool(row.rating))


@dataclass(frozen=True, slots=True)
class StatusRead:
    video_id: str
    client: ClientKeys


# Many clients' status reads in one statement: one row per read, in the order given.
LIKE_STATUSES = Numbered.of(
    text(
        """
        SELECT EXISTS (SELECT 1 FROM videos WHERE id = r.video_id) AS video_found,
               EXISTS (SELECT 1 FROM video_likes AS l
                       WHERE l.video_id = r.video_id AND l.is_like
                         AND l.user_id = COALESCE(
                             (SELECT id FROM users WHERE ip_hash = r.ip_hash),
                             (SELECT id FROM users WHERE ip_hash = r.legacy_hash)))
                   AS liked
        FROM unnest(
            CAST(:video_ids AS text[]), CAST(:ip_hashes AS text[]), CAST(:legacy_hashes AS text[])
        )
             WITH ORDINALITY AS r(video_id, ip_hash, legacy_hash, position)
        ORDER BY r.position
        """
    )
)
# The same with dislikes on: each client's rating, null for none.
RATING_STATUSES = Numbered.of(
    text(
        """
        SELECT EXISTS (SELECT 1 FROM videos WHERE id = r.video_id) AS video_found,
               (SELECT l.is_like FROM video_likes AS l
                WHERE l.video_id = r.video_id
                  AND l.user_id = COALESCE(
                      (SELECT id FROM users WHERE ip_hash = r.ip_hash),
                      (SELECT id FROM users WHERE ip_hash = r.legacy_hash)))
                   AS rating
        FROM unnest(
            CAST(:video_ids AS text[]), CAST(:ip_hashes AS text[]), CAST(:legacy_hashes AS text[])
        )
             WITH ORDINALITY AS r(video_id, ip_hash, legacy_hash, position)
        ORDER BY r.position
        """
    )
)


async def like_statuses(
    conn: asyncpg.Connection, reads: Sequence[StatusRead], *, dislikes: bool = False
) -> list[RatingRead]:
    """like_status for each read, on an asyncpg connection, in one round trip."""
    statement = RATING_STATUSES if dislikes else LIKE_STATUSES
    rows = await conn.fetch(
        statement.sql,
        *statement.args(
            video_ids=[read.video_id for read in reads],
            ip_hashes=[read.client.ip_hash for read in reads],
            legacy_hashes=[read.client.legacy_hash for read in reads],
        ),
    )
    if dislikes:
        return [RatingRead(row["video_found"], row["rating"]) for row in rows]
    return [RatingRead(row["video_found"], True if row["liked"] else None) for row in rows]
