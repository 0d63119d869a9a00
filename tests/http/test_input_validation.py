"""Every query and path parameter the API documents refuses a NUL with a 400 naming it.

PostgreSQL's text cannot hold NUL, so a NUL that reached a query would fail there (a 500); the
edge refuses it first, on both databases alike. The cases are read from the OpenAPI document,
so a parameter added later is covered without touching this file. Headers are not among them:
the server's parser refuses a NUL in a header before the app sees it (test_server.py).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from conftest import make_settings, seed_demo

from videolikes.app import create_app
from videolikes.db.units import Database

NUL = "a\x00b"
VALID_VIDEO_ID = "DEMO00000001"
# How each parameter is named in its error message.
_NAMES = {"videoId": "video id"}

DOCUMENT = create_app(make_settings("sqlite+aiosqlite://")).openapi()


def _cases() -> list[Any]:
    cases = []
    for path, operations in DOCUMENT["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                if parameter["in"] in ("query", "path"):
                    name = parameter["name"]
                    cases.append(
                        pytest.param(
                            method.upper(),
                            path,
                            parameter["in"],
                            name,
                            id=f"{method.upper()} {path} {name}",
                        )
                    )
    return cases


@pytest.fixture(autouse=True)
async def _demo(database: Database) -> None:
    await seed_demo(database)


def _request(method: str, path: str, location: str, name: str) -> tuple[str, str, dict[str, str]]:
    quoted_nul = "a%00b"
    url = path.replace("{videoId}", quoted_nul if name == "videoId" else VALID_VIDEO_ID)
    params = {name: NUL} if location == "query" else {}
    return method, url, params


@pytest.mark.parametrize(("method", "path", "location", "name"), _cases())
async def test_a_nul_in_any_parameter_is_a_400_naming_it(
    client: httpx.AsyncClient, method: str, path: str, location: str, name: str
) -> None:
    method, url, params = _request(method, path, location, name)
    response = await client.request(method, url, params=params)
    assert response.status_code == 400, response.text
    message = response.json()["error"]
    assert message.startswith(f"Invalid {_NAMES.get(name, name)}: "), message


async def test_a_nul_in_the_playlist_of_a_page_is_a_400(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/videos", params={"limit": "5", "playlist": NUL})
    assert response.status_code == 400
    assert response.json()["error"].startswith("Invalid playlist: ")


def test_every_text_parameter_that_reaches_sql_is_covered() -> None:
    covered = {(case.values[1], case.values[3]) for case in _cases()}
    assert ("/api/videos", "playlist") in covered
    assert ("/api/videos", "cursor") in covered
    assert ("/api/me/likes", "ids") in covered
    assert ("/api/me/likes", "cursor") in covered
    assert ("/api/videos/{videoId}", "videoId") in covered
    assert ("/api/videos/{videoId}/like", "videoId") in covered
