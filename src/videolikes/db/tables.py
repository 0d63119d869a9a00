"""The three tables, column for column as the original service created them."""

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
    UniqueConstraint,
    Uuid,
    func,
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


AnyRow = Row[*tuple[Any, ...]]

videos: Table = Video.__table__  # type: ignore[assignment]
users: Table = User.__table__  # type: ignore[assignment]
video_likes: Table = VideoLike.__table__  # type: ignore[assignment]


def upsert_insert(conn: AsyncConnection, table: Table) -> pg_insert_type | sqlite_insert_type:
    """An INSERT that knows ON CONFLICT; both dialects spell it the same way."""
    if conn.dialect.name == "sqlite":
        return sqlite_insert(table)
    return pg_insert(table)
