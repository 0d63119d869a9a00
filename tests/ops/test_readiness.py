"""/ready: quiet while healthy, within its second while the pool is busy, and a schema never
migrated said at start-up and in each 503's log line."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from conftest import (
    make_settings,
    opened_database,
    running_app,
    throwaway_postgres,
    video_likes_missing,
)

LIKE = "/api/videos/DEMO00000001/like"
UPGRADE_HINT = "run videolikes db upgrade"


def _service_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name not in {"videolikes.access", "httpx"}]


async def test_a_healthy_ready_logs_nothing(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_app(make_settings(database_url)) as api, api.client() as client:
        with caplog.at_level(logging.INFO):
            caplog.clear()
            answers = [(await client.get("/ready")).status_code for _ in range(3)]
    assert answers == [200] * 3
    assert [r.getMessage() for r in _service_lines(caplog)] == []


async def test_ready_answers_at_once_while_every_pooled_connection_is_held(
    postgres_url: str,
) -> None:
    settings = make_settings(postgres_url, database_pool_size=2)
    async with running_app(settings) as api, api.client() as client:
        database = api.app.state.services.database
        async with AsyncExitStack() as held:
            for _ in range(settings.database_pool_size):
                await held.enter_async_context(database.driver_connection())
            started = time.monotonic()
            response = await client.get("/ready")
            elapsed = time.monotonic() - started
    assert (response.status_code, response.json()) == (200, {"status": "ready"})
    # Its own connection, not a turn in the pool's queue (which would wait its whole second).
    assert elapsed < 0.9


@pytest.fixture(params=["sqlite", "postgres"])
async def unmigrated_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'never-migrated.db'}"
        return
    async with throwaway_postgres("videolikes_unmigrated") as url:
        yield url


async def test_serving_a_database_never_migrated_says_so_at_start_up_and_on_each_503(
    unmigrated_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        async with running_app(make_settings(unmigrated_url)) as api, api.client() as client:
            at_start_up = [r for r in _service_lines(caplog) if UPGRADE_HINT in r.getMessage()]
            caplog.clear()
            answers = [await client.get(path) for path in ("/api/videos", LIKE, "/api/me")]
    assert len(at_start_up) == 1
    assert at_start_up[0].levelno == logging.WARNING
    assert "schema is not migrated" in at_start_up[0].getMessage()
    assert [(a.status_code, a.json()) for a in answers] == [
        (503, {"error": "Service unavailable"})
    ] * 3
    lines = _service_lines(caplog)
    assert lines, "the 503s are logged"
    assert all(
        "schema is not migrated" in r.getMessage() and UPGRADE_HINT in r.getMessage() for r in lines
    )
    assert not [r for r in lines if r.exc_info]


async def test_a_missing_table_in_a_migrated_database_is_still_a_500(database_url: str) -> None:
    # Only a schema older than the code is the operator's to upgrade; anything else is a bug.
    async with (
        opened_database(database_url, demo=True),
        video_likes_missing(database_url),
        running_app(make_settings(database_url)) as api,
        api.client() as client,
    ):
        response = await client.get("/api/me/likes?ids=DEMO00000001")
    assert response.status_code == 500


async def test_ready_connects_with_sqlalchemys_own_url_options(postgres_url: str) -> None:
    # As behind a transaction-mode pooler: options for SQLAlchemy's statement cache, not asyncpg.
    settings = make_settings(f"{postgres_url}?prepared_statement_cache_size=0")
    async with running_app(settings) as api, api.client() as client:
        response = await client.get("/ready")
    assert (response.status_code, response.json()) == (200, {"status": "ready"})
