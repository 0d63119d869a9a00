"""Through a real pgbouncer in transaction mode: many app connections on two server connections.

pgbouncer hands each transaction, an autocommitted statement included, to whichever of its
server connections is free, so anything a statement leaves on a connection (a statement
prepared by name, a setting) is missing from the next one or collides with another client's.
"""

from __future__ import annotations

import asyncio
import csv
import logging
import random
from contextlib import AsyncExitStack
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest
from alembic import command
from conftest import (
    POSTGRES_URL,
    RunningApp,
    counter_drift,
    make_settings,
    running_app,
    scalar,
    seed_demo,
    transaction_pooler,
)

from videolikes.catalogue.importer import import_videos
from videolikes.db.schema_version import alembic_config
from videolikes.db.units import Database, create_engine

CLIENTS = [f"198.51.100.{n}" for n in range(1, 9)]
VIDEOS = ["DEMO00000001", "DEMO00000002", "DEMO00000003"]
TOGGLES_PER_PAIR = 5
# Far fewer server connections than the apps' pools hold, so that they are really shared.
SERVER_CONNECTIONS = 2
APP_POOL_SIZE = 10


def _database_name(url: str) -> str:
    return urlsplit(url).path.removeprefix("/")


async def _requests(apps: list[RunningApp]) -> list[httpx.Response]:
    """Every kind of request the hot paths and the units serve, all at once, shuffled: like
    toggles and status reads (batched on raw connections), the catalogue, /api/me, comments."""
    async with AsyncExitStack() as stack:
        by_client = [
            [await stack.enter_async_context(api.client(ip)) for api in apps] for ip in CLIENTS
        ]
        requests = []
        for clients in by_client:
            for video in VIDEOS:
                for _ in range(TOGGLES_PER_PAIR):
                    requests.append(random.choice(clients).post(f"/api/videos/{video}/like"))
                    requests.append(random.choice(clients).get(f"/api/videos/{video}/like"))
                comments = f"/api/videos/{video}/comments"
                requests.append(random.choice(clients).post(comments, json={"content": "hi"}))
                requests.append(random.choice(clients).get(comments))
            requests.append(random.choice(clients).get("/api/videos"))
            requests.append(random.choice(clients).get("/api/me"))
        random.shuffle(requests)
        return await asyncio.gather(*requests)


async def _on_the_server(query: str, *args: object) -> object:
    """One statement on the PostgreSQL server itself, not through pgbouncer."""
    server = urlsplit(POSTGRES_URL)
    admin = await asyncpg.connect(
        host=server.hostname, port=server.port, user=server.username, database="postgres"
    )
    try:
        return await admin.fetchval(query, *args)
    finally:
        await admin.close()


async def _server_connections(database: str) -> int:
    """Backends of `database` on the PostgreSQL server."""
    return int(
        str(
            await _on_the_server(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1", database
            )
        )
    )


async def test_without_the_setting_statements_fail_behind_a_transaction_pooler(
    postgres_url: str,
) -> None:
    # pgbouncer refuses plan_cache_mode at connect; told to ignore it, it lets the
    # statements asyncpg prepares by name reach server connections that never saw them.
    with transaction_pooler(
        pool_size=SERVER_CONNECTIONS, settings={"ignore_startup_parameters": "plan_cache_mode"}
    ) as bouncer:
        url = bouncer.url(_database_name(postgres_url))
        settings = make_settings(
            url, database_pooler="none", database_pool_size=APP_POOL_SIZE, videos_cache_seconds=0
        )
        async with running_app(settings) as api:
            await seed_demo(api.app.state.services.database)
            responses = await _requests([api])
    assert {r.status_code for r in responses} - {200, 201}


async def test_many_app_connections_share_two_server_connections(empty_postgres: str) -> None:
    # A database of its own: no other pooler's server connections are counted on it.
    with transaction_pooler(pool_size=SERVER_CONNECTIONS) as bouncer:
        url = bouncer.url(_database_name(empty_postgres))
        await asyncio.to_thread(command.upgrade, alembic_config(url), "head")
        settings = make_settings(
            url,
            database_pooler="transaction",
            database_pool_size=APP_POOL_SIZE,
            videos_cache_seconds=0,
        )
        async with running_app(settings) as one, running_app(settings) as two:
            database: Database = one.app.state.services.database
            await seed_demo(database)
            responses = await _requests([one, two])
            async with one.client() as client:
                ready = await client.get("/ready")
            opened = sum(
                api.app.state.services.database.engine.pool.checkedin() for api in (one, two)
            )
            assert [r.status_code for r in responses if r.status_code not in {200, 201}] == []
            assert ready.status_code == 200
            assert await counter_drift(database) == 0
            # An odd number of toggles per pair: every pair ends liked.
            liked = await scalar(database, "SELECT count(*) FROM video_likes WHERE is_like")
            assert liked == len(CLIENTS) * len(VIDEOS)
            assert await scalar(database, "SELECT count(*) FROM comments") == len(CLIENTS) * len(
                VIDEOS
            )
        assert opened > SERVER_CONNECTIONS
        assert await _server_connections(_database_name(empty_postgres)) <= SERVER_CONNECTIONS


def _write_videos(path: Path, rows: int) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "title", "filename", "length", "hasThumbnail", "views", "is_shorts"])
        for n in range(rows):
            writer.writerow([f"V{n:09d}", f"Video {n}", f"V{n:09d}.mp4", 60, "true", n, "false"])
    return path


async def test_migrations_and_an_import_run_through_the_pooler(
    empty_postgres: str, tmp_path: Path
) -> None:
    # One server connection: whatever a client leaves on it, the next one finds.
    with transaction_pooler(pool_size=1) as bouncer:
        url = bouncer.url(_database_name(empty_postgres))
        await asyncio.to_thread(command.upgrade, alembic_config(url), "head")
        database = Database(create_engine(make_settings(url, database_pooler="transaction")))
        try:
            # Statements prepared by name outlive their client on the server connection,
            # where the next client's statement of the same name would collide with them.
            assert await scalar(database, "SELECT count(*) FROM pg_prepared_statements") == 0
            # Staged in a temporary table by COPY, merged and dropped in one transaction.
            report = await import_videos(database, _write_videos(tmp_path / "videos.csv", 1200))
            assert (report.added, report.rejected) == (1200, 0)
            assert await scalar(database, "SELECT count(*) FROM videos") == 1200
        finally:
            await database.dispose()


async def _start_warnings(url: str, caplog: pytest.LogCaptureFixture) -> list[str]:
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="videolikes.db.pooler"):
        async with running_app(make_settings(url, database_pooler="transaction")):
            pass
    return [r.getMessage() for r in caplog.records if r.name == "videolikes.db.pooler"]


async def test_a_start_behind_the_pooler_says_when_plans_may_be_generic(
    empty_postgres: str, caplog: pytest.LogCaptureFixture
) -> None:
    name = _database_name(empty_postgres)
    with transaction_pooler(pool_size=1) as bouncer:
        await asyncio.to_thread(command.upgrade, alembic_config(bouncer.url(name)), "head")
        warnings = await _start_warnings(bouncer.url(name), caplog)
    assert len(warnings) == 1
    assert "SET plan_cache_mode = force_custom_plan" in warnings[0]
    await _on_the_server(f'ALTER DATABASE "{name}" SET plan_cache_mode = force_custom_plan')
    # A pgbouncer of its own: the setting applies to server connections opened after it.
    with transaction_pooler(pool_size=1) as bouncer:
        assert await _start_warnings(bouncer.url(name), caplog) == []
