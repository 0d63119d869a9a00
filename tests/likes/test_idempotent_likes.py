"""PUT and DELETE /api/videos/{videoId}/like: repeating one changes nothing."""

from __future__ import annotations

import asyncio
import random
from contextlib import AsyncExitStack

import httpx
import pytest
from conftest import RunningApp, counter_drift, execute, scalar
from conftest import seed_demo as seed
from fake_recaptcha import FakeRecaptcha

from videolikes.db.units import Database

VIDEO = "DEMO00000001"
LIKE = f"/api/videos/{VIDEO}/like"


@pytest.fixture(autouse=True)
async def _demo(database: Database) -> None:
    await seed(database)


async def _likes(database: Database) -> int:
    return int(await scalar(database, "SELECT likes FROM videos WHERE id = :id", id=VIDEO))


async def _rows(database: Database) -> int:
    return int(await scalar(database, "SELECT count(*) FROM video_likes"))


async def test_put_twice_adds_one_like_and_answers_the_same(
    client: httpx.AsyncClient, database: Database
) -> None:
    first = await client.put(LIKE)
    second = await client.put(LIKE)
    assert [(r.status_code, r.json()) for r in (first, second)] == [(200, {"userLike": True})] * 2
    assert (await _rows(database), await _likes(database)) == (1, 1)
    assert (await client.get(LIKE)).json() == {"userLike": True}


async def test_delete_twice_takes_the_like_back_once(
    client: httpx.AsyncClient, database: Database
) -> None:
    await client.put(LIKE)
    first = await client.delete(LIKE)
    second = await client.delete(LIKE)
    assert [(r.status_code, r.json()) for r in (first, second)] == [(200, {"userLike": None})] * 2
    assert (await _rows(database), await _likes(database)) == (0, 0)
    assert await counter_drift(database) == 0


async def test_delete_never_takes_the_counter_below_zero(
    client: httpx.AsyncClient, database: Database
) -> None:
    await client.put(LIKE)
    await execute(database, "UPDATE videos SET likes = 0 WHERE id = :id", id=VIDEO)
    assert (await client.delete(LIKE)).json() == {"userLike": None}
    assert (await client.delete(LIKE)).json() == {"userLike": None}
    assert await _likes(database) == 0


async def test_put_on_a_toggled_like_changes_nothing(
    client: httpx.AsyncClient, database: Database
) -> None:
    await client.post(LIKE)
    assert (await client.put(LIKE)).json() == {"userLike": True}
    assert (await _rows(database), await _likes(database)) == (1, 1)


async def test_delete_then_toggle_likes_again(client: httpx.AsyncClient) -> None:
    await client.put(LIKE)
    await client.delete(LIKE)
    assert (await client.post(LIKE)).json() == {"userLike": True}


async def test_writes_of_two_clients_add_up(api: RunningApp, database: Database) -> None:
    async with api.client("198.51.100.1") as one, api.client("198.51.100.2") as two:
        await one.put(LIKE)
        await two.put(LIKE)
        await one.put(LIKE)
        assert await _likes(database) == 2
        await two.delete(LIKE)
        assert (await one.get(LIKE)).json() == {"userLike": True}
        assert (await two.get(LIKE)).json() == {"userLike": None}
    assert await _likes(database) == 1


async def test_delete_by_a_new_client_creates_no_user(
    client: httpx.AsyncClient, database: Database
) -> None:
    assert (await client.delete(LIKE)).json() == {"userLike": None}
    assert await scalar(database, "SELECT count(*) FROM users") == 0


async def test_put_creates_the_user_once(client: httpx.AsyncClient, database: Database) -> None:
    await client.put(LIKE)
    await client.put("/api/videos/DEMO00000002/like")
    assert await scalar(database, "SELECT count(*) FROM users") == 1


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
@pytest.mark.parametrize("known_client", [False, True])
async def test_unknown_video_is_404_and_writes_nothing(
    client: httpx.AsyncClient, database: Database, method: str, known_client: bool
) -> None:
    if known_client:
        await client.get("/api/me")
    response = await client.request(method, "/api/videos/NO_SUCH_VIDEO/like")
    assert (response.status_code, response.json()) == (404, {"error": "Video not found"})
    assert await _rows(database) == 0
    assert await scalar(database, "SELECT count(*) FROM users") == int(known_client)


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
@pytest.mark.parametrize("video_id", ["x" * 51, "bad$id", "has.dot", "a%20b"])
async def test_malformed_video_id_is_400(
    client: httpx.AsyncClient, method: str, video_id: str
) -> None:
    response = await client.request(method, f"/api/videos/{video_id}/like")
    assert response.status_code == 400
    assert response.json()["error"].startswith("Invalid video id")


async def test_64_concurrent_puts_by_one_client_make_one_like(
    client: httpx.AsyncClient, database: Database
) -> None:
    responses = await asyncio.gather(*(client.put(LIKE) for _ in range(64)))
    assert {(r.status_code, r.content) for r in responses} == {(200, b'{"userLike":true}')}
    assert (await _rows(database), await _likes(database)) == (1, 1)
    assert await scalar(database, "SELECT count(*) FROM users") == 1


async def test_concurrent_puts_deletes_and_toggles_keep_the_counter_exact(
    api: RunningApp, database: Database
) -> None:
    # Many clients whose first writes all race: that is when a write finds no user row yet.
    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(api.client(f"198.51.100.{n}")) for n in range(1, 9)
        ]
        requests = [
            client.request(method, f"/api/videos/{video}/like")
            for client in clients
            for video in (VIDEO, "DEMO00000002")
            for method in ("PUT", "DELETE", "POST") * 4
        ]
        random.shuffle(requests)
        responses = await asyncio.gather(*requests)
    assert {r.status_code for r in responses} == {200}
    assert await counter_drift(database) == 0
    assert await scalar(database, "SELECT min(likes) FROM videos") >= 0


async def test_first_writes_of_new_clients_racing_each_other_never_fail(
    api: RunningApp, database: Database
) -> None:
    # A client's very first writes, all at once: PUTs that find no user row yet upsert it
    # while toggles of the same client insert and delete its like row.
    for n in range(1, 21):
        async with api.client(f"198.51.100.{n}") as client:
            requests = [client.request(method, LIKE) for method in ("PUT", "POST") * 10]
            responses = await asyncio.gather(*requests)
        assert {r.status_code for r in responses} == {200}
    assert await counter_drift(database) == 0


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
async def test_writes_without_a_recaptcha_token_are_403(
    captcha_api: RunningApp, database: Database, method: str
) -> None:
    async with captcha_api.client() as client:
        response = await client.request(method, LIKE)
    assert (response.status_code, response.json()) == (403, {"error": "Invalid request"})
    assert await scalar(database, "SELECT count(*) FROM users") == 0


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
async def test_rejected_recaptcha_is_403_and_writes_nothing(
    captcha_api: RunningApp, fake_recaptcha: FakeRecaptcha, database: Database, method: str
) -> None:
    fake_recaptcha.answer(score=0.1)
    async with captcha_api.client() as client:
        response = await client.request(method, LIKE, headers={"X-Recaptcha-Token": "t"})
    assert (response.status_code, response.json()) == (
        403,
        {"error": "reCAPTCHA verification failed"},
    )
    assert (await _rows(database), await _likes(database)) == (0, 0)


async def test_put_with_a_good_recaptcha_token_likes(
    captcha_api: RunningApp, database: Database
) -> None:
    async with captcha_api.client() as client:
        response = await client.put(LIKE, headers={"X-Recaptcha-Token": "good"})
    assert (response.status_code, response.json()) == (200, {"userLike": True})
    assert await _likes(database) == 1
