"""A database error never brings a statement's values into the log: not SQLAlchemy's
parameters, not asyncpg's or PostgreSQL's messages that quote them, not aiosqlite's calls."""

from __future__ import annotations

import logging
from pathlib import Path

import asyncpg
import httpx
import pytest
import sqlalchemy.exc
from conftest import execute, make_settings, opened_database
from served import served
from sqlalchemy import text

from videolikes.db import Database, create_engine
from videolikes.logging_setup import JsonFormatter, TextFormatter

# What a client sent, in a form no log line has any other reason to contain.
PROBE = "Probe_7f3a9c_from_a_query_string"


async def test_a_failing_statement_logs_no_parameter_even_at_debug(
    database_url: str, tmp_path: Path
) -> None:
    log_path = tmp_path / "server.log"
    async with (
        opened_database(database_url, demo=True) as database,
        served(database_url, log_path, LOG_LEVEL="debug") as server,
    ):
        await execute(database, "ALTER TABLE video_likes RENAME TO video_likes_gone")
        try:
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
                answers = [
                    await client.get("/api/me/likes", params={"ids": PROBE}),
                    await client.get(f"/api/videos/{PROBE}/like"),
                ]
        finally:
            await execute(database, "ALTER TABLE video_likes_gone RENAME TO video_likes")
    log = server.log_text()
    assert [a.status_code for a in answers] == [500, 500]
    assert "video_likes" in log, "the errors were logged"
    assert PROBE not in log


@pytest.mark.parametrize(
    ("query", "error"),
    [
        # asyncpg's own words: "invalid input for query argument $1: '...'"
        ("SELECT $1::int", "DataError"),
        # PostgreSQL's: 'invalid input syntax for type integer: "..."'
        ("SELECT $1::text::int", "InvalidTextRepresentationError"),
        # and the converter's that asyncpg's rests on: "invalid UUID '...'"
        ("SELECT $1::uuid", "DataError"),
    ],
)
async def test_a_message_quoting_a_value_is_withheld_from_tracebacks(
    postgres_url: str, query: str, error: str
) -> None:
    connection = await asyncpg.connect(postgres_url.replace("+asyncpg", ""))
    try:
        with pytest.raises(asyncpg.PostgresError) as raised:
            await connection.fetchval(query, PROBE)
    finally:
        await connection.close()
    assert PROBE in str(raised.value), "the driver quotes it"
    for formatted in _formatted(raised.value):
        assert error in formatted
        assert PROBE not in formatted


async def test_a_value_quoted_through_sqlalchemy_is_withheld_from_tracebacks(
    postgres_url: str,
) -> None:
    database = Database(create_engine(make_settings(postgres_url)))
    try:
        with pytest.raises(sqlalchemy.exc.DBAPIError) as raised:
            async with database.read() as conn:
                await conn.execute(text("SELECT CAST(:value AS integer)"), {"value": PROBE})
    finally:
        await database.dispose()
    # hide_parameters keeps SQLAlchemy from listing it, but its text repeats asyncpg's.
    assert "[parameters:" not in str(raised.value)
    assert PROBE in str(raised.value)
    for formatted in _formatted(raised.value):
        assert "DataError" in formatted
        assert PROBE not in formatted


def _formatted(error: BaseException) -> list[str]:
    """The error logged with its traceback, in both log formats."""
    record = logging.LogRecord(
        "videolikes.app", logging.ERROR, __file__, 0, "unexpected error", (), None
    )
    record.exc_info = (type(error), error, error.__traceback__)
    record.request_id = "-"
    lines = []
    for formatter in (TextFormatter(), JsonFormatter()):
        record.exc_text = None
        lines.append(formatter.format(record))
    return lines
