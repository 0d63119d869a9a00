"""The like operations, free of HTTP: status, toggle, like and unlike for one client."""

from __future__ import annotations

from videolikes.db import Database
from videolikes.errors import VideoNotFound
from videolikes.repository import LikeChange, like_status, like_writer_for


class LikeService:
    def __init__(self, database: Database) -> None:
        self._database = database
        self._writer = like_writer_for(database.engine.dialect.name)

    async def status(self, *, video_id: str, ip_hash: str) -> bool:
        async with self._database.unit_of_work() as conn:
            liked = await like_status(conn, video_id=video_id, ip_hash=ip_hash)
        if liked is None:
            raise VideoNotFound
        return liked

    async def toggle(self, *, video_id: str, ip_hash: str) -> bool:
        async with self._database.unit_of_work() as conn:
            change = await self._writer.toggle(conn, video_id=video_id, ip_hash=ip_hash)
        return _liked_or_not_found(change)

    async def like(self, *, video_id: str, ip_hash: str) -> bool:
        async with self._database.unit_of_work() as conn:
            change = await self._writer.like(conn, video_id=video_id, ip_hash=ip_hash)
        return _liked_or_not_found(change)

    async def unlike(self, *, video_id: str, ip_hash: str) -> bool:
        async with self._database.unit_of_work() as conn:
            change = await self._writer.unlike(conn, video_id=video_id, ip_hash=ip_hash)
        return _liked_or_not_found(change)


def _liked_or_not_found(change: LikeChange) -> bool:
    if not change.video_found:
        raise VideoNotFound
    return change.liked
