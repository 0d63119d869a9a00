"""The migrated comments and comment_likes are the original's, down to names and defaults."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import pytest
from alembic import command
from conftest import Backend, execute, opened_database, scalar, throwaway_postgres
from original_service import SCHEMA_FILE, catalog, run_sql
from sqlalchemy import text

from videolikes.comments.repository.reads import like_counts_query
from videolikes.db.schema_version import alembic_config

COMMENT_TABLES = {"comments", "comment_likes"}


async def _constraint_definitions(url: str) -> list[tuple[str, str, str]]:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        rows = await conn.fetch(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)"
            " FROM pg_constraint WHERE connamespace = 'public'::regnamespace"
            " AND conrelid::regclass::text = ANY($1::text[]) ORDER BY 1, 2",
            sorted(COMMENT_TABLES),
        )
        return [(row[0], row[1], row[2]) for row in rows]
    finally:
        await conn.close()


# videolikes' own addition (migration 0005): counting likes on read reads only the index.
ADDED_INDEX = "comment_likes_liked_idx"


def _of_comment_tables(shape: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [row for row in shape if row[0] in COMMENT_TABLES and row[1] != ADDED_INDEX]


async def test_postgres_comment_tables_match_the_originals_schema_file(
    empty_postgres: str,
) -> None:
    await asyncio.to_thread(command.upgrade, alembic_config(empty_postgres), "head")
    async with throwaway_postgres("videolikes_original") as original:
        await run_sql(original, SCHEMA_FILE.read_text())
        expected = _of_comment_tables(await catalog(original))
        expected_constraints = await _constraint_definitions(original)
    migrated = _of_comment_tables(await catalog(empty_postgres))
    assert expected
    assert migrated == expected
    # Foreign keys with their ON DELETE CASCADE, primary keys.
    assert len(expected_constraints) == 6
    assert await _constraint_definitions(empty_postgres) == expected_constraints


async def test_postgres_counts_comment_likes_from_the_index_alone(
    postgres_url: str, postgres_backend: Backend
) -> None:
    async with opened_database(postgres_url, demo=True) as database:
        await execute(
            database,
            "INSERT INTO users (id, ip_hash, username) SELECT gen_random_uuid(), 'h' || n, 'u'"
            " FROM generate_series(1, 2000) AS n",
        )
        await execute(
            database,
            "INSERT INTO comments (video_id, user_id, content)"
            " SELECT 'DEMO00000001', id, 'c' FROM users LIMIT 50",
        )
        await execute(
            database,
            "INSERT INTO comment_likes (comment_id, user_id, is_like)"
            " SELECT c.id, u.id, true FROM comments AS c CROSS JOIN users AS u",
        )
        # What autovacuum does on its own: marks the pages all-visible. Only the table's owner
        # may, and the app is not it.
        async with (
            opened_database(postgres_backend.template_url) as owner,
            owner.engine.connect() as conn,
        ):
            autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.exec_driver_sql("VACUUM ANALYZE comment_likes")
        async with database.engine.connect() as conn:
            ids = list((await conn.execute(text("SELECT id FROM comments"))).scalars())
            query = like_counts_query(ids).compile(
                dialect=conn.dialect, compile_kwargs={"literal_binds": True}
            )
            plan = "\n".join((await conn.execute(text(f"EXPLAIN {query}"))).scalars())
    assert "Index Only Scan using comment_likes_liked_idx" in plan


async def test_going_below_the_comments_migration_keeps_tables_that_hold_comments(
    sqlite_url: str,
) -> None:
    async with opened_database(sqlite_url, demo=True) as database:
        await execute(
            database,
            "INSERT INTO users (id, ip_hash, username) VALUES (:id, 'h', '@user-aaaaaa')",
            id=USER.hex,
        )
        await execute(
            database,
            "INSERT INTO comments (id, video_id, user_id, content, created_at)"
            " VALUES (:id, 'DEMO00000001', :user, 'kept', '2026-11-27 13:47:41.123000')",
            id=uuid.uuid4().hex,
            user=USER.hex,
        )
        with pytest.raises(RuntimeError, match="comments holds rows"):
            await asyncio.to_thread(
                command.downgrade, alembic_config(sqlite_url), "0003_write_likes_function"
            )
        assert await scalar(database, "SELECT content FROM comments") == "kept"


USER = uuid.UUID("6f1c2b9e-4a3d-4e5f-8a7b-1c2d3e4f5a6b")
