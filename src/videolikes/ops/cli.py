"""The `videolikes` command: serve, db upgrade/adopt, seed, import, reconcile, comments, config."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from uvicorn.config import STARTUP_FAILURE

from videolikes.catalogue.demo import demo_videos
from videolikes.catalogue.importer import ImportFileError, Progress, ProgressCallback, import_videos
from videolikes.catalogue.repository import insert_missing_videos
from videolikes.comments.moderation import comments_app
from videolikes.config import (
    Settings,
    effective_configuration,
    mask_url_password,
)
from videolikes.http.protocol import ServeConfig
from videolikes.likes.reconcile import ReconcileReport, reconcile
from videolikes.logs import configure_logging
from videolikes.metrics import MULTIPROCESS_DIR_ENV
from videolikes.ops.cli_database import migrated_database, settings_or_fail
from videolikes.ops.db_commands import db_app
from videolikes.ops.failures import (
    INVALID_INPUT,
    CommandFailed,
    explain,
    showing_tracebacks,
)
from videolikes.ops.listeners import (
    ListenError,
    address,
    connection_ceiling,
    listening_sockets,
    raise_open_file_limit,
)
from videolikes.ops.workers import serve as serve_workers

_log = logging.getLogger(__name__)

# Python's own tracebacks, only when asked for (see main()): typer's boxed ones quote source
# around every frame, hundreds of lines for one failure.
app = typer.Typer(
    help="videolikes: the likes service of a video site.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(db_app, name="db")
app.add_typer(comments_app, name="comments")


def _print_version(wanted: bool) -> None:
    if wanted:
        typer.echo(f"videolikes {version('videolikes')}")
        raise typer.Exit()


@app.callback()
def _global_options(
    _version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
    debug: Annotated[
        bool,
        typer.Option(
            "--debug",
            help="Log at debug level and show the traceback of a failure (LOG_LEVEL=debug).",
        ),
    ] = False,
) -> None:
    """Options that come before the command."""
    if debug:
        # The settings (and a server's workers) read it as if the operator had set it.
        os.environ["LOG_LEVEL"] = "debug"


def _setting_help(text: str, name: str) -> str:
    """Help for an option that overrides a setting: its variable and its default.

    In parentheses: typer's rich help reads square brackets as markup and drops them.
    """
    default = Settings.model_fields[name].default
    return f"{text} (env {name.upper()}, default {default})"


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help=_setting_help("Address to bind", "host"))] = None,
    port: Annotated[int | None, typer.Option(help=_setting_help("Port to bind", "port"))] = None,
    workers: Annotated[
        int | None, typer.Option(help=_setting_help("Worker processes", "workers"))
    ] = None,
) -> None:
    """Serve the HTTP API."""
    settings = settings_or_fail()
    configure_logging(settings.log_level, settings.log_format)
    worker_count = workers or settings.workers
    try:
        settings.require_shared_write_memory(worker_count)
    except ValueError as exc:
        raise CommandFailed(f"invalid setting {exc}", status=INVALID_INPUT) from exc
    host, port = host or settings.host, port or settings.port
    signal.signal(signal.SIGTERM, _exit_cleanly)
    try:
        sockets = listening_sockets(host, port, worker_count)
    except ListenError as exc:
        raise CommandFailed(str(exc), status=STARTUP_FAILURE) from exc
    config = ServeConfig(
        "videolikes.app:create_app",
        factory=True,
        host=host,
        port=port,
        loop="uvloop",
        # httptools, with the request head bounded (it has no limits of its own).
        http="videolikes.http.protocol:BoundedHttpToolsProtocol",
        header_timeout=settings.header_timeout,
        max_connections=_connection_limit(settings.max_connections, raise_open_file_limit()),
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
    _log.info("listening on http://%s with %d worker(s)", address(host, port), worker_count)
    with _shared_metrics_directory(worker_count):
        status = serve_workers(config, sockets)
    if status:
        sys.exit(status)


def _connection_limit(wanted: int, open_file_limit: int) -> int:
    """MAX_CONNECTIONS, or fewer if the limit of open files says so."""
    ceiling = connection_ceiling(open_file_limit)
    if wanted > ceiling:
        _log.warning(
            "MAX_CONNECTIONS=%d is more than the limit of open files allows; each worker "
            "holds at most %d connections (raise the limit: ulimit -n, or LimitNOFILE= in a "
            "systemd unit)",
            wanted,
            ceiling,
        )
    return min(wanted, ceiling)


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


@app.command()
def seed(
    demo: Annotated[bool, typer.Option("--demo", help="Add the demo catalogue")] = False,
) -> None:
    """Add demo videos that are missing; existing rows and counters are left alone."""
    if not demo:
        raise typer.BadParameter("say what to seed: --demo")
    settings = settings_or_fail()
    rows = demo_videos()

    async def run() -> int:
        async with migrated_database(settings) as database, database.transaction() as conn:
            return await insert_missing_videos(conn, rows)

    typer.echo(f"database: {mask_url_password(settings.database_url)}")
    added = asyncio.run(run())
    typer.echo(
        f"added {added} of the {len(rows)} demo videos; {len(rows) - added} were already there"
    )


@app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
) -> None:
    """Upsert videos from a JSON array or CSV file (by id); all rows land or none."""
    settings = settings_or_fail()

    async def run() -> None:
        async with migrated_database(settings) as database:
            with _import_progress() as on_progress:
                report = await import_videos(database, file, on_progress)
        for error in report.errors:
            typer.echo(f"rejected {error}", err=True)
        if report.likes_ignored:
            typer.echo(
                "note: the likes field is ignored (and dislikes, if given); "
                "counters come from the like rows"
            )
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

    settings = settings_or_fail()

    async def run() -> ReconcileReport:
        async with migrated_database(settings) as database:
            return await reconcile(database, fix=fix, say=typer.echo)

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
    for name, value in effective_configuration(settings_or_fail()):
        typer.echo(f"{name}={value}")


def main() -> None:
    """The console script: every expected failure in one line per problem, and its status."""
    try:
        app()
    except Exception as error:
        if showing_tracebacks():
            raise
        failure = explain(error)
        for line in failure.lines:
            typer.echo(line, err=True)
        sys.exit(failure.status)
