"""Alembic environment: async engine from the settings, or a connection handed in."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from videolikes.config import Settings
from videolikes.db.tables import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    # A migration runs each statement once; asyncpg's cache would only leave statements
    # prepared by name on the server connections of a pooler in front of PostgreSQL.
    options = {"connect_args": {"statement_cache_size": 0}} if url.startswith("postgresql") else {}
    engine = create_async_engine(url, **options)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.attributes.get("url") or Settings().database_url
    asyncio.run(_run_async(url))


if context.is_offline_mode():
    raise SystemExit("Offline migrations are not supported; run `videolikes db upgrade`.")
run_migrations_online()
