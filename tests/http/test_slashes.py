"""A trailing slash redirects to the path without it, never to a host the client named."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from conftest import make_settings, opened_database, running_app

VIDEO = "DEMO00000001"
HOSTILE = {"Host": "evil.example"}


@pytest.fixture
async def client(sqlite_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        opened_database(sqlite_url, demo=True),
        running_app(make_settings(sqlite_url)) as api,
        api.client() as client,
    ):
        yield client


@pytest.mark.parametrize(
    ("method", "path", "location"),
    [
        ("GET", "/api/videos/", "/api/videos"),
        ("GET", "/api/videos/?limit=2&sort=likes", "/api/videos?limit=2&sort=likes"),
        ("GET", f"/api/videos/{VIDEO}/", f"/api/videos/{VIDEO}"),
        ("POST", f"/api/videos/{VIDEO}/like/", f"/api/videos/{VIDEO}/like"),
        ("GET", "/health//", "/health"),
    ],
)
async def test_a_trailing_slash_redirects_to_a_relative_path_whatever_the_host(
    client: httpx.AsyncClient, method: str, path: str, location: str
) -> None:
    response = await client.request(method, path, headers=HOSTILE)
    assert response.status_code == 307
    assert response.headers["location"] == location
    assert "evil.example" not in response.headers["location"]


async def test_the_redirect_is_followed_to_the_answer(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/videos/", follow_redirects=True)
    assert response.status_code == 200
    assert str(response.url) == "http://testserver/api/videos"


@pytest.mark.parametrize(
    "path", ["/api/nothing-here/", "http://testserver//evil.example/", "/api/videos%2F"]
)
async def test_a_path_no_route_serves_is_404_not_a_redirect(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path, headers=HOSTILE)
    assert (response.status_code, response.json()) == (404, {"error": "Not found"})
    assert "location" not in response.headers
