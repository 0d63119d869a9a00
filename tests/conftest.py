"""Real databases for every test: SQLite files and PostgreSQL databases, migrated by Alembic.

Each backend is migrated once per session with the real migration history; every test then
starts from empty tables (a copied SQLite file, or TRUNCATE on PostgreSQL). Tests that need
PostgreSQL, Redis or pgbouncer skip with a reason when those are unreachable or missing, and
fail instead under CI. With TEST_THROUGH_PGBOUNCER=1 the PostgreSQL backend is reached through a
pgbouncer in transaction mode, and every test's settings say DATABASE_POOLER=transaction.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from alembic import command
from asgi_lifespan import LifespanManager
from fake_recaptcha import FakeRecaptcha, fake_recaptcha
from pg_cluster import PostgresCluster, cluster_template, throwaway_cluster, unavailable_reason
from pgbouncer import Pgbouncer, pgbouncer
from pgbouncer import unavailable_reason as pgbouncer_unavailable_reason
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from videolikes.app import create_app
from videolikes.catalogue.demo import demo_videos
from videolikes.catalogue.repository import insert_missing_videos
from videolikes.config import Settings
from videolikes.db.schema_version import alembic_config
from videolikes.db.units import Database, create_engine

__all__ = ["fake_recaptcha"]

IN_CI = os.environ.get("CI") == "true"
POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
TEST_IP_HASH_SECRET = "test-ip-hash-secret"
THROUGH_PGBOUNCER = os.environ.get("TEST_THROUGH_PGBOUNCER") == "1"


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        address = (parts.hostname or "127.0.0.1", parts.port or default_port)
        with socket.create_connection(address, timeout=1):
            return True
    except OSError:
        return False


def require_service(name: str, url: str, default_port: int) -> None:
    if _reachable(url, default_port):
        return
    message = f"{name} is not reachable at {urlsplit(url).netloc}"
    if IN_CI:
        pytest.fail(f"{message}; CI requires it")
    pytest.skip(message)


def require_postgres() -> None:
    require_service("PostgreSQL", POSTGRES_URL, 5432)


def require_redis() -> None:
    require_service("Redis", REDIS_URL, 6379)


def require_program(name: str, reason: str | None) -> None:
    """Go on when `reason` is None; else skip with it, or fail under CI."""
    if reason is None:
        return
    if IN_CI:
        pytest.fail(f"no {name}: {reason}; CI requires it")
    pytest.skip(f"no {name}: {reason}")


def require_pgbouncer() -> None:
    require_program("pgbouncer", pgbouncer_unavailable_reason())


@contextmanager
def transaction_pooler(
    *, pool_size: int = 2, settings: dict[str, str] | None = None
) -> Iterator[Pgbouncer]:
    """pgbouncer in transaction mode in front of the tests' PostgreSQL server; stopped after."""
    require_postgres()
    require_pgbouncer()
    server = urlsplit(POSTGRES_URL)
    with pgbouncer(
        server.port or 5432,
        upstream_host=server.hostname or "127.0.0.1",
        pool_size=pool_size,
        settings=settings,
    ) as bouncer:
        yield bouncer


def _with_database(url: str, name: str) -> str:
    return str(urlsplit(url)._replace(path=f"/{name}").geturl())


@dataclass(frozen=True)
class Backend:
    """A migrated database of one kind: `template_url` as its owner, `app_url` as the app."""

    name: str
    template_url: str
    app_url: str

    @property
    def is_sqlite(self) -> bool:
        return self.name == "sqlite"


async def _migrate(url: str) -> None:
    await asyncio.to_thread(command.upgrade, alembic_config(url), "head")


@pytest.fixture(scope="session")
async def sqlite_backend(tmp_path_factory: pytest.TempPathFactory) -> Backend:
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    url = f"sqlite+aiosqlite:///{path}"
    await _migrate(url)
    return Backend("sqlite", url, url)


@asynccontextmanager
async def throwaway_postgres(prefix: str) -> AsyncIterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped when the block ends."""
    require_postgres()
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield _with_database(POSTGRES_URL, name)
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


# What the app needs and no more, as a deployment grants it: the rows of its tables.
_APP_GRANTS = (
    'GRANT CONNECT ON DATABASE "{database}" TO {role}',
    "GRANT USAGE ON SCHEMA public TO {role}",
    "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
)


@asynccontextmanager
async def throwaway_roles() -> AsyncIterator[tuple[str, str]]:
    """Two new ordinary roles, (owner, app), dropped with what they own when the block ends."""
    suffix = uuid.uuid4().hex[:8]
    owner, app = f"videolikes_owner_{suffix}", f"videolikes_app_{suffix}"
    admin = create_async_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            for role in (owner, app):
                await conn.execute(text(f"CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB"))
        yield owner, app
    finally:
        async with admin.connect() as conn:
            for role in (app, owner):
                await conn.execute(text(f"DROP ROLE IF EXISTS {role}"))
        await admin.dispose()


# The owner's URL of each database the app reaches as an ordinary role.
_OWNERS: dict[str, str] = {}


def owner_url(url: str) -> str:
    """The URL that reaches the database at `url` as its owner, who may change its tables."""
    return _OWNERS.get(url, url)


def _as_role(url: str, role: str) -> str:
    parts = urlsplit(url)
    return str(parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port or 5432}").geturl())


@pytest.fixture(scope="session")
async def postgres_backend() -> AsyncIterator[Backend]:
    """Migrated by its owner, an ordinary role; the app connects as another one, granted the
    tables' rows only, as a deployment runs it. With TEST_THROUGH_PGBOUNCER=1 both reach it
    through a pgbouncer in transaction mode."""
    async with throwaway_roles() as (owner, app), throwaway_postgres("videolikes_test") as url:
        database = urlsplit(url).path.lstrip("/")
        admin = create_async_engine(url, isolation_level="AUTOCOMMIT")
        async with admin.connect() as conn:
            await conn.execute(text(f'ALTER DATABASE "{database}" OWNER TO {owner}'))
        await admin.dispose()
        with ExitStack() as stack:
            if THROUGH_PGBOUNCER:
                bouncer = stack.enter_context(transaction_pooler(pool_size=4))
                owner_url, app_url = (bouncer.url(database, user=role) for role in (owner, app))
            else:
                owner_url, app_url = _as_role(url, owner), _as_role(url, app)
            await _migrate(owner_url)
            grants = create_async_engine(owner_url, isolation_level="AUTOCOMMIT")
            async with grants.connect() as conn:
                for grant in _APP_GRANTS:
                    await conn.execute(text(grant.format(database=database, role=app)))
            await grants.dispose()
            _OWNERS[app_url] = owner_url
            yield Backend("postgres", owner_url, app_url)


@pytest.fixture
async def empty_postgres() -> AsyncIterator[str]:
    """A brand-new, empty PostgreSQL database of this test's own."""
    async with throwaway_postgres("videolikes_empty") as url:
        yield url


@pytest.fixture(scope="session")
def pg_cluster_template() -> Iterator[Path]:
    reason = unavailable_reason()
    if reason is not None:
        if IN_CI:
            pytest.fail(f"no throwaway PostgreSQL cluster: {reason}; CI requires it")
        pytest.skip(f"no throwaway PostgreSQL cluster: {reason}")
    with cluster_template() as template:
        yield template


@pytest.fixture
def pg_cluster(pg_cluster_template: Path) -> Iterator[PostgresCluster]:
    """A PostgreSQL server of this test's own, to stop, restart or freeze; removed after."""
    with throwaway_cluster(template=pg_cluster_template) as cluster:
        yield cluster


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> Backend:
    backend: Backend = request.getfixturevalue(f"{request.param}_backend")
    return backend


@pytest.fixture
async def database_url(backend: Backend, tmp_path: Path) -> str:
    """A freshly migrated, empty database of each kind."""
    return await _fresh_database(backend, tmp_path)


@pytest.fixture
async def postgres_url(postgres_backend: Backend, tmp_path: Path) -> str:
    return await _fresh_database(postgres_backend, tmp_path)


@pytest.fixture
async def sqlite_url(sqlite_backend: Backend, tmp_path: Path) -> str:
    return await _fresh_database(sqlite_backend, tmp_path)


async def _fresh_database(backend: Backend, tmp_path: Path) -> str:
    if backend.is_sqlite:
        source = Path(urlsplit(backend.template_url).path.removeprefix("/"))
        target = tmp_path / "videolikes.db"
        shutil.copyfile(source, target)
        return f"sqlite+aiosqlite:///{target}"
    engine = create_async_engine(backend.template_url)
    async with engine.begin() as conn:
        await conn.execute(text("TRUNCATE comment_likes, comments, video_likes, users, videos"))
    await engine.dispose()
    return backend.app_url


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "ip_hash_secret": TEST_IP_HASH_SECRET,
        "recaptcha_secret_key": None,
        "rate_limit_enabled": False,
        "redis_url": None,
    }
    if THROUGH_PGBOUNCER:
        values["database_pooler"] = "transaction"
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Database]:
    async with opened_database(settings.database_url) as database:
        yield database


@asynccontextmanager
async def opened_database(url: str, *, demo: bool = False) -> AsyncIterator[Database]:
    """A Database on `url`, with the demo videos when `demo`, disposed when the block ends."""
    database = Database(create_engine(make_settings(url)))
    try:
        if demo:
            await seed_demo(database)
        yield database
    finally:
        await database.dispose()


async def seed_demo(database: Database) -> list[dict[str, Any]]:
    rows = demo_videos()
    async with database.transaction() as conn:
        await insert_missing_videos(conn, rows)
    return rows


async def scalar(database: Database, sql: str, **params: Any) -> Any:
    async with database.transaction() as conn:
        return await conn.scalar(text(sql), params)


async def execute(database: Database, sql: str, **params: Any) -> None:
    async with database.transaction() as conn:
        await conn.execute(text(sql), params)


@asynccontextmanager
async def video_likes_missing(url: str) -> AsyncIterator[None]:
    """The video_likes table renamed away by its owner, as a botched change could leave it,
    so that statements fail in a way no database outage explains; back when the block ends."""
    async with opened_database(owner_url(url)) as owner:
        await execute(owner, "ALTER TABLE video_likes RENAME TO video_likes_gone")
        try:
            yield
        finally:
            await execute(owner, "ALTER TABLE video_likes_gone RENAME TO video_likes")


async def counter_drift(database: Database) -> int:
    """How many videos have a `likes` or `dislikes` that differs from their rows."""
    return int(
        await scalar(
            database,
            """
            SELECT count(*) FROM videos AS v
            WHERE v.likes <> (SELECT count(*) FROM video_likes AS l
                              WHERE l.video_id = v.id AND l.is_like)
               OR v.dislikes <> (SELECT count(*) FROM video_likes AS l
                                 WHERE l.video_id = v.id AND NOT l.is_like)
            """,
        )
    )


@dataclass
class RunningApp:
    """An app with its lifespan running; `client(ip)` speaks to it as that TCP peer."""

    app: Any
    settings: Settings

    @asynccontextmanager
    async def client(
        self, ip: str = "203.0.113.10", **kwargs: Any
    ) -> AsyncIterator[httpx.AsyncClient]:
        transport = httpx.ASGITransport(
            app=self.app, raise_app_exceptions=False, client=(ip, 40000)
        )
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver", **kwargs
        ) as client:
            yield client


@asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[RunningApp]:
    app = create_app(settings)
    async with LifespanManager(app):
        yield RunningApp(app, settings)


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[RunningApp]:
    async with running_app(settings) as running:
        yield running


@pytest.fixture
def dislikes_settings(database_url: str) -> Settings:
    return make_settings(database_url, dislikes_enabled=True)


@pytest.fixture
async def rating_api(dislikes_settings: Settings) -> AsyncIterator[RunningApp]:
    """The app with DISLIKES_ENABLED."""
    async with running_app(dislikes_settings) as api:
        yield api


@pytest.fixture
async def client(api: RunningApp) -> AsyncIterator[httpx.AsyncClient]:
    async with api.client() as client:
        yield client


@pytest.fixture
async def captcha_api(
    database_url: str, fake_recaptcha: FakeRecaptcha
) -> AsyncIterator[RunningApp]:
    """The app with reCAPTCHA on, verified by the local stand-in for Google's siteverify."""
    settings = make_settings(
        database_url,
        recaptcha_secret_key="server-secret-value",
        recaptcha_verify_url=fake_recaptcha.url,
        recaptcha_timeout=0.5,
        recaptcha_check_action=True,
    )
    async with running_app(settings) as api:
        yield api
