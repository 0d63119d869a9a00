"""How the commands reach the database: checked first, so that a mistake is one clear line.

A SQLite file that is not there, a directory that does not exist, a database that was never
migrated: each is said as such (with what to do), instead of as the error the driver raises
later, or an empty file created on the way.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory
from pydantic import ValidationError
from sqlalchemy.engine import make_url

from videolikes.config import Settings, mask_url_password, settings_problems
from videolikes.db.schema_version import alembic_config, current_revision
from videolikes.db.units import Database, create_engine
from videolikes.ops.failures import INVALID_INPUT, CommandFailed, database_errors

_UPGRADE_FIRST = "run `videolikes db upgrade` first"


@dataclass(frozen=True)
class Migration:
    revision: str
    description: str


@dataclass(frozen=True)
class Upgrade:
    """What `db upgrade` did: the migrations applied, oldest first, and the revision now."""

    applied: list[Migration]
    revision: str
    # The database was at a revision this code does not know: made by a later version.
    newer: bool = False


def sqlite_file(settings: Settings) -> Path | None:
    """The SQLite database's file; None for PostgreSQL and for in-memory or URI databases."""
    if not settings.is_sqlite:
        return None
    url = make_url(settings.database_url)
    if not url.database or url.database == ":memory:" or url.query.get("uri"):
        return None
    return Path(url.database)


def upgrade_database(settings: Settings) -> Upgrade:
    """Apply every migration the database lacks (creating a SQLite file if there is none)."""
    file = sqlite_file(settings)
    if file is not None and not file.parent.is_dir():
        raise CommandFailed(
            f"cannot create the SQLite database {file}: the directory {file.parent} does not exist"
        )
    url = settings.database_url
    script = ScriptDirectory.from_config(alembic_config(url))
    head = script.get_current_head()
    assert head is not None, "the migrations have one head"
    with database_errors(url):
        before = asyncio.run(_revision(settings))
    if before is not None and before not in {r.revision for r in script.walk_revisions()}:
        return Upgrade(applied=[], revision=before, newer=True)
    pending = [
        Migration(revision.revision, revision.doc)
        for revision in reversed(list(script.iterate_revisions("head", before or "base")))
    ]
    if pending:
        with database_errors(url, failed="could not upgrade the database"):
            command.upgrade(alembic_config(url), "head")
    return Upgrade(applied=pending, revision=head)


async def _revision(settings: Settings) -> str | None:
    database = Database(create_engine(settings))
    try:
        async with database.read() as conn:
            return await conn.run_sync(current_revision)
    finally:
        await database.dispose()


@asynccontextmanager
async def migrated_database(settings: Settings) -> AsyncIterator[Database]:
    """The database, once it is known to exist and hold videolikes' schema.

    Errors of the database raised in the block are reported as one line too.
    """
    file = sqlite_file(settings)
    if file is not None and not file.is_file():
        raise CommandFailed(f"there is no SQLite database at {file}: {_UPGRADE_FIRST}")
    with database_errors(settings.database_url):
        database = Database(create_engine(settings))
        try:
            async with database.read() as conn:
                revision = await conn.run_sync(current_revision)
            if revision is None:
                adopt = (
                    ""
                    if settings.is_sqlite
                    else " (or `videolikes db adopt`, for a database of the original service)"
                )
                raise CommandFailed(
                    f"the database {mask_url_password(settings.database_url)} has no "
                    f"videolikes schema: {_UPGRADE_FIRST}{adopt}"
                )
            yield database
        finally:
            await database.dispose()


def settings_or_fail() -> Settings:
    """The settings, or every problem with them, one line each (never a value)."""
    try:
        return Settings()
    except ValidationError as error:
        problems = (f"invalid setting {problem}" for problem in settings_problems(error))
        raise CommandFailed(*problems, status=INVALID_INPUT) from error
