"""Time of GET /api/videos/{videoId}/comments as comments gather likes, straight through ASGI.

    .venv/bin/python bench/comments_read.py [--without-count-index] [POSTGRES_URL]

For each number of likes per comment, a new database (on the server of POSTGRES_URL, default
the local one) holds one video with 150 top-level comments of three replies each (100 top-level
comments and their 300 replies listed), every comment liked by that many users; the answer's
median and 90th percentile wall time over 30 requests, after 5 to warm up. Likes are counted
on read, so this is where more likes would show; --without-count-index drops the index they
are counted from (migration 0005), for comparison.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
import uuid

import asyncpg
import httpx
from alembic import command
from asgi_lifespan import LifespanManager

from videolikes.app import create_app
from videolikes.config import Settings
from videolikes.db.schema_version import alembic_config

LIKES_PER_COMMENT = (0, 100, 400)
WARM_UP = 5
REQUESTS = 30
VIDEO = "BENCH0000001"

_FILL = """
INSERT INTO videos (id, filename, length) VALUES ('{video}', '{video}.mp4', 60);
INSERT INTO users (id, ip_hash, username)
    SELECT gen_random_uuid(), 'bench-' || n, '@user-' || n FROM generate_series(1, {users}) AS n;
INSERT INTO comments (video_id, user_id, content, created_at)
    SELECT '{video}', (SELECT min(id::text)::uuid FROM users), 'comment ' || n,
           now() - n * interval '1 minute'
    FROM generate_series(1, 150) AS n;
INSERT INTO comments (video_id, user_id, parent_id, content)
    SELECT '{video}', c.user_id, c.id, 'reply' FROM comments AS c, generate_series(1, 3);
INSERT INTO comment_likes (comment_id, user_id, is_like)
    SELECT c.id, u.id, true FROM comments AS c
    CROSS JOIN (SELECT id FROM users ORDER BY id LIMIT {likes}) AS u;
"""


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def _measure(server_url: str, likes: int, *, count_index: bool) -> str:
    name = f"videolikes_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(_dsn(server_url))
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = server_url.rsplit("/", 1)[0] + f"/{name}"
    try:
        await asyncio.to_thread(command.upgrade, alembic_config(url), "head")
        conn = await asyncpg.connect(_dsn(url))
        try:
            await conn.execute(_FILL.format(video=VIDEO, users=max(likes, 1), likes=likes))
            if not count_index:
                await conn.execute("DROP INDEX comment_likes_liked_idx")
            await conn.execute("VACUUM ANALYZE")
        finally:
            await conn.close()
        app = create_app(Settings(database_url=url, rate_limit_enabled=False, log_level="error"))
        async with LifespanManager(app):
            transport = httpx.ASGITransport(app=app, client=("192.0.2.1", 40000))
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                times = []
                for n in range(WARM_UP + REQUESTS):
                    start = time.perf_counter()
                    response = await client.get(f"/api/videos/{VIDEO}/comments")
                    if n >= WARM_UP:
                        times.append(time.perf_counter() - start)
                    response.raise_for_status()
        times.sort()
        median, p90 = statistics.median(times) * 1000, times[int(0.9 * len(times))] * 1000
        rows = 600 * likes
        timing = f"median {median:.1f} ms, p90 {p90:.1f} ms"
        return f"{likes:>4} likes per comment ({rows:>7,} rows): {timing}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def main(arguments: list[str]) -> None:
    count_index = "--without-count-index" not in arguments
    urls = [argument for argument in arguments if not argument.startswith("--")]
    server_url = urls[0] if urls else "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    for likes in LIKES_PER_COMMENT:
        print(await _measure(server_url, likes, count_index=count_index))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
