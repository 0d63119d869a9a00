"""Where like operations run: in batches on PostgreSQL, one transaction each on SQLite."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Protocol

from videolikes.batching import Batcher
from videolikes.db.units import Database
from videolikes.identity import ClientKeys
from videolikes.likes.changes import LikeChange, RatingRead
from videolikes.likes.folding import LikeOp, op_map
from videolikes.likes.repository.batch_writes import LikeWrite, write_likes
from videolikes.likes.repository.single_writes import write_one
from videolikes.likes.repository.status_reads import StatusRead, like_status, like_statuses
from videolikes.metrics import record_like_batch


class LikeStore(Protocol):
    async def status(self, *, video_id: str, client: ClientKeys) -> RatingRead: ...

    async def write(self, op: LikeOp, *, video_id: str, client: ClientKeys) -> LikeChange: ...

    async def aclose(self) -> None:
        """Return once every write accepted so far is written."""


# Enough to carry every request a busy worker holds at once, small enough that one batch's
# statement stays far inside the statement timeout.
_MAX_BATCH = 256


class PostgresLikes:
    """Status reads and like writes each go through a Batcher.

    A batch of reads is one statement; a batch of writes is two (users, then the writes).
    """

    def __init__(self, database: Database, *, dislikes: bool) -> None:
        self._database = database
        self._dislikes = dislikes
        self._reads: Batcher[StatusRead, RatingRead] = Batcher(
            self._read_batch, max_size=_MAX_BATCH
        )
        self._writes: Batcher[LikeWrite, LikeChange] = Batcher(
            self._write_batch, max_size=_MAX_BATCH
        )

    async def status(self, *, video_id: str, client: ClientKeys) -> RatingRead:
        # The request's deadline covers its wait for a batch too, not only the batch's own.
        async with self._database.deadline():
            return await self._reads.submit(StatusRead(video_id, client))

    async def _read_batch(self, reads: Sequence[StatusRead]) -> list[RatingRead]:
        record_like_batch("status", len(reads))
        return await self._database.lagging_driver_batch(
            reads, _reader, partial(like_statuses, dislikes=self._dislikes)
        )

    async def _write_batch(self, writes: Sequence[LikeWrite]) -> list[LikeChange]:
        record_like_batch("write", len(writes))
        async with self._database.driver_connection() as conn:
            changes = await write_likes(conn, writes, dislikes=self._dislikes)
            await self._database.remember_writes(conn, [write.client.ip_hash for write in writes])
        return changes

    async def write(self, op: LikeOp, *, video_id: str, client: ClientKeys) -> LikeChange:
        async with self._database.deadline():
            return await self._writes.submit(LikeWrite(op, video_id, client))

    async def aclose(self) -> None:
        await self._reads.aclose()
        await self._writes.aclose()


def _reader(read: StatusRead) -> str:
    return read.client.ip_hash


class SqliteLikes:
    """Each operation is one serialised transaction of plain statements."""

    def __init__(self, database: Database, *, dislikes: bool) -> None:
        self._database = database
        self._dislikes = dislikes

    async def status(self, *, video_id: str, client: ClientKeys) -> RatingRead:
        async with self._database.read() as conn:
            return await like_status(conn, video_id=video_id, client=client)

    async def write(self, op: LikeOp, *, video_id: str, client: ClientKeys) -> LikeChange:
        state_map = op_map(op, dislikes=self._dislikes)
        async with self._database.write() as conn:
            return await write_one(conn, video_id=video_id, client=client, state_map=state_map)

    async def aclose(self) -> None:
        """Nothing to wait for: each write finished inside its own call."""


def like_store_for(database: Database, *, dislikes: bool) -> LikeStore:
    store = SqliteLikes if database.is_sqlite else PostgresLikes
    return store(database, dislikes=dislikes)
