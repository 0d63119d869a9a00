"""The benchmark's own PostgreSQL database: create, fill, reset, and check the counters."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import asyncpg

from videolikes.identity import ClientIdentity

# Video ids are 12 digits, the length of real ids such as EFTA01683563, and pure digits so that
# pgbench, whose variables are numbers, can send the same ids the service gets.
VIDEO_ID_BASE = 100_000_000_000
CLIENT_POOL = 200_000
# pgbench cannot make hex strings; its clients are users whose ip_hash is this number plus
# their index, so they exist at the large scale just as the service's clients do.
PGBENCH_IP_HASH_BASE = 1_000_000_000_000_000_000


@dataclass(frozen=True)
class Scale:
    name: str
    videos: int
    users: int
    likes_per_user: int

    @property
    def likes(self) -> int:
        return self.users * self.likes_per_user


SMALL = Scale("small", videos=1_100, users=0, likes_per_user=0)
LARGE = Scale("large", videos=100_000, users=1_000_000, likes_per_user=10)


def client_ip(index: int) -> str:
    """The address of client `index` (1-based), as bench/scenario.lua builds it."""
    return f"10.{index // 65536 % 256}.{index // 256 % 256}.{index % 256}"


def video_id(index: int) -> str:
    return str(VIDEO_ID_BASE + index)


def asyncpg_dsn(sqlalchemy_url: str) -> str:
    return sqlalchemy_url.replace("postgresql+asyncpg://", "postgresql://", 1)


def with_database(url: str, name: str) -> str:
    return urlsplit(url)._replace(path=f"/{name}").geturl()


def _run(dsn: str, *statements: str) -> None:
    """Run statements in order on one connection, each committed on its own."""

    async def go() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(go())


def _count(dsn: str, query: str) -> int:
    async def go() -> int:
        conn = await asyncpg.connect(dsn)
        try:
            return int(await conn.fetchval(query))
        finally:
            await conn.close()

    return asyncio.run(go())


def recreate_database(admin_url: str, name: str) -> None:
    dsn = asyncpg_dsn(admin_url)
    _run(dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')


def plan_for_values(admin_url: str, name: str) -> None:
    """Every session on the database plans each statement for its values, as docs/operations.md
    says to set behind a pooler, which cannot pass the setting at connect."""
    _run(asyncpg_dsn(admin_url), f'ALTER DATABASE "{name}" SET plan_cache_mode = force_custom_plan')


def drop_database(admin_url: str, name: str) -> None:
    _run(asyncpg_dsn(admin_url), f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


_INSERT_VIDEOS = f"""
    INSERT INTO videos (id, title, filename, length, has_thumbnail, views, is_shorts, playlist)
    SELECT ({VIDEO_ID_BASE} + g)::text, 'Benchmark video ' || g, ({VIDEO_ID_BASE} + g) || '.mp4',
           30 + g % 600, g % 3 <> 0, (g * 7919) % 1000003, g % 10 = 0,
           CASE WHEN g % 4 = 0 THEN 'playlist-' || g % 40 END
    FROM generate_series(1, {{videos}}) AS g
"""

# Bulk loading is fastest into a table without indexes; the constraints come back afterwards
# with the names the migration gave them.
_DROP_LIKE_CONSTRAINTS = """
    ALTER TABLE video_likes
        DROP CONSTRAINT video_likes_video_id_videos_id_fk,
        DROP CONSTRAINT video_likes_user_id_users_id_fk,
        DROP CONSTRAINT video_user_unique,
        DROP CONSTRAINT video_likes_pkey
"""
_ADD_LIKE_CONSTRAINTS = (
    "ALTER TABLE video_likes ADD CONSTRAINT video_likes_pkey PRIMARY KEY (id)",
    "ALTER TABLE video_likes ADD CONSTRAINT video_user_unique UNIQUE (video_id, user_id)",
    """ALTER TABLE video_likes ADD CONSTRAINT video_likes_video_id_videos_id_fk
       FOREIGN KEY (video_id) REFERENCES videos (id) ON DELETE CASCADE""",
    """ALTER TABLE video_likes ADD CONSTRAINT video_likes_user_id_users_id_fk
       FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE""",
)


def load(url: str, scale: Scale, ip_hash_secret: str) -> float:
    """Fill a freshly migrated database; returns the seconds it took."""
    started = time.monotonic()
    dsn = asyncpg_dsn(url)

    async def go() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute("SET synchronous_commit = off")
            await conn.execute("SET maintenance_work_mem = '512MB'")
            await conn.execute(_INSERT_VIDEOS.format(videos=scale.videos))
            if scale.users:
                await _load_users_and_likes(conn, scale, ip_hash_secret)
            await conn.execute("VACUUM ANALYZE")
        finally:
            await conn.close()

    asyncio.run(go())
    return time.monotonic() - started


async def _load_users_and_likes(conn: Any, scale: Scale, ip_hash_secret: str) -> None:
    # The first CLIENT_POOL users are the clients wrk sends, hashed as the service hashes them,
    # so their status reads find real rows; the next ones are pgbench's clients.
    identity = ClientIdentity(secret=ip_hash_secret.encode())
    pool = [
        (index, identity.ip_hash({"client": (client_ip(index), 0)}))
        for index in range(1, CLIENT_POOL + 1)
    ]
    await conn.execute("CREATE TEMP TABLE pool_hash (n integer PRIMARY KEY, ip_hash text)")
    await conn.copy_records_to_table("pool_hash", records=pool)
    await conn.execute(
        f"""
        INSERT INTO users (id, ip_hash, username)
        SELECT gen_random_uuid(), coalesce(p.ip_hash, ({PGBENCH_IP_HASH_BASE} + g)::text),
               '@user-' || substr(md5(g::text), 1, 6)
        FROM generate_series(1, {scale.users}) AS g LEFT JOIN pool_hash AS p ON p.n = g
        """
    )
    await conn.execute(_DROP_LIKE_CONSTRAINTS)
    # Each user likes `likes_per_user` distinct videos spread over the whole catalogue.
    await conn.execute(
        f"""
        INSERT INTO video_likes (id, video_id, user_id, is_like)
        SELECT gen_random_uuid(),
               ({VIDEO_ID_BASE} + 1 + (u.n * 7919 + k * 10007) % {scale.videos})::text,
               u.id, true
        FROM (SELECT id, row_number() OVER () AS n FROM users) AS u,
             generate_series(0, {scale.likes_per_user - 1}) AS k
        """
    )
    for statement in _ADD_LIKE_CONSTRAINTS:
        await conn.execute(statement)
    await conn.execute(
        """
        UPDATE videos AS v SET likes = c.n
        FROM (SELECT video_id, count(*) AS n FROM video_likes GROUP BY video_id) AS c
        WHERE v.id = c.video_id
        """
    )


_BUSY_SERVER = """
    SELECT count(*) FROM pg_stat_activity
    WHERE datname = current_database() AND application_name = 'videolikes' AND state = 'active'
"""


def reset(url: str, scale: Scale) -> None:
    """Undo what the last scenario wrote and refresh the planner's statistics.

    The small catalogue goes back to no users and no likes. The large data set is generated
    once and kept, since rebuilding 10,000,000 likes takes minutes; its write scenario adds a
    few thousand rows to it. ANALYZE either way: prepared statements planned on stale
    statistics of an emptied table scan it sequentially until autoanalyze notices.
    """

    async def go() -> None:
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            await _wait_until_quiet(conn)
            if scale.users == 0:
                # One transaction: a request still in flight from the last scenario then
                # lands wholly before or wholly after the reset, never between its statements.
                async with conn.transaction():
                    await conn.execute("TRUNCATE comment_likes, comments, video_likes, users")
                    await conn.execute("UPDATE videos SET likes = 0 WHERE likes <> 0")
            await conn.execute("ANALYZE")
        finally:
            await conn.close()

    asyncio.run(go())


async def _wait_until_quiet(conn: Any, seconds: float = 30.0) -> None:
    """Wait until the server has sent nothing for a moment: wrk leaves requests in flight."""
    deadline = time.monotonic() + seconds
    quiet_polls = 0
    while quiet_polls < 5 and time.monotonic() < deadline:
        quiet_polls = quiet_polls + 1 if await conn.fetchval(_BUSY_SERVER) == 0 else 0
        await asyncio.sleep(0.1)


def backend_pids(url: str) -> list[int]:
    """The PostgreSQL backends serving the videolikes server's connection pools."""

    async def go() -> list[int]:
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            rows = await conn.fetch(
                "SELECT pid FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = 'videolikes'"
            )
            return [int(row["pid"]) for row in rows]
        finally:
            await conn.close()

    return asyncio.run(go())


_DRIFT = """
    SELECT count(*) FROM videos AS v
    LEFT JOIN (SELECT video_id, count(*) AS n FROM video_likes WHERE is_like GROUP BY video_id)
        AS c ON c.video_id = v.id
    WHERE v.likes <> coalesce(c.n, 0) OR v.likes < 0
"""


def drift(url: str) -> int:
    """Videos whose `likes` differs from their like rows; the invariant says 0."""
    return _count(asyncpg_dsn(url), _DRIFT)
