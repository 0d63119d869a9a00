"""Every expected failure of a command: one line per problem on stderr, a non-zero exit.

Each runs the installed console script in a subprocess against a real fault: a database that
does not exist, a role that does not exist or may not create tables, a port nobody listens on,
a server that accepts and never answers, a directory that is not there, a busy port.
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from commands import Ran, videolikes
from conftest import POSTGRES_URL, require_postgres
from pg_cluster import free_port
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

UPGRADE_FIRST = "run `videolikes db upgrade` first"


def assert_one_line_failure(ran: Ran, *, code: int, says: str) -> None:
    assert ran.code == code, ran.err
    assert "Traceback" not in ran.err
    assert ran.err.splitlines() == [ran.err.strip()], ran.err
    assert says in ran.err


def _postgres_url(user: str | None = None, database: str | None = None, port: int = 0) -> str:
    parts = urlsplit(POSTGRES_URL)
    netloc = f"{user or parts.username}@{parts.hostname}:{port or parts.port or 5432}"
    return parts._replace(netloc=netloc, path=f"/{database or parts.path[1:]}").geturl()


def _sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never says a word: a server that hangs."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield int(listener.getsockname()[1])


@pytest.fixture
async def role_without_privileges(empty_postgres: str) -> AsyncIterator[str]:
    """The URL of an empty database, as a role that may connect but not create tables."""
    role = f"videolikes_plain_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
    try:
        parts = urlsplit(empty_postgres)
        netloc = f"{role}@{parts.hostname}:{parts.port or 5432}"
        yield parts._replace(netloc=netloc).geturl()
    finally:
        async with admin.connect() as conn:
            await conn.execute(
                text(f"""SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                                       WHERE usename = '{role}'""")
            )
            await conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        await admin.dispose()


# db upgrade


async def test_db_upgrade_of_a_postgres_database_that_does_not_exist() -> None:
    require_postgres()
    name = f"videolikes_missing_{uuid.uuid4().hex[:8]}"
    ran = await videolikes("db", "upgrade", database_url=_postgres_url(database=name))
    assert_one_line_failure(ran, code=1, says=f'database "{name}" does not exist')
    assert ran.err.startswith("cannot use the database postgresql+asyncpg://")


async def test_db_upgrade_as_a_role_that_does_not_exist() -> None:
    require_postgres()
    ran = await videolikes("db", "upgrade", database_url=_postgres_url(user="no_such_role_x"))
    assert_one_line_failure(ran, code=1, says='role "no_such_role_x" does not exist')


async def test_db_upgrade_as_a_role_that_may_not_create_tables(
    role_without_privileges: str,
) -> None:
    ran = await videolikes("db", "upgrade", database_url=role_without_privileges)
    assert_one_line_failure(ran, code=1, says="permission denied for schema public")


async def test_db_upgrade_with_nobody_listening() -> None:
    port = free_port()
    ran = await videolikes("db", "upgrade", database_url=_postgres_url(port=port))
    assert_one_line_failure(ran, code=1, says=f"127.0.0.1:{port}")


async def test_db_upgrade_against_a_server_that_never_answers_gives_up_in_seconds(
    silent_server: int,
) -> None:
    started = time.monotonic()
    ran = await videolikes("db", "upgrade", database_url=_postgres_url(port=silent_server))
    assert_one_line_failure(ran, code=1, says="no answer in time")
    assert time.monotonic() - started < 30


async def test_db_upgrade_of_a_sqlite_file_in_a_missing_directory(tmp_path: Path) -> None:
    path = tmp_path / "no-such-directory" / "videolikes.db"
    ran = await videolikes("db", "upgrade", database_url=_sqlite_url(path))
    assert_one_line_failure(ran, code=1, says=f"the directory {path.parent} does not exist")


# seed, import, reconcile: the database must exist and be migrated


def _command(name: str, directory: Path) -> list[str]:
    if name == "import":
        path = directory / "videos.json"
        path.write_text("[]", encoding="utf-8")
        return ["import", str(path)]
    return {"seed": ["seed", "--demo"], "reconcile": ["reconcile"]}[name]


DATA_COMMANDS = ["seed", "import", "reconcile"]


@pytest.mark.parametrize("name", DATA_COMMANDS)
async def test_a_command_on_a_sqlite_file_that_is_not_there_creates_none(
    tmp_path: Path, name: str
) -> None:
    path = tmp_path / "videolikes.db"
    ran = await videolikes(*_command(name, tmp_path), database_url=_sqlite_url(path))
    assert_one_line_failure(ran, code=1, says=f"there is no SQLite database at {path}")
    assert UPGRADE_FIRST in ran.err
    assert not path.exists()


@pytest.mark.parametrize("name", DATA_COMMANDS)
async def test_a_command_on_a_database_never_migrated_says_to_upgrade(
    empty_postgres: str, tmp_path: Path, name: str
) -> None:
    ran = await videolikes(*_command(name, tmp_path), database_url=empty_postgres)
    assert_one_line_failure(ran, code=1, says="has no videolikes schema")
    assert UPGRADE_FIRST in ran.err


@pytest.mark.parametrize("name", [*DATA_COMMANDS, "db adopt"])
async def test_a_command_as_a_role_that_does_not_exist(tmp_path: Path, name: str) -> None:
    require_postgres()
    args = name.split() if name == "db adopt" else _command(name, tmp_path)
    ran = await videolikes(*args, database_url=_postgres_url(user="no_such_role_x"))
    assert_one_line_failure(ran, code=1, says='role "no_such_role_x" does not exist')


async def test_db_adopt_of_a_database_that_does_not_exist() -> None:
    require_postgres()
    name = f"videolikes_missing_{uuid.uuid4().hex[:8]}"
    ran = await videolikes("db", "adopt", "--check", database_url=_postgres_url(database=name))
    assert_one_line_failure(ran, code=1, says=f'database "{name}" does not exist')


async def test_reconcile_with_nobody_listening() -> None:
    port = free_port()
    ran = await videolikes("reconcile", database_url=_postgres_url(port=port))
    assert_one_line_failure(ran, code=1, says=f"127.0.0.1:{port}")


# import: the file


async def test_import_of_a_directory_is_a_short_usage_error(
    sqlite_url: str, tmp_path: Path
) -> None:
    # Wide enough for the message's box not to wrap the long path.
    ran = await videolikes("import", str(tmp_path), database_url=sqlite_url, COLUMNS="250")
    assert ran.code == 2
    assert "Traceback" not in ran.err
    assert len(ran.err.splitlines()) <= 5, ran.err
    assert f"'{tmp_path}' is a directory" in ran.err


async def test_import_of_a_file_that_is_not_json_is_one_line(
    sqlite_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "videos.json"
    path.write_text("not json at all", encoding="utf-8")
    ran = await videolikes("import", str(path), database_url=sqlite_url)
    assert_one_line_failure(ran, code=2, says=f"{path}: not valid JSON")


# serve


async def test_serve_in_production_without_secrets_names_every_missing_one(
    tmp_path: Path,
) -> None:
    ran = await videolikes(
        "serve",
        "--port",
        str(free_port()),
        database_url=_sqlite_url(tmp_path / "videolikes.db"),
        ENVIRONMENT="production",
        IP_HASH_SECRET=None,
    )
    assert ran.code == 2
    assert "Traceback" not in ran.err
    assert sorted(ran.err.splitlines()) == [
        "invalid setting IP_HASH_SECRET: must be set when ENVIRONMENT=production",
        "invalid setting RECAPTCHA_SECRET_KEY: must be set when ENVIRONMENT=production",
    ]


async def test_serve_with_workers_on_a_busy_port_says_so_in_one_line(sqlite_url: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        ran = await videolikes(
            "serve", "--port", str(port), "--workers", "2", database_url=sqlite_url
        )
    assert_one_line_failure(
        ran, code=3, says=f"cannot listen on 127.0.0.1:{port}: address already in use"
    )


# tracebacks on request


@pytest.mark.parametrize(
    ("args", "variables"),
    [(["--debug"], {}), ([], {"LOG_LEVEL": "debug"})],
    ids=["--debug", "LOG_LEVEL=debug"],
)
async def test_a_failure_shows_its_traceback_when_asked(
    tmp_path: Path, args: list[str], variables: dict[str, str]
) -> None:
    path = tmp_path / "no-such-directory" / "videolikes.db"
    ran = await videolikes(*args, "db", "upgrade", database_url=_sqlite_url(path), **variables)
    assert ran.code == 1
    assert "Traceback (most recent call last)" in ran.err
    assert f"the directory {path.parent} does not exist" in ran.err
