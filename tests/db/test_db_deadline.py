"""One deadline per request for the database (DATABASE_TIMEOUT): a frozen server costs a 503
within it, /ready stays within its own second, and everything serves again after a thaw."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import TypeVar

import pytest
from conftest import make_settings, running_app
from faulty_database import (
    DATABASE_ROUTES,
    UNAVAILABLE,
    migrated_with_demo,
    until_every_route_answers_200,
)
from pg_cluster import PostgresCluster
from sqlalchemy import text

from videolikes.db.units import Database, create_engine
from videolikes.errors import DatabaseUnavailable

T = TypeVar("T")

DEADLINE = 2.0
READY_TIMEOUT = 1.0
# Room for a loaded machine shared with other test runs.
MARGIN = 2.0


async def _timed(call: Awaitable[T]) -> tuple[T, float]:
    started = time.monotonic()
    result = await call
    return result, time.monotonic() - started


async def test_a_frozen_database_costs_a_503_within_the_deadline_and_serves_after_a_thaw(
    pg_cluster: PostgresCluster,
) -> None:
    url = await migrated_with_demo(pg_cluster)
    settings = make_settings(
        url, database_timeout=DEADLINE, database_pool_size=3, videos_cache_seconds=0
    )
    async with running_app(settings) as api:
        await until_every_route_answers_200(api)
        async with api.client(timeout=60) as client:
            pg_cluster.freeze()
            try:
                # More requests than pooled connections: some wait for a connection, some for
                # a batch, some on a statement the server never answers.
                requests = [_timed(client.request(m, p)) for m, p in DATABASE_ROUTES * 3]
                answers = asyncio.gather(*requests)
                await asyncio.sleep(0.2)
                ready, ready_seconds = await _timed(client.get("/ready"))
                async with asyncio.timeout(DEADLINE + MARGIN + 10):
                    timed = await answers
            finally:
                pg_cluster.thaw()
        await until_every_route_answers_200(api)

    assert [(a.status_code, a.json()) for a, _ in timed] == [(503, UNAVAILABLE)] * len(timed)
    assert max(seconds for _, seconds in timed) < DEADLINE + MARGIN
    assert (ready.status_code, ready.json()["down"]) == (503, {"database": "timeout"})
    assert ready_seconds < READY_TIMEOUT + MARGIN


@pytest.mark.parametrize("path", ["sqlalchemy", "driver"])
async def test_a_statement_cut_short_by_the_deadline_leaves_no_connection_behind(
    postgres_url: str, path: str
) -> None:
    database = Database(
        create_engine(make_settings(postgres_url, database_pool_size=1)), timeout=0.5
    )
    try:
        with pytest.raises(DatabaseUnavailable) as cut_short:
            await _select(database, path, "SELECT pg_sleep(30)")
        assert cut_short.value.reason == "no answer within 0.5 s"
        # The one pooled connection is the next caller's at once, in a known state.
        async with asyncio.timeout(5):
            assert await _select(database, path, "SELECT 1") == 1
    finally:
        await database.dispose()


async def _select(database: Database, path: str, query: str) -> object:
    if path == "driver":
        async with database.driver_connection() as conn:
            return await conn.fetchval(query)
    async with database.read() as conn:
        return await conn.scalar(text(query))
