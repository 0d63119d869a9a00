"""GET /api/me/likes: batch status with `ids`, and this client's likes newest first."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from conftest import RunningApp, execute, make_settings, running_app, scalar, seed_demo
from statement_counter import statements_sent

from videolikes.db.units import Database

LIKES = "/api/me/likes"


@pytest.fixture(autouse=True)
async def _demo(database: Database) -> None:
    await seed_demo(database)


def _video(number: int) -> str:
    return f"DEMO{number:08d}"


async def _like_in_order(client: httpx.AsyncClient, database: Database, numbers: list[int]) -> None:
    """Likes the videos one by one, each a minute after the one before."""
    for minute, number in enumerate(numbers):
        await client.put(f"/api/videos/{_video(number)}/like")
        # A literal, so that each database reads it as its own timestamp type.
        at = f"'2026-11-27 12:{minute:02d}:00'"
        await execute(
            database,
            f"UPDATE video_likes SET created_at = {at} WHERE video_id = :id",
            id=_video(number),
        )


def _next_url(response: httpx.Response) -> str | None:
    link = response.headers.get("link")
    return None if link is None else link.split(">")[0].removeprefix("<")


async def test_ids_answer_true_for_liked_and_null_for_the_rest(client: httpx.AsyncClient) -> None:
    await client.put(f"/api/videos/{_video(1)}/like")
    await client.put(f"/api/videos/{_video(3)}/like")
    response = await client.get(
        LIKES, params={"ids": f"{_video(1)},{_video(2)},NO_SUCH,{_video(3)}"}
    )
    assert response.status_code == 200
    assert response.json() == {
        "userLikes": {_video(1): True, _video(2): None, "NO_SUCH": None, _video(3): True}
    }


async def test_ids_of_another_clients_likes_are_null(api: RunningApp) -> None:
    async with api.client("198.51.100.1") as liker, api.client("198.51.100.2") as other:
        await liker.put(f"/api/videos/{_video(1)}/like")
        response = await other.get(LIKES, params={"ids": _video(1)})
    assert response.json() == {"userLikes": {_video(1): None}}


async def test_repeated_ids_answer_once(client: httpx.AsyncClient) -> None:
    await client.put(f"/api/videos/{_video(1)}/like")
    response = await client.get(LIKES, params={"ids": f"{_video(1)},{_video(1)}"})
    assert response.json() == {"userLikes": {_video(1): True}}


async def test_100_ids_are_answered(client: httpx.AsyncClient) -> None:
    ids = [f"ID{n}" for n in range(99)] + [_video(1)]
    await client.put(f"/api/videos/{_video(1)}/like")
    response = await client.get(LIKES, params={"ids": ",".join(ids)})
    assert response.status_code == 200
    assert len(response.json()["userLikes"]) == 100
    assert response.json()["userLikes"][_video(1)] is True


async def test_101_ids_are_400(client: httpx.AsyncClient) -> None:
    response = await client.get(LIKES, params={"ids": ",".join(f"ID{n}" for n in range(101))})
    assert (response.status_code, response.json()) == (
        400,
        {"error": "Invalid ids: at most 100 video ids, got 101"},
    )


@pytest.mark.parametrize(
    ("ids", "position"),
    [("", 1), ("a,,b", 2), ("ok,bad$id", 2), ("x" * 51, 1), ("a,b,", 3), ("a b", 1)],
)
async def test_malformed_id_is_400_naming_its_position(
    client: httpx.AsyncClient, ids: str, position: int
) -> None:
    response = await client.get(LIKES, params={"ids": ids})
    assert response.status_code == 400
    assert response.json() == {
        "error": f"Invalid ids: entry {position} is not a video id "
        "(1-50 characters of A-Z, a-z, 0-9, _ and -)"
    }


async def test_reads_never_create_a_user(client: httpx.AsyncClient, database: Database) -> None:
    assert (await client.get(LIKES, params={"ids": _video(1)})).status_code == 200
    response = await client.get(LIKES)
    assert (response.status_code, response.json()) == (200, [])
    assert await scalar(database, "SELECT count(*) FROM users") == 0


async def test_list_is_newest_like_first(client: httpx.AsyncClient, database: Database) -> None:
    await _like_in_order(client, database, [5, 2, 9])
    response = await client.get(LIKES)
    assert response.json() == [_video(9), _video(2), _video(5)]
    assert "link" not in response.headers


async def test_likes_in_quick_succession_list_newest_first(client: httpx.AsyncClient) -> None:
    for number in (4, 1, 6):
        await client.put(f"/api/videos/{_video(number)}/like")
        await asyncio.sleep(0.002)
    assert (await client.get(LIKES)).json() == [_video(6), _video(1), _video(4)]


async def test_list_leaves_out_unliked_and_other_clients_likes(
    api: RunningApp, database: Database
) -> None:
    async with api.client("198.51.100.1") as me, api.client("198.51.100.2") as other:
        await _like_in_order(me, database, [1, 2, 3])
        await me.delete(f"/api/videos/{_video(2)}/like")
        await other.put(f"/api/videos/{_video(4)}/like")
        assert (await me.get(LIKES)).json() == [_video(3), _video(1)]


async def test_pages_of_2_walk_every_like_once_newest_first(
    client: httpx.AsyncClient, database: Database
) -> None:
    order = [7, 3, 11, 1, 20, 8, 4]
    await _like_in_order(client, database, order)
    response = await client.get(LIKES, params={"limit": 2})
    pages = [response.json()]
    while (url := _next_url(response)) is not None:
        assert url.startswith(f"{LIKES}?limit=2&cursor=")
        response = await client.get(url)
        pages.append(response.json())
    assert pages == [
        [_video(4), _video(8)],
        [_video(20), _video(1)],
        [_video(11), _video(3)],
        [_video(7)],
    ]


async def test_likes_at_the_same_instant_are_each_listed_once(
    client: httpx.AsyncClient, database: Database
) -> None:
    for number in range(1, 8):
        await client.put(f"/api/videos/{_video(number)}/like")
    await execute(database, "UPDATE video_likes SET created_at = '2026-11-27 12:00:00'")
    response = await client.get(LIKES, params={"limit": 3})
    seen = list(response.json())
    while (url := _next_url(response)) is not None:
        response = await client.get(url)
        seen += response.json()
    assert sorted(seen) == [_video(number) for number in range(1, 8)]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("limit=0", "Invalid limit: Input should be greater than or equal to 1"),
        ("limit=101", "Invalid limit: Input should be less than or equal to 100"),
        ("cursor=nonsense", "Invalid cursor: pass back the one from the Link header unchanged"),
    ],
)
async def test_invalid_list_parameters_are_400(
    client: httpx.AsyncClient, query: str, message: str
) -> None:
    response = await client.get(f"{LIKES}?{query}")
    assert (response.status_code, response.json()) == (400, {"error": message})


async def test_a_catalogue_cursor_is_not_a_likes_cursor(client: httpx.AsyncClient) -> None:
    link = (await client.get("/api/videos?limit=1")).headers["link"]
    cursor = link.split("cursor=")[1].split(">")[0]
    response = await client.get(LIKES, params={"cursor": cursor})
    assert response.status_code == 400


@pytest.mark.parametrize("params", [{"ids": "DEMO00000001,DEMO00000002"}, {"limit": 2}])
async def test_each_read_is_one_statement_on_postgres(
    postgres_url: str, params: dict[str, str | int]
) -> None:
    settings = make_settings(postgres_url)
    async with running_app(settings) as api, api.client() as client:
        database = api.app.state.services.database
        await seed_demo(database)
        for number in (1, 2, 3):
            await client.put(f"/api/videos/{_video(number)}/like")
        async with statements_sent(database) as sent:
            assert (await client.get(LIKES, params=params)).status_code == 200
    assert len(sent) == 1
