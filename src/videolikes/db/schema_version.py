"""Which migration a database is at, and whether this code can serve it."""

from __future__ import annotations

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", "videolikes:migrations")
    config.attributes["url"] = database_url
    return config


# Alembic's own record (its default table), read directly where it is read often: Alembic's
# MigrationContext logs two INFO lines each time it is made.
REVISION_QUERY = "SELECT version_num FROM alembic_version"


def current_revision(connection: Connection) -> str | None:
    """The revision recorded in the database; None when it has never been migrated."""
    return MigrationContext.configure(connection).get_current_revision()


class SchemaVersion:
    """What this code's migrations end at, read once from the migration scripts."""

    def __init__(self) -> None:
        script = ScriptDirectory.from_config(alembic_config(""))
        head = script.get_current_head()
        assert head is not None, "the migrations have one head"
        self.head = head
        self._older = {revision.revision for revision in script.walk_revisions()} - {head}

    def problem(self, revision: str | None) -> str | None:
        """Why a database at `revision` cannot be served, or None when it can.

        A revision this code does not know is newer than it (the code was rolled back after a
        migration): migrations only add, so it is served.
        """
        if revision is None:
            return "not migrated"
        if revision in self._older:
            return "behind"
        return None
