"""reCAPTCHA v3 verification against Google's siteverify endpoint (or a configured stand-in)."""

from __future__ import annotations

import asyncio
import enum
import logging
import math
from collections.abc import Sequence
from typing import Any

import httpx

from videolikes.errors import (
    CaptchaBusy,
    CaptchaRejected,
    CaptchaTokenMissing,
    CaptchaUnavailable,
)

_log = logging.getLogger(__name__)

# Real tokens are a few hundred bytes to ~2 KB; anything far larger is abuse, and
# forwarding it would only spend our quota and bandwidth.
MAX_TOKEN_LENGTH = 4096

# These codes mean our own configuration is broken, not that the client is a bot.
_MISCONFIGURATION_CODES = frozenset({"missing-input-secret", "invalid-input-secret"})


def recaptcha_client(max_connections: int) -> httpx.AsyncClient:
    """The HTTP client for a verifier with this many verifications in flight at most.

    Its pool holds a connection for each of them and keeps them all open between bursts, so a
    burst of writes neither waits on the pool nor opens its connections anew each time.
    """
    limits = httpx.Limits(
        max_connections=max_connections, max_keepalive_connections=max_connections
    )
    return httpx.AsyncClient(limits=limits)


class CaptchaOutcome(enum.StrEnum):
    SKIPPED = "skipped"
    PASSED = "passed"
    MISSING = "missing"
    REJECTED = "rejected"
    ERROR = "error"


class RecaptchaVerifier:
    def __init__(
        self,
        *,
        client: httpx.AsyncClient,
        secret: str | None,
        verify_url: str,
        threshold: float = 0.5,
        timeout: float = 3.0,
        max_connections: int,
        check_action: bool = False,
        hostnames: Sequence[str] = (),
    ) -> None:
        self._client = client
        # Verifications in flight, one per connection of the client's pool. A verification that
        # finds them all taken waits for one, within its own timeout.
        self._connections = asyncio.Semaphore(max_connections)
        # An empty secret would make every check fail at Google; treat it as "not configured".
        self._secret = secret or None
        self._verify_url = verify_url
        self._threshold = threshold
        self._timeout = timeout
        self._check_action = check_action
        # Hostnames are case-insensitive; normalise so configuration casing cannot lock users out.
        self._hostnames = frozenset(h.strip().lower() for h in hostnames if h.strip())

    def __repr__(self) -> str:
        # Spelled out so the secret can never reach a log line through a repr.
        return (
            f"RecaptchaVerifier(enabled={self.enabled}, verify_url={self._verify_url!r}, "
            f"threshold={self._threshold}, timeout={self._timeout})"
        )

    @property
    def enabled(self) -> bool:
        return self._secret is not None

    async def verify(self, token: str | None, *, action: str) -> CaptchaOutcome:
        """Return SKIPPED or PASSED, or raise the error the client should see.

        `action` is the one the web client asks reCAPTCHA for at this endpoint (`like_video`,
        `post_comment`, `like_comment`); with check_action the token must carry it, so a token
        made for one kind of write cannot be spent on another.
        """
        if self._secret is None:
            return CaptchaOutcome.SKIPPED
        if token is None or not token.strip():
            _log.info("reCAPTCHA outcome=%s", CaptchaOutcome.MISSING)
            raise CaptchaTokenMissing()
        # Its length is bounded at the edge: each route refuses a longer header with 400.
        payload = await self._ask(self._secret, token.strip())
        self._judge(payload, action)
        _log.debug("reCAPTCHA outcome=%s", CaptchaOutcome.PASSED)
        return CaptchaOutcome.PASSED

    async def _ask(self, secret: str, token: str) -> dict[str, Any]:
        # No `remoteip`: Google does not need the client's address, so it is not shared.
        form = {"secret": secret, "response": token}
        waiting = True
        try:
            # One deadline for the whole verification: waiting for a connection, then the
            # exchange. httpx's timeout applies per read, so a server dripping bytes could
            # stretch the call indefinitely; the outer deadline bounds it all.
            async with asyncio.timeout(self._timeout), self._connections:
                waiting = False
                response = await self._client.post(
                    self._verify_url, data=form, timeout=httpx.Timeout(self._timeout)
                )
        except TimeoutError:
            if waiting:
                _log.warning(
                    "reCAPTCHA outcome=%s reason=busy: all RECAPTCHA_MAX_CONNECTIONS connections "
                    "to the verifier stayed in use for the whole timeout",
                    CaptchaOutcome.ERROR,
                )
                raise CaptchaBusy() from None
            raise _transport_error(TimeoutError) from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise _transport_error(type(exc)) from None

        if not response.is_success:
            _log.warning(
                "reCAPTCHA outcome=%s reason=http-status status=%d",
                CaptchaOutcome.ERROR,
                response.status_code,
            )
            raise CaptchaUnavailable()
        try:
            payload: object = response.json()
        except ValueError:
            _log.warning("reCAPTCHA outcome=%s reason=invalid-json", CaptchaOutcome.ERROR)
            raise CaptchaUnavailable() from None
        if not isinstance(payload, dict) or not isinstance(payload.get("success"), bool):
            _log.warning("reCAPTCHA outcome=%s reason=unexpected-answer", CaptchaOutcome.ERROR)
            raise CaptchaUnavailable()
        return payload

    def _judge(self, payload: dict[str, Any], action: str) -> None:
        codes = _error_codes(payload)
        if payload["success"] is not True:
            # Still a 403 for the client, but operators must hear about a bad secret loudly.
            level = logging.ERROR if _MISCONFIGURATION_CODES.intersection(codes) else logging.INFO
            _log.log(
                level,
                "reCAPTCHA outcome=%s reason=unsuccessful error-codes=%s",
                CaptchaOutcome.REJECTED,
                codes,
            )
            raise CaptchaRejected()

        score = payload.get("score")
        # bool is an int subclass and NaN compares false both ways; neither is a real score.
        if (
            isinstance(score, bool)
            or not isinstance(score, int | float)
            or not math.isfinite(score)
            or score < self._threshold
        ):
            _log.info(
                "reCAPTCHA outcome=%s reason=score score=%s threshold=%s",
                CaptchaOutcome.REJECTED,
                score if isinstance(score, int | float) else type(score).__name__,
                self._threshold,
            )
            raise CaptchaRejected()

        if self._check_action and payload.get("action") != action:
            _log.info("reCAPTCHA outcome=%s reason=action", CaptchaOutcome.REJECTED)
            raise CaptchaRejected()

        if self._hostnames:
            hostname = payload.get("hostname")
            if not isinstance(hostname, str) or hostname.lower() not in self._hostnames:
                _log.info("reCAPTCHA outcome=%s reason=hostname", CaptchaOutcome.REJECTED)
                raise CaptchaRejected()


def _transport_error(error_type: type[Exception]) -> CaptchaUnavailable:
    # Only the type: exception text and attached requests can carry the form body.
    _log.warning(
        "reCAPTCHA outcome=%s reason=transport error_type=%s",
        CaptchaOutcome.ERROR,
        error_type.__name__,
    )
    return CaptchaUnavailable()


def _error_codes(payload: dict[str, Any]) -> list[str]:
    # Google's codes are short fixed strings; clip anything else a stand-in might send.
    raw = payload.get("error-codes")
    if not isinstance(raw, list):
        return []
    return [str(code)[:64] for code in raw[:10]]
