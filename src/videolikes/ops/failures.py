"""What a command says when it fails: one line per problem on stderr, never a traceback.

Tracebacks are for bugs, and for whoever asks for them (`videolikes --debug`, LOG_LEVEL=debug).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg
import sqlalchemy.exc

from videolikes.config import mask_url_password
from videolikes.errors import DatabaseUnavailable

# Exit statuses, besides 0: 1 for a failure, 2 for a wrong setting or argument (as a usage
# error), 3 for a server that could not start (as uvicorn's STARTUP_FAILURE).
FAILED = 1
INVALID_INPUT = 2


class CommandFailed(Exception):
    """An expected failure: the lines to tell the operator, and the exit status."""

    def __init__(self, *lines: str, status: int = FAILED) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines
        self.status = status


def explain(error: Exception) -> CommandFailed:
    """`error` as what to tell the operator: itself when expected, else one line about it."""
    if isinstance(error, CommandFailed):
        return error
    if isinstance(error, OSError) and error.filename is not None:
        return CommandFailed(f"{error.filename}: {error.strerror or error}", status=INVALID_INPUT)
    return CommandFailed(
        f"unexpected error: {type(error).__name__}: {_first_line(error)}",
        "run again with --debug (or LOG_LEVEL=debug) to see where it happened",
    )


def showing_tracebacks() -> bool:
    """Whether failures are shown with their traceback: --debug or LOG_LEVEL=debug.

    Read from the environment as it is, since the settings themselves may be what failed.
    """
    return any(
        name.lower() == "log_level" and value.strip().lower() == "debug"
        for name, value in os.environ.items()
    )


@contextmanager
def database_errors(url: str, *, failed: str = "cannot use the database") -> Iterator[None]:
    """Turn the database's errors raised in the block into one line: `failed`, which, why.

    The database is named with its password masked; why is what the driver said:
    'database "likes" does not exist', 'role "app" does not exist', a refused connection.
    """

    def failure(reason: str) -> CommandFailed:
        return CommandFailed(f"{failed} {mask_url_password(url)}: {reason}")

    try:
        yield
    except DatabaseUnavailable as error:
        raise failure(error.reason) from error
    except sqlalchemy.exc.DBAPIError as error:
        raise failure(_first_line(error.orig or error)) from error
    except sqlalchemy.exc.TimeoutError as error:
        raise failure("no connection became free in time") from error
    except TimeoutError as error:
        raise failure("no answer in time") from error
    except (asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        raise failure(_first_line(error)) from error
    except OSError as error:
        if error.filename is not None:
            raise  # a file of the command's own, not the database
        raise failure(error.strerror or _first_line(error)) from error


def _first_line(error: BaseException) -> str:
    # Only the first: SQLAlchemy adds the statement and its parameters on the lines below.
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
