"""The like operations, free of HTTP: status and toggle for one client and one video."""

from __future__ import annotations

from videolikes.db import Database
from videolikes.errors import VideoNotFound
from videolikes.repository import LikeChange, like_store_for


class LikeService:
    def __init__(self, database: Database) -> None:
        self._store = like_store_for(database)

    async def status(self, *, video_id: str, ip_hash: str) -> bool:
        liked = await self._store.status(video_id=video_id, ip_hash=ip_hash)
        if liked is None:
            raise VideoNotFound
        return liked

    async def toggle(self, *, video_id: str, ip_hash: str) -> bool:
        change = await self._store.toggle(video_id=video_id, ip_hash=ip_hash)
        return _liked_or_not_found(change)


def _liked_or_not_found(change: LikeChange) -> bool:
    if not change.video_found:
        raise VideoNotFound
    return change.liked
