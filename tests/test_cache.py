from __future__ import annotations

import asyncio

import httpx
from conftest import execute, make_settings, running_app, seed_demo

from videolikes.cache import TimedBody
from videolikes.db.units import Database

VIDEO = "DEMO00000001"


class Counter:
    def __init__(self) -> None:
        self.calls = 0

    async def produce(self) -> bytes:
        self.calls += 1
        await asyncio.sleep(0.01)
        return str(self.calls).encode()


async def test_body_is_reused_until_it_expires() -> None:
    body, counter = TimedBody[bytes](0.2), Counter()
    assert await body.get(counter.produce) == b"1"
    assert await body.get(counter.produce) == b"1"
    await asyncio.sleep(0.25)
    assert await body.get(counter.produce) == b"2"


async def test_concurrent_requests_share_one_refresh() -> None:
    body, counter = TimedBody[bytes](10), Counter()
    bodies = await asyncio.gather(*(body.get(counter.produce) for _ in range(20)))
    assert set(bodies) == {b"1"}
    assert counter.calls == 1


async def test_zero_seconds_computes_every_time() -> None:
    body, counter = TimedBody[bytes](0), Counter()
    await body.get(counter.produce)
    await body.get(counter.produce)
    assert counter.calls == 2


async def test_invalidate_forces_a_refresh() -> None:
    body, counter = TimedBody[bytes](10), Counter()
    await body.get(counter.produce)
    body.invalidate()
    assert await body.get(counter.produce) == b"2"


async def test_invalidated_during_refresh_is_not_kept() -> None:
    body, counter = TimedBody[bytes](10), Counter()
    first = asyncio.create_task(body.get(counter.produce))
    await asyncio.sleep(0)
    body.invalidate()
    assert await first == b"1"
    assert await body.get(counter.produce) == b"2"


async def likes_of(client: httpx.AsyncClient) -> int:
    videos = (await client.get("/api/videos")).json()
    return int(next(video["likes"] for video in videos if video["id"] == VIDEO))


async def test_video_list_counters_may_be_stale_for_the_cache_time(
    database_url: str, database: Database
) -> None:
    await seed_demo(database)
    settings = make_settings(database_url, videos_cache_seconds=30)
    async with running_app(settings) as api, api.client() as client:
        assert await likes_of(client) == 0
        # A write this process did not make, as by another worker.
        await execute(database, "UPDATE videos SET likes = 5 WHERE id = :id", id=VIDEO)
        assert await likes_of(client) == 0


async def test_own_toggle_shows_in_the_video_list_at_once(
    database_url: str, database: Database
) -> None:
    await seed_demo(database)
    settings = make_settings(database_url, videos_cache_seconds=30)
    async with running_app(settings) as api, api.client() as client:
        assert await likes_of(client) == 0
        await client.post(f"/api/videos/{VIDEO}/like")
        assert await likes_of(client) == 1
