"""Writes verified by a slow reCAPTCHA verifier, many at once, through the app.

The verifier is the local stand-in (fake_recaptcha.py) made slow; the writes go to a real
database. What is measured is the answer each write gets and how long it took.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
from conftest import RunningApp, make_settings, opened_database, running_app
from fake_recaptcha import FakeRecaptcha

from videolikes.config import Settings

VIDEO = "DEMO00000001"
LIKE = f"/api/videos/{VIDEO}/like"


def _settings(database_url: str, fake: FakeRecaptcha, **overrides: Any) -> Settings:
    return make_settings(
        database_url,
        recaptcha_secret_key="server-secret-value",
        recaptcha_verify_url=fake.url,
        **overrides,
    )


async def _concurrent_writes(api: RunningApp, count: int) -> list[httpx.Response]:
    """`count` PUTs at once, each from a client of its own."""
    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(api.client(f"198.51.{n // 250}.{n % 250 + 1}"))
            for n in range(count)
        ]
        return await asyncio.gather(
            *(client.put(LIKE, headers={"X-Recaptcha-Token": "token"}) for client in clients)
        )


async def test_300_concurrent_writes_with_a_slow_verifier_all_succeed_within_the_timeout(
    postgres_url: str, fake_recaptcha: FakeRecaptcha
) -> None:
    fake_recaptcha.delay = 1.2
    settings = _settings(postgres_url, fake_recaptcha)
    assert settings.recaptcha_timeout == 3.0  # the default
    async with opened_database(postgres_url, demo=True), running_app(settings) as api:
        started = time.monotonic()
        responses = await _concurrent_writes(api, 300)
        elapsed = time.monotonic() - started
    statuses = Counter(response.status_code for response in responses)
    assert statuses == {200: 300}, statuses
    assert len(fake_recaptcha.requests) == 300
    # Generous for a busy machine; one round of 1.2 s is what the verifier costs.
    assert elapsed < 3.0 + 2.0


async def test_a_write_that_waits_out_its_timeout_for_a_connection_is_503_with_retry_after(
    sqlite_url: str, fake_recaptcha: FakeRecaptcha
) -> None:
    # One connection and a verifier answering in 0.3 s: three writes get through in the 1 s
    # timeout, one more is cut off mid-exchange, the rest never get the connection.
    fake_recaptcha.delay = 0.3
    settings = _settings(
        sqlite_url, fake_recaptcha, recaptcha_timeout=1.0, recaptcha_max_connections=1
    )
    async with opened_database(sqlite_url, demo=True), running_app(settings) as api:
        responses = await _concurrent_writes(api, 8)
    statuses = Counter(response.status_code for response in responses)
    assert set(statuses) <= {200, 500, 503}, statuses
    assert statuses[200] >= 2, statuses
    assert statuses[503] >= 1, statuses
    busy = next(response for response in responses if response.status_code == 503)
    assert busy.json() == {"error": "Service unavailable"}
    assert busy.headers["retry-after"] == "1"
    # Each waited its own timeout at most: the connection was never asked for more than one
    # exchange at a time.
    assert len(fake_recaptcha.requests) <= 5


@pytest.mark.parametrize("value", ["0", "-1", "many"])
def test_recaptcha_max_connections_must_be_a_positive_number(value: str) -> None:
    with pytest.raises(ValueError, match="recaptcha_max_connections"):
        Settings(recaptcha_max_connections=value)
