"""The like operations, free of HTTP: status, likes and dislikes, and a client's likes."""

from __future__ import annotations

from collections.abc import Sequence

from videolikes.db.units import Database
from videolikes.errors import VideoNotFound
from videolikes.identity import ClientKeys
from videolikes.likes.client_likes import LikedKey, LikedPage, liked_page, ratings_among
from videolikes.likes.folding import LikeOp, Rating
from videolikes.likes.stores import like_store_for
from videolikes.metrics import record_like_change


class LikeService:
    """With `dislikes` off, a dislike row reads as no rating and no write changes it."""

    def __init__(self, database: Database, *, dislikes: bool = False) -> None:
        self._database = database
        self._dislikes = dislikes
        self._store = like_store_for(database, dislikes=dislikes)

    async def status(self, *, video_id: str, client: ClientKeys) -> Rating:
        read = await self._store.status(video_id=video_id, client=client)
        if not read.video_found:
            raise VideoNotFound
        return self._shown(read.rating)

    async def toggle(self, *, video_id: str, client: ClientKeys) -> Rating:
        return await self._write(LikeOp.TOGGLE, video_id, client)

    async def like(self, *, video_id: str, client: ClientKeys) -> Rating:
        return await self._write(LikeOp.LIKE, video_id, client)

    async def unlike(self, *, video_id: str, client: ClientKeys) -> Rating:
        return await self._write(LikeOp.UNLIKE, video_id, client)

    async def toggle_dislike(self, *, video_id: str, client: ClientKeys) -> Rating:
        return await self._write(LikeOp.TOGGLE_DISLIKE, video_id, client)

    async def dislike(self, *, video_id: str, client: ClientKeys) -> Rating:
        return await self._write(LikeOp.DISLIKE, video_id, client)

    async def undislike(self, *, video_id: str, client: ClientKeys) -> Rating:
        return await self._write(LikeOp.UNDISLIKE, video_id, client)

    async def statuses(self, *, video_ids: Sequence[str], client: ClientKeys) -> dict[str, Rating]:
        """This client's rating of each video; unknown videos are simply not rated."""
        rated = await self._database.lagging_read(
            client.ip_hash,
            lambda conn: ratings_among(
                conn, client=client, video_ids=video_ids, dislikes=self._dislikes
            ),
        )
        return {video_id: rated.get(video_id) for video_id in video_ids}

    async def aclose(self) -> None:
        await self._store.aclose()

    async def liked(self, *, client: ClientKeys, after: LikedKey | None, limit: int) -> LikedPage:
        return await self._database.lagging_read(
            client.ip_hash, lambda conn: liked_page(conn, client=client, after=after, limit=limit)
        )

    async def _write(self, op: LikeOp, video_id: str, client: ClientKeys) -> Rating:
        change = await self._store.write(op, video_id=video_id, client=client)
        record_like_change(change)
        if not change.video_found:
            raise VideoNotFound
        return self._shown(change.rating)

    def _shown(self, rating: Rating) -> Rating:
        # The original's answers are true or null: a dislike left from a time dislikes were
        # on is not shown while they are off.
        return rating if self._dislikes or rating else None
