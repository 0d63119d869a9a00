"""Per-client rate limits (the `limits` library): in process memory, or in Redis when shared.

Counters are fixed windows keyed by the client's ip_hash, so a window starts at a client's first
request and the raw address never reaches the storage. With Redis, every worker and instance
shares one count; when Redis is unreachable or slower than its timeout, the configured policy
answers at once (fail-open lets requests through, fail-closed refuses them) and Redis is tried
again a moment later, so an outage costs at most one timeout now and then, never a hang.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import redis.asyncio
import redis.exceptions
from limits import RateLimitItem, parse
from limits.aio.storage import RedisStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from videolikes.config import Settings
from videolikes.errors import ServiceUnavailable, TooManyRequests
from videolikes.metrics import RATE_LIMITED

__all__ = ["InProcessStorage", "RateLimiter", "Rejection", "open_rate_limiter"]

_log = logging.getLogger(__name__)

KEY_PREFIX = "videolikes"
# How long an unreachable Redis is left alone before the next request tries it again.
RETRY_INTERVAL = 1.0
_SWEEP_INTERVAL = 10.0
_STORAGE_ERRORS: tuple[type[Exception], ...] = (
    redis.exceptions.RedisError,
    OSError,
    TimeoutError,
)


class InProcessStorage(Storage):
    """Fixed-window counters in this process's memory.

    limits' own async MemoryStorage starts a task that scans every key on each hit, which
    grows with the clients (BENCHMARKS.md). Here expired windows are dropped when next
    touched, and the rest in one sweep every few seconds.
    """

    def __init__(self) -> None:
        super().__init__()
        self._windows: dict[str, tuple[int, float]] = {}
        self._next_sweep = 0.0

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return ValueError

    async def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.time()
        if now >= self._next_sweep:
            self._sweep(now)
        count, expires_at = self._windows.get(key, (0, 0.0))
        if expires_at <= now:
            count, expires_at = 0, now + expiry
        count += amount
        self._windows[key] = (count, expires_at)
        return count

    async def get(self, key: str) -> int:
        count, expires_at = self._windows.get(key, (0, 0.0))
        return count if expires_at > time.time() else 0

    async def get_expiry(self, key: str) -> float:
        now = time.time()
        _, expires_at = self._windows.get(key, (0, now))
        return max(expires_at, now)

    async def check(self) -> bool:
        return True

    async def reset(self) -> int | None:
        count = len(self._windows)
        self._windows.clear()
        return count

    async def clear(self, key: str) -> None:
        self._windows.pop(key, None)

    def _sweep(self, now: float) -> None:
        expired = [key for key, (_, expires_at) in self._windows.items() if expires_at <= now]
        for key in expired:
            del self._windows[key]
        self._next_sweep = now + _SWEEP_INTERVAL


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a request is not served: its status, error message and extra headers (ASGI form)."""

    status_code: int
    message: str
    headers: tuple[tuple[bytes, bytes], ...] = ()


# Redis is tried again RETRY_INTERVAL after a failure: a client may come back as soon.
_RETRY_SOON = str(math.ceil(RETRY_INTERVAL)).encode("ascii")
UNAVAILABLE = Rejection(
    ServiceUnavailable.status_code, ServiceUnavailable.message, ((b"retry-after", _RETRY_SOON),)
)


def too_many_requests(item: RateLimitItem, retry_after: int) -> Rejection:
    seconds = str(retry_after).encode("ascii")
    return Rejection(
        TooManyRequests.status_code,
        TooManyRequests.message,
        (
            (b"retry-after", seconds),
            (b"ratelimit-limit", str(item.amount).encode("ascii")),
            (b"ratelimit-remaining", b"0"),
            (b"ratelimit-reset", seconds),
        ),
    )


class RateLimiter:
    """A general limit for every API request and a tighter one for like writes, per client."""

    def __init__(
        self,
        storage: Storage,
        *,
        general: RateLimitItem,
        writes: RateLimitItem,
        fail_open: bool = True,
        timeout: float | None = None,
    ) -> None:
        self._storage = storage
        self._strategy = FixedWindowRateLimiter(storage)
        self._general = general
        self._writes = writes
        self._fail_open = fail_open
        # None for in-process storage, which answers without waiting on anything.
        self._timeout = timeout
        self._retry_at = 0.0
        self._healthy = True

    async def check(self, client: str, *, write: bool) -> Rejection | None:
        """Count one request by `client`; the rejection to answer with, or None to serve it."""
        if self._timeout is None:
            return await self._hit(client, write)
        if not self._healthy and time.monotonic() < self._retry_at:
            return self._outage_policy()
        try:
            async with asyncio.timeout(self._timeout):
                rejection = await self._hit(client, write)
        except _STORAGE_ERRORS as exc:
            self._record_failure(exc)
            return self._outage_policy()
        if not self._healthy:
            self._healthy = True
            _log.warning("rate-limit storage is reachable again; limits apply")
        return rejection

    async def _hit(self, client: str, write: bool) -> Rejection | None:
        if not await self._strategy.hit(self._general, "general", client):
            return await self._rejection(self._general, "general", client)
        if write and not await self._strategy.hit(self._writes, "writes", client):
            return await self._rejection(self._writes, "writes", client)
        return None

    async def _rejection(self, item: RateLimitItem, name: str, client: str) -> Rejection:
        RATE_LIMITED.labels(name).inc()
        reset_at = await self._storage.get_expiry(item.key_for(name, client))
        return too_many_requests(item, max(1, math.ceil(reset_at - time.time())))

    def _outage_policy(self) -> Rejection | None:
        return None if self._fail_open else UNAVAILABLE

    def _record_failure(self, exc: Exception) -> None:
        self._retry_at = time.monotonic() + RETRY_INTERVAL
        if self._healthy:
            self._healthy = False
            policy = "requests pass unlimited" if self._fail_open else "requests are refused (503)"
            _log.warning(
                "rate-limit storage unreachable (%s); %s until it is back",
                type(exc).__name__,
                policy,
            )


@asynccontextmanager
async def open_rate_limiter(settings: Settings) -> AsyncIterator[RateLimiter | None]:
    """The limiter the settings describe (None when disabled), with its Redis pool if any."""
    if not settings.rate_limit_enabled:
        yield None
        return
    general = parse(settings.rate_limit_general)
    writes = parse(settings.rate_limit_writes)
    if settings.redis_url is None:
        yield RateLimiter(InProcessStorage(), general=general, writes=writes)
        return
    pool = _redis_pool(settings.redis_url, settings.redis_timeout)
    try:
        # limits drives the Redis commands through redis-py (not coredis) on our own pool.
        storage = RedisStorage(
            "async+redis://",
            implementation="redispy",
            key_prefix=KEY_PREFIX,
            # limits types its pass-through options as scalars; redis-py takes the pool as is.
            connection_pool=pool,  # type: ignore[arg-type]
        )
        yield RateLimiter(
            storage,
            general=general,
            writes=writes,
            fail_open=settings.rate_limit_fail_open,
            timeout=settings.redis_timeout,
        )
    finally:
        await pool.aclose()


def _redis_pool(url: str, timeout: float) -> redis.asyncio.ConnectionPool:
    return redis.asyncio.ConnectionPool.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        # redis-py's default retries back off for seconds; one immediate retry (for a pooled
        # connection that Redis closed) is all the request's time budget allows.
        retry=Retry(NoBackoff(), 1),
        # Named per process, so `CLIENT LIST` shows which worker holds a connection.
        client_name=f"{KEY_PREFIX}-{os.getpid()}",
    )
