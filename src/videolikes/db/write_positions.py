"""Where each client's last write ended in the primary's WAL, remembered for a short time.

A client's reads go to a replica only once it has replayed past that position, so the client
sees its own writes whichever replica or instance serves it. Positions are kept under the
client's own key (an HMAC of its address, never the address): in Redis, where every worker
and instance finds them, or in this process's memory when there is no Redis.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Protocol

import redis.exceptions
from redis.asyncio import Redis

_log = logging.getLogger(__name__)

KEY_PREFIX = "videolikes:written:"
_SWEEP_INTERVAL = 10.0
# Keeps the greater of the stored and the new position, and restarts its time to live: two
# instances may store one client's positions out of order.
_KEEP_GREATER = """
local position = tonumber(ARGV[1])
for _, key in ipairs(KEYS) do
  local stored = tonumber(redis.call('GET', key))
  if stored == nil or stored < position then stored = position end
  redis.call('SET', key, stored, 'PX', ARGV[2])
end
return 0
"""
_REDIS_ERRORS: tuple[type[Exception], ...] = (redis.exceptions.RedisError, OSError, TimeoutError)


class WritePositions(Protocol):
    async def remember(self, clients: Sequence[str], position: int) -> None:
        """Each of `clients` has written up to `position` (at most)."""

    async def positions(self, clients: Sequence[str]) -> list[int] | None:
        """Each client's remembered position (0: none), or None when they cannot be known."""

    async def aclose(self) -> None: ...


class InMemoryWritePositions:
    """Positions in this process's memory: each forgotten `seconds` after its write."""

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._positions: dict[str, tuple[int, float]] = {}
        self._next_sweep = 0.0

    def remember_now(self, clients: Sequence[str], position: int) -> None:
        now = time.monotonic()
        if now >= self._next_sweep:
            self._sweep(now)
        expires_at = now + self._seconds
        for client in clients:
            stored, _ = self._positions.get(client, (0, 0.0))
            self._positions[client] = (max(stored, position), expires_at)

    def positions_now(self, clients: Sequence[str]) -> list[int]:
        if not self._positions:
            return [0] * len(clients)
        now = time.monotonic()
        found = []
        for client in clients:
            position, expires_at = self._positions.get(client, (0, 0.0))
            found.append(position if expires_at > now else 0)
        return found

    async def remember(self, clients: Sequence[str], position: int) -> None:
        self.remember_now(clients, position)

    async def positions(self, clients: Sequence[str]) -> list[int] | None:
        return self.positions_now(clients)

    async def aclose(self) -> None:
        self._positions.clear()

    def _sweep(self, now: float) -> None:
        expired = [key for key, (_, expires_at) in self._positions.items() if expires_at <= now]
        for key in expired:
            del self._positions[key]
        self._next_sweep = now + _SWEEP_INTERVAL


class RedisWritePositions:
    """Positions in Redis, each call bounded by `timeout`.

    Redis unreachable: a client's position cannot be known, so its reads go to the primary;
    a position that could not be stored is kept in this process's memory instead.
    """

    def __init__(self, url: str, *, seconds: float, timeout: float) -> None:
        self._redis = Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self._keep_greater = self._redis.register_script(_KEEP_GREATER)
        self._milliseconds = max(1, round(seconds * 1000))
        self._timeout = timeout
        self._unstored = InMemoryWritePositions(seconds)
        self._failing = False

    async def remember(self, clients: Sequence[str], position: int) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                await self._keep_greater(
                    keys=[KEY_PREFIX + client for client in clients],
                    args=[position, self._milliseconds],
                )
        except _REDIS_ERRORS as exc:
            self._failed(exc)
            self._unstored.remember_now(clients, position)
        else:
            self._answered()

    async def positions(self, clients: Sequence[str]) -> list[int] | None:
        try:
            async with asyncio.timeout(self._timeout):
                stored = await self._redis.mget([KEY_PREFIX + client for client in clients])
        except _REDIS_ERRORS as exc:
            self._failed(exc)
            return None
        self._answered()
        kept = self._unstored.positions_now(clients)
        return [max(int(value or 0), mine) for value, mine in zip(stored, kept, strict=True)]

    async def aclose(self) -> None:
        await self._redis.aclose()

    # Logged when Redis starts failing and when it answers again, not on every request.
    def _failed(self, exc: Exception) -> None:
        if not self._failing:
            self._failing = True
            _log.warning(
                "clients' write positions unreachable in Redis (%s): their reads go to the "
                "primary until it answers",
                type(exc).__name__,
            )

    def _answered(self) -> None:
        if self._failing:
            self._failing = False
            _log.warning("clients' write positions reachable in Redis again")
