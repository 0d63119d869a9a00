"""Engines and units of work: the one place that commits or rolls back.

A request reads through read() and writes through write(); commands (imports, reconcile) run
multi-statement transactions through transaction(). A request's unit runs under one deadline
that covers waiting for a connection and its statements, and a database that cannot serve,
that deadline included, surfaces as DatabaseUnavailable.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from typing import TYPE_CHECKING, Any, TypeVar

import asyncpg
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, QueuePool
from sqlalchemy.util import greenlet_spawn

from videolikes.config import DEFAULT_DATABASE_TIMEOUT, Settings
from videolikes.db.errors import unavailable_reason
from videolikes.db.servers import ServerList
from videolikes.errors import DatabaseUnavailable

if TYPE_CHECKING:
    from videolikes.db.read_routing import ReadRouter

T = TypeVar("T")
Item = TypeVar("Item")
Result = TypeVar("Result")

POSTGRES_CONNECT_TIMEOUT = 5.0
# Commands' statements; a request's are bounded sooner by DATABASE_TIMEOUT.
POSTGRES_STATEMENT_TIMEOUT = 15.0
# Readers besides the one writer: WAL lets them read while it writes.
SQLITE_READERS = 3

_APPLICATION_NAME = {"application_name": "videolikes"}
_POSTGRES_SERVER_SETTINGS = {
    **_APPLICATION_NAME,
    # Every statement planned with its own values and the tables as they are now. A cached
    # generic plan is made once per connection, maybe while users and video_likes were nearly
    # empty, and then scans them whole as they grow (seen: PostgreSQL's CPU per write doubled
    # within 20 s of load on a fresh database). The hot statements serve whole batches, so one
    # plan per batch is cheap.
    "plan_cache_mode": "force_custom_plan",
}
# Behind a pooler in transaction mode each transaction, an autocommitted statement included,
# may run on another server connection: a statement prepared by name on one is unknown on the
# next, or its name is taken there by another client's. With asyncpg's statement cache off,
# every statement is unnamed and asyncpg sends its Parse again with its Bind, in one run of
# messages up to a Sync, which the pooler keeps on one server connection. SQLAlchemy's cache
# of those statements stays safe: it saves the Describe, not the Parse. pgbouncer refuses
# settings it does not know at connect (plan_cache_mode): an unnamed statement is planned for
# its own values anyway, and the like batch function's inner statements follow the server's
# plan_cache_mode (set on the role, as docs/operations.md says; db/pooler.py warns without).
_POOLED_CONNECT_ARGS: dict[str, Any] = {
    "statement_cache_size": 0,
    "server_settings": _APPLICATION_NAME,
}
_SQLALCHEMY_URL_OPTIONS = ("prepared_statement_cache_size", "prepared_statement_name_func")
# Where the primary's WAL ends, as a number; read after a commit, it is past the commit.
_WRITE_POSITION_QUERY = "SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint"
# An execution option of the SQLite read unit's connections: their transactions take no lock.
_READ_ONLY = "videolikes_read_only"


def create_engine(settings: Settings, *, url: str | None = None) -> AsyncEngine:
    """The engine of DATABASE_URL, or of `url` (a replica's) with the same options."""
    if settings.is_sqlite:
        return _create_sqlite_engine(settings.database_url, busy_timeout=settings.database_timeout)
    engine = create_async_engine(
        url or settings.database_url,
        pool_size=settings.database_pool_size,
        max_overflow=0,
        pool_timeout=POSTGRES_CONNECT_TIMEOUT,
        pool_pre_ping=False,
        # Values from query strings reach statements; they stay out of errors and logs.
        hide_parameters=True,
        connect_args={
            # The dialect's hook for the function that connects, given asyncpg's arguments.
            "async_creator_fn": _server_list(settings).connect,
            "timeout": POSTGRES_CONNECT_TIMEOUT,
            "command_timeout": POSTGRES_STATEMENT_TIMEOUT,
            **(
                _POOLED_CONNECT_ARGS
                if settings.database_pooler == "transaction"
                else {"server_settings": _POSTGRES_SERVER_SETTINGS}
            ),
        },
    )

    @event.listens_for(engine.sync_engine, "checkout")
    def _skip_closed(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        # A server that went away (killed, or failed over) closed its connections, and the
        # event loop has seen it: the pool replaces such a connection instead of handing it
        # to a request that would then fail. It costs no round trip, unlike a pre-ping.
        if dbapi_connection.driver_connection.is_closed():
            raise DisconnectionError("the server closed this pooled connection")

    @event.listens_for(engine.sync_engine, "invalidate")
    def _cut_off(_dbapi_connection: Any, record: ConnectionPoolEntry, _error: Any) -> None:
        # A connection is dropped for good when its state is unknown: a statement cancelled
        # midway (a deadline, a client gone) or a server gone. Cut off at once: SQLAlchemy's
        # polite goodbye that follows would wait up to 2 s for a server that may not answer.
        driver = record.driver_connection
        if driver is not None:
            driver.terminate()

    return engine


def _server_list(settings: Settings) -> ServerList:
    # A list's servers are all tried within a request's deadline, so that one that never
    # answers leaves time for the next.
    return ServerList(within=min(POSTGRES_CONNECT_TIMEOUT, settings.database_timeout))


def _create_sqlite_engine(url: str, *, busy_timeout: float) -> AsyncEngine:
    engine = create_async_engine(
        url, pool_size=1 + SQLITE_READERS, max_overflow=0, pool_timeout=30, hide_parameters=True
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "journal_mode=WAL",
            "synchronous=NORMAL",
            "foreign_keys=ON",
            # A writer waits for another process's lock no longer than a request may wait.
            f"busy_timeout={round(busy_timeout * 1000)}",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(connection: Connection) -> None:
        if connection.get_execution_options().get(_READ_ONLY):
            # A deferred transaction: one snapshot of the last commit, and in WAL mode no
            # lock that a writer holds can stop it.
            connection.exec_driver_sql("BEGIN")
            return
        # Writers take the write lock up front so that several worker processes queue on
        # busy_timeout instead of failing when a read lock cannot be upgraded.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class Database:
    def __init__(self, engine: AsyncEngine, *, timeout: float = DEFAULT_DATABASE_TIMEOUT) -> None:
        self.engine = engine
        self.timeout = timeout
        self.is_sqlite = engine.dialect.name == "sqlite"
        # Set by the app when replicas are configured; None: every read on this database.
        self.replicas: ReadRouter | None = None
        # Requests wait for a connection here, first come first served. The pool's own queue
        # lets a newcomer take a connection just handed to a waiter, which then queues again
        # at the back: under steady load a few requests starved for half a second while the
        # median waited 10 ms. With no more holders than connections, nobody waits in there.
        pool = engine.pool
        self._turns = asyncio.Semaphore(pool.size() if isinstance(pool, QueuePool) else 1)
        self._write_turn: AbstractAsyncContextManager[Any]
        if self.is_sqlite:
            self._reads = engine.execution_options(**{_READ_ONLY: True})
            self._writes = engine
            # SQLite serialises writers anyway; queueing them here rather than in the file
            # lock means no SQLITE_BUSY within one process, and no reader queues behind them.
            self._write_turn = asyncio.Semaphore(1)
        else:
            # Every hot-path operation is a single statement: autocommit spares each request
            # its BEGIN and COMMIT round trips.
            self._reads = self._writes = engine.execution_options(isolation_level="AUTOCOMMIT")
            self._write_turn = nullcontext()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A request's reads. On SQLite one deferred transaction: it never waits for a writer."""
        async with self.deadline(), self._connect(self._reads, begin=self.is_sqlite) as conn:
            yield conn

    async def lagging_read(self, reader: str, run: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """`run` where a read may lag: on a replica holding `reader`'s own writes, if any
        (`reader` is the client's key), else here."""
        if self.replicas is None:
            async with self.read() as conn:
                return await run(conn)
        return await self.replicas.read(reader, run)

    async def lagging_driver_batch(
        self,
        items: Sequence[Item],
        reader_of: Callable[[Item], str],
        run: Callable[[asyncpg.Connection, Sequence[Item]], Awaitable[list[Result]]],
    ) -> list[Result]:
        """PostgreSQL only: lagging_read for a batch on driver connections, each item read
        by its reader_of(item); results in `items`' order."""
        if self.replicas is None:
            async with self.driver_connection() as conn:
                return await run(conn, items)
        return await self.replicas.driver_batch(items, [reader_of(item) for item in items], run)

    @asynccontextmanager
    async def write(self, *, writer: str | None = None) -> AsyncIterator[AsyncConnection]:
        """A request's writes: one transaction on either database, committed when the block
        succeeds and rolled back when it raises (on SQLite serialised, BEGIN IMMEDIATE).

        With replicas, `writer`'s next lagging reads will see it."""
        async with self.deadline():
            async with self._write_turn, self._connect(self.engine, begin=True) as conn:
                yield conn
            if writer is not None and self.replicas is not None:
                async with self.driver_connection() as driver:
                    await self.remember_writes(driver, [writer])

    async def remember_writes(self, conn: asyncpg.Connection, writers: Sequence[str]) -> None:
        """With replicas: `writers`' writes, committed on `conn` (of this primary), will be
        seen by their lagging reads. Without, nothing."""
        if self.replicas is not None:
            position = await conn.fetchval(_WRITE_POSITION_QUERY)
            await self.replicas.remember(writers, int(position))

    @asynccontextmanager
    async def driver_connection(self) -> AsyncIterator[asyncpg.Connection]:
        """PostgreSQL only: a pooled asyncpg connection in autocommit, for the hot paths.

        Executing through SQLAlchemy's Connection and Result costs more CPU per request than
        the statement costs PostgreSQL; the pool, its limits and its deadline stay shared.
        """
        async with self.deadline(), self._turns:
            pooled = await self._writes.raw_connection()
            try:
                yield pooled.driver_connection
            except BaseException as exc:
                # The pool cannot see what happened on the raw connection.
                if _untrustworthy(exc):
                    # Closing it awaits the driver, hence inside SQLAlchemy's greenlet.
                    await greenlet_spawn(pooled.invalidate, exc)
                raise
            finally:
                pooled.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A multi-statement transaction on either database, for commands; commits on success."""
        async with self._write_turn, self._connect(self.engine, begin=True) as conn:
            yield conn

    @asynccontextmanager
    async def deadline(self) -> AsyncIterator[None]:
        """Bound the block by DATABASE_TIMEOUT; a database that cannot serve in it, or at all,
        raises DatabaseUnavailable."""
        try:
            async with asyncio.timeout(self.timeout):
                yield
        except DatabaseUnavailable:
            raise
        except TimeoutError as exc:
            raise DatabaseUnavailable(f"no answer within {self.timeout:g} s") from exc
        except Exception as exc:
            reason = unavailable_reason(exc)
            if reason is None:
                raise
            raise DatabaseUnavailable(reason) from exc

    async def open_probe_connection(self) -> asyncpg.Connection:
        """PostgreSQL only: a new connection outside the pool and its queue, for a check that
        must not wait behind requests. The caller bounds the wait and terminate()s it."""
        # No positional arguments: the dialect passes everything by name.
        _, options = self.engine.dialect.create_connect_args(self.engine.url)
        # The URL's options that are SQLAlchemy's own, for its statement cache, not asyncpg's.
        for option in _SQLALCHEMY_URL_OPTIONS:
            options.pop(option, None)
        servers = ServerList(within=min(POSTGRES_CONNECT_TIMEOUT, self.timeout))
        # A probe runs one statement on its connection: nothing to cache or to plan twice,
        # and so nothing a pooler in front of the server would refuse.
        return await servers.connect(**{**options, **_POOLED_CONNECT_ARGS})

    async def dispose(self) -> None:
        await self.engine.dispose()

    @asynccontextmanager
    async def _connect(self, engine: AsyncEngine, *, begin: bool) -> AsyncIterator[AsyncConnection]:
        async with self._turns, engine.connect() as connection:
            try:
                if begin:
                    async with connection.begin():
                        yield connection
                else:
                    yield connection
            except BaseException as exc:
                # SQLAlchemy drops the connection itself when a statement is cancelled or the
                # server is gone; not when the cancellation comes between statements.
                if _untrustworthy(exc) and not connection.invalidated:
                    await connection.invalidate(exc)
                raise


def _untrustworthy(exc: BaseException) -> bool:
    """After this, a connection's state is unknown: a statement cancelled midway (a deadline,
    a client gone) or a server that went away."""
    return not isinstance(exc, Exception) or unavailable_reason(exc) is not None
