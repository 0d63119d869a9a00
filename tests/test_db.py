from __future__ import annotations

import asyncio

import pytest
from conftest import (
    RunningApp,
    execute,
    make_settings,
    opened_database,
    running_app,
    scalar,
    seed_demo,
)

from videolikes.db import Database, create_engine

LIKE = "/api/videos/DEMO00000001/like"


async def _terminate_service_connections(database: Database) -> None:
    await execute(
        database,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = current_database() AND application_name = 'videolikes'"
        " AND pid <> pg_backend_pid()",
    )


async def _answers(api: RunningApp, count: int) -> list[int]:
    async with api.client() as client:
        return [(await client.post(LIKE)).status_code for _ in range(count)]


async def test_killed_connections_answer_503_then_the_pool_recovers(postgres_url: str) -> None:
    settings = make_settings(postgres_url)
    admin = Database(create_engine(settings))
    try:
        await seed_demo(admin)
        async with running_app(settings) as api:
            assert await _answers(api, 2) == [200, 200]
            await _terminate_service_connections(admin)
            answers = await _answers(api, settings.database_pool_size + 2)
        # Each dead pooled connection fails one request at most; the pool then replaces it.
        assert answers[-2:] == [200, 200]
        assert set(answers) <= {200, 503}
    finally:
        await admin.dispose()


async def test_connections_go_to_waiting_requests_first_come_first_served(
    postgres_url: str,
) -> None:
    database = Database(create_engine(make_settings(postgres_url, database_pool_size=1)))
    served: list[str] = []
    holding, release = asyncio.Event(), asyncio.Event()

    async def query(name: str, hold: asyncio.Event | None = None) -> None:
        async with database.driver_connection() as conn:
            await conn.fetchval("SELECT 1")
            served.append(name)
            if hold is not None:
                holding.set()
                await hold.wait()

    try:
        holder = asyncio.create_task(query("holder", release))
        await holding.wait()
        waiter = asyncio.create_task(query("waiter"))
        await asyncio.sleep(0.1)
        # Newcomers arrive just as the connection is handed back; the waiter was first.
        release.set()
        newcomers = [asyncio.create_task(query(f"newcomer {n}")) for n in range(20)]
        await asyncio.gather(holder, waiter, *newcomers)
        assert served[:2] == ["holder", "waiter"]
    finally:
        await database.dispose()


@pytest.mark.parametrize("scheme", ["postgres", "postgresql"])
async def test_a_libpq_database_url_is_served_through_asyncpg(
    postgres_url: str, scheme: str
) -> None:
    # The form the original service's deployment (and psql) use for the same database.
    url = postgres_url.replace("postgresql+asyncpg://", f"{scheme}://", 1)
    assert make_settings(url).database_url == postgres_url
    async with opened_database(url, demo=True) as database:
        assert await scalar(database, "SELECT count(*) FROM videos") == 36


@pytest.mark.parametrize(
    ("url", "served_as"),
    [
        ("sqlite:///./likes.db", "sqlite+aiosqlite:///./likes.db"),
        ("sqlite+aiosqlite:///./likes.db", "sqlite+aiosqlite:///./likes.db"),
        ("postgresql+asyncpg://h/likes", "postgresql+asyncpg://h/likes"),
        ("postgresql+psycopg://h/likes", "postgresql+psycopg://h/likes"),
    ],
)
def test_database_urls_name_an_asyncio_driver(url: str, served_as: str) -> None:
    assert make_settings(url).database_url == served_as
