"""Readiness: can this process serve traffic now? Each dependency answers within a deadline.

The database is asked on a connection of the check's own, outside the pool: a pool busy with
requests, or connections stuck on a frozen server, must not make the check wait; and a
connection the deadline cut short is closed at once rather than handed to anyone.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time

from redis.asyncio import Redis
from sqlalchemy import text

from videolikes.db.errors import describe, is_missing_schema_object, unavailable_reason
from videolikes.db.schema_version import REVISION_QUERY, SchemaVersion
from videolikes.db.units import Database
from videolikes.ops.log_throttle import ThrottledLog

# Short, so a load balancer polling /ready hears "not ready" long before its own timeout.
READINESS_TIMEOUT = 1.0
# How long an answer about the schema is reused for the errors of requests that ask.
_SCHEMA_ANSWER_SECONDS = 1.0

_log = logging.getLogger(__name__)


class Readiness:
    def __init__(
        self, database: Database, redis_url: str | None, *, timeout: float = READINESS_TIMEOUT
    ) -> None:
        self._database = database
        self._schema = SchemaVersion()
        self._timeout = timeout
        self._log = ThrottledLog(_log)
        self._schema_answer: tuple[float, str | None] | None = None
        self._redis: Redis | None = None
        if redis_url:
            self._redis = Redis.from_url(
                redis_url, socket_timeout=timeout, socket_connect_timeout=timeout
            )

    async def problems(self) -> dict[str, str]:
        """What is down and why; empty when all is well.

        A database that answers but whose schema is older than this code ("behind", or "not
        migrated") is a problem too: the like writes need the latest migration.
        """
        checks = [self._database_problems()]
        if self._redis is not None:
            checks.append(self._redis_problems(self._redis))
        found: dict[str, str] = {}
        for problems in await asyncio.gather(*checks):
            found.update(problems)
        return found

    def replicas(self) -> dict[str, dict[str, str | float | None]] | None:
        """Each replica's state and lag (seconds) as its monitor last saw them; None without
        replicas. A replica down is no problem of this process: the primary serves its reads."""
        router = self._database.replicas
        if router is None:
            return None
        return {
            replica.name: {
                "state": replica.state.value,
                "lag": None if replica.lag is None or math.isinf(replica.lag) else replica.lag,
            }
            for replica in router.replicas
        }

    async def schema_problem(self) -> str | None:
        """Why the database's schema cannot be served, or None (also when it cannot be read).

        For requests that met a missing table; the answer is reused for a moment, as every
        request may ask at once.
        """
        now = time.monotonic()
        if self._schema_answer is None or now - self._schema_answer[0] > _SCHEMA_ANSWER_SECONDS:
            problem = (await self._database_problems()).get("schema")
            self._schema_answer = (now, problem)
        return self._schema_answer[1]

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()

    async def _database_problems(self) -> dict[str, str]:
        try:
            async with asyncio.timeout(self._timeout):
                revision = await self._read_revision()
        except TimeoutError:
            return self._down("database", "timeout")
        except Exception as exc:
            reason = unavailable_reason(exc)
            return self._down(
                "database", describe(exc) if reason is None else f"unavailable: {reason}"
            )
        schema = self._schema.problem(revision)
        if schema is None:
            return {}
        self._log.warning(
            f"not ready: the database schema is {schema} (at {revision}, this code needs "
            f"{self._schema.head}): run videolikes db upgrade"
        )
        return {"schema": schema}

    async def _read_revision(self) -> str | None:
        """The migration the database is at; None when it has never been migrated."""
        try:
            if self._database.is_sqlite:
                async with self._database.read() as conn:
                    revision = await conn.scalar(text(REVISION_QUERY))
            else:
                connection = await self._database.open_probe_connection()
                try:
                    revision = await connection.fetchval(REVISION_QUERY)
                finally:
                    connection.terminate()
        except Exception as exc:
            if is_missing_schema_object(exc):
                return None
            raise
        return None if revision is None else str(revision)

    async def _redis_problems(self, redis: Redis) -> dict[str, str]:
        try:
            async with asyncio.timeout(self._timeout):
                await redis.ping()
        except TimeoutError:
            return self._down("redis", "timeout")
        except Exception as exc:
            # Only the type: messages of connection errors can carry URLs with passwords.
            return self._down("redis", type(exc).__name__)
        return {}

    def _down(self, name: str, problem: str) -> dict[str, str]:
        self._log.warning(f"not ready: {name} {problem}")
        return {name: problem}
