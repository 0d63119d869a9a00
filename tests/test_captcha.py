"""RecaptchaVerifier against a real local HTTP server playing Google's siteverify."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

# The fixture import makes this module runnable on its own, with or without a conftest.
from fake_recaptcha import FakeRecaptcha, fake_recaptcha  # noqa: F401

from videolikes.captcha import MAX_TOKEN_LENGTH, CaptchaOutcome, RecaptchaVerifier
from videolikes.errors import CaptchaRejected, CaptchaTokenMissing, CaptchaUnavailable

SECRET = "test-secret-6LeIxAcTAAAAAGG-vFI1TnRWxMZNFuojJ4WifJWe"
TOKEN = "test-token-03AGdBq24PBCbwiDRaS_MJ7Z49sX2Q"

# Margin over the configured timeout for scheduling noise on a busy machine.
TIMING_MARGIN = 0.4


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    # trust_env=False: a proxy from the environment must not intercept calls to 127.0.0.1.
    async with httpx.AsyncClient(trust_env=False) as c:
        yield c


VerifierFactory = Callable[..., RecaptchaVerifier]


@pytest.fixture
def make_verifier(client: httpx.AsyncClient, fake_recaptcha: FakeRecaptcha) -> VerifierFactory:  # noqa: F811
    def make(**overrides: Any) -> RecaptchaVerifier:
        kwargs: dict[str, Any] = {
            "client": client,
            "secret": SECRET,
            "verify_url": fake_recaptcha.url,
            # httpx's own pool size, the client's here.
            "max_connections": 100,
        }
        kwargs.update(overrides)
        return RecaptchaVerifier(**kwargs)

    return make


async def test_high_score_passes(make_verifier: VerifierFactory) -> None:
    assert await make_verifier().verify(TOKEN, action="like_video") is CaptchaOutcome.PASSED


async def test_secret_and_token_are_sent_as_form_fields_and_nothing_else(
    make_verifier: VerifierFactory,
    fake_recaptcha: FakeRecaptcha,  # noqa: F811
) -> None:
    await make_verifier().verify(TOKEN, action="like_video")

    [request] = fake_recaptcha.requests
    assert request.method == "POST"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    # Exactly these two: in particular no `remoteip`, the client's address stays here.
    assert request.form == {"secret": SECRET, "response": TOKEN}


async def test_score_below_threshold_is_rejected(
    make_verifier: VerifierFactory,
    fake_recaptcha: FakeRecaptcha,  # noqa: F811
) -> None:
    fake_recaptcha.answer(score=0.1)
    with pytest.raises(CaptchaRejected):
        await make_verifier(threshold=0.5).verify(TOKEN, action="like_video")


async def test_score_exactly_at_threshold_passes(
    make_verifier: VerifierFactory,
    fake_recaptcha: FakeRecaptcha,  # noqa: F811
) -> None:
    fake_recaptcha.answer(score=0.7)
    assert (
        await make_verifier(threshold=0.7).verify(TOKEN, action="like_video")
        is CaptchaOutcome.PASSED
    )


@pytest.mark.parametrize("score", [None, "0.9", True, float("nan")], ids=repr)
async def test_missing_or_non_numeric_score_is_rejected(
    make_verifier: VerifierFactory,
    fake_recaptcha: FakeRecaptcha,  # noqa: F811
    score: object,
) -> None:
    body = {"success": True, "action": "like_video", "hostname": "localhost"}
    if score is not None:
        body["score"] = score
    # json.dumps writes NaN, which Python's JSON parser (and so httpx) reads back.
    fake_recaptcha.json_body = body
    with pytest.raises(CaptchaRejected):
        await make_verifier().verify(TOKEN, action="like_video")


async def test_success_false_is_rejected(
    make_verifier: VerifierFactory,
    fake_recaptcha: FakeRecaptcha,  # noqa: F811
) -> None:
    fake_recaptcha.json_body = {"success": False, "error-codes": ["invalid-input-response"]}
    with pytest.raises(CaptchaRejected):
        await make_verifier().verify(TOKEN, action="like_video")


async def test_success_false_logs_googles_error_codes(
    make_verifier: VerifierFactory,
    fake_recaptcha: FakeRecaptcha,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    fake_recaptcha.json_body = {"success": False, "error-codes": ["timeout-or-duplicate"]}
    with pytest.raises(CaptchaRejected):
        await make_verifier().verify(TOKEN, action="like_video")
    assert "timeout-or-duplicate" in caplog.text


async def test_wrong_action_is_rejected_when_an_action_is_expected(
    make_verifier: VerifierFactory,
    fake_recaptcha: FakeRecaptcha,  # noqa: F811
) -> None:
    fake_recaptcha.answer(action="login")
    with pytest.raises(CaptchaRejected):
        await make_verifier(check_action=True).verify(TOKEN, action="like_video")


async def test_matching_action_passes_when_an_action_is_expected(
    make_verifier: VerifierFactory,
) -> None:
    verifier = make_verifier(check_action=True)
    assert await verifier.verify(TOKEN, action="like_video") is CaptchaOutcome.PASSED


async def test_action_is_ignored_when_none_is_expected(
    make_verifier: VerifierFactory,
    fake_recaptcha: FakeRecaptcha,  # noqa: F811
) -> None:
    fake_recaptcha.answer(action="anything")
    assert await make_verifier().verify(TOKEN, action="like_video") is CaptchaOutcome.PASSED


async def test_hostname_outside_the_allowed_list_is_rejected(
    make_verifier: VerifierFactory,
    fake_recaptcha: FakeRecaptcha,  # noqa: F811
) -> None:
    fake_recaptcha.answer(hostname="evil.example")
    with pytest.raises(CaptchaRejected):
        await make_verifier(hostnames=["videos.example", "localhost"]).verify(
            TOKEN, action="like_video"
        )


async def test_missing_hostname_is_rejected_when_hostnames_are_configured(
    make_verifier: VerifierFactory,
    fake_recaptcha: FakeRecaptcha,  # noqa: F811
) -> None:
    fake_recaptcha.json_body = {"success": True, "score": 0.9, "action": "like_video"}
    with pytest.raises(CaptchaRejected):
        await make_verifier(hostnames=["localhost"]).verify(TOKEN, action="like_video")


async def test_allowed_hostname_passes_case_insensitively(
    make_verifier: VerifierFactory,
    fake_recaptcha: FakeRecaptcha,  # noqa: F811
) -> None:
    fake_recaptcha.answer(hostname="Videos.Example")
    verifier = make_verifier(hostnames=["localhost", "videos.example"])
    assert await verifier.verify(TOKEN, action="like_video") is CaptchaOutcome.PASSED


@pytest.mark.parametrize("status", [500, 503, 404, 302])
async def test_non_2xx_status_is_unavailable(
    make_verifier: VerifierFactory,
    fake_recaptcha: FakeRecaptcha,  # noqa: F811
    status: int,
) -> None:
    # The body would pass if it were believed; only the status must decide.
    fake_recaptcha.status = status
    with pytest.raises(CaptchaUnavailable):
        await make_verifier().verify(TOKEN, action="like_video")


@pytest.mark.parametrize("raw", [b"<html>oops</html>", b"", b"\xff\xfe\x00garbage"])
async def test_non_json_body_is_unavailable(
    make_verifier: VerifierFactory,
    fake_recaptcha: FakeRecaptcha,  # noqa: F811
    raw: bytes,
) -> None:
    fake_recaptcha.raw_body = raw
    with pytest.raises(CaptchaUnavailable):
        await make_verifier().verify(TOKEN, action="like_video")


@pytest.mark.parametrize(
    "body",
    [[{"success": True, "score": 0.9}], "success", 1, None],
    ids=["array", "string", "number", "null"],
)
async def test_json_that_is_not_an_object_is_unavailable(
    make_verifier: VerifierFactory,
    fake_recaptcha: FakeRecaptcha,  # noqa: F811
    body: object,
) -> None:
    fake_recaptcha.json_body = body
    with pytest.raises(CaptchaUnavailable):
        await make_verifier().verify(TOKEN, action="like_video")


@pytest.mark.parametrize("success", ["true", 1, None], ids=repr)
async def test_non_boolean_success_is_unavailable(
    make_verifier: VerifierFactory,
    fake_recaptcha: FakeRecaptcha,  # noqa: F811
    success: object,
) -> None:
    fake_recaptcha.answer(success=success)
    with pytest.raises(CaptchaUnavailable):
        await make_verifier().verify(TOKEN, action="like_video")


async def test_object_without_success_is_unavailable(
    make_verifier: VerifierFactory,
    fake_recaptcha: FakeRecaptcha,  # noqa: F811
) -> None:
    fake_recaptcha.json_body = {"score": 0.9}
    with pytest.raises(CaptchaUnavailable):
        await make_verifier().verify(TOKEN, action="like_video")


async def test_answer_slower_than_timeout_is_unavailable_within_the_timeout(
    make_verifier: VerifierFactory,
    fake_recaptcha: FakeRecaptcha,  # noqa: F811
) -> None:
    fake_recaptcha.delay = 1.0
    timeout = 0.3
    started = time.monotonic()
    with pytest.raises(CaptchaUnavailable):
        await make_verifier(timeout=timeout).verify(TOKEN, action="like_video")
    assert time.monotonic() - started < timeout + TIMING_MARGIN


async def test_slow_drip_answer_is_cut_off_at_the_overall_timeout(
    make_verifier: VerifierFactory,
    fake_recaptcha: FakeRecaptcha,  # noqa: F811
) -> None:
    # Each byte arrives well within httpx's per-read timeout, so only the overall
    # deadline can stop this (the whole body would take several seconds).
    fake_recaptcha.drip_interval = 0.1
    timeout = 0.3
    started = time.monotonic()
    with pytest.raises(CaptchaUnavailable):
        await make_verifier(timeout=timeout).verify(TOKEN, action="like_video")
    assert time.monotonic() - started < timeout + TIMING_MARGIN


async def test_refused_connection_is_unavailable(
    make_verifier: VerifierFactory,
    fake_recaptcha: FakeRecaptcha,  # noqa: F811
) -> None:
    with pytest.raises(CaptchaUnavailable):
        await make_verifier(verify_url=fake_recaptcha.refused_url).verify(
            TOKEN, action="like_video"
        )


async def test_malformed_verify_url_is_unavailable(make_verifier: VerifierFactory) -> None:
    with pytest.raises(CaptchaUnavailable):
        await make_verifier(verify_url="ftp://nowhere.invalid/siteverify").verify(
            TOKEN, action="like_video"
        )


@pytest.mark.parametrize("token", [None, "", "   ", "\t\n"], ids=repr)
async def test_missing_or_blank_token_is_token_missing_without_calling_out(
    make_verifier: VerifierFactory,
    fake_recaptcha: FakeRecaptcha,  # noqa: F811
    token: str | None,
) -> None:
    with pytest.raises(CaptchaTokenMissing):
        await make_verifier().verify(token, action="like_video")
    assert fake_recaptcha.requests == []


async def test_token_of_maximum_length_is_sent(
    make_verifier: VerifierFactory,
    fake_recaptcha: FakeRecaptcha,  # noqa: F811
) -> None:
    token = "x" * MAX_TOKEN_LENGTH
    assert await make_verifier().verify(token, action="like_video") is CaptchaOutcome.PASSED
    assert fake_recaptcha.last_form["response"] == token


@pytest.mark.parametrize("secret", [None, ""], ids=repr)
@pytest.mark.parametrize("token", [TOKEN, None, ""], ids=["token", "no-token", "empty-token"])
async def test_without_secret_check_is_skipped_without_calling_out(
    make_verifier: VerifierFactory,
    fake_recaptcha: FakeRecaptcha,  # noqa: F811
    secret: str | None,
    token: str | None,
) -> None:
    verifier = make_verifier(secret=secret)
    assert not verifier.enabled
    assert await verifier.verify(token, action="like_video") is CaptchaOutcome.SKIPPED
    assert fake_recaptcha.requests == []


def test_enabled_when_a_secret_is_configured(make_verifier: VerifierFactory) -> None:
    assert make_verifier().enabled


def test_repr_does_not_reveal_the_secret(make_verifier: VerifierFactory) -> None:
    assert SECRET not in repr(make_verifier())


def _answer_low_score(fake: FakeRecaptcha) -> dict[str, Any]:
    fake.answer(score=0.0)
    return {}


def _answer_unsuccessful(fake: FakeRecaptcha) -> dict[str, Any]:
    fake.json_body = {"success": False, "error-codes": ["invalid-input-secret"]}
    return {}


def _answer_wrong_action(fake: FakeRecaptcha) -> dict[str, Any]:
    fake.answer(action="login")
    return {"check_action": True}


def _answer_wrong_hostname(fake: FakeRecaptcha) -> dict[str, Any]:
    fake.answer(hostname="evil.example")
    return {"hostnames": ["localhost"]}


def _answer_500(fake: FakeRecaptcha) -> dict[str, Any]:
    fake.status = 500
    return {}


def _answer_garbage(fake: FakeRecaptcha) -> dict[str, Any]:
    fake.raw_body = b"not json"
    return {}


def _answer_late(fake: FakeRecaptcha) -> dict[str, Any]:
    fake.delay = 1.0
    return {"timeout": 0.2}


def _refuse(fake: FakeRecaptcha) -> dict[str, Any]:
    return {"verify_url": fake.refused_url}


def _answer_ok(fake: FakeRecaptcha) -> dict[str, Any]:
    return {}


SCENARIOS: dict[str, tuple[Callable[[FakeRecaptcha], dict[str, Any]], type[Exception] | None]] = {
    "passed": (_answer_ok, None),
    "low-score": (_answer_low_score, CaptchaRejected),
    "unsuccessful": (_answer_unsuccessful, CaptchaRejected),
    "wrong-action": (_answer_wrong_action, CaptchaRejected),
    "wrong-hostname": (_answer_wrong_hostname, CaptchaRejected),
    "http-500": (_answer_500, CaptchaUnavailable),
    "non-json": (_answer_garbage, CaptchaUnavailable),
    "timeout": (_answer_late, CaptchaUnavailable),
    "refused": (_refuse, CaptchaUnavailable),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_neither_secret_nor_token_is_logged(
    make_verifier: VerifierFactory,
    fake_recaptcha: FakeRecaptcha,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
    scenario: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    configure, expected_error = SCENARIOS[scenario]
    verifier = make_verifier(**configure(fake_recaptcha))

    if expected_error is None:
        await verifier.verify(TOKEN, action="like_video")
    else:
        with pytest.raises(expected_error) as raised:
            await verifier.verify(TOKEN, action="like_video")
        # The error reaches handlers that may log it; it must not carry the secrets either.
        assert raised.value.__cause__ is None
        assert SECRET not in str(raised.value)
        assert TOKEN not in str(raised.value)

    assert caplog.records, "the verifier should log its outcome"
    _assert_not_logged(caplog, SECRET, TOKEN)


@pytest.mark.parametrize("token", [None, ""], ids=repr)
async def test_neither_secret_nor_token_is_logged_when_refused_locally(
    make_verifier: VerifierFactory,
    caplog: pytest.LogCaptureFixture,
    token: str | None,
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(CaptchaTokenMissing):
        await make_verifier().verify(token, action="like_video")
    _assert_not_logged(caplog, SECRET)


def _assert_not_logged(caplog: pytest.LogCaptureFixture, *needles: str) -> None:
    for record in caplog.records:
        rendered = " ".join(
            [record.getMessage(), repr(record.args), record.exc_text or "", str(record.exc_info)]
        )
        for needle in needles:
            assert needle not in rendered, f"leaked in log record from {record.name}"
    for needle in needles:
        assert needle not in caplog.text
