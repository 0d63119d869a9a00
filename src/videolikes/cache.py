"""A value (a response body) computed at most once per interval per process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class TimedBody(Generic[T]):
    """Reuses the last body for `seconds`; 0 computes it on every request.

    Concurrent requests that find it expired wait for one refresh instead of each running
    the query, so a burst costs one database round trip. `invalidate()` after a write makes
    this process's next request see that write.
    """

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._body: T | None = None
        self._expires = 0.0
        self._generation = 0
        self._lock = asyncio.Lock()

    def invalidate(self) -> None:
        self._expires = 0.0
        self._generation += 1

    async def get(self, produce: Callable[[], Awaitable[T]]) -> T:
        if self._seconds <= 0:
            return await produce()
        if self._body is not None and time.monotonic() < self._expires:
            return self._body
        async with self._lock:
            if self._body is None or time.monotonic() >= self._expires:
                # The deadline counts from before the query, so no body is served more than
                # `seconds` after the snapshot it was read from.
                started, generation = time.monotonic(), self._generation
                self._body = await produce()
                # A write invalidated it during the query, which may predate that write:
                # serve it to whoever waited, but read again next time.
                fresh = generation == self._generation
                self._expires = started + self._seconds if fresh else 0.0
            return self._body
