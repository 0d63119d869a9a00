"""A database that cannot serve: 503 with one log line, never a 500, and /ready says why.

Against a PostgreSQL server of the test's own (pg_cluster): restarted, stopping, stopped,
refusing this client, or out of connections.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator

import asyncpg
import pytest
from conftest import RunningApp, make_settings, running_app
from faulty_database import (
    DATABASE_ROUTES,
    UNAVAILABLE,
    VIDEO,
    database_lines,
    migrated_with_demo,
    until_every_route_answers_200,
)
from pg_cluster import PostgresCluster

# Fewer than superuser_reserved_connections (3) would not start.
MAX_CONNECTIONS = 4


@pytest.fixture
async def cluster_api(pg_cluster: PostgresCluster) -> AsyncIterator[RunningApp]:
    url = await migrated_with_demo(pg_cluster)
    # The whole list is read afresh each time, so that it meets the database too.
    async with running_app(make_settings(url, videos_cache_seconds=0)) as api:
        yield api


async def test_a_restart_under_load_answers_only_200_or_503(
    pg_cluster: PostgresCluster, cluster_api: RunningApp, caplog: pytest.LogCaptureFixture
) -> None:
    answers: Counter[int] = Counter()
    restarted = asyncio.Event()

    async def stream(client_number: int) -> None:
        async with cluster_api.client(f"203.0.113.{client_number}", timeout=30) as client:
            n = client_number
            while not restarted.is_set() or n < 50:
                method, path = DATABASE_ROUTES[n % len(DATABASE_ROUTES)]
                answers[(await client.request(method, path)).status_code] += 1
                n += 1

    with caplog.at_level(logging.INFO):
        clients = [asyncio.create_task(stream(n)) for n in range(1, 9)]
        await asyncio.sleep(0.5)
        await asyncio.to_thread(pg_cluster.restart, "fast")
        await asyncio.sleep(0.5)
        restarted.set()
        async with asyncio.timeout(60):
            await asyncio.gather(*clients)
        await until_every_route_answers_200(cluster_api)

    assert set(answers) <= {200, 503}, answers
    assert answers[503] > 0, "the restart was seen"
    assert not [r for r in database_lines(caplog) if r.exc_info], "no tracebacks"


async def test_a_database_shutting_down_is_503_and_ready_says_so(
    pg_cluster: PostgresCluster, cluster_api: RunningApp, caplog: pytest.LogCaptureFixture
) -> None:
    # A smart shutdown waits for this session to end, and meanwhile turns every new
    # connection away with "the database system is shutting down".
    session = await asyncpg.connect(pg_cluster.url(scheme="postgresql"))
    stopping = asyncio.create_task(asyncio.to_thread(pg_cluster.stop, "smart"))
    try:
        await _until_refused_with(pg_cluster, "shutting down")
        async with cluster_api.client() as client:
            with caplog.at_level(logging.INFO):
                # The pooled connections were made before; new ones are refused.
                await _drop_pooled_connections(cluster_api)
                answers = [await client.request(m, p) for m, p in DATABASE_ROUTES]
            ready = await client.get("/ready")
    finally:
        await session.close()
        async with asyncio.timeout(60):
            await stopping

    assert [(a.status_code, a.json()) for a in answers] == [(503, UNAVAILABLE)] * len(answers)
    assert ready.status_code == 503
    assert ready.json()["down"] == {"database": "unavailable: the database system is shutting down"}
    lines = database_lines(caplog)
    assert [r.getMessage() for r in lines if r.name == "videolikes.app"] == [
        "database unavailable: the database system is shutting down"
    ]
    assert not [r for r in lines if r.exc_info]


async def test_a_stopped_database_is_503_and_ready_says_connection_refused(
    pg_cluster: PostgresCluster, cluster_api: RunningApp
) -> None:
    await asyncio.to_thread(pg_cluster.stop, "fast")
    async with cluster_api.client() as client:
        answers = [await client.request(m, p) for m, p in DATABASE_ROUTES]
        ready = await client.get("/ready")
    assert {a.status_code for a in answers} == {503}
    assert ready.json()["down"] == {"database": "unavailable: connection refused"}


@pytest.mark.parametrize(
    ("database", "user", "reason"),
    [
        ("no_such_db", "postgres", 'database "no_such_db" does not exist'),
        ("postgres", "no_such_role", 'role "no_such_role" does not exist'),
    ],
)
async def test_a_wrong_database_or_role_is_503_with_one_log_line_and_ready_names_it(
    pg_cluster: PostgresCluster,
    caplog: pytest.LogCaptureFixture,
    database: str,
    user: str,
    reason: str,
) -> None:
    settings = make_settings(pg_cluster.url(database, user=user))
    with caplog.at_level(logging.INFO):
        async with running_app(settings) as api, api.client() as client:
            caplog.clear()
            answers = [await client.request(m, p) for m, p in DATABASE_ROUTES]
            ready = await client.get("/ready")
    assert [(a.status_code, a.json()) for a in answers] == [(503, UNAVAILABLE)] * len(answers)
    assert ready.status_code == 503
    assert ready.json()["down"] == {"database": f"unavailable: {reason}"}
    lines = database_lines(caplog)
    assert [r.getMessage() for r in lines if r.name == "videolikes.app"] == [
        f"database unavailable: {reason}"
    ]
    assert not [r for r in lines if r.exc_info]


async def test_a_database_out_of_connections_is_503(
    pg_cluster: PostgresCluster, cluster_api: RunningApp
) -> None:
    await _execute(pg_cluster, f"ALTER SYSTEM SET max_connections = {MAX_CONNECTIONS}")
    await asyncio.to_thread(pg_cluster.restart, "fast")
    await _drop_pooled_connections(cluster_api)
    sessions = [
        await asyncpg.connect(pg_cluster.url(scheme="postgresql")) for _ in range(MAX_CONNECTIONS)
    ]
    try:
        async with cluster_api.client() as client:
            answer = await client.get(f"/api/videos/{VIDEO}")
            ready = await client.get("/ready")
    finally:
        await asyncio.gather(*(session.close() for session in sessions))
    assert (answer.status_code, answer.json()) == (503, UNAVAILABLE)
    assert ready.json()["down"] == {"database": "unavailable: sorry, too many clients already"}


async def _execute(cluster: PostgresCluster, statement: str) -> None:
    connection = await asyncpg.connect(cluster.url(scheme="postgresql"))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def _until_refused_with(cluster: PostgresCluster, words: str) -> None:
    async with asyncio.timeout(30):
        while True:
            try:
                connection = await asyncpg.connect(cluster.url(scheme="postgresql"))
            except asyncpg.CannotConnectNowError as exc:
                refusal = str(exc)
                break
            await connection.close()
            await asyncio.sleep(0.05)
    assert words in refusal


async def _drop_pooled_connections(api: RunningApp) -> None:
    await api.app.state.services.database.engine.dispose()
