"""Concurrent comment writes through two app instances (as two workers): exact, never a 5xx.

Requests that merely arrive together mostly run one after the other, each transaction done
before the next begins. So each test first holds, in a transaction of its own, a lock the
writes meet at their insert or delete (on PostgreSQL a SHARE lock on the table, which reads
pass; on SQLite the write lock), lets the writes pile up behind it, and releases it: each
has read what it decides on, and they then run into each other.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import httpx
from conftest import RunningApp, execute, opened_database, running_app, scalar, seed_demo
from served import served
from sqlalchemy import text

from videolikes.comments.moderation import remove_comment
from videolikes.config import Settings
from videolikes.db.units import Database

VIDEO = "DEMO00000001"
CLIENT = "198.51.100.7"
COMMENTS = f"/api/videos/{VIDEO}/comments"
HOLD_COMMENTS = "LOCK TABLE comments IN SHARE MODE"
HOLD_COMMENT_LIKES = "LOCK TABLE comment_likes IN SHARE MODE"
HOLD_BOTH = "LOCK TABLE comments, comment_likes IN SHARE MODE"
# Long enough for every request to reach the lock on a loaded machine; SQLite waits up to its
# busy timeout (10 s) for the write lock.
PILE_UP_SECONDS = 1.5


@asynccontextmanager
async def two_apps(settings: Settings) -> AsyncIterator[list[httpx.AsyncClient]]:
    """One client's connections to two app instances, each with its own database pool."""
    async with AsyncExitStack() as stack:
        apps: list[RunningApp] = [
            await stack.enter_async_context(running_app(settings)) for _ in range(2)
        ]
        yield [await stack.enter_async_context(api.client(CLIENT)) for api in apps]


@asynccontextmanager
async def held(database: Database, table_lock: str) -> AsyncIterator[None]:
    """Until the block ends: on PostgreSQL `table_lock`; on SQLite the write lock."""
    async with database.transaction() as conn:
        if not database.is_sqlite:
            await conn.execute(text(table_lock))
        yield


async def piled_up(
    database: Database, table_lock: str, requests: Sequence[Awaitable[httpx.Response]]
) -> list[httpx.Response]:
    async with held(database, table_lock):
        answers = asyncio.gather(*requests)
        await asyncio.sleep(PILE_UP_SECONDS)
    return await answers


async def _a_comment(database: Database, settings: Settings) -> str:
    async with running_app(settings) as api, api.client("198.51.100.200") as author:
        response = await author.post(f"/api/videos/{VIDEO}/comments", json={"content": "hi"})
    assert response.status_code == 201
    return str(response.json()["id"])


async def test_20_simultaneous_posts_of_one_client_leave_exactly_10(
    settings: Settings, database: Database
) -> None:
    await seed_demo(database)
    async with two_apps(settings) as clients:
        posts = [clients[n % 2].post(COMMENTS, json={"content": f"c{n}"}) for n in range(20)]
        responses = await piled_up(database, HOLD_COMMENTS, posts)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] * 10 + [429] * 10
    assert await scalar(database, "SELECT count(*) FROM comments") == 10
    assert await scalar(database, "SELECT count(*) FROM users") == 1


async def test_64_concurrent_toggles_of_one_comment_like_each_flip_it(
    settings: Settings, database: Database
) -> None:
    await seed_demo(database)
    comment = await _a_comment(database, settings)
    async with two_apps(settings) as clients:
        requests = [clients[n % 2].post(f"/api/comments/{comment}/like") for n in range(64)]
        random.shuffle(requests)
        responses = await piled_up(database, HOLD_COMMENT_LIKES, requests)
    assert [r.status_code for r in responses if r.status_code != 200] == []
    answers = [r.json()["userLike"] for r in responses]
    assert (answers.count(True), answers.count(None)) == (32, 32)
    assert await scalar(database, "SELECT count(*) FROM comment_likes") == 0
    async with running_app(settings) as api, api.client(CLIENT) as client:
        listed = (await client.get(f"/api/videos/{VIDEO}/comments")).json()["comments"][0]
    assert (listed["likes"], listed["userLike"]) == (0, None)


async def test_removing_a_comment_while_it_takes_replies_and_likes_leaves_nothing_behind(
    settings: Settings, database: Database
) -> None:
    await seed_demo(database)
    comment = await _a_comment(database, settings)
    async with AsyncExitStack() as stack:
        api = await stack.enter_async_context(running_app(settings))
        clients = [
            await stack.enter_async_context(api.client(f"198.51.100.{n}")) for n in range(1, 9)
        ]

        async def write(client: httpx.AsyncClient, n: int) -> httpx.Response:
            if n % 2:
                return await client.post(f"/api/comments/{comment}/like")
            return await client.post(
                f"/api/videos/{VIDEO}/comments", json={"content": f"r{n}", "parentId": comment}
            )

        writes = [write(client, n) for n, client in enumerate(clients * 2)]
        before, removed, after = await asyncio.gather(
            asyncio.gather(*writes[:8]),
            remove_comment(database, uuid.UUID(comment)),
            asyncio.gather(*writes[8:]),
        )
    # A write that came after the removal finds no comment: a reply's parent is unknown (400),
    # a like's comment too (404).
    assert {r.status_code for r in [*before, *after]} <= {200, 201, 400, 404}
    assert removed.comments == 1
    assert await scalar(database, "SELECT count(*) FROM comments") == 0
    assert await scalar(database, "SELECT count(*) FROM comment_likes") == 0


async def test_two_worker_processes_take_exactly_10_of_20_simultaneous_posts(
    postgres_url: str, tmp_path: Path
) -> None:
    async with opened_database(postgres_url, demo=True) as database:
        async with (
            served(
                postgres_url, tmp_path / "server.log", workers=2, RATE_LIMIT_ENABLED="false"
            ) as server,
            httpx.AsyncClient(base_url=server.url, timeout=30) as client,
        ):
            comment = (await client.post(COMMENTS, json={"content": "hi"})).json()["id"]
            await execute(
                database, "DELETE FROM comments WHERE parent_id IS NULL AND id <> :c", c=comment
            )
            posts = [
                client.post(COMMENTS, json={"content": f"r{n}", "parentId": comment})
                for n in range(20)
            ]
            likes = [client.post(f"/api/comments/{comment}/like") for _ in range(64)]
            responses = await piled_up(database, HOLD_BOTH, [*posts, *likes])
        posted, liked = responses[:20], responses[20:]
        # The first comment counts: nine more are allowed.
        assert sorted(r.status_code for r in posted) == [201] * 9 + [429] * 11
        assert [r.status_code for r in liked if r.status_code != 200] == []
        assert [r.json()["userLike"] for r in liked].count(True) == 32
        assert await scalar(database, "SELECT count(*) FROM comments") == 10
        assert await scalar(database, "SELECT count(*) FROM comment_likes") == 0


async def test_64_concurrent_dislike_toggles_of_one_comment_each_flip_it(
    settings: Settings, database: Database
) -> None:
    await seed_demo(database)
    rating = settings.model_copy(update={"dislikes_enabled": True})
    comment = await _a_comment(database, rating)
    async with two_apps(rating) as clients:
        requests = [clients[n % 2].post(f"/api/comments/{comment}/dislike") for n in range(64)]
        random.shuffle(requests)
        responses = await piled_up(database, HOLD_COMMENT_LIKES, requests)
    assert [r.status_code for r in responses if r.status_code != 200] == []
    answers = [r.json()["userLike"] for r in responses]
    assert (answers.count(False), answers.count(None)) == (32, 32)
    assert await scalar(database, "SELECT count(*) FROM comment_likes") == 0


async def test_64_concurrent_like_and_dislike_toggles_of_one_comment_leave_one_rating(
    settings: Settings, database: Database
) -> None:
    await seed_demo(database)
    rating = settings.model_copy(update={"dislikes_enabled": True})
    comment = await _a_comment(database, rating)
    async with two_apps(rating) as clients:
        requests = [
            clients[n % 2].post(f"/api/comments/{comment}/{('like', 'dislike')[n % 3 == 0]}")
            for n in range(64)
        ]
        random.shuffle(requests)
        responses = await piled_up(database, HOLD_COMMENT_LIKES, requests)
    assert [r.status_code for r in responses if r.status_code != 200] == []
    async with running_app(rating) as api, api.client(CLIENT) as client:
        listed = (await client.get(f"/api/videos/{VIDEO}/comments")).json()["comments"][0]
    rows = await scalar(database, "SELECT count(*) FROM comment_likes")
    assert rows <= 1
    assert listed["likes"] + listed["dislikes"] == rows
    expected = {(1, 0): True, (0, 1): False, (0, 0): None}[(listed["likes"], listed["dislikes"])]
    assert listed["userLike"] is expected
