"""Engines and units of work: the one place that commits or rolls back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import QueuePool
from sqlalchemy.util import greenlet_spawn

from videolikes.config import Settings

# asyncpg's own "the server or the connection is gone" errors. InternalClientError is among
# them: a connection the server terminated while it sat idle in the pool fails with it
# ("cannot switch to state ...") when its next statement races the closing socket.
DRIVER_CONNECTION_ERRORS = (
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InternalClientError,
)
# Errors after which an asyncpg connection cannot be trusted again.
BROKEN_CONNECTION = (OSError, *DRIVER_CONNECTION_ERRORS)

POSTGRES_CONNECT_TIMEOUT = 5.0
POSTGRES_STATEMENT_TIMEOUT = 15.0
SQLITE_BUSY_TIMEOUT_MS = 10_000


def create_engine(settings: Settings) -> AsyncEngine:
    if settings.is_sqlite:
        return _create_sqlite_engine(settings.database_url)
    return create_async_engine(
        settings.database_url,
        pool_size=settings.database_pool_size,
        max_overflow=0,
        pool_timeout=POSTGRES_CONNECT_TIMEOUT,
        pool_pre_ping=False,
        connect_args={
            "timeout": POSTGRES_CONNECT_TIMEOUT,
            "command_timeout": POSTGRES_STATEMENT_TIMEOUT,
            "server_settings": {
                "application_name": "videolikes",
                # Every statement planned with its own values and the tables as they are now.
                # A cached generic plan is made once per connection, maybe while users and
                # video_likes were nearly empty, and then scans them whole as they grow (seen:
                # PostgreSQL's CPU per write doubled within 20 s of load on a fresh database).
                # The hot statements serve whole batches, so one plan per batch is cheap.
                "plan_cache_mode": "force_custom_plan",
            },
        },
    )


def _create_sqlite_engine(url: str) -> AsyncEngine:
    # One connection per process: SQLite serialises writers anyway, and queueing them here
    # instead of in the file lock means no SQLITE_BUSY inside one process.
    engine = create_async_engine(url, pool_size=1, max_overflow=0, pool_timeout=30)

    @event.listens_for(engine.sync_engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "journal_mode=WAL",
            "synchronous=NORMAL",
            "foreign_keys=ON",
            f"busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin_immediate(connection: Connection) -> None:
        # Take the write lock up front so that several worker processes queue on
        # busy_timeout instead of failing when a read lock cannot be upgraded.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class Database:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        # Requests wait for a connection here, first come first served. The pool's own queue
        # lets a newcomer take a connection just handed to a waiter, which then queues again
        # at the back: under steady load a few requests starved for half a second while the
        # median waited 10 ms. With no more holders than connections, nobody waits in there.
        pool = engine.pool
        self._turns = asyncio.Semaphore(pool.size() if isinstance(pool, QueuePool) else 1)

    @asynccontextmanager
    async def _connect(self, engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
        async with self._turns, engine.connect() as connection:
            yield connection

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[AsyncConnection]:
        """Where each repository call is atomic.

        On PostgreSQL every hot-path operation is a single statement, so the connection runs in
        autocommit and each request costs no BEGIN/COMMIT round trips. On SQLite the block is one
        serialised transaction, committed when it succeeds and rolled back when it raises.
        """
        if self.is_sqlite:
            async with self.transaction() as connection:
                yield connection
            return
        async with self._connect(self._autocommit) as connection:
            yield connection

    @asynccontextmanager
    async def driver_connection(self) -> AsyncIterator[asyncpg.Connection]:
        """PostgreSQL only: a pooled asyncpg connection in autocommit, for the hot paths.

        Executing through SQLAlchemy's Connection and Result costs more CPU per request than
        the statement costs PostgreSQL; the pool, its limits and its timeouts stay shared.
        """
        async with self._turns:
            pooled = await self._autocommit.raw_connection()
            try:
                yield pooled.driver_connection
            except BROKEN_CONNECTION as exc:
                # The pool cannot see what happened on the raw connection: tell it to drop this
                # one (closing it awaits the driver, hence inside SQLAlchemy's greenlet).
                await greenlet_spawn(pooled.invalidate, exc)
                raise
            finally:
                pooled.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A multi-statement transaction on either database; commits on success."""
        async with self._connect(self.engine) as connection, connection.begin():
            yield connection

    async def dispose(self) -> None:
        await self.engine.dispose()
