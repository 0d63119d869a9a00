from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import httpx
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

from videolikes.db.units import Database, create_engine

VIDEO = "DEMO00000001"
LIKE = f"/api/videos/{VIDEO}/like"


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


@pytest.fixture
async def sqlite_api(sqlite_url: str) -> AsyncIterator[RunningApp]:
    async with opened_database(sqlite_url, demo=True):
        pass
    # A writer waits this long for the lock; the reads must not wait at all.
    settings = make_settings(sqlite_url, database_timeout=3, videos_cache_seconds=0)
    async with running_app(settings) as api:
        yield api


@contextmanager
def _write_lock_held_elsewhere(url: str) -> Iterator[None]:
    """Another process's writer, mid-transaction: it holds SQLite's write lock."""
    holder = sqlite3.connect(url.removeprefix("sqlite+aiosqlite:///"), isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        holder.execute("UPDATE videos SET views = views + 1")
        yield
    finally:
        holder.rollback()
        holder.close()


SQLITE_READS = [
    f"/api/videos/{VIDEO}/like",
    "/api/videos",
    "/api/videos?limit=3",
    f"/api/videos/{VIDEO}",
    f"/api/me/likes?ids={VIDEO}",
    "/api/me/likes",
]


async def test_sqlite_reads_do_not_wait_for_another_process_writing(
    sqlite_api: RunningApp, sqlite_url: str
) -> None:
    async with sqlite_api.client() as client:
        with _write_lock_held_elsewhere(sqlite_url):
            timed = [await _timed_get(client, path) for path in SQLITE_READS]
    assert [status for status, _ in timed] == [200] * len(SQLITE_READS)
    assert max(seconds for _, seconds in timed) < 1.0


async def test_sqlite_reads_do_not_queue_behind_a_write_waiting_for_the_lock(
    sqlite_api: RunningApp, sqlite_url: str
) -> None:
    async with sqlite_api.client() as client:
        with _write_lock_held_elsewhere(sqlite_url):
            waiting_write = asyncio.create_task(client.post(LIKE))
            await asyncio.sleep(0.3)
            timed = [await _timed_get(client, path) for path in SQLITE_READS]
            assert not waiting_write.done()
        # The lock is free again before the writer's deadline: it writes.
        assert (await waiting_write).status_code == 200
    assert [status for status, _ in timed] == [200] * len(SQLITE_READS)
    assert max(seconds for _, seconds in timed) < 1.0


async def _timed_get(client: httpx.AsyncClient, path: str) -> tuple[int, float]:
    started = time.monotonic()
    response = await client.get(path)
    return response.status_code, time.monotonic() - started


async def test_a_sqlite_write_locked_out_past_its_deadline_is_503(sqlite_url: str) -> None:
    async with opened_database(sqlite_url, demo=True):
        pass
    settings = make_settings(sqlite_url, database_timeout=0.5)
    async with running_app(settings) as api, api.client() as client:
        with _write_lock_held_elsewhere(sqlite_url):
            started = time.monotonic()
            response = await client.post(LIKE)
            elapsed = time.monotonic() - started
    assert (response.status_code, response.json()) == (503, {"error": "Service unavailable"})
    assert elapsed < 2.5
