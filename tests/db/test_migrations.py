"""Every migration goes down and up again, on both databases, leaving the schema it found."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from videolikes.db.schema_version import alembic_config

Schema = dict[str, Any]


def _describe(conn: Connection) -> Schema:
    inspector = inspect(conn)
    schema: Schema = {}
    # Alembic's own bookkeeping table stays after a downgrade to base.
    for table in sorted(set(inspector.get_table_names()) - {"alembic_version"}):
        schema[table] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
                for c in inspector.get_columns(table)
            ],
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                for i in inspector.get_indexes(table)
            ),
            "uniques": sorted(
                (u["name"], tuple(u["column_names"]))
                for u in inspector.get_unique_constraints(table)
            ),
            "foreign_keys": sorted(
                (f["name"], tuple(f["constrained_columns"]), f["referred_table"])
                for f in inspector.get_foreign_keys(table)
            ),
        }
    if conn.dialect.name == "postgresql":
        functions = conn.execute(
            text(
                "SELECT p.proname FROM pg_proc AS p JOIN pg_namespace AS n "
                "ON n.oid = p.pronamespace WHERE n.nspname = 'public' ORDER BY 1"
            )
        )
        schema["functions"] = list(functions.scalars())
    return schema


async def _schema(url: str) -> Schema:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_describe)
    finally:
        await engine.dispose()


async def _walk_down_and_up(url: str) -> None:
    config = alembic_config(url)
    revisions = [
        r.revision for r in reversed(list(ScriptDirectory.from_config(config).walk_revisions()))
    ]
    # On the way up, the schema at each revision; "base" is the empty database.
    seen = {"base": await _schema(url)}
    for revision in revisions:
        await asyncio.to_thread(command.upgrade, config, revision)
        seen[revision] = await _schema(url)
    downward = list(reversed(revisions))
    for revision, below in zip(downward, [*downward[1:], "base"], strict=True):
        await asyncio.to_thread(command.downgrade, config, below)
        assert await _schema(url) == seen[below], f"downgrading {revision}"
    await asyncio.to_thread(command.upgrade, config, "head")
    assert await _schema(url) == seen[revisions[-1]]


async def test_every_migration_goes_down_and_up_again_on_sqlite(tmp_path: Path) -> None:
    await _walk_down_and_up(f"sqlite+aiosqlite:///{tmp_path / 'videolikes.db'}")


async def test_every_migration_goes_down_and_up_again_on_postgres(empty_postgres: str) -> None:
    await _walk_down_and_up(empty_postgres)
    schema = await _schema(empty_postgres)
    assert schema["functions"] == ["videolikes_write_likes", "videolikes_write_ratings"]


async def test_the_dislike_counter_starts_from_the_rows_and_upgrading_keeps_a_column_made_before(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'videolikes.db'}"
    config = alembic_config(url)
    await asyncio.to_thread(command.upgrade, config, "0005_comment_like_counts")
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            for statement in (
                "INSERT INTO videos (id, filename, length) VALUES ('V1', 'V1.mp4', 1)",
                "INSERT INTO users (id, ip_hash, username) VALUES ('u1', 'h1', '@user-1')",
                "INSERT INTO users (id, ip_hash, username) VALUES ('u2', 'h2', '@user-2')",
                "INSERT INTO video_likes (id, video_id, user_id, is_like) VALUES "
                "('l1', 'V1', 'u1', 0), ('l2', 'V1', 'u2', 0)",
                # As an earlier, interrupted attempt might have left it.
                "ALTER TABLE videos ADD COLUMN dislikes INTEGER DEFAULT 0 NOT NULL",
            ):
                await conn.execute(text(statement))
        await asyncio.to_thread(command.upgrade, config, "head")
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT dislikes FROM videos WHERE id = 'V1'")) == 2
    finally:
        await engine.dispose()
