"""The `videolikes` command: serve, db upgrade/adopt, seed, import, reconcile, comments, config."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
import uvicorn
from alembic import command
from pydantic import ValidationError
from uvicorn.config import STARTUP_FAILURE

from videolikes.adopt import BASELINE_REVISION, adopt, describe, made_by_the_original
from videolikes.comments.moderation import comments_app
from videolikes.config import DEVELOPMENT_IP_HASH_SECRET, Settings, effective_configuration
from videolikes.db import Database, create_engine
from videolikes.demo import demo_videos
from videolikes.importer import ImportFileError, Progress, ProgressCallback, import_videos
from videolikes.legacy_identity import LegacyIdentity
from videolikes.logging_setup import configure_logging
from videolikes.metrics import MULTIPROCESS_DIR_ENV
from videolikes.reconcile import ReconcileReport, reconcile
from videolikes.repository import count_users, insert_missing_videos
from videolikes.schema_version import alembic_config
from videolikes.workers import serve_workers

app = typer.Typer(help="videolikes: the likes service of a video site.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema commands.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(comments_app, name="comments")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind [env HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="Port [env PORT]")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes [env WORKERS]")] = None,
) -> None:
    """Serve the HTTP API."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    worker_count = workers or settings.workers
    signal.signal(signal.SIGTERM, _exit_cleanly)
    config = uvicorn.Config(
        "videolikes.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        loop="uvloop",
        # httptools, with the request head bounded (it has no limits of its own).
        http="videolikes.server:BoundedHttpToolsProtocol",
        # Forwarding headers are read by videolikes itself, only from trusted proxies.
        proxy_headers=False,
        server_header=False,
        log_level=settings.log_level,
        # Our handler formats uvicorn's own lines too (text or JSON); its access log would
        # print client addresses, so the request middleware logs requests instead.
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=20,
    )
    with _shared_metrics_directory(worker_count):
        if worker_count > 1:
            status = serve_workers(config, worker_count)
            if status:
                sys.exit(status)
            return
        server = uvicorn.Server(config)
        server.run()
        if not server.started:
            sys.exit(STARTUP_FAILURE)


def _exit_cleanly(_signal: int, _frame: FrameType | None) -> None:
    # uvicorn finishes in-flight requests on SIGTERM, then raises the signal again so the
    # process would end "killed by SIGTERM"; a stop that was asked for is a clean exit.
    raise SystemExit(0)


@contextmanager
def _shared_metrics_directory(workers: int) -> Iterator[None]:
    """With several workers, give prometheus-client a fresh directory to share samples in.

    Set before the workers start, so each imports prometheus-client in multiprocess mode; a
    directory the operator chose (the variable already set) is used as it is.
    """
    if workers == 1 or os.environ.get(MULTIPROCESS_DIR_ENV):
        yield
        return
    with tempfile.TemporaryDirectory(prefix="videolikes-metrics-") as directory:
        os.environ[MULTIPROCESS_DIR_ENV] = directory
        try:
            yield
        finally:
            del os.environ[MULTIPROCESS_DIR_ENV]


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration not yet applied (SQLite and PostgreSQL)."""
    settings = Settings()
    if not settings.is_sqlite and asyncio.run(made_by_the_original(settings.database_url)):
        typer.echo(
            "this looks like a database made by the original service (its tables, no "
            "migration history): run `videolikes db adopt` first; nothing was changed",
            err=True,
        )
        raise typer.Exit(1)
    command.upgrade(alembic_config(settings.database_url), "head")
    typer.echo("database is at the latest revision")


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
    settings = Settings()
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
    adoption = asyncio.run(adopt(settings.database_url, config, legacy, check_only=check))
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

    async def run() -> tuple[int, int]:
        database = Database(create_engine(Settings()))
        try:
            async with database.unit_of_work() as conn:
                return await count_users(conn)
        finally:
            await database.dispose()

    waiting, total = asyncio.run(run())
    typer.echo(f"users in all: {total}")
    typer.echo(f"users of the original service not yet back: {waiting}")
    if waiting == 0:
        typer.echo("no user waits under the original's hash: LEGACY_IDENTITY=off is safe")


@app.command()
def seed(
    demo: Annotated[bool, typer.Option("--demo", help="Add the demo catalogue")] = False,
) -> None:
    """Add demo videos that are missing; existing rows and counters are left alone."""
    if not demo:
        raise typer.BadParameter("say what to seed: --demo")
    rows = demo_videos()

    async def run() -> None:
        database = Database(create_engine(Settings()))
        try:
            async with database.transaction() as conn:
                await insert_missing_videos(conn, rows)
        finally:
            await database.dispose()

    asyncio.run(run())
    typer.echo(f"demo catalogue present ({len(rows)} videos)")


@app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
) -> None:
    """Upsert videos from a JSON array or CSV file (by id); all rows land or none."""

    async def run() -> None:
        database = Database(create_engine(Settings()))
        try:
            with _import_progress() as on_progress:
                report = await import_videos(database, file, on_progress)
        finally:
            await database.dispose()
        for error in report.errors:
            typer.echo(f"rejected {error}", err=True)
        if report.likes_ignored:
            typer.echo("note: the likes field is ignored; counters come from the like rows")
        typer.echo(f"added {report.added}, updated {report.updated}, rejected {report.rejected}")
        if not report.ok:
            typer.echo("nothing was written: fix the rejected rows and run again", err=True)
            raise typer.Exit(1)

    try:
        asyncio.run(run())
    except ImportFileError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc


PROGRESS_LINE_EVERY = 100_000
_BAR_STEPS = 1000


@contextmanager
def _import_progress() -> Iterator[ProgressCallback]:
    """A progress bar on a terminal; otherwise a plain line every PROGRESS_LINE_EVERY rows."""
    if sys.stdout.isatty():
        with typer.progressbar(length=_BAR_STEPS, label="importing", show_percent=True) as bar:
            shown = 0

            def advance(progress: Progress) -> None:
                nonlocal shown
                target = int(progress.fraction * _BAR_STEPS)
                bar.update(target - shown)
                shown = target

            yield advance
        return
    next_line = PROGRESS_LINE_EVERY

    def print_line(progress: Progress) -> None:
        nonlocal next_line
        if progress.rows >= next_line:
            typer.echo(f"read {progress.rows} rows ({progress.fraction:.0%})")
            next_line = (progress.rows // PROGRESS_LINE_EVERY + 1) * PROGRESS_LINE_EVERY

    yield print_line


@app.command("reconcile")
def reconcile_counters(
    fix: Annotated[bool, typer.Option("--fix", help="Correct the counters that drifted")] = False,
) -> None:
    """Report videos whose likes counter differs from their like rows; --fix corrects them.

    Safe while serving: fixes run in small batches that lock only the videos they correct.
    Exits 1 when drift was found and not fixed.
    """

    async def run() -> ReconcileReport:
        database = Database(create_engine(Settings()))
        try:
            return await reconcile(database, fix=fix, say=typer.echo)
        finally:
            await database.dispose()

    report = asyncio.run(run())
    if report.drifted == 0:
        typer.echo("every counter matches its like rows")
        return
    typer.echo(f"{report.drifted} videos drifted" + (f"; fixed {report.fixed}" if fix else ""))
    if not fix:
        typer.echo("run again with --fix to correct them", err=True)
        raise typer.Exit(1)


@app.command("config")
def show_config() -> None:
    """Print the effective configuration (environment variables), secrets masked."""
    try:
        settings = Settings()
    except ValidationError as exc:
        typer.echo(f"invalid configuration: {exc}", err=True)
        raise typer.Exit(2) from exc
    for name, value in effective_configuration(settings):
        typer.echo(f"{name}={value}")


def main() -> None:
    app()
