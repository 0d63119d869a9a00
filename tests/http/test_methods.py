"""HEAD wherever GET is, OPTIONS everywhere, and an Allow that names every method of a path."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from conftest import RunningApp, make_settings, opened_database, running_app

VIDEO = "DEMO00000001"
LIKE = f"/api/videos/{VIDEO}/like"
READ_ONLY = "GET, HEAD, OPTIONS"

# Every path a GET route serves, and the methods it answers.
PATHS = {
    "/api/videos": READ_ONLY,
    "/api/videos?limit=2&sort=likes": READ_ONLY,
    f"/api/videos/{VIDEO}": READ_ONLY,
    LIKE: "GET, HEAD, POST, PUT, DELETE, OPTIONS",
    "/api/me": READ_ONLY,
    "/api/me/likes": READ_ONLY,
    f"/api/me/likes?ids={VIDEO}": READ_ONLY,
    "/health": READ_ONLY,
    "/ready": READ_ONLY,
    "/metrics": READ_ONLY,
    "/": READ_ONLY,
    "/docs": READ_ONLY,
    "/openapi.json": READ_ONLY,
    "/static/app.js": READ_ONLY,
}
# What may differ between two answers to the same GET.
_VOLATILE = {"x-request-id", "date"}
# The exposition's own counters move between the two requests.
_VOLATILE_BY_PATH = {"/metrics": {"content-length"}}


@pytest.fixture
async def api(sqlite_url: str) -> AsyncIterator[RunningApp]:
    async with (
        opened_database(sqlite_url, demo=True),
        running_app(make_settings(sqlite_url)) as api,
    ):
        yield api


@pytest.fixture
async def client(api: RunningApp) -> AsyncIterator[httpx.AsyncClient]:
    async with api.client() as client:
        yield client


def _comparable(response: httpx.Response, path: str) -> dict[str, str]:
    volatile = _VOLATILE | _VOLATILE_BY_PATH.get(path, set())
    return {name: value for name, value in response.headers.items() if name not in volatile}


@pytest.mark.parametrize("path", list(PATHS))
async def test_head_answers_as_get_does_without_the_body(
    client: httpx.AsyncClient, path: str
) -> None:
    got = await client.get(path)
    head = await client.head(path)
    assert (head.status_code, got.status_code) == (200, 200), head.text
    assert head.content == b""
    assert _comparable(head, path) == _comparable(got, path)


async def test_head_of_an_unknown_video_is_its_404_without_a_body(
    client: httpx.AsyncClient,
) -> None:
    response = await client.head("/api/videos/NO_SUCH_VIDEO")
    assert response.status_code == 404
    assert response.content == b""
    assert response.headers["content-type"] == "application/json"


async def test_head_with_a_matching_etag_is_304(client: httpx.AsyncClient) -> None:
    etag = (await client.get("/api/videos")).headers["etag"]
    response = await client.head("/api/videos", headers={"If-None-Match": etag})
    assert response.status_code == 304


@pytest.mark.parametrize(("path", "allow"), PATHS.items())
async def test_options_without_cors_headers_is_204_naming_every_method(
    client: httpx.AsyncClient, path: str, allow: str
) -> None:
    response = await client.options(path)
    assert response.status_code == 204
    assert response.headers["allow"] == allow
    assert response.content == b""


@pytest.mark.parametrize(("path", "allow"), PATHS.items())
async def test_every_405_names_every_method_of_the_path(
    client: httpx.AsyncClient, path: str, allow: str
) -> None:
    refused = [m for m in ("POST", "PUT", "DELETE", "PATCH") if m not in allow.split(", ")]
    for method in refused:
        response = await client.request(method, path)
        assert response.status_code == 405, method
        assert response.json() == {"error": "Method not allowed"}
        assert response.headers["allow"] == allow, method


async def test_options_on_an_unknown_path_is_404(client: httpx.AsyncClient) -> None:
    response = await client.options("/api/nothing-here")
    assert (response.status_code, response.json()) == (404, {"error": "Not found"})


async def test_a_cors_preflight_is_still_answered_by_cors(client: httpx.AsyncClient) -> None:
    response = await client.options(
        LIKE,
        headers={"Origin": "https://videos.example", "Access-Control-Request-Method": "PUT"},
    )
    assert response.status_code == 200
    assert "PUT" in response.headers["access-control-allow-methods"]


async def test_head_counts_against_the_rate_limit_as_its_get(sqlite_url: str) -> None:
    settings = make_settings(sqlite_url, rate_limit_enabled=True, rate_limit_general="2/minute")
    async with (
        opened_database(sqlite_url, demo=True),
        running_app(settings) as api,
        api.client() as client,
    ):
        statuses = [(await client.head(LIKE)).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
