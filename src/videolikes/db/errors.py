"""Database errors: which mean "the database cannot serve now", and how to log any of them.

An error reaches us wrapped: SQLAlchemy's DBAPIError around its adapter's error around
asyncpg's or sqlite3's own, each the cause of the next. What happened is decided by the
driver's error, wherever it sits in that chain; the wrapper's class says little (asyncpg's
"the database system is starting up" arrives as a bare DBAPIError).

Messages are logged only where they cannot carry a statement's values: PostgreSQL quotes
the rejected input in its data errors (class 22, "invalid input syntax for type uuid: ..."),
asyncpg in its own argument errors, and PL/pgSQL in whatever it raises.
"""

from __future__ import annotations

import asyncio
import errno
import sqlite3
import traceback
from collections.abc import Iterator

import asyncpg
import sqlalchemy.exc

# SQLSTATE classes and codes of a server that is down, starting, stopping, full, or that
# refuses this client: connection exceptions, invalid authorization, insufficient resources,
# operator intervention (shutdown, cancelled statements), system errors (I/O).
_UNAVAILABLE_CLASSES = frozenset({"08", "28", "53", "57", "58"})
_UNAVAILABLE_CODES = frozenset(
    {
        "3D000",  # the database named in the URL does not exist
        "25006",  # a read-only transaction: a primary that has become a standby
    }
)
# Tables, functions or columns this code needs and the database lacks.
_MISSING_OBJECT_CODES = frozenset({"42P01", "42883", "42703"})
_SQLITE_MISSING_OBJECT = ("no such table", "no such column", "no such function")
_SQLITE_UNAVAILABLE = (
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
    "SQLITE_CANTOPEN",
    "SQLITE_IOERR",
    "SQLITE_FULL",
    "SQLITE_READONLY",
    "SQLITE_NOTADB",
    "SQLITE_CORRUPT",
    "SQLITE_PERM",
)
_QUOTING_CLASSES = frozenset({"22", "P0"})
_WITHHELD = "(message withheld: it may quote a statement's values)"
_MAX_REASON = 200


def unavailable_reason(exc: BaseException) -> str | None:
    """Why the database cannot serve, when `exc` says so; None for any other error.

    The reason never holds a secret: it is the server's own message (which never repeats a
    password) or a fixed phrase, never the URL.
    """
    for error in _chain(exc):
        reason = _reason(error)
        if reason is not None:
            return reason[:_MAX_REASON]
    return None


def is_missing_schema_object(exc: BaseException) -> bool:
    """True when a table, column or function the statement names does not exist."""
    for error in _chain(exc):
        if isinstance(error, asyncpg.PostgresError) and error.sqlstate in _MISSING_OBJECT_CODES:
            return True
        if isinstance(error, sqlite3.OperationalError) and str(error).startswith(
            _SQLITE_MISSING_OBJECT
        ):
            return True
    return False


def involves_database(exc: BaseException) -> bool:
    return any(_is_driver_error(error) for error in _chain(exc))


def safe_traceback(exc: BaseException) -> str:
    """Python's traceback of `exc` and its causes, with every message that may hold a
    statement's values withheld, and SQLAlchemy's statement and parameters left out."""
    parts = []
    for error in reversed(list(_chain(exc))):
        frames = "".join(traceback.format_tb(error.__traceback__))
        kind = f"{type(error).__module__}.{type(error).__qualname__}"
        parts.append(f"Traceback (most recent call last):\n{frames}{kind}: {_message(error)}\n")
    return "\nThe above exception caused the following one:\n\n".join(parts)


def describe(exc: BaseException) -> str:
    """One line: the driver's error type, SQLSTATE and message where it is safe to log."""
    driver_error = next((e for e in _chain(exc) if _is_driver_error(e)), exc)
    sqlstate = getattr(driver_error, "sqlstate", None)
    code = f" (SQLSTATE {sqlstate})" if sqlstate else ""
    return f"{type(driver_error).__name__}{code}: {_message(driver_error)}"


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, then what it wraps (SQLAlchemy's `orig`) and what caused it, each once."""
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        error = pending.pop(0)
        if id(error) in seen:
            continue
        seen.add(id(error))
        yield error
        if isinstance(error, sqlalchemy.exc.StatementError):
            orig = error.orig
            if isinstance(orig, BaseException):
                pending.append(orig)
        if error.__cause__ is not None:
            pending.append(error.__cause__)
        elif error.__context__ is not None and not error.__suppress_context__:
            pending.append(error.__context__)


def _reason(error: BaseException) -> str | None:
    if isinstance(error, asyncpg.PostgresError):
        sqlstate = error.sqlstate or ""
        if sqlstate[:2] in _UNAVAILABLE_CLASSES or sqlstate in _UNAVAILABLE_CODES:
            return _primary_message(error)
        return None
    if isinstance(error, asyncpg.InterfaceError | asyncpg.exceptions.InternalClientError):
        # asyncpg's words about its own connection ("connection is closed", "cannot switch
        # to state ...": the server went away mid-statement); they quote no values.
        return f"connection lost ({error})"
    if isinstance(error, sqlalchemy.exc.TimeoutError):
        return "no pooled connection became free in time"
    if isinstance(error, TimeoutError):
        return "timeout"
    if isinstance(error, ConnectionRefusedError) or (
        isinstance(error, OSError) and error.errno == errno.ECONNREFUSED
    ):
        return "connection refused"
    if isinstance(error, sqlite3.Error):
        name = getattr(error, "sqlite_errorname", "")
        return str(error) if name.startswith(_SQLITE_UNAVAILABLE) else None
    if isinstance(error, OSError):
        return error.strerror or str(error)
    return None


def _is_driver_error(error: BaseException) -> bool:
    return isinstance(
        error,
        asyncpg.PostgresError
        | asyncpg.InterfaceError
        | asyncpg.exceptions.InternalClientError
        | sqlite3.Error,
    )


def _message(error: BaseException) -> str:
    """The message of an error in a database error's chain, where it cannot hold values."""
    if isinstance(error, asyncpg.PostgresError):
        if (error.sqlstate or "")[:2] in _QUOTING_CLASSES:
            return _WITHHELD
        return _primary_message(error)
    if isinstance(error, sqlalchemy.exc.StatementError):
        # Its text is the driver error's (above), the statement and its parameters.
        return "the statement failed (the driver's error above)"
    if type(error).__module__.startswith("sqlalchemy.dialects."):
        return "(the driver's error above)"
    if isinstance(
        error,
        asyncpg.InterfaceError
        | asyncpg.exceptions.InternalClientError
        | sqlite3.Error
        | OSError
        | asyncio.CancelledError,
    ):
        # Words of the driver about its connection, SQLite's, or the system's.
        return str(error)
    # Anything else here may be a value's converter explaining what it could not take.
    return _WITHHELD


def _primary_message(error: asyncpg.PostgresError) -> str:
    # Without the DETAIL that str() adds: it repeats the row or key a constraint rejected.
    return str(error.args[0]) if error.args else type(error).__name__
