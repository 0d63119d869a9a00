"""Counts the SQL statements an app sends, to pin how many round trips a request costs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event

from videolikes.db.units import Database

_INTROSPECTION_MARKERS = ("pg_catalog.pg_type", "set_config('jit'")


@asynccontextmanager
async def statements_sent(database: Database) -> AsyncIterator[list[str]]:
    """Statements sent through SQLAlchemy, plus those sent on the asyncpg connection directly.

    asyncpg's query logger sees only its own fetch calls, not the prepared statements that
    SQLAlchemy runs, so the two sources never count one statement twice.
    """
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement)

    def log_query(query: Any) -> None:
        # asyncpg's own type introspection runs once per connection and type, not per request.
        if not any(marker in query.query for marker in _INTROSPECTION_MARKERS):
            sent.append(query.query)

    def watch(dbapi_connection: Any, *_args: Any) -> None:
        if hasattr(dbapi_connection.driver_connection, "add_query_logger"):
            dbapi_connection.driver_connection.add_query_logger(log_query)

    def unwatch(dbapi_connection: Any, *_args: Any) -> None:
        if dbapi_connection is not None and hasattr(
            dbapi_connection.driver_connection, "remove_query_logger"
        ):
            dbapi_connection.driver_connection.remove_query_logger(log_query)

    engine = database.engine.sync_engine
    listeners: list[tuple[Any, str, Callable[..., None]]] = [
        (engine, "before_cursor_execute", record),
        (engine.pool, "checkout", watch),
        (engine.pool, "checkin", unwatch),
    ]
    for target, name, listener in listeners:
        event.listen(target, name, listener)
    try:
        yield sent
        # asyncpg hands each finished query to its loggers on the loop's next iteration.
        await asyncio.sleep(0)
    finally:
        for target, name, listener in listeners:
            event.remove(target, name, listener)
