"""The original service's tables, column for column as it created them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Row,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import Insert as pg_insert_type
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import Insert as sqlite_insert_type
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Names follow the original database's, so `db adopt` can compare constraints by name.
NAMING_CONVENTION = {
    "ix": "%(table_name)s_%(column_0_name)s_idx",
    "uq": "%(table_name)s_%(column_0_name)s_unique",
    "fk": "%(table_name)s_%(column_0_name)s_%(referred_table_name)s_%(referred_column_0_name)s_fk",
    "pk": "%(table_name)s_pkey",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Video(Base):
    __tablename__ = "videos"

    id: Mapped[str] = mapped_column(String(50), primary_key=True)
    title: Mapped[str | None] = mapped_column(String(255))
    filename: Mapped[str] = mapped_column(String(255), unique=True)
    length: Mapped[int] = mapped_column(Integer)
    has_thumbnail: Mapped[bool] = mapped_column(Boolean, server_default="false", default=False)
    views: Mapped[int] = mapped_column(Integer, server_default="0", default=0)
    likes: Mapped[int] = mapped_column(Integer, server_default="0", default=0)
    is_shorts: Mapped[bool] = mapped_column(Boolean, server_default="false", default=False)
    playlist: Mapped[str | None] = mapped_column(String(100))
    # Not the original's: the dislike counter (migration 0006), kept as `likes` is.
    dislikes: Mapped[int] = mapped_column(Integer, server_default="0", default=0)

    __table_args__ = (Index("videos_views_idx", "views"),)


class User(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    ip_hash: Mapped[str] = mapped_column(String(64), unique=True)
    username: Mapped[str] = mapped_column(String(50))
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.now())


class VideoLike(Base):
    __tablename__ = "video_likes"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    video_id: Mapped[str] = mapped_column(String(50), ForeignKey("videos.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    is_like: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.now())

    __table_args__ = (
        UniqueConstraint("video_id", "user_id", name="video_user_unique"),
        Index("video_likes_user_id_idx", "user_id", "created_at", "id"),
    )


class Comment(Base):
    __tablename__ = "comments"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    video_id: Mapped[str] = mapped_column(String(50), ForeignKey("videos.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    # No foreign key, as in the original: removing a comment removes its replies explicitly.
    parent_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.now())

    __table_args__ = (
        Index("comments_video_parent_created", "video_id", "parent_id", "created_at"),
        Index("comments_video_user_created", "video_id", "user_id", "created_at"),
    )


class CommentLike(Base):
    __tablename__ = "comment_likes"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    comment_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("comments.id", ondelete="CASCADE")
    )
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    is_like: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.now())

    # A unique index, as the original made it; ON CONFLICT infers it from its columns. The
    # likes alone are indexed too (migration 0005), for counting them on read.
    __table_args__ = (
        Index("comment_user_unique", "comment_id", "user_id", unique=True),
        Index(
            "comment_likes_liked_idx",
            "comment_id",
            postgresql_where=text("is_like"),
            sqlite_where=text("is_like"),
        ),
    )


AnyRow = Row[*tuple[Any, ...]]

videos: Table = Video.__table__  # type: ignore[assignment]
users: Table = User.__table__  # type: ignore[assignment]
video_likes: Table = VideoLike.__table__  # type: ignore[assignment]
comments: Table = Comment.__table__  # type: ignore[assignment]
comment_likes: Table = CommentLike.__table__  # type: ignore[assignment]


def upsert_insert(conn: AsyncConnection, table: Table) -> pg_insert_type | sqlite_insert_type:
    """An INSERT that knows ON CONFLICT; both dialects spell it the same way."""
    if conn.dialect.name == "sqlite":
        return sqlite_insert(table)
    return pg_insert(table)
