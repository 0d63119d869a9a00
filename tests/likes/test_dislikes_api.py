"""Dislikes through the real app, on SQLite and PostgreSQL: with DISLIKES_ENABLED, and without."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from conftest import RunningApp, counter_drift, running_app, scalar, seed_demo

from videolikes.config import Settings
from videolikes.db.units import Database

VIDEO = "DEMO00000001"
LIKE = f"/api/videos/{VIDEO}/like"
DISLIKE = f"/api/videos/{VIDEO}/dislike"


@pytest.fixture(autouse=True)
async def _demo(database: Database) -> None:
    await seed_demo(database)


@pytest.fixture
async def rater(rating_api: RunningApp) -> AsyncIterator[httpx.AsyncClient]:
    async with rating_api.client() as client:
        yield client


async def _video(client: httpx.AsyncClient, video_id: str = VIDEO) -> dict[str, Any]:
    body: dict[str, Any] = (await client.get(f"/api/videos/{video_id}")).json()
    return body


async def _counters(client: httpx.AsyncClient) -> tuple[int, int]:
    video = await _video(client)
    return video["likes"], video["dislikes"]


async def test_post_toggles_a_dislike_and_its_counter(
    rater: httpx.AsyncClient, database: Database
) -> None:
    first = await rater.post(DISLIKE)
    assert (first.status_code, first.json()) == (200, {"userLike": False})
    assert (await rater.get(LIKE)).json() == {"userLike": False}
    assert await _counters(rater) == (0, 1)
    second = await rater.post(DISLIKE)
    assert second.json() == {"userLike": None}
    assert (await rater.get(LIKE)).json() == {"userLike": None}
    assert await _counters(rater) == (0, 0)
    assert await counter_drift(database) == 0


async def test_a_like_replaces_a_dislike_and_a_dislike_a_like(
    rater: httpx.AsyncClient, database: Database
) -> None:
    await rater.post(DISLIKE)
    assert (await rater.post(LIKE)).json() == {"userLike": True}
    assert await _counters(rater) == (1, 0)
    assert (await rater.put(DISLIKE)).json() == {"userLike": False}
    assert await _counters(rater) == (0, 1)
    assert (await rater.put(LIKE)).json() == {"userLike": True}
    assert await _counters(rater) == (1, 0)
    assert await scalar(database, "SELECT count(*) FROM video_likes") == 1
    assert await counter_drift(database) == 0


async def test_put_and_delete_of_a_dislike_are_idempotent(
    rater: httpx.AsyncClient, database: Database
) -> None:
    for _ in range(2):
        assert (await rater.put(DISLIKE)).json() == {"userLike": False}
        assert await _counters(rater) == (0, 1)
    # Removing a like leaves a dislike alone: the client still does not like it.
    assert (await rater.delete(LIKE)).json() == {"userLike": False}
    for _ in range(2):
        assert (await rater.delete(DISLIKE)).json() == {"userLike": None}
        assert await _counters(rater) == (0, 0)
    await rater.put(LIKE)
    # ... and removing a dislike leaves a like.
    assert (await rater.delete(DISLIKE)).json() == {"userLike": True}
    assert await _counters(rater) == (1, 0)
    assert await counter_drift(database) == 0


async def test_removing_a_dislike_that_is_not_there_creates_no_user(
    rater: httpx.AsyncClient, database: Database
) -> None:
    assert (await rater.delete(DISLIKE)).json() == {"userLike": None}
    assert await scalar(database, "SELECT count(*) FROM users") == 0


async def test_dislikes_of_two_clients_add_up_and_are_told_apart(
    rating_api: RunningApp, database: Database
) -> None:
    async with rating_api.client("198.51.100.1") as one, rating_api.client("198.51.100.2") as two:
        await one.post(DISLIKE)
        await two.post(DISLIKE)
        assert await _counters(one) == (0, 2)
        await one.post(LIKE)
        assert (await one.get(LIKE)).json() == {"userLike": True}
        assert (await two.get(LIKE)).json() == {"userLike": False}
        assert await _counters(one) == (1, 1)
    assert await counter_drift(database) == 0


async def test_every_video_object_carries_its_dislike_counter(rater: httpx.AsyncClient) -> None:
    await rater.post(DISLIKE)
    listed = (await rater.get("/api/videos")).json()
    assert all(isinstance(video["dislikes"], int) for video in listed)
    assert next(video for video in listed if video["id"] == VIDEO)["dislikes"] == 1
    paged = (await rater.get("/api/videos", params={"limit": 2, "sort": "likes"})).json()
    assert all("dislikes" in video for video in paged)
    assert (await _video(rater))["dislikes"] == 1


async def test_the_batch_status_says_false_for_a_dislike(rater: httpx.AsyncClient) -> None:
    await rater.post(DISLIKE)
    await rater.post("/api/videos/DEMO00000002/like")
    ids = f"{VIDEO},DEMO00000002,DEMO00000003"
    body = (await rater.get("/api/me/likes", params={"ids": ids})).json()
    assert body == {"userLikes": {VIDEO: False, "DEMO00000002": True, "DEMO00000003": None}}
    # The list of likes holds likes only.
    assert (await rater.get("/api/me/likes")).json() == ["DEMO00000002"]


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
async def test_a_dislike_of_an_unknown_or_malformed_video_is_an_error(
    rater: httpx.AsyncClient, method: str
) -> None:
    unknown = await rater.request(method, "/api/videos/NO_SUCH_VIDEO/dislike")
    assert (unknown.status_code, unknown.json()) == (404, {"error": "Video not found"})
    malformed = await rater.request(method, "/api/videos/bad$id/dislike")
    assert malformed.status_code == 400
    assert "error" in malformed.json()


# With the setting off (the default): the original's wire format, whatever the rows hold.


async def test_without_the_setting_there_is_no_dislike_endpoint_and_no_counter(
    client: httpx.AsyncClient,
) -> None:
    for method in ("POST", "PUT", "DELETE"):
        response = await client.request(method, DISLIKE)
        assert response.status_code == 404
        assert response.json() == {"error": "Not found"}
    assert "dislikes" not in await _video(client)
    assert all("dislikes" not in video for video in (await client.get("/api/videos")).json())


async def test_without_the_setting_a_dislike_left_in_the_rows_reads_as_null_and_stays(
    dislikes_settings: Settings, api: RunningApp, database: Database
) -> None:
    async with running_app(dislikes_settings) as rating_api, rating_api.client() as rater:
        await rater.post(DISLIKE)
    async with api.client() as client:
        assert (await client.get(LIKE)).json() == {"userLike": None}
        ids = (await client.get("/api/me/likes", params={"ids": VIDEO})).json()
        assert ids == {"userLikes": {VIDEO: None}}
        # No like write changes it: the original's client sees "not liked", and nothing moves.
        for method in ("POST", "PUT", "DELETE"):
            response = await client.request(method, LIKE)
            assert response.json() == {"userLike": None}
        assert (await client.get(LIKE)).json() == {"userLike": None}
        assert (await _video(client))["likes"] == 0
    assert await scalar(database, "SELECT count(*) FROM video_likes WHERE NOT is_like") == 1
    assert await scalar(database, "SELECT dislikes FROM videos WHERE id = :id", id=VIDEO) == 1
    assert await counter_drift(database) == 0


async def test_the_dislike_path_answers_other_methods_as_the_like_path_does(
    rater: httpx.AsyncClient,
) -> None:
    refused = await rater.get(DISLIKE)
    assert (refused.status_code, refused.json()) == (405, {"error": "Method not allowed"})
    allowed = {method.strip() for method in refused.headers["allow"].split(",")}
    assert {"POST", "PUT", "DELETE"} <= allowed
    assert "GET" not in allowed
    options = await rater.options(DISLIKE)
    assert options.status_code in (200, 204)
    assert {"POST", "PUT", "DELETE"} <= {m.strip() for m in options.headers["allow"].split(",")}
