"""Readiness: can this process serve traffic now? Each dependency answers within a deadline."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis

from videolikes.db import Database
from videolikes.schema_version import SchemaVersion, current_revision

# Short, so a load balancer polling /ready hears "not ready" long before its own timeout.
READINESS_TIMEOUT = 1.0

_log = logging.getLogger(__name__)


class Readiness:
    def __init__(
        self, database: Database, redis_url: str | None, *, timeout: float = READINESS_TIMEOUT
    ) -> None:
        self._database = database
        self._schema = SchemaVersion()
        self._timeout = timeout
        self._redis: Redis | None = None
        if redis_url:
            self._redis = Redis.from_url(
                redis_url, socket_timeout=timeout, socket_connect_timeout=timeout
            )

    async def problems(self) -> dict[str, str]:
        """What is down and why ("timeout" or the error's type); empty when all is well.

        A database that answers but whose schema is older than this code ("behind", or "not
        migrated") is a problem too: the like writes need the latest migration.
        """
        revisions: list[str | None] = []

        async def read_revision() -> None:
            async with self._database.unit_of_work() as conn:
                revisions.append(await conn.run_sync(current_revision))

        checks: dict[str, Callable[[], Awaitable[object]]] = {"database": read_revision}
        if self._redis is not None:
            checks["redis"] = self._redis.ping
        results = await asyncio.gather(*(self._probe(check) for check in checks.values()))
        problems = {name: problem for name, problem in zip(checks, results, strict=True) if problem}
        if revisions:
            schema = self._schema.problem(revisions[0])
            if schema is not None:
                _log.warning(
                    "database schema is %s (at %s, this code needs %s): run videolikes db upgrade",
                    schema,
                    revisions[0],
                    self._schema.head,
                )
                problems["schema"] = schema
        return problems

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()

    async def _probe(self, check: Callable[[], Awaitable[object]]) -> str | None:
        try:
            async with asyncio.timeout(self._timeout):
                await check()
        except TimeoutError:
            return "timeout"
        except Exception as exc:
            # Only the type: messages of connection errors can carry URLs with passwords.
            _log.warning("readiness check failed: %s", type(exc).__name__)
            return type(exc).__name__
        return None
