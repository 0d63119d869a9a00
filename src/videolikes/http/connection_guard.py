"""One worker's watch over its client connections: which wait for a request head, the limit on
how many it holds, and one warning now and then about the connections it had to close.

A connection waits for a head from when it opens, and again from the end of each response
until its next head is complete. When a new connection would pass the limit, the one that has
waited longest is closed instead: a client that sends its request at once hardly waits, so under
a crowd of slow connections it is a slow one that goes. Only when no connection waits (every one
is in a request) is the new one refused.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import Counter
from typing import Protocol

from uvicorn.server import ServerState

_log = logging.getLogger(__name__)

# At most one warning line per this many seconds, per worker; the first gathers for a second.
REPORT_EVERY_SECONDS = 10.0
_GATHER_SECONDS = 1.0


class Waiting(Protocol):
    def push_out(self) -> None:
        """Close this connection to make room for a new one."""


class ConnectionGuard:
    def __init__(self, *, header_timeout: float, max_connections: int) -> None:
        self.header_timeout = header_timeout
        self.max_connections = max_connections
        self._open = 0
        # Insertion order is the order they began to wait: the first is the longest waiting.
        self._waiting: dict[Waiting, None] = {}
        self._closed: Counter[str] = Counter()
        self._last_report = -math.inf
        self._report: asyncio.TimerHandle | None = None

    def admit(self, connection: Waiting) -> bool:
        """Count in a new connection; False when it must be refused. Every one is released."""
        self._open += 1
        if self._open > self.max_connections:
            if not self._waiting:
                self._note("refused")
                return False
            oldest = next(iter(self._waiting))
            del self._waiting[oldest]
            self._note("pushed_out")
            oldest.push_out()
        self._waiting[connection] = None
        return True

    def release(self, connection: Waiting) -> None:
        self._open -= 1
        self._waiting.pop(connection, None)

    def waits(self, connection: Waiting) -> None:
        self._waiting.setdefault(connection, None)

    def stops_waiting(self, connection: Waiting) -> None:
        self._waiting.pop(connection, None)

    def timed_out(self) -> None:
        self._note("timed_out")

    def report(self) -> None:
        """Log what was closed since the last report, if anything; at once (the server stops)."""
        if self._report is not None:
            self._report.cancel()
            self._report = None
        if self._closed:
            self._warn()

    def _note(self, reason: str) -> None:
        self._closed[reason] += 1
        if self._report is None:
            loop = asyncio.get_running_loop()
            due = max(loop.time() + _GATHER_SECONDS, self._last_report + REPORT_EVERY_SECONDS)
            self._report = loop.call_at(due, self._warn)

    def _warn(self) -> None:
        self._report = None
        self._last_report = asyncio.get_running_loop().time()
        closed, self._closed = self._closed, Counter()
        parts = []
        if closed["timed_out"]:
            parts.append(
                f"{closed['timed_out']} sent no complete request head within "
                f"{self.header_timeout:g} s (HEADER_TIMEOUT)"
            )
        if closed["pushed_out"]:
            parts.append(
                f"{closed['pushed_out']} waiting ones made room at the limit of "
                f"{self.max_connections} per worker (MAX_CONNECTIONS)"
            )
        if closed["refused"]:
            parts.append(f"{closed['refused']} were refused with 503, every one being in a request")
        fields = {reason: closed[reason] for reason in ("timed_out", "pushed_out", "refused")}
        _log.warning(
            "closed %d connections without a request: %s",
            closed.total(),
            "; ".join(parts),
            extra={"fields": fields},
        )


class GuardedServerState(ServerState):
    """uvicorn's state shared by a server's connections, with the guard they answer to."""

    def __init__(self, guard: ConnectionGuard) -> None:
        super().__init__()
        self.guard = guard
