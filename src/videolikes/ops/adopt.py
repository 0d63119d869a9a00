"""Adopt a PostgreSQL database made by the original service.

The original created the same three tables (SPEC section 1) with its own tooling, and later
comments and comment_likes (checked where present; migration 0004 creates them where not). To
adopt one: check that every table, column and constraint videolikes relies on is there and
compatible; if anything is not, report all of it and change nothing. Otherwise, in one
transaction: give the constraints videolikes' names where they differ (the like writes name
`video_user_unique`, later migrations name the rest), turn a unique index the like writes need
as a constraint into one, re-key every user's `ip_hash` (videolikes.legacy_identity) and
record the baseline revision, so `db upgrade` continues from it. No other row, no other table
and none of the original's migration bookkeeping is touched.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    String,
    Uuid,
    bindparam,
    func,
    inspect,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection

from videolikes.config import Settings
from videolikes.db.schema_version import current_revision
from videolikes.db.tables import users as _users
from videolikes.db.units import create_engine
from videolikes.legacy_identity import LEGACY_PREFIX, LegacyIdentity
from videolikes.ops.adopt_plan import Adoption, plan

BASELINE_REVISION = "0001"


# Users re-keyed per statement: memory stays at one chunk whatever the table's size.
_REKEY_CHUNK = 10_000


def _count_identities(connection: Connection) -> int:
    """Users whose hash is the original's (every user, in a database the original made)."""
    legacy = _users.c.ip_hash.startswith(LEGACY_PREFIX, autoescape=True)
    return int(connection.scalar(select(func.count()).where(~legacy)) or 0)


def _rekey_identities(connection: Connection, legacy: LegacyIdentity) -> None:
    ids = bindparam("ids", type_=ARRAY(Uuid))
    hashes = bindparam("hashes", type_=ARRAY(String))
    pairs = select(func.unnest(ids).label("id"), func.unnest(hashes).label("ip_hash")).subquery()
    rekey = update(_users).where(_users.c.id == pairs.c.id).values(ip_hash=pairs.c.ip_hash)
    after = None
    while True:
        page = select(_users.c.id, _users.c.ip_hash).order_by(_users.c.id).limit(_REKEY_CHUNK)
        if after is not None:
            page = page.where(_users.c.id > after)
        rows = connection.execute(page).all()
        if not rows:
            return
        todo = [row for row in rows if not row.ip_hash.startswith(LEGACY_PREFIX)]
        if todo:
            connection.execute(
                rekey,
                {
                    "ids": [row.id for row in todo],
                    "hashes": [legacy.rekeyed(row.ip_hash) for row in todo],
                },
            )
        after = rows[-1].id


def _adopt(
    connection: Connection, config: Config, legacy: LegacyIdentity, check_only: bool
) -> Adoption:
    adoption = Adoption(current_revision=current_revision(connection))
    if adoption.current_revision is not None:
        return adoption
    statements = plan(inspect(connection), adoption)
    if adoption.problems:
        return adoption
    adoption.identities = _count_identities(connection)
    if check_only:
        return adoption
    for statement in statements:
        connection.exec_driver_sql(statement)
    _rekey_identities(connection, legacy)
    config.attributes["connection"] = connection
    command.stamp(config, BASELINE_REVISION)
    return adoption


async def adopt(
    settings: Settings, config: Config, legacy: LegacyIdentity, *, check_only: bool = False
) -> Adoption:
    """Check the database and, when it is compatible, adopt it in one transaction."""
    engine = create_engine(settings)
    try:
        async with engine.begin() as connection:
            return await connection.run_sync(_adopt, config, legacy, check_only)
    finally:
        await engine.dispose()


def _made_by_the_original(connection: Connection) -> bool:
    tables = set(inspect(connection).get_table_names())
    return current_revision(connection) is None and {"videos", "users"} <= tables


async def made_by_the_original(settings: Settings) -> bool:
    """Whether the database holds the original's tables but no migration history."""
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_made_by_the_original)
    finally:
        await engine.dispose()


def describe(items: Sequence[str]) -> str:
    return "\n".join(f"  - {item}" for item in items)
