"""The like operations, free of HTTP: status and toggle for one client and one video."""

from __future__ import annotations

from videolikes.db import Database
from videolikes.errors import VideoNotFound
from videolikes.metrics import record_like_change
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
        record_like_change(change)
        return _liked_or_not_found(change)


def _liked_or_not_found(change: LikeChange) -> bool:
    if not change.video_found:
        raise VideoNotFound
    return change.liked
