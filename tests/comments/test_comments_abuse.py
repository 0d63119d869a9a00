"""Comment writes meet reCAPTCHA with their own action, and the write rate limit."""

from __future__ import annotations

import uuid

import httpx
import pytest
from conftest import RunningApp, make_settings, require_redis, running_app, seed_demo
from fake_recaptcha import FakeRecaptcha, fake_recaptcha
from pydantic import ValidationError

from videolikes.config import Settings
from videolikes.db.units import Database

__all__ = ["fake_recaptcha"]

VIDEO = "DEMO00000001"
COMMENTS = f"/api/videos/{VIDEO}/comments"
TOKEN = {"X-Recaptcha-Token": "token-from-the-page"}


@pytest.fixture(autouse=True)
async def _demo(database: Database) -> None:
    await seed_demo(database)


async def _a_comment(client: httpx.AsyncClient, fake: FakeRecaptcha) -> str:
    fake.answer(action="post_comment")
    response = await client.post(COMMENTS, json={"content": "hello"}, headers=TOKEN)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def test_each_write_needs_a_token_carrying_its_own_action(
    captcha_api: RunningApp,
    fake_recaptcha: FakeRecaptcha,
) -> None:
    async with captcha_api.client() as client:
        comment = await _a_comment(client, fake_recaptcha)
        like = f"/api/comments/{comment}/like"

        missing = await client.post(COMMENTS, json={"content": "no token"})
        assert (missing.status_code, missing.json()) == (403, {"error": "Invalid request"})
        # A token made for liking a video is not one for posting, nor for liking a comment.
        fake_recaptcha.answer(action="like_video")
        for response in (
            await client.post(COMMENTS, json={"content": "wrong"}, headers=TOKEN),
            await client.post(like, headers=TOKEN),
        ):
            assert (response.status_code, response.json()) == (
                403,
                {"error": "reCAPTCHA verification failed"},
            )
        assert (await client.post(f"/api/videos/{VIDEO}/like", headers=TOKEN)).status_code == 200
        fake_recaptcha.answer(action="like_comment")
        for method in ("POST", "PUT", "DELETE"):
            assert (await client.request(method, like, headers=TOKEN)).status_code == 200
        fake_recaptcha.answer(action="post_comment")
        assert (await client.post(like, headers=TOKEN)).status_code == 403
        listed = (await client.get(COMMENTS)).json()["comments"]
    assert [c["content"] for c in listed] == ["hello"]


async def test_an_unreachable_verifier_is_500_for_comment_writes(
    database_url: str,
    fake_recaptcha: FakeRecaptcha,
) -> None:
    settings = make_settings(
        database_url,
        recaptcha_secret_key="server-secret-value",
        recaptcha_verify_url=fake_recaptcha.refused_url,
    )
    async with running_app(settings) as api, api.client() as client:
        response = await client.post(COMMENTS, json={"content": "hello"}, headers=TOKEN)
        liked = await client.post(f"/api/comments/{uuid.uuid4()}/like", headers=TOKEN)
    for answer in (response, liked):
        assert (answer.status_code, answer.json()) == (
            500,
            {"error": "reCAPTCHA verification error"},
        )


@pytest.mark.parametrize("shared", [False, True], ids=["memory", "redis"])
async def test_comment_writes_count_against_the_write_limit(
    database_url: str, shared: bool
) -> None:
    if shared:
        require_redis()
    settings = make_settings(
        database_url,
        rate_limit_enabled=True,
        rate_limit_writes="3/minute",
        # A fresh secret gives fresh client keys, so runs never share counters in Redis.
        ip_hash_secret=f"test-{uuid.uuid4().hex}",
        redis_url="redis://127.0.0.1:6379/15" if shared else None,
    )
    # With Redis, two instances share one count: the writes alternate between them.
    async with (
        running_app(settings) as one,
        running_app(settings) as two,
        one.client() as first,
        two.client() as other,
    ):
        second = other if shared else first
        comment = (await first.post(COMMENTS, json={"content": "one"})).json()["id"]
        assert (await second.post(f"/api/comments/{comment}/like")).status_code == 200
        assert (await first.delete(f"/api/comments/{comment}/like")).status_code == 200
        fourth = await second.post(COMMENTS, json={"content": "two"})
        assert (fourth.status_code, fourth.json()) == (429, {"error": "Too many requests"})
        assert (await first.get(COMMENTS)).status_code == 200


def test_the_single_expected_action_setting_stops_the_start_saying_what_replaces_it() -> None:
    with pytest.raises(ValidationError, match="RECAPTCHA_CHECK_ACTION=true"):
        Settings(recaptcha_expected_action="like_video")


async def test_dislikes_need_tokens_for_their_own_actions_and_count_as_writes(
    database_url: str, fake_recaptcha: FakeRecaptcha
) -> None:
    settings = make_settings(
        database_url,
        dislikes_enabled=True,
        recaptcha_secret_key="server-secret-value",
        recaptcha_verify_url=fake_recaptcha.url,
        recaptcha_timeout=0.5,
        recaptcha_check_action=True,
        rate_limit_enabled=True,
        rate_limit_writes="6/minute",
    )
    async with running_app(settings) as api, api.client() as client:
        comment = await _a_comment(client, fake_recaptcha)
        video, on_comment = f"/api/videos/{VIDEO}/dislike", f"/api/comments/{comment}/dislike"
        fake_recaptcha.answer(action="like_video")
        for path in (video, on_comment):
            assert (await client.post(path, headers=TOKEN)).status_code == 403
        fake_recaptcha.answer(action="dislike_video")
        assert (await client.post(video, headers=TOKEN)).json() == {"userLike": False}
        assert (await client.post(on_comment, headers=TOKEN)).status_code == 403
        fake_recaptcha.answer(action="dislike_comment")
        assert (await client.post(on_comment, headers=TOKEN)).json() == {"userLike": False}
        # Six writes, three of them refused by reCAPTCHA (the limit counts before the check):
        # the write limit is spent.
        limited = await client.post(video, headers=TOKEN)
        assert (limited.status_code, limited.json()) == (429, {"error": "Too many requests"})
