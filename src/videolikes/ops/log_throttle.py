"""Repeated log lines, thinned: a fault that fails every request is logged once in a while."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

INTERVAL_SECONDS = 10.0
# Distinct lines remembered; past that the oldest are forgotten (and may be logged again).
_MAX_LINES = 100


@dataclass
class _Seen:
    logged_at: float
    held_back: int = 0


class ThrottledLog:
    """Logs each distinct line at most once per interval; the next one says how many were held
    back in between."""

    def __init__(
        self,
        logger: logging.Logger,
        *,
        interval: float = INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._interval = interval
        self._clock = clock
        self._seen: dict[str, _Seen] = {}

    def warning(self, line: str) -> None:
        self._log(logging.WARNING, line)

    def error(self, line: str) -> None:
        self._log(logging.ERROR, line)

    def _log(self, level: int, line: str) -> None:
        now = self._clock()
        seen = self._seen.get(line)
        if seen is not None and now - seen.logged_at < self._interval:
            seen.held_back += 1
            return
        self._remember(line, now)
        if seen is not None and seen.held_back:
            since = now - seen.logged_at
            self._logger.log(
                level, "%s (and %d more in the %.0f s before)", line, seen.held_back, since
            )
            return
        self._logger.log(level, "%s", line)

    def _remember(self, line: str, now: float) -> None:
        self._seen.pop(line, None)
        if len(self._seen) >= _MAX_LINES:
            del self._seen[next(iter(self._seen))]
        self._seen[line] = _Seen(logged_at=now)
