from __future__ import annotations

import re
from collections import Counter

import httpx
import pytest
from conftest import RunningApp, counter_drift, execute, scalar, seed_demo

from videolikes.db.units import Database
from videolikes.users.repository import new_username
from videolikes.wire import INVALID_VIDEO_ID

VIDEO = "DEMO00000001"


@pytest.fixture(autouse=True)
async def _demo(database: Database) -> None:
    await seed_demo(database)


async def likes_of(client: httpx.AsyncClient, video_id: str) -> int:
    videos = (await client.get("/api/videos")).json()
    return int(next(video["likes"] for video in videos if video["id"] == video_id))


async def test_status_of_an_unliked_video_is_null(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/api/videos/{VIDEO}/like")
    assert response.status_code == 200
    assert response.json() == {"userLike": None}


async def test_post_toggles_like_and_counter_and_back(
    client: httpx.AsyncClient, database: Database
) -> None:
    before = await likes_of(client, VIDEO)

    first = await client.post(f"/api/videos/{VIDEO}/like")
    assert (first.status_code, first.json()) == (200, {"userLike": True})
    assert (await client.get(f"/api/videos/{VIDEO}/like")).json() == {"userLike": True}
    assert await likes_of(client, VIDEO) == before + 1

    second = await client.post(f"/api/videos/{VIDEO}/like")
    assert (second.status_code, second.json()) == (200, {"userLike": None})
    assert (await client.get(f"/api/videos/{VIDEO}/like")).json() == {"userLike": None}
    assert await likes_of(client, VIDEO) == before
    assert await counter_drift(database) == 0


async def test_likes_of_two_clients_add_up(api: RunningApp, database: Database) -> None:
    async with api.client("198.51.100.1") as one, api.client("198.51.100.2") as two:
        await one.post(f"/api/videos/{VIDEO}/like")
        await two.post(f"/api/videos/{VIDEO}/like")
        assert await likes_of(one, VIDEO) == 2
        await one.post(f"/api/videos/{VIDEO}/like")
        assert (await one.get(f"/api/videos/{VIDEO}/like")).json() == {"userLike": None}
        assert (await two.get(f"/api/videos/{VIDEO}/like")).json() == {"userLike": True}
        assert await likes_of(one, VIDEO) == 1


async def test_counter_never_goes_below_zero(client: httpx.AsyncClient, database: Database) -> None:
    await client.post(f"/api/videos/{VIDEO}/like")
    await execute(database, "UPDATE videos SET likes = 0 WHERE id = :id", id=VIDEO)
    response = await client.post(f"/api/videos/{VIDEO}/like")
    assert response.json() == {"userLike": None}
    assert await likes_of(client, VIDEO) == 0


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_unknown_video_is_404(client: httpx.AsyncClient, method: str) -> None:
    response = await client.request(method, "/api/videos/NO_SUCH_VIDEO/like")
    assert response.status_code == 404
    assert response.json() == {"error": "Video not found"}


async def test_known_client_toggling_an_unknown_video_is_404(client: httpx.AsyncClient) -> None:
    await client.get("/api/me")
    response = await client.post("/api/videos/NO_SUCH_VIDEO/like")
    assert (response.status_code, response.json()) == (404, {"error": "Video not found"})


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize(
    "video_id", ["x" * 51, "bad$id", "has.dot", "%C3%A9t%C3%A9", "a%20b", "..%2F..%2Fetc"]
)
async def test_malformed_video_id_is_400_with_error_body(
    client: httpx.AsyncClient, method: str, video_id: str
) -> None:
    response = await client.request(method, f"/api/videos/{video_id}/like")
    assert response.status_code in (400, 404)
    assert set(response.json()) == {"error"}


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE"])
@pytest.mark.parametrize("video_id", ["x" * 51, "bad$id", "ok%0A", "%0A", "a%20b"])
async def test_like_routes_name_the_malformed_video_id(
    client: httpx.AsyncClient, method: str, video_id: str
) -> None:
    response = await client.request(method, f"/api/videos/{video_id}/like")
    assert (response.status_code, response.json()) == (400, {"error": INVALID_VIDEO_ID})


async def test_an_oversized_recaptcha_header_is_400(client: httpx.AsyncClient) -> None:
    response = await client.put(
        f"/api/videos/{VIDEO}/like", headers={"X-Recaptcha-Token": "t" * 4097}
    )
    assert response.status_code == 400
    assert response.json() == {
        "error": "Invalid X-Recaptcha-Token: String should have at most 4096 characters"
    }


async def test_empty_video_id_is_404_with_error_body(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/videos//like")
    assert response.status_code == 404
    assert response.json() == {"error": "Not found"}


async def test_reads_never_create_a_user(client: httpx.AsyncClient, database: Database) -> None:
    await client.get(f"/api/videos/{VIDEO}/like")
    await client.get("/api/videos")
    await client.post("/api/videos/NO_SUCH_VIDEO/like")
    assert await scalar(database, "SELECT count(*) FROM users") == 0


async def test_first_write_creates_the_user_once(
    client: httpx.AsyncClient, database: Database
) -> None:
    await client.post(f"/api/videos/{VIDEO}/like")
    await client.post("/api/videos/DEMO00000002/like")
    assert await scalar(database, "SELECT count(*) FROM users") == 1


async def test_me_creates_user_on_first_call_and_keeps_it(
    client: httpx.AsyncClient, database: Database
) -> None:
    first = (await client.get("/api/me")).json()
    second = (await client.get("/api/me")).json()
    assert first == second
    assert set(first) == {"id", "username"}
    assert re.fullmatch(r"@user-[a-z0-9]{6}", first["username"])
    assert await scalar(database, "SELECT count(*) FROM users") == 1


def test_new_usernames_use_every_character_in_every_position() -> None:
    drawn = [new_username().removeprefix("@user-") for _ in range(5000)]
    assert all(re.fullmatch(r"[a-z0-9]{6}", name) for name in drawn)
    assert len(set(drawn)) > 4990
    for position in range(6):
        # 36 symbols, about 139 draws each: a missing one would be a broken draw.
        counts = Counter(name[position] for name in drawn)
        assert len(counts) == 36
        assert min(counts.values()) > 70


async def test_like_status_is_per_client(api: RunningApp) -> None:
    async with api.client("198.51.100.1") as liker, api.client("198.51.100.2") as other:
        await liker.post(f"/api/videos/{VIDEO}/like")
        assert (await other.get(f"/api/videos/{VIDEO}/like")).json() == {"userLike": None}


async def test_health_is_ok_with_timestamp(client: httpx.AsyncClient) -> None:
    body = (await client.get("/health")).json()
    assert body["status"] == "ok"
    assert body["timestamp"].endswith("Z")


async def test_unknown_route_and_method_answer_error_bodies(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/nothing")
    assert (missing.status_code, missing.json()) == (404, {"error": "Not found"})
    wrong = await client.patch(f"/api/videos/{VIDEO}/like")
    assert (wrong.status_code, wrong.json()) == (405, {"error": "Method not allowed"})


async def test_openapi_docs_are_served(client: httpx.AsyncClient) -> None:
    assert (await client.get("/docs")).status_code == 200
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert {"/api/videos", "/api/videos/{videoId}/like", "/api/me", "/health"} <= set(paths)
