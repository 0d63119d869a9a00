"""CPU cost per request of the abuse middleware and the rate limiter, straight through ASGI.

    .venv/bin/python bench/limiter_overhead.py [REDIS_URL]

Requests go to an unknown /api path (no database work), from a different client each time as
in the load benchmark. CPU time rather than wall time, so that other load on the machine
blurs the numbers less; with Redis, the round trip's wait is not in it.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from typing import Any

from asgi_lifespan import LifespanManager

from videolikes.app import create_app
from videolikes.config import Settings

REQUESTS = 3000
ROUNDS = 5


async def _request(app: Any, client: str) -> None:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/api/no-such-thing",
        "raw_path": b"/api/no-such-thing",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"bench")],
        "client": (client, 40000),
        "server": ("bench", 80),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(_: dict[str, Any]) -> None:
        return None

    await app(scope, receive, send)


async def _cpu_per_request(database_url: str, *, strip: bool = False, **settings: Any) -> float:
    app = create_app(
        Settings(
            database_url=database_url,
            ip_hash_secret=f"bench-{time.time()}",
            rate_limit_general="1000000000/minute",
            **settings,
        )
    )
    if strip:
        app.user_middleware = []
    async with LifespanManager(app):
        for _ in range(200):
            await _request(app, "10.0.0.1")
        started = time.process_time()
        for i in range(REQUESTS):
            await _request(app, f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}")
        return (time.process_time() - started) / REQUESTS * 1e6


async def main(redis_url: str | None) -> None:
    with tempfile.TemporaryDirectory() as directory:
        database_url = f"sqlite+aiosqlite:///{directory}/bench.db"
        variants: dict[str, dict[str, Any]] = {
            "no abuse middleware": {"strip": True, "rate_limit_enabled": False},
            "headers, CORS, body bound": {"rate_limit_enabled": False},
            "+ limits in process memory": {"rate_limit_enabled": True},
        }
        if redis_url:
            variants["+ limits in Redis"] = {"rate_limit_enabled": True, "redis_url": redis_url}
        best = dict.fromkeys(variants, float("inf"))
        for _ in range(ROUNDS):
            for name, options in variants.items():
                cost = await _cpu_per_request(database_url, **options)
                best[name] = min(best[name], cost)
    base = best["no abuse middleware"]
    for name, cost in best.items():
        print(f"{name:28s} {cost:7.1f} us CPU per request  (+{cost - base:.1f})")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else None))
