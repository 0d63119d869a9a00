"""Concurrent writes through the real app: no 5xx, no counter drift, ever."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from contextlib import AsyncExitStack

import httpx
import pytest
from conftest import RunningApp, counter_drift, make_settings, running_app, scalar, seed_demo

from videolikes.db.units import Database, create_engine

CLIENTS = ["198.51.100.1", "198.51.100.2", "198.51.100.3"]
VIDEOS = ["DEMO00000001", "DEMO00000002"]


async def _toggle_storm(apps: Sequence[RunningApp], *, per_pair: int) -> list[httpx.Response]:
    """Fire `per_pair` toggles at every (client, video) pair, all at once, shuffled.

    Each request goes to one of `apps` at random: on PostgreSQL each app batches its own writes,
    as each worker process does, so two apps make batches that race each other.
    """
    async with AsyncExitStack() as stack:
        clients = [
            [await stack.enter_async_context(api.client(ip)) for api in apps] for ip in CLIENTS
        ]
        requests = [
            random.choice(by_app).post(f"/api/videos/{video}/like")
            for by_app in clients
            for video in VIDEOS
            for _ in range(per_pair)
        ]
        random.shuffle(requests)
        return await asyncio.gather(*requests)


async def _liked_pairs(database: Database) -> int:
    return int(await scalar(database, "SELECT count(*) FROM video_likes WHERE is_like"))


@pytest.mark.parametrize("per_pair", [35, 36])
async def test_concurrent_toggles_keep_counter_exact_on_postgres(
    postgres_url: str, per_pair: int
) -> None:
    settings = make_settings(postgres_url)
    database = Database(create_engine(settings))
    try:
        await seed_demo(database)
        async with running_app(settings) as one, running_app(settings) as two:
            responses = await _toggle_storm([one, two], per_pair=per_pair)
        assert len(responses) >= 200
        assert [r.status_code for r in responses if r.status_code != 200] == []
        assert await counter_drift(database) == 0
        # Each pair was toggled per_pair times: an even count must end unliked, odd liked.
        expected = len(CLIENTS) * len(VIDEOS) if per_pair % 2 else 0
        assert await _liked_pairs(database) == expected
        assert await scalar(database, "SELECT count(*) FROM users") == len(CLIENTS)
    finally:
        await database.dispose()


async def test_concurrent_toggles_keep_counter_exact(api: RunningApp, database: Database) -> None:
    await seed_demo(database)
    responses = await _toggle_storm([api], per_pair=11)
    assert [r.status_code for r in responses if r.status_code != 200] == []
    assert await counter_drift(database) == 0
    assert await _liked_pairs(database) == len(CLIENTS) * len(VIDEOS)


async def test_concurrent_first_calls_create_one_user(api: RunningApp, database: Database) -> None:
    async with api.client("198.51.100.9") as client:
        responses = await asyncio.gather(*(client.get("/api/me") for _ in range(50)))
    assert {r.status_code for r in responses} == {200}
    assert len({r.json()["id"] for r in responses}) == 1
    assert await scalar(database, "SELECT count(*) FROM users") == 1
