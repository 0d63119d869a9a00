"""A database as the original service leaves it: its own schema file, rows made its way.

The schema is `pg_dump --schema-only` of a database the original's tooling made (a copy of
shared/reference/original-schema.sql, checked to be identical). Users are keyed as the
original keys them: the hex SHA-256 of the address followed by its salt. The like counters are
what its toggles leave: each like row added one, each unlike removed its row and one.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

SCHEMA_FILE = Path(__file__).parent / "reference" / "original-schema.sql"
SHARED_SCHEMA_FILE = Path(__file__).parents[2] / "shared" / "reference" / "original-schema.sql"
SALT = "jefftube-salt"

_DRIZZLE = """
CREATE SCHEMA drizzle;
CREATE TABLE drizzle.__drizzle_migrations (
    id SERIAL PRIMARY KEY,
    hash text NOT NULL,
    created_at bigint
);
INSERT INTO drizzle.__drizzle_migrations (hash, created_at) VALUES
    ('4b1f0c9e2a7d5e3f8c6b1a0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f', 1717000000000),
    ('a2c4e6f8091b3d5f7a9c1e3f5b7d9f1a3c5e7f9b1d3f5a7c9e1b3d5f7a9c1e3f', 1719000000000);
"""


def original_hash(address: str) -> str:
    return hashlib.sha256(f"{address}{SALT}".encode()).hexdigest()


@dataclass
class OriginalData:
    """What was written, to compare with what videolikes answers."""

    videos: list[str]
    clients: dict[str, uuid.UUID]  # address -> user id
    usernames: dict[str, str]
    liked: dict[str, set[str]] = field(default_factory=dict)  # address -> video ids


def _postgres_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def make_original_database(url: str, *, clients: int = 36, seed: int = 7) -> OriginalData:
    """Load the original's schema into the empty database at `url` and fill it its way."""
    rng = random.Random(seed)
    conn = await asyncpg.connect(_postgres_dsn(url))
    try:
        await conn.execute(SCHEMA_FILE.read_text())
        await conn.execute(_DRIZZLE)
        videos = [f"EFTA0168{3560 + n}" for n in range(8)]
        await conn.executemany(
            "INSERT INTO videos (id, title, filename, length, has_thumbnail, views, is_shorts,"
            " playlist) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            [
                (
                    video,
                    # The original keeps titles as given: spaces, tabs and all.
                    [f"Harbour {n} ", f"\tRain {n}", f"Ünïcödé {n}", None][n % 4],
                    f"{video}.mp4",
                    30 + n * 60,
                    n % 2 == 0,
                    1000 - n * 10,
                    n % 3 == 0,
                    ["harbour", None, "weather"][n % 3],
                )
                for n, video in enumerate(videos)
            ],
        )
        data = OriginalData(videos=videos, clients={}, usernames={})
        start = datetime(2024, 5, 1, 10, 0, 0)
        for n in range(clients):
            address = f"203.0.113.{n + 1}"
            user_id = uuid.uuid4()
            username = f"@user-{uuid.uuid4().hex[:6]}"
            await conn.execute(
                "INSERT INTO users (id, ip_hash, username, created_at) VALUES ($1, $2, $3, $4)",
                user_id,
                original_hash(address),
                username,
                start + timedelta(minutes=n),
            )
            data.clients[address] = user_id
            data.usernames[address] = username
            data.liked[address] = set()
        for address in data.clients:
            for video in rng.sample(videos, rng.randint(0, 5)):
                await _toggle(conn, data, address, video, start)
            # Some change their mind: a toggle on a video they liked removes the like.
            if data.liked[address] and rng.random() < 0.4:
                await _toggle(conn, data, address, sorted(data.liked[address])[0], start)
        await _comments(conn, data, rng, start)
    finally:
        await conn.close()
    return data


async def _toggle(
    conn: asyncpg.Connection, data: OriginalData, address: str, video: str, when: datetime
) -> None:
    user_id = data.clients[address]
    if video in data.liked[address]:
        await conn.execute(
            "DELETE FROM video_likes WHERE video_id = $1 AND user_id = $2", video, user_id
        )
        await conn.execute("UPDATE videos SET likes = GREATEST(likes - 1, 0) WHERE id = $1", video)
        data.liked[address].discard(video)
        return
    await conn.execute(
        "INSERT INTO video_likes (video_id, user_id, is_like, created_at)"
        " VALUES ($1, $2, true, $3)",
        video,
        user_id,
        when,
    )
    await conn.execute("UPDATE videos SET likes = likes + 1 WHERE id = $1", video)
    data.liked[address].add(video)


async def _comments(
    conn: asyncpg.Connection, data: OriginalData, rng: random.Random, start: datetime
) -> None:
    users = list(data.clients.values())
    top_level: list[tuple[uuid.UUID, str]] = []
    for n in range(12):
        comment_id = uuid.uuid4()
        video = data.videos[n % 3]
        await conn.execute(
            "INSERT INTO comments (id, video_id, user_id, parent_id, content, created_at)"
            " VALUES ($1, $2, $3, NULL, $4, $5)",
            comment_id,
            video,
            rng.choice(users),
            f"Comment {n} ",
            start + timedelta(hours=n),
        )
        top_level.append((comment_id, video))
    replies = []
    for n in range(10):
        parent, video = rng.choice(top_level)
        reply_id = uuid.uuid4()
        await conn.execute(
            "INSERT INTO comments (id, video_id, user_id, parent_id, content, created_at)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            reply_id,
            video,
            rng.choice(users),
            parent,
            f"Reply {n}",
            start + timedelta(hours=20 + n),
        )
        replies.append(reply_id)
    comment_ids = [comment for comment, _ in top_level] + replies
    pairs = {(rng.choice(comment_ids), rng.choice(users)) for _ in range(30)}
    await conn.executemany(
        "INSERT INTO comment_likes (comment_id, user_id, is_like) VALUES ($1, $2, true)",
        sorted(pairs),
    )


async def every_row(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table but Alembic's, in a stable order."""
    conn = await asyncpg.connect(_postgres_dsn(url))
    try:
        tables = await conn.fetch(
            """
            SELECT table_schema || '.' || table_name AS name FROM information_schema.tables
            WHERE table_schema IN ('public', 'drizzle') AND table_name <> 'alembic_version'
            ORDER BY 1
            """
        )
        return {
            table["name"]: [
                tuple(row) for row in await conn.fetch(f"SELECT * FROM {table['name']} ORDER BY 1")
            ]
            for table in tables
        }
    finally:
        await conn.close()


async def catalog(url: str) -> list[tuple[Any, ...]]:
    """Tables, columns, constraints and indexes: what a refused adoption must leave alone."""
    conn = await asyncpg.connect(_postgres_dsn(url))
    try:
        columns = await conn.fetch(
            """
            SELECT table_name, column_name, data_type, is_nullable, column_default
            FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1, 2
            """
        )
        constraints = await conn.fetch(
            "SELECT conrelid::regclass::text, conname, contype FROM pg_constraint"
            " WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2"
        )
        indexes = await conn.fetch(
            "SELECT tablename, indexname, indexdef FROM pg_indexes"
            " WHERE schemaname = 'public' ORDER BY 1, 2"
        )
        return [tuple(row) for row in [*columns, *constraints, *indexes]]
    finally:
        await conn.close()


async def run_sql(url: str, sql: str) -> None:
    conn = await asyncpg.connect(_postgres_dsn(url))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def alembic_version(url: str) -> str | None:
    conn = await asyncpg.connect(_postgres_dsn(url))
    try:
        if await conn.fetchval("SELECT to_regclass('public.alembic_version')") is None:
            return None
        return str(await conn.fetchval("SELECT version_num FROM alembic_version"))
    finally:
        await conn.close()
