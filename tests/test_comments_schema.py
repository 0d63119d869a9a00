"""The migrated comments and comment_likes are the original's, down to names and defaults."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from alembic import command
from conftest import throwaway_postgres
from original_service import SCHEMA_FILE, catalog, run_sql

from videolikes.schema_version import alembic_config

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


def _of_comment_tables(shape: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [row for row in shape if row[0] in COMMENT_TABLES]


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
