"""Per-client rate limits through the app, in process memory and in Redis, and Redis outages."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pydantic
import pytest
from conftest import REDIS_URL, RunningApp, make_settings, require_redis, running_app, seed_demo
from redis_server import PrivateRedis, require_redis_server_binary
from starlette.types import ASGIApp, Message

from videolikes.config import Settings
from videolikes.db.units import Database, create_engine
from videolikes.ratelimit import RETRY_INTERVAL, InProcessStorage

VIDEO = "DEMO00000001"
LIKE = f"/api/videos/{VIDEO}/like"
REDIS_TIMEOUT = 0.2
# What a request may take on top of the Redis timeout: the app itself, on a busy CI machine.
SLACK = 0.25


@pytest.fixture(params=["memory", "redis"])
def redis_url(request: pytest.FixtureRequest) -> str | None:
    if request.param == "redis":
        require_redis()
        return REDIS_URL
    return None


@asynccontextmanager
async def _limited_app(database_url: str, **overrides: Any) -> AsyncIterator[RunningApp]:
    values: dict[str, Any] = {
        "rate_limit_enabled": True,
        "rate_limit_general": "20/minute",
        "rate_limit_writes": "3/minute",
        # A fresh secret gives fresh client keys, so tests never share counters in Redis.
        "ip_hash_secret": f"test-{uuid.uuid4().hex}",
        "redis_timeout": REDIS_TIMEOUT,
    }
    values.update(overrides)
    settings = make_settings(database_url, **values)
    database = Database(create_engine(settings))
    try:
        await seed_demo(database)
    finally:
        await database.dispose()
    async with running_app(settings) as api:
        yield api


@pytest.fixture
async def limited(sqlite_url: str, redis_url: str | None) -> AsyncIterator[RunningApp]:
    async with _limited_app(sqlite_url, redis_url=redis_url) as api:
        yield api


async def test_write_limit_answers_429_with_rate_limit_headers_on_request_n_plus_1(
    limited: RunningApp,
) -> None:
    async with limited.client() as client:
        statuses = [(await client.post(LIKE)).status_code for _ in range(3)]
        response = await client.post(LIKE)
    assert statuses == [200, 200, 200]
    assert (response.status_code, response.json()) == (429, {"error": "Too many requests"})
    assert response.headers["RateLimit-Limit"] == "3"
    assert response.headers["RateLimit-Remaining"] == "0"
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert response.headers["RateLimit-Reset"] == response.headers["Retry-After"]


async def test_reads_still_pass_when_the_write_limit_is_spent(limited: RunningApp) -> None:
    async with limited.client() as client:
        for _ in range(4):
            await client.post(LIKE)
        assert (await client.get(LIKE)).status_code == 200


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
async def test_put_and_delete_on_a_like_count_as_writes(limited: RunningApp, method: str) -> None:
    async with limited.client() as client:
        for _ in range(3):
            await client.post(LIKE)
        response = await client.request(method, LIKE)
    assert (response.status_code, response.headers["RateLimit-Limit"]) == (429, "3")


async def test_general_limit_covers_every_api_path_but_not_health(limited: RunningApp) -> None:
    async with limited.client() as client:
        paths = ["/api/videos", LIKE, "/api/me", "/api/no-such-thing"] * 5
        statuses = {(await client.get(path)).status_code for path in paths}
        over = await client.get("/api/videos")
        health = await client.get("/health")
    assert 429 not in statuses
    assert (over.status_code, over.headers["RateLimit-Limit"]) == (429, "20")
    assert health.status_code == 200


async def test_clients_at_different_addresses_are_limited_separately(
    limited: RunningApp,
) -> None:
    async with limited.client("198.51.100.1") as first:
        for _ in range(4):
            await first.post(LIKE)
    async with limited.client("198.51.100.2") as second:
        assert (await second.post(LIKE)).status_code == 200


async def test_two_clients_behind_a_trusted_proxy_are_limited_separately(
    sqlite_url: str, redis_url: str | None
) -> None:
    async with _limited_app(sqlite_url, redis_url=redis_url, trusted_proxies="10.0.0.0/8") as api:
        async with api.client("10.0.0.1") as proxy:
            first = {"X-Forwarded-For": "198.51.100.1"}
            statuses = [(await proxy.post(LIKE, headers=first)).status_code for _ in range(4)]
            second = await proxy.post(LIKE, headers={"X-Forwarded-For": "198.51.100.2"})
        assert statuses == [200, 200, 200, 429]
        assert second.status_code == 200


async def _call(app: ASGIApp, path: str, client: str, headers: list[tuple[bytes, bytes]]) -> int:
    """One GET straight through the ASGI app: the full middleware stack, without a client."""
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), *headers],
        "client": (client, 40000),
        "server": ("testserver", 80),
    }
    status = 0

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def test_ten_thousand_forwarded_for_values_from_one_untrusted_peer_are_one_client(
    sqlite_url: str,
) -> None:
    async with _limited_app(sqlite_url, rate_limit_general="50/minute") as api:
        statuses: dict[int, int] = {}
        for i in range(10_000):
            spoof = f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}".encode()
            headers = [(b"x-forwarded-for", spoof), (b"x-real-ip", spoof)]
            status = await _call(api.app, LIKE, "203.0.113.9", headers)
            statuses[status] = statuses.get(status, 0) + 1
        assert statuses == {200: 50, 429: 9_950}
        assert await _call(api.app, LIKE, "203.0.113.10", []) == 200


async def test_no_limits_apply_when_disabled(sqlite_url: str) -> None:
    async with _limited_app(sqlite_url, rate_limit_enabled=False) as api:
        async with api.client() as client:
            statuses = {(await client.post(LIKE)).status_code for _ in range(10)}
        assert statuses == {200}


@pytest.mark.parametrize("limit", ["lots", "0/minute", "10/fortnight", ""])
def test_settings_refuse_a_rate_limit_that_is_not_one(limit: str) -> None:
    with pytest.raises(pydantic.ValidationError, match="expected a rate limit"):
        Settings(rate_limit_writes=limit)


async def test_in_process_storage_starts_a_new_window_after_expiry() -> None:
    storage = InProcessStorage()
    assert await storage.incr("client", expiry=1) == 1
    assert await storage.incr("client", expiry=1) == 2
    storage._windows["client"] = (2, time.time() - 0.01)
    assert await storage.get("client") == 0
    assert await storage.incr("client", expiry=1) == 1


# Redis outages: a private redis-server that each test stops or freezes on its own.


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    require_redis_server_binary()
    server = PrivateRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def _timed(client: httpx.AsyncClient, method: str, path: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await client.request(method, path)
    return response, time.monotonic() - started


async def _spread_over_retries(
    client: httpx.AsyncClient, method: str
) -> list[tuple[httpx.Response, float]]:
    """Ten requests over more than one retry interval, so Redis is tried again mid-outage."""
    timed = []
    for _ in range(10):
        timed.append(await _timed(client, method, LIKE))
        await asyncio.sleep(RETRY_INTERVAL / 6)
    return timed


async def _until(client: httpx.AsyncClient, status: int, *, within: float) -> httpx.Response:
    deadline = time.monotonic() + within
    while True:
        response = await client.post(LIKE)
        if response.status_code == status or time.monotonic() > deadline:
            return response
        await asyncio.sleep(0.05)


def _outage_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "videolikes.ratelimit" and "unreachable" in record.getMessage()
    ]


async def test_frozen_redis_fails_open_within_the_timeout_warns_once_and_recovers(
    sqlite_url: str, private_redis: PrivateRedis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="videolikes.ratelimit")
    async with _limited_app(sqlite_url, redis_url=private_redis.url) as api:
        async with api.client() as client:
            assert [(await client.post(LIKE)).status_code for _ in range(2)] == [200, 200]
            private_redis.freeze()
            try:
                during = await _spread_over_retries(client, "POST")
            finally:
                private_redis.thaw()
            # The count resumes where it stopped: one write left in this window.
            recovered = await _until(client, 429, within=RETRY_INTERVAL + 3)
        assert [response.status_code for response, _ in during] == [200] * 10
        assert max(elapsed for _, elapsed in during) < REDIS_TIMEOUT + SLACK
        assert recovered.status_code == 429
        assert len(_outage_warnings(caplog)) == 1
        assert any("reachable again" in record.getMessage() for record in caplog.records)


async def test_stopped_redis_fails_closed_with_503_within_the_timeout_and_recovers(
    sqlite_url: str, private_redis: PrivateRedis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="videolikes.ratelimit")
    async with _limited_app(
        sqlite_url, redis_url=private_redis.url, rate_limit_fail_open=False
    ) as api:
        async with api.client() as client:
            assert (await client.get(LIKE)).status_code == 200
            private_redis.stop()
            during = await _spread_over_retries(client, "GET")
            private_redis.start()
            recovered = await _until(client, 200, within=RETRY_INTERVAL + 3)
        assert {(r.status_code, r.text, r.headers["Retry-After"]) for r, _ in during} == {
            (503, '{"error":"Service unavailable"}', "1")
        }
        assert max(elapsed for _, elapsed in during) < REDIS_TIMEOUT + SLACK
        assert recovered.status_code == 200
        assert len(_outage_warnings(caplog)) == 1
