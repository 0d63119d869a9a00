"""Bounded bodies, CORS and security headers, through the app."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from conftest import RunningApp, make_settings, opened_database, running_app, scalar

from videolikes.db.units import Database
from videolikes.http.middleware import MAX_BODY_BYTES

VIDEO = "DEMO00000001"
LIKE = f"/api/videos/{VIDEO}/like"
JSON_CSP = "default-src 'none'; frame-ancestors 'none'"


@pytest.fixture
async def database(sqlite_url: str) -> AsyncIterator[Database]:
    async with opened_database(sqlite_url, demo=True) as database:
        yield database


@pytest.fixture
async def api(sqlite_url: str, database: Database) -> AsyncIterator[RunningApp]:
    async with running_app(make_settings(sqlite_url)) as api:
        yield api


async def test_like_with_a_body_over_the_bound_is_413_and_changes_nothing(
    api: RunningApp, database: Database
) -> None:
    async with api.client() as client:
        response = await client.post(LIKE, content=b"x" * (MAX_BODY_BYTES + 1))
    assert (response.status_code, response.json()) == (413, {"error": "Request body too large"})
    assert await scalar(database, "SELECT count(*) FROM video_likes") == 0


async def test_chunked_body_over_the_bound_is_413(api: RunningApp) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(4):
            yield b"x" * (MAX_BODY_BYTES // 2)

    async with api.client() as client:
        response = await client.post(LIKE, content=chunks())
    assert (response.status_code, response.json()) == (413, {"error": "Request body too large"})


async def test_small_body_some_clients_always_send_is_accepted(api: RunningApp) -> None:
    async with api.client() as client:
        response = await client.post(LIKE, json={})
    assert (response.status_code, response.json()) == (200, {"userLike": True})


async def test_small_chunked_body_reaches_the_app(api: RunningApp) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"{}"

    async with api.client() as client:
        response = await client.post(LIKE, content=chunks())
    assert (response.status_code, response.json()) == (200, {"userLike": True})


async def test_cors_preflight_allows_any_origin_every_api_method_without_credentials(
    api: RunningApp,
) -> None:
    headers = {
        "Origin": "https://videos.example",
        "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "x-recaptcha-token",
    }
    async with api.client() as client:
        response = await client.options(LIKE, headers=headers)
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    methods = {m.strip() for m in response.headers["Access-Control-Allow-Methods"].split(",")}
    assert {"GET", "POST", "PUT", "DELETE"} <= methods
    assert "x-recaptcha-token" in response.headers["Access-Control-Allow-Headers"].lower()
    assert "Access-Control-Allow-Credentials" not in response.headers


async def test_cors_answers_only_configured_origins(sqlite_url: str, database: Database) -> None:
    settings = make_settings(sqlite_url, cors_origins="https://videos.example")
    async with running_app(settings) as api, api.client() as client:
        allowed = await client.get(LIKE, headers={"Origin": "https://videos.example"})
        other = await client.get(LIKE, headers={"Origin": "https://evil.example"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://videos.example"
    assert "Access-Control-Allow-Origin" not in other.headers


async def test_rate_limited_answer_is_readable_by_cross_origin_scripts(
    sqlite_url: str, database: Database
) -> None:
    settings = make_settings(sqlite_url, rate_limit_enabled=True, rate_limit_writes="1/minute")
    async with running_app(settings) as api, api.client() as client:
        origin = {"Origin": "https://videos.example"}
        await client.post(LIKE, headers=origin)
        response = await client.post(LIKE, headers=origin)
    assert response.status_code == 429
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    exposed = response.headers["Access-Control-Expose-Headers"].lower()
    assert "retry-after" in exposed
    assert "ratelimit-reset" in exposed


@pytest.mark.parametrize("path", [LIKE, "/api/videos", "/api/nothing-here", "/health"])
async def test_json_responses_carry_security_headers_and_a_strict_csp(
    api: RunningApp, path: str
) -> None:
    async with api.client() as client:
        response = await client.get(path)
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Content-Security-Policy"] == JSON_CSP


async def test_api_docs_page_keeps_its_own_policy_and_gets_nosniff(api: RunningApp) -> None:
    async with api.client() as client:
        response = await client.get("/docs")
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'; script-src")


async def test_unexpected_500_carries_security_headers(sqlite_url: str, database: Database) -> None:
    async with running_app(make_settings(sqlite_url)) as api, api.client() as client:
        api.app.state.services.likes.status = _explode
        response = await client.get(LIKE)
    assert (response.status_code, response.json()) == (500, {"error": "Internal server error"})
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"] == JSON_CSP


async def _explode(**_: object) -> bool:
    raise RuntimeError("boom")
