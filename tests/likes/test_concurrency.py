"""Concurrent writes through the real app: no 5xx, no counter drift, ever."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from contextlib import AsyncExitStack

import httpx
import pytest
from conftest import RunningApp, counter_drift, make_settings, running_app, scalar, seed_demo

from videolikes.config import Settings
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


DISLIKE_VIDEO = VIDEOS[0]


async def _storm_of_one_pair(
    settings: Settings, paths_and_methods: list[tuple[str, str]]
) -> list[httpx.Response]:
    """The requests all at once from one client on two app instances (as two workers)."""
    async with (
        running_app(settings) as one,
        running_app(settings) as two,
        one.client(CLIENTS[0]) as first,
        two.client(CLIENTS[0]) as second,
    ):
        requests = [
            random.choice((first, second)).request(method, path)
            for method, path in paths_and_methods
        ]
        random.shuffle(requests)
        return await asyncio.gather(*requests)


async def test_64_concurrent_dislike_toggles_of_one_pair_each_flip_it(
    database_url: str, database: Database
) -> None:
    await seed_demo(database)
    settings = make_settings(database_url, dislikes_enabled=True)
    path = f"/api/videos/{DISLIKE_VIDEO}/dislike"
    responses = await _storm_of_one_pair(settings, [("POST", path)] * 64)
    assert [r.status_code for r in responses if r.status_code != 200] == []
    answers = [r.json()["userLike"] for r in responses]
    assert (answers.count(False), answers.count(None)) == (32, 32)
    assert await scalar(database, "SELECT count(*) FROM video_likes") == 0
    assert (
        await scalar(
            database, "SELECT likes + dislikes FROM videos WHERE id = :id", id=DISLIKE_VIDEO
        )
        == 0
    )
    assert await counter_drift(database) == 0


async def test_64_concurrent_mixed_like_and_dislike_writes_of_one_pair_keep_counters_exact(
    database_url: str, database: Database
) -> None:
    await seed_demo(database)
    settings = make_settings(database_url, dislikes_enabled=True)
    like, dislike = f"/api/videos/{DISLIKE_VIDEO}/like", f"/api/videos/{DISLIKE_VIDEO}/dislike"
    writes = [("POST", like), ("POST", dislike), ("PUT", like), ("PUT", dislike)]
    writes += [("DELETE", like), ("DELETE", dislike)]
    responses = await _storm_of_one_pair(settings, [writes[n % len(writes)] for n in range(64)])
    assert [r.status_code for r in responses if r.status_code != 200] == []
    assert await counter_drift(database) == 0
    rows = await scalar(database, "SELECT count(*) FROM video_likes")
    counted = await scalar(
        database, "SELECT likes + dislikes FROM videos WHERE id = :id", id=DISLIKE_VIDEO
    )
    assert rows == counted <= 1
