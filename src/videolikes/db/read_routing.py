"""Which server answers a read that may lag: a usable replica that holds the reader's writes.

A reader is a client's key. A replica serves a reader once it has replayed past the reader's
last write (its remembered position; none for a client that has not written lately), so every
client reads its own writes; anyone else's may be up to DATABASE_REPLICA_MAX_LAG behind. With
no usable replica, a position that cannot be known (Redis down), or a replica failing midway,
the primary answers. A replica gets half the request's DATABASE_TIMEOUT, the primary the rest.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection

from videolikes.config import Settings
from videolikes.db.replicas import Replica, ReplicaMonitor
from videolikes.db.units import Database, create_engine
from videolikes.db.write_positions import (
    InMemoryWritePositions,
    RedisWritePositions,
    WritePositions,
)
from videolikes.errors import DatabaseUnavailable
from videolikes.metrics import record_reads

T = TypeVar("T")
Item = TypeVar("Item")
Result = TypeVar("Result")

PRIMARY = "primary"
# A position is kept this much longer than a replica may lag, for the monitor's view to be a
# poll old: once it is forgotten, every usable replica holds the write anyway.
_MEMORY_MARGIN = 2.0
# SQLSTATE class of a standby's statement cancelled for a conflict with its replay.
_TRANSACTION_ROLLBACK = "40"


class ReadRouter:
    def __init__(
        self,
        primary: Database,
        replicas: list[Replica],
        positions: WritePositions,
        *,
        max_lag: float,
    ) -> None:
        self._primary = primary
        self.replicas = replicas
        self._positions = positions
        self._monitor = ReplicaMonitor(primary, replicas, max_lag=max_lag)
        self._turn = 0

    async def start(self) -> None:
        await self._monitor.start()

    async def aclose(self) -> None:
        await self._monitor.aclose()
        await self._positions.aclose()
        for replica in self.replicas:
            await replica.database.dispose()

    async def remember(self, writers: Sequence[str], position: int) -> None:
        """`writers` have written up to `position`, read on the primary after their commit."""
        await self._positions.remember(writers, position)

    async def read(self, reader: str, run: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        async with self._primary.deadline():
            positions = await self._positions.positions([reader])
            replica = self._replica(positions[0] if positions else None)
            if replica is not None:
                try:
                    async with replica.database.read() as conn:
                        result = await run(conn)
                except Exception as exc:
                    if not _replica_failed(exc):
                        raise
                    replica.lost(type(exc).__name__)
                else:
                    record_reads(replica.name)
                    return result
            async with self._primary.read() as conn:
                result = await run(conn)
            record_reads(PRIMARY)
            return result

    async def driver_batch(
        self,
        items: Sequence[Item],
        readers: Sequence[str],
        run: Callable[[asyncpg.Connection, Sequence[Item]], Awaitable[list[Result]]],
    ) -> list[Result]:
        """`run` over `items` (read by `readers`, one each): on one replica the items whose
        readers it holds the writes of, on the primary the rest; results in `items`' order."""
        positions = await self._positions.positions(readers)
        replica = self._replica(0 if positions else None)
        if replica is None or positions is None:
            return await _on(self._primary, PRIMARY, items, run)
        there = [i for i, position in enumerate(positions) if position <= replica.replayed]
        here = [i for i, position in enumerate(positions) if position > replica.replayed]
        results: list[Result | None] = [None] * len(items)

        async def on_replica() -> None:
            chosen = [items[i] for i in there]
            try:
                found = await _on(replica.database, replica.name, chosen, run)
            except Exception as exc:
                if not _replica_failed(exc):
                    raise
                replica.lost(type(exc).__name__)
                found = await _on(self._primary, PRIMARY, chosen, run)
            for i, result in zip(there, found, strict=True):
                results[i] = result

        async def on_primary() -> None:
            found = await _on(self._primary, PRIMARY, [items[i] for i in here], run)
            for i, result in zip(here, found, strict=True):
                results[i] = result

        await asyncio.gather(*([on_replica()] if there else []), *([on_primary()] if here else []))
        return results  # type: ignore[return-value]  # every index is filled above

    def _replica(self, position: int | None) -> Replica | None:
        """A usable replica that has replayed up to `position`, in turns; None: the primary."""
        if position is None:
            return None
        usable = [r for r in self.replicas if r.usable and r.replayed >= position]
        if not usable:
            return None
        self._turn += 1
        return usable[self._turn % len(usable)]


async def _on(
    database: Database,
    server: str,
    items: Sequence[Item],
    run: Callable[[asyncpg.Connection, Sequence[Item]], Awaitable[list[Result]]],
) -> list[Result]:
    async with database.driver_connection() as conn:
        found = await run(conn, items)
    record_reads(server, len(items))
    return found


def _replica_failed(exc: BaseException) -> bool:
    """The replica could not answer (the primary may): down, too slow, or a statement it
    cancelled because replay needed what the statement was reading."""
    if isinstance(exc, DatabaseUnavailable):
        return True
    error: BaseException | None = exc
    while error is not None:
        sqlstate = getattr(error, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate.startswith(_TRANSACTION_ROLLBACK):
            return True
        error = error.__cause__ or error.__context__
    return False


async def open_read_router(settings: Settings, primary: Database) -> ReadRouter | None:
    """The router the settings ask for, its replicas polled once; None without replicas."""
    if not settings.database_replica_urls:
        return None
    memory = settings.database_replica_max_lag + _MEMORY_MARGIN
    positions: WritePositions
    if settings.redis_url:
        positions = RedisWritePositions(
            settings.redis_url, seconds=memory, timeout=settings.redis_timeout
        )
    else:
        positions = InMemoryWritePositions(memory)
    replicas = [
        Replica(
            f"replica-{number}",
            Database(create_engine(settings, url=url), timeout=settings.database_timeout / 2),
        )
        for number, url in enumerate(settings.database_replica_urls)
    ]
    router = ReadRouter(primary, replicas, positions, max_lag=settings.database_replica_max_lag)
    await router.start()
    return router
