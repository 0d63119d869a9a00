"""SQL for one client's likes: how it rated some videos, and its likes newest first.

Both are reads by the client's keys, so they never create a user, and each is one statement.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    any_,
    bindparam,
    select,
    tuple_,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from videolikes.db.tables import video_likes
from videolikes.identity import ClientKeys
from videolikes.users.repository import client_user_id


@dataclass(frozen=True, slots=True)
class LikedKey:
    """Where a page of likes ended: its last like's creation time (ISO text) and id."""

    created_at: str
    like_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class LikedPage:
    video_ids: list[str]
    next_key: LikedKey | None


def _this_clients_likes(client: ClientKeys) -> Select[str]:
    return select(video_likes.c.video_id).where(
        video_likes.c.user_id == client_user_id(client), video_likes.c.is_like
    )


async def ratings_among(
    conn: AsyncConnection, *, client: ClientKeys, video_ids: Sequence[str], dislikes: bool
) -> dict[str, bool]:
    """This client's rating of those of `video_ids` it rated (with `dislikes` off, its likes)."""
    wanted: ColumnElement[bool]
    if conn.dialect.name == "sqlite":
        wanted = video_likes.c.video_id.in_(video_ids)
    else:
        # One array parameter keeps the statement text the same for any number of ids, so
        # asyncpg's prepared-statement cache serves every call.
        ids = bindparam("video_ids", list(video_ids), type_=ARRAY(String))
        wanted = video_likes.c.video_id == any_(ids)
    query = select(video_likes.c.video_id, video_likes.c.is_like).where(
        video_likes.c.user_id == client_user_id(client), wanted
    )
    if not dislikes:
        query = query.where(video_likes.c.is_like)
    return {video_id: bool(is_like) for video_id, is_like in await conn.execute(query)}


async def liked_page(
    conn: AsyncConnection, *, client: ClientKeys, after: LikedKey | None, limit: int
) -> LikedPage:
    """This client's liked video ids, newest like first (ties by like id)."""
    sqlite = conn.dialect.name == "sqlite"
    created_at = _created_at(sqlite)
    statement = (
        _this_clients_likes(client)
        .add_columns(created_at.label("created_at"), video_likes.c.id)
        .order_by(created_at.desc(), video_likes.c.id.desc())
        .limit(limit + 1)
    )
    if after is not None:
        since: str | datetime = (
            after.created_at if sqlite else datetime.fromisoformat(after.created_at)
        )
        statement = statement.where(
            tuple_(created_at, video_likes.c.id) < tuple_(since, after.like_id)
        )
    rows = (await conn.execute(statement)).all()
    video_ids = [row.video_id for row in rows[:limit]]
    if len(rows) <= limit:
        return LikedPage(video_ids, next_key=None)
    last = rows[limit - 1]
    created = last.created_at if sqlite else last.created_at.isoformat(sep=" ")
    return LikedPage(video_ids, next_key=LikedKey(created, last.id))


def _created_at(sqlite: bool) -> ColumnElement[Any]:
    # SQLite keeps timestamps as text in whichever format wrote them; comparing that text
    # as stored keeps the keyset exact, where a parsed-and-reformatted value would not.
    if sqlite:
        return type_coerce(video_likes.c.created_at, String)
    return video_likes.c.created_at
