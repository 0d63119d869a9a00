"""Every example in the OpenAPI document the server serves works when sent to that server.

Each operation is called with all its parameters' examples at once, as Swagger UI's "Try it
out" fills them in; each Link header example is followed. The server's secret is not the
development default, so a cursor example only works if it was signed with the configured one.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from conftest import RunningApp, make_settings, opened_database, running_app
from sqlalchemy import insert

from videolikes.comments.routes import COMMENT_ID_EXAMPLE
from videolikes.db.tables import comments, users, videos
from videolikes.wire import VIDEO_EXAMPLE


@pytest.fixture
async def api(sqlite_url: str) -> AsyncIterator[RunningApp]:
    async with opened_database(sqlite_url, demo=True) as database:
        # The video the examples name.
        async with database.transaction() as conn:
            await conn.execute(
                insert(videos).values(
                    id=VIDEO_EXAMPLE["id"],
                    title=VIDEO_EXAMPLE["title"],
                    filename=VIDEO_EXAMPLE["filename"],
                    length=VIDEO_EXAMPLE["length"],
                    has_thumbnail=VIDEO_EXAMPLE["hasThumbnail"],
                    views=VIDEO_EXAMPLE["views"],
                    is_shorts=VIDEO_EXAMPLE["is_shorts"],
                    playlist=VIDEO_EXAMPLE["playlist"],
                )
            )
            # The comment the examples name (a top-level one, so a reply to it is allowed).
            author = uuid.uuid4()
            await conn.execute(
                insert(users).values(id=author, ip_hash="an-author", username="@user-author")
            )
            await conn.execute(
                insert(comments).values(
                    id=uuid.UUID(COMMENT_ID_EXAMPLE),
                    video_id=VIDEO_EXAMPLE["id"],
                    user_id=author,
                    content="The example comment",
                    created_at=datetime(2026, 11, 27, 11, 0),
                )
            )
        settings = make_settings(sqlite_url, ip_hash_secret="a-secret-of-this-deployment")
        async with running_app(settings) as api:
            yield api


@pytest.fixture
async def client(api: RunningApp) -> AsyncIterator[httpx.AsyncClient]:
    async with api.client() as client:
        yield client


@pytest.fixture
async def document(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    served: dict[str, Any] = response.json()
    return served


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    ]


def _request_from_examples(
    document: dict[str, Any], path: str, operation: dict[str, Any]
) -> dict[str, Any]:
    url = path
    params: dict[str, str] = {}
    headers: dict[str, str] = {}
    for parameter in operation.get("parameters", []):
        example = parameter["schema"]["examples"][0]
        value = str(example).lower() if isinstance(example, bool) else str(example)
        if parameter["in"] == "path":
            url = url.replace("{" + parameter["name"] + "}", value)
        elif parameter["in"] == "query":
            params[parameter["name"]] = value
        else:
            headers[parameter["name"]] = value
    request: dict[str, Any] = {"url": url, "params": params, "headers": headers}
    if "requestBody" in operation:
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        if "$ref" in schema:
            schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        request["json"] = schema["example"]
    return request


async def test_every_operation_called_with_its_examples_succeeds(
    client: httpx.AsyncClient, document: dict[str, Any]
) -> None:
    answers = {}
    for method, path, operation in _operations(document):
        request = _request_from_examples(document, path, operation)
        response = await client.request(method, **request)
        answers[f"{method} {path}"] = (response.status_code, response.text[:200])
    refused = {name: answer for name, answer in answers.items() if answer[0] >= 300}
    assert not refused
    assert len(answers) == 16


async def test_every_link_example_leads_to_a_page(
    client: httpx.AsyncClient, document: dict[str, Any]
) -> None:
    links = [
        response["headers"]["Link"]["example"]
        for _, _, operation in _operations(document)
        for response in operation["responses"].values()
        if "Link" in response.get("headers", {})
    ]
    assert len(links) == 3
    for link in links:
        url, relation = link.split("; ")
        assert relation == 'rel="next"'
        response = await client.get(url.removeprefix("<").removesuffix(">"))
        assert response.status_code == 200, (link, response.text)


async def test_the_cursor_examples_are_cursors_of_this_server_only(
    client: httpx.AsyncClient, document: dict[str, Any], sqlite_url: str
) -> None:
    videos_get = document["paths"]["/api/videos"]["get"]
    cursor = _request_from_examples(document, "/api/videos", videos_get)
    async with running_app(make_settings(sqlite_url)) as other, other.client() as stranger:
        response = await stranger.get("/api/videos", params=cursor["params"])
    assert response.status_code == 400
    assert response.json()["error"].startswith("Invalid cursor")
