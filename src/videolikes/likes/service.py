"""The like operations, free of HTTP: status, toggle, like, unlike and a client's likes."""

from __future__ import annotations

from collections.abc import Sequence

from videolikes.db.units import Database
from videolikes.errors import VideoNotFound
from videolikes.identity import ClientKeys
from videolikes.likes.changes import LikeChange
from videolikes.likes.client_likes import LikedKey, LikedPage, liked_among, liked_page
from videolikes.likes.stores import like_store_for
from videolikes.metrics import record_like_change


class LikeService:
    def __init__(self, database: Database) -> None:
        self._database = database
        self._store = like_store_for(database)

    async def status(self, *, video_id: str, client: ClientKeys) -> bool:
        liked = await self._store.status(video_id=video_id, client=client)
        if liked is None:
            raise VideoNotFound
        return liked

    async def toggle(self, *, video_id: str, client: ClientKeys) -> bool:
        change = await self._store.toggle(video_id=video_id, client=client)
        return _liked_or_not_found(change)

    async def like(self, *, video_id: str, client: ClientKeys) -> bool:
        change = await self._store.like(video_id=video_id, client=client)
        return _liked_or_not_found(change)

    async def unlike(self, *, video_id: str, client: ClientKeys) -> bool:
        change = await self._store.unlike(video_id=video_id, client=client)
        return _liked_or_not_found(change)

    async def statuses(self, *, video_ids: Sequence[str], client: ClientKeys) -> dict[str, bool]:
        """Whether this client likes each video; unknown videos are simply not liked."""
        async with self._database.read() as conn:
            liked = await liked_among(conn, client=client, video_ids=video_ids)
        return {video_id: video_id in liked for video_id in video_ids}

    async def aclose(self) -> None:
        await self._store.aclose()

    async def liked(self, *, client: ClientKeys, after: LikedKey | None, limit: int) -> LikedPage:
        async with self._database.read() as conn:
            return await liked_page(conn, client=client, after=after, limit=limit)


def _liked_or_not_found(change: LikeChange) -> bool:
    record_like_change(change)
    if not change.video_found:
        raise VideoNotFound
    return change.liked
