"""Through the app: who a client is, reCAPTCHA on writes, and how failures are answered."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest
from conftest import (
    RunningApp,
    make_settings,
    running_app,
    scalar,
    seed_demo,
    video_likes_missing,
)
from fake_recaptcha import FakeRecaptcha

from videolikes.db.units import Database

VIDEO = "DEMO00000001"
LIKE = f"/api/videos/{VIDEO}/like"


@pytest.fixture(autouse=True)
async def _demo(database: Database) -> None:
    await seed_demo(database)


@pytest.fixture
async def proxied_api(database_url: str) -> AsyncIterator[RunningApp]:
    settings = make_settings(database_url, trusted_proxies="10.0.0.0/8")
    async with running_app(settings) as api:
        yield api


async def test_spoofed_forwarding_headers_from_untrusted_peer_are_ignored(
    api: RunningApp, database: Database
) -> None:
    async with api.client("198.51.100.7") as client:
        for spoof in ("1.1.1.1", "2.2.2.2", "3.3.3.3, 4.4.4.4"):
            headers = {"X-Forwarded-For": spoof, "X-Real-IP": spoof}
            await client.post(LIKE, headers=headers)
    assert await scalar(database, "SELECT count(*) FROM users") == 1
    async with api.client("198.51.100.7") as same_peer:
        # Three toggles by one client: liked, unliked, liked.
        assert (await same_peer.get(LIKE)).json() == {"userLike": True}


async def test_trusted_proxy_chain_resolves_to_the_real_client(proxied_api: RunningApp) -> None:
    headers = {"X-Forwarded-For": "9.9.9.9, 198.51.100.7, 10.0.0.2"}
    async with proxied_api.client("10.0.0.1") as proxy:
        assert (await proxy.post(LIKE, headers=headers)).json() == {"userLike": True}
        other = {"X-Forwarded-For": "198.51.100.8"}
        assert (await proxy.get(LIKE, headers=other)).json() == {"userLike": None}
    async with proxied_api.client("198.51.100.7") as direct:
        assert (await direct.get(LIKE)).json() == {"userLike": True}


async def test_two_clients_behind_a_trusted_proxy_are_told_apart(
    proxied_api: RunningApp, database: Database
) -> None:
    async with proxied_api.client("10.0.0.1") as proxy:
        await proxy.post(LIKE, headers={"X-Forwarded-For": "198.51.100.1"})
        await proxy.post(LIKE, headers={"X-Forwarded-For": "198.51.100.2"})
    assert await scalar(database, "SELECT likes FROM videos WHERE id = :id", id=VIDEO) == 2


async def test_ipv6_addresses_in_one_64_are_one_client(api: RunningApp) -> None:
    async with api.client("2001:db8:1:2::1") as first:
        await first.post(LIKE)
    async with api.client("2001:db8:1:2:ffff::9") as same_subnet:
        assert (await same_subnet.get(LIKE)).json() == {"userLike": True}
    async with api.client("2001:db8:1:3::1") as next_subnet:
        assert (await next_subnet.get(LIKE)).json() == {"userLike": None}


async def test_ipv4_mapped_ipv6_peer_is_the_ipv4_client(api: RunningApp) -> None:
    async with api.client("::ffff:198.51.100.7") as mapped:
        await mapped.post(LIKE)
    async with api.client("198.51.100.7") as plain:
        assert (await plain.get(LIKE)).json() == {"userLike": True}


async def test_raw_ip_is_never_stored(api: RunningApp, database: Database) -> None:
    async with api.client("198.51.100.77") as client:
        await client.post(LIKE)
    ip_hash = await scalar(database, "SELECT ip_hash FROM users")
    assert len(ip_hash) == 64
    assert "198.51.100.77" not in ip_hash


@pytest.mark.parametrize(
    ("token", "status", "body"),
    [
        (None, 403, {"error": "Invalid request"}),
        ("", 403, {"error": "Invalid request"}),
        ("good-token", 200, {"userLike": True}),
    ],
)
async def test_write_needs_a_recaptcha_token(
    captcha_api: RunningApp, token: str | None, status: int, body: dict[str, object]
) -> None:
    headers = {} if token is None else {"X-Recaptcha-Token": token}
    async with captcha_api.client() as client:
        response = await client.post(LIKE, headers=headers)
    assert (response.status_code, response.json()) == (status, body)


@pytest.mark.parametrize(
    ("answer", "status", "body"),
    [
        ({"score": 0.1}, 403, {"error": "reCAPTCHA verification failed"}),
        ({"success": False}, 403, {"error": "reCAPTCHA verification failed"}),
        ({"action": "comment"}, 403, {"error": "reCAPTCHA verification failed"}),
    ],
)
async def test_rejected_recaptcha_is_403_and_writes_nothing(
    captcha_api: RunningApp,
    fake_recaptcha: FakeRecaptcha,
    database: Database,
    answer: dict[str, object],
    status: int,
    body: dict[str, object],
) -> None:
    fake_recaptcha.answer(**answer)
    async with captcha_api.client() as client:
        response = await client.post(LIKE, headers={"X-Recaptcha-Token": "t"})
    assert (response.status_code, response.json()) == (status, body)
    assert await scalar(database, "SELECT count(*) FROM video_likes") == 0
    assert await scalar(database, "SELECT count(*) FROM users") == 0


async def test_unreachable_recaptcha_is_500_verification_error(
    captcha_api: RunningApp, fake_recaptcha: FakeRecaptcha
) -> None:
    fake_recaptcha.delay = 2.0
    async with captcha_api.client() as client:
        response = await client.post(LIKE, headers={"X-Recaptcha-Token": "t"})
    assert (response.status_code, response.json()) == (
        500,
        {"error": "reCAPTCHA verification error"},
    )


async def test_reads_need_no_recaptcha(
    captcha_api: RunningApp, fake_recaptcha: FakeRecaptcha
) -> None:
    async with captcha_api.client() as client:
        assert (await client.get(LIKE)).status_code == 200
    assert fake_recaptcha.requests == []


async def test_database_unavailable_is_503() -> None:
    settings = make_settings("postgresql+asyncpg://postgres@127.0.0.1:1/none")
    async with running_app(settings) as api, api.client() as client:
        for path in ("/api/videos", LIKE, "/api/me"):
            response = await client.get(path)
            assert (response.status_code, response.json()) == (
                503,
                {"error": "Service unavailable"},
            )
        assert (await client.get("/health")).status_code == 200


async def test_unexpected_failure_is_500_without_details(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(postgres_url)
    async with (
        running_app(settings) as api,
        api.client() as client,
        video_likes_missing(postgres_url),
    ):
        with caplog.at_level(logging.ERROR):
            response = await client.get(LIKE)
    assert (response.status_code, response.json()) == (500, {"error": "Internal server error"})
