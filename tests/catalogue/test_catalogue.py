"""GET /api/videos (pages, sort, filters) and GET /api/videos/{videoId}, with ETags."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from conftest import execute, make_settings, running_app, seed_demo
from statement_counter import statements_sent

from videolikes.db.units import Database

VIDEO = "DEMO00000001"


@pytest.fixture
async def demo(database: Database) -> list[dict[str, Any]]:
    return await seed_demo(database)


def _wire(row: dict[str, Any], likes: int = 0) -> dict[str, Any]:
    return {
        "id": row["id"],
        "title": row["title"],
        "filename": row["filename"],
        "length": row["length"],
        "hasThumbnail": row["has_thumbnail"],
        "views": row["views"],
        "likes": likes,
        "is_shorts": row["is_shorts"],
        "playlist": row["playlist"],
    }


def _most_viewed_first(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda row: (-row["views"], row["id"]))


def _next_url(response: httpx.Response) -> str | None:
    link: str | None = response.headers.get("link")
    if link is None:
        return None
    url, relation = link.split("; ")
    assert relation == 'rel="next"'
    return url.removeprefix("<").removesuffix(">")


async def _walk(client: httpx.AsyncClient, **params: Any) -> list[list[str]]:
    """Every page's ids, following the Link headers from the first page."""
    response = await client.get("/api/videos", params=params)
    pages = []
    while True:
        assert response.status_code == 200, response.text
        pages.append([video["id"] for video in response.json()])
        url = _next_url(response)
        if url is None:
            return pages
        response = await client.get(url)


async def test_without_parameters_the_body_is_byte_for_byte_the_original(
    client: httpx.AsyncClient, demo: list[dict[str, Any]]
) -> None:
    expected = orjson.dumps([_wire(row) for row in _most_viewed_first(demo)])
    response = await client.get("/api/videos")
    assert response.status_code == 200
    assert response.content == expected
    assert "link" not in response.headers


@pytest.mark.parametrize("query", ["?sort=views", "?unknown=1", "?"])
async def test_with_or_without_a_query_string_the_whole_catalogue_is_the_same_answer(
    client: httpx.AsyncClient, demo: list[dict[str, Any]], query: str
) -> None:
    # Without a query string the request takes a route of its own (routes/videos.py).
    plain = await client.get("/api/videos")
    queried = await client.get(f"/api/videos{query}")
    assert (queried.status_code, queried.content) == (200, plain.content)
    assert queried.headers["etag"] == plain.headers["etag"]
    assert queried.headers["content-type"] == plain.headers["content-type"] == "application/json"


@pytest.mark.parametrize("path", ["/api/videos", "/api/videos?limit=7", f"/api/videos/{VIDEO}"])
async def test_an_if_none_match_over_4096_characters_is_400(
    client: httpx.AsyncClient, demo: list[dict[str, Any]], path: str
) -> None:
    response = await client.get(path, headers={"If-None-Match": '"' + "e" * 4095 + '"'})
    assert response.status_code == 400
    assert response.json() == {
        "error": "Invalid If-None-Match: String should have at most 4096 characters"
    }


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
async def test_the_catalogue_answers_reads_alone(
    client: httpx.AsyncClient, demo: list[dict[str, Any]], method: str
) -> None:
    for path in ("/api/videos", "/api/videos?limit=7"):
        response = await client.request(method, path)
        assert response.status_code == 405, (method, path)
        assert response.headers["allow"] == "GET, HEAD, OPTIONS"


@pytest.mark.parametrize("sort", ["views", "likes"])
async def test_walk_with_limit_7_visits_every_video_once_in_order(
    client: httpx.AsyncClient, demo: list[dict[str, Any]], database: Database, sort: str
) -> None:
    # Ties on the sort value, so the id tie-break has to carry across page boundaries.
    await execute(database, "UPDATE videos SET likes = 3 WHERE id < 'DEMO00000013'")
    await execute(database, "UPDATE videos SET views = 100 WHERE id > 'DEMO00000020'")
    everything = [video["id"] for video in (await client.get(f"/api/videos?sort={sort}")).json()]

    pages = await _walk(client, limit=7, sort=sort)

    assert [len(page) for page in pages] == [7, 7, 7, 7, 7, 1]
    assert [video_id for page in pages for video_id in page] == everything
    assert sorted(everything) == sorted(row["id"] for row in demo)


async def test_sort_by_likes_is_most_liked_first_ties_by_id(
    client: httpx.AsyncClient, demo: list[dict[str, Any]], database: Database
) -> None:
    await execute(database, "UPDATE videos SET likes = 5 WHERE id = 'DEMO00000030'")
    await execute(
        database, "UPDATE videos SET likes = 2 WHERE id IN ('DEMO00000009', 'DEMO00000004')"
    )
    ids = [video["id"] for video in (await client.get("/api/videos?sort=likes&limit=4")).json()]
    assert ids == ["DEMO00000030", "DEMO00000004", "DEMO00000009", "DEMO00000001"]


@pytest.mark.parametrize(
    ("params", "keep"),
    [
        pytest.param({"playlist": "coast"}, lambda row: row["playlist"] == "coast", id="playlist"),
        pytest.param({"shorts": "true"}, lambda row: row["is_shorts"], id="shorts"),
        pytest.param({"shorts": "false"}, lambda row: not row["is_shorts"], id="no-shorts"),
        pytest.param(
            {"playlist": "wild", "shorts": "false"},
            lambda row: row["playlist"] == "wild" and not row["is_shorts"],
            id="playlist-and-no-shorts",
        ),
        pytest.param({"playlist": "none like it"}, lambda row: False, id="unknown-playlist"),
    ],
)
async def test_filters_keep_only_matching_videos_across_pages(
    client: httpx.AsyncClient, demo: list[dict[str, Any]], params: dict[str, str], keep: Any
) -> None:
    expected = [row["id"] for row in _most_viewed_first(demo) if keep(row)]
    unpaged = await _walk(client, **params)
    paged = await _walk(client, **params, limit=3)
    assert unpaged == [expected]
    assert [video_id for page in paged for video_id in page] == expected


async def test_next_link_keeps_the_other_parameters(
    client: httpx.AsyncClient, demo: list[dict[str, Any]]
) -> None:
    response = await client.get("/api/videos?playlist=city&limit=2&sort=likes&shorts=false")
    url = _next_url(response)
    assert url is not None
    assert url.startswith("/api/videos?playlist=city&limit=2&sort=likes&shorts=false&cursor=")


async def test_a_limit_covering_everything_has_no_next_link(
    client: httpx.AsyncClient, demo: list[dict[str, Any]]
) -> None:
    response = await client.get("/api/videos?limit=36")
    assert len(response.json()) == 36
    assert "link" not in response.headers


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("limit=0", "Invalid limit: Input should be greater than or equal to 1"),
        ("limit=1001", "Invalid limit: Input should be less than or equal to 1000"),
        ("limit=ten", "Invalid limit: Input should be a valid integer"),
        ("sort=title", "Invalid sort: Input should be 'views' or 'likes'"),
        ("shorts=maybe", "Invalid shorts: Input should be a valid boolean"),
        ("playlist=" + "p" * 101, "Invalid playlist: String should have at most 100 characters"),
        ("cursor=garbage", "Invalid cursor: pass back the one from the Link header unchanged"),
        ("cursor=" + "é" * 3, "Invalid cursor: pass back the one from the Link header unchanged"),
        ("cursor=a.b.c", "Invalid cursor: pass back the one from the Link header unchanged"),
    ],
)
async def test_invalid_parameters_are_400_with_a_clear_error(
    client: httpx.AsyncClient, demo: list[dict[str, Any]], query: str, message: str
) -> None:
    response = await client.get(f"/api/videos?{query}")
    assert response.status_code == 400
    assert response.json()["error"].startswith(message)


async def test_tampered_cursor_is_400(
    client: httpx.AsyncClient, demo: list[dict[str, Any]]
) -> None:
    url = _next_url(await client.get("/api/videos?limit=5"))
    assert url is not None
    data, signature = url.split("cursor=")[1].split(".")
    forged = orjson.dumps(["v", "views", None, None, 0, "DEMO00000001"]).hex()
    for cursor in (data[:-2] + "AA." + signature, data + "." + signature[::-1], forged):
        response = await client.get("/api/videos", params={"limit": 5, "cursor": cursor})
        assert response.status_code == 400
        assert response.json() == {
            "error": "Invalid cursor: pass back the one from the Link header unchanged"
        }


@pytest.mark.parametrize("change", ["sort=likes", "playlist=coast", "shorts=true"])
async def test_cursor_used_with_another_sort_or_filter_is_400(
    client: httpx.AsyncClient, demo: list[dict[str, Any]], change: str
) -> None:
    url = _next_url(await client.get("/api/videos?limit=5"))
    assert url is not None
    response = await client.get(f"{url}&{change}")
    assert response.status_code == 400
    assert "another sort, playlist or shorts filter" in response.json()["error"]


async def test_one_video_has_the_catalogue_shape(
    client: httpx.AsyncClient, demo: list[dict[str, Any]]
) -> None:
    await client.put(f"/api/videos/{VIDEO}/like")
    response = await client.get(f"/api/videos/{VIDEO}")
    assert response.status_code == 200
    assert response.content == orjson.dumps(_wire(demo[0], likes=1))


async def test_unknown_video_is_404(client: httpx.AsyncClient, demo: list[dict[str, Any]]) -> None:
    response = await client.get("/api/videos/NO_SUCH_VIDEO")
    assert (response.status_code, response.json()) == (404, {"error": "Video not found"})


@pytest.mark.parametrize("video_id", ["x" * 51, "bad$id", "a%20b"])
async def test_malformed_video_id_is_400(
    client: httpx.AsyncClient, demo: list[dict[str, Any]], video_id: str
) -> None:
    response = await client.get(f"/api/videos/{video_id}")
    assert response.status_code == 400
    assert response.json()["error"].startswith("Invalid video id")


@pytest.mark.parametrize("path", ["/api/videos", "/api/videos?limit=7", f"/api/videos/{VIDEO}"])
async def test_matching_if_none_match_is_304_without_body(
    client: httpx.AsyncClient, demo: list[dict[str, Any]], path: str
) -> None:
    etag = (await client.get(path)).headers["etag"]
    for if_none_match in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        response = await client.get(path, headers={"If-None-Match": if_none_match})
        assert response.status_code == 304
        assert response.content == b""
        assert response.headers["etag"] == etag


@pytest.mark.parametrize("path", ["/api/videos", f"/api/videos/{VIDEO}"])
async def test_etag_changes_when_a_like_changes_the_answer(
    client: httpx.AsyncClient, demo: list[dict[str, Any]], path: str
) -> None:
    before = (await client.get(path)).headers["etag"]
    await client.put(f"/api/videos/{VIDEO}/like")
    response = await client.get(path, headers={"If-None-Match": before})
    assert response.status_code == 200
    assert response.headers["etag"] != before


async def test_stale_if_none_match_gets_the_full_answer(
    client: httpx.AsyncClient, demo: list[dict[str, Any]]
) -> None:
    response = await client.get("/api/videos", headers={"If-None-Match": '"stale"'})
    assert response.status_code == 200
    assert len(response.json()) == 36


@pytest.mark.parametrize(
    "path", ["/api/videos", "/api/videos?limit=7&sort=likes&playlist=coast", f"/api/videos/{VIDEO}"]
)
async def test_each_read_is_one_statement_on_postgres(postgres_url: str, path: str) -> None:
    settings = make_settings(postgres_url)
    async with running_app(settings) as api, api.client() as client:
        database = api.app.state.services.database
        await seed_demo(database)
        async with statements_sent(database) as sent:
            assert (await client.get(path)).status_code == 200
    assert len(sent) == 1
