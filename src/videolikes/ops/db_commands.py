"""`videolikes db ...`: the schema commands (upgrade, adopt, identities)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from videolikes.config import DEVELOPMENT_IP_HASH_SECRET, mask_url_password
from videolikes.db.schema_version import alembic_config
from videolikes.legacy_identity import LegacyIdentity
from videolikes.ops.adopt import BASELINE_REVISION, adopt, describe, made_by_the_original
from videolikes.ops.cli_database import migrated_database, settings_or_fail, upgrade_database
from videolikes.ops.failures import CommandFailed, database_errors
from videolikes.users.repository import count_users

db_app = typer.Typer(help="Database schema commands.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration not yet applied (SQLite and PostgreSQL); say which."""
    settings = settings_or_fail()
    if not settings.is_sqlite:
        with database_errors(settings.database_url):
            original = asyncio.run(made_by_the_original(settings))
        if original:
            raise CommandFailed(
                "this looks like a database made by the original service (its tables, no "
                "migration history): run `videolikes db adopt` first; nothing was changed"
            )
    typer.echo(f"database: {mask_url_password(settings.database_url)}")
    upgrade = upgrade_database(settings)
    if upgrade.newer:
        typer.echo(
            f"at revision {upgrade.revision}, which is newer than this version's migrations: "
            "nothing to apply"
        )
        return
    for migration in upgrade.applied:
        typer.echo(f"applied {migration.revision}: {migration.description}")
    already = "" if upgrade.applied else "already "
    typer.echo(f"{already}at the latest revision {upgrade.revision}")


@db_app.command("adopt")
def db_adopt(
    check: Annotated[
        bool, typer.Option("--check", help="Only report what adopting would do")
    ] = False,
) -> None:
    """Take over a PostgreSQL database made by the original service.

    Checks every table, column and constraint videolikes needs. Any mismatch is reported and
    nothing changes (exit 1). Otherwise, in one transaction, constraints get videolikes' names
    where they differ, every user's ip_hash is re-keyed with IP_HASH_SECRET, and the migration
    baseline is recorded, so `db upgrade` works from then on.
    """
    settings = settings_or_fail()
    if settings.is_sqlite:
        typer.echo(
            "db adopt takes over PostgreSQL databases; for SQLite run `db upgrade`", err=True
        )
        raise typer.Exit(2)
    secret = settings.ip_hash_secret.get_secret_value()
    if secret == DEVELOPMENT_IP_HASH_SECRET and not check:
        typer.echo(
            "set IP_HASH_SECRET first (and keep it): adoption re-keys every user's ip_hash "
            "with it, and the development default is public; nothing was changed",
            err=True,
        )
        raise typer.Exit(2)
    legacy = LegacyIdentity(
        secret=secret.encode(), salt=settings.legacy_ip_hash_salt.get_secret_value()
    )
    config = alembic_config(settings.database_url)
    with database_errors(settings.database_url):
        adoption = asyncio.run(adopt(settings, config, legacy, check_only=check))
    if adoption.current_revision is not None:
        typer.echo(f"already a videolikes database (revision {adoption.current_revision})")
        return
    if adoption.problems:
        typer.echo("this database cannot be adopted as it is:", err=True)
        typer.echo(describe(adoption.problems), err=True)
        typer.echo("nothing was changed", err=True)
        raise typer.Exit(1)
    would = "would " if check else ""
    if adoption.renames:
        typer.echo(f"{would}give constraints videolikes' names:")
        typer.echo(describe(adoption.renames))
    typer.echo(
        f"{would}re-key {adoption.identities} users' ip_hash from the original's salted "
        "SHA-256 to an HMAC with IP_HASH_SECRET"
    )
    if check:
        typer.echo(f"compatible: adopting would record migration baseline {BASELINE_REVISION}")
        return
    typer.echo(
        f"adopted: recorded migration baseline {BASELINE_REVISION}; no other row was changed. "
        "Next: videolikes db upgrade"
    )


@db_app.command("identities")
def db_identities() -> None:
    """How many of the original service's users have come back since adoption.

    Each is moved from its re-keyed original hash to videolikes' own on its first write.
    """

    settings = settings_or_fail()

    async def run() -> tuple[int, int]:
        async with migrated_database(settings) as database, database.read() as conn:
            return await count_users(conn)

    waiting, total = asyncio.run(run())
    typer.echo(f"users in all: {total}")
    typer.echo(f"users of the original service not yet back: {waiting}")
    if waiting == 0:
        typer.echo("no user waits under the original's hash: LEGACY_IDENTITY=off is safe")
