"""A database error never brings a statement's values into the log: not SQLAlchemy's
parameters, not asyncpg's or PostgreSQL's messages that quote them, not aiosqlite's calls."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import asyncpg
import httpx
import pytest
import sqlalchemy.exc
from conftest import make_settings, opened_database, video_likes_missing
from served import served
from sqlalchemy import text

from videolikes.db.errors import unavailable_reason
from videolikes.db.units import Database, create_engine
from videolikes.logs import JsonFormatter, TextFormatter

# What a client sent, in a form no log line has any other reason to contain.
PROBE = "Probe_7f3a9c_from_a_query_string"


async def test_a_failing_statement_logs_no_parameter_even_at_debug(
    database_url: str, tmp_path: Path
) -> None:
    log_path = tmp_path / "server.log"
    async with (
        opened_database(database_url, demo=True),
        served(database_url, log_path, LOG_LEVEL="debug") as server,
        video_likes_missing(database_url),
        httpx.AsyncClient(base_url=server.url, timeout=30) as client,
    ):
        answers = [
            await client.get("/api/me/likes", params={"ids": PROBE}),
            await client.get(f"/api/videos/{PROBE}/like"),
        ]
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


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (
            asyncpg.InvalidPasswordError('password authentication failed for user "app"'),
            'password authentication failed for user "app"',
        ),
        (asyncpg.TooManyConnectionsError("sorry, too many clients already"), None),
        (ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)"), None),
    ],
)
def test_errors_of_a_database_that_cannot_serve_have_a_reason(
    error: Exception, reason: str | None
) -> None:
    wrapped = _wrapped(error)
    found = unavailable_reason(wrapped)
    assert found is not None
    if reason is not None:
        assert found == reason


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.UndefinedTableError('relation "videos" does not exist'),
        asyncpg.DataError("invalid input for query argument $1"),
        asyncpg.UniqueViolationError("duplicate key value violates unique constraint"),
        sqlite3.OperationalError("no such table: videos"),
        ValueError("a bug"),
    ],
)
def test_other_errors_are_not_unavailability(error: Exception) -> None:
    assert unavailable_reason(_wrapped(error)) is None


def test_a_sqlite_file_locked_by_another_writer_is_unavailability(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None)
    waiter = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(sqlite3.OperationalError) as locked:
            waiter.execute("BEGIN IMMEDIATE")
    finally:
        holder.close()
        waiter.close()
    assert unavailable_reason(_wrapped(locked.value)) == "database is locked"


def _wrapped(error: Exception) -> Exception:
    """As SQLAlchemy raises it: its own error, caused by the driver's."""
    try:
        try:
            raise error
        except Exception as cause:
            raise sqlalchemy.exc.DBAPIError("SELECT 1", None, cause) from cause
    except sqlalchemy.exc.DBAPIError as wrapper:
        return wrapper
