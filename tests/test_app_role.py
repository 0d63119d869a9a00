"""The app runs as an ordinary role, as a deployment runs it; migrations run as the owner."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
from commands import videolikes
from conftest import make_settings, running_app
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

pytestmark = pytest.mark.postgres

VIDEO = "DEMO00000001"
# What the app needs and no more: rows of its tables, and its sequences for none (uuids).
GRANTS = """
GRANT CONNECT ON DATABASE "{database}" TO {role};
GRANT USAGE ON SCHEMA public TO {role};
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role};
"""


@pytest.fixture
async def app_role_url(empty_postgres: str) -> AsyncIterator[str]:
    owner = empty_postgres
    assert (await videolikes("db", "upgrade", database_url=owner)).code == 0
    assert (await videolikes("seed", "--demo", database_url=owner)).code == 0
    role = f"videolikes_app_{uuid.uuid4().hex[:8]}"
    database = urlsplit(owner).path.lstrip("/")
    engine = create_async_engine(owner, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f"CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB"))
            for statement in GRANTS.format(database=database, role=role).split(";"):
                if statement.strip():
                    await conn.execute(text(statement))
        parts = urlsplit(owner)
        yield parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port or 5432}").geturl()
    finally:
        async with engine.connect() as conn:
            await conn.execute(text(f"DROP OWNED BY {role}"))
            await conn.execute(text(f"DROP ROLE {role}"))
        await engine.dispose()


async def test_an_ordinary_role_serves_every_endpoint(app_role_url: str) -> None:
    async with running_app(make_settings(app_role_url)) as api, api.client() as client:
        ready = await client.get("/ready")
        assert ready.status_code == 200, ready.text
        assert (await client.get("/api/videos")).status_code == 200
        assert (await client.post(f"/api/videos/{VIDEO}/like")).json() == {"userLike": True}
        assert (await client.put(f"/api/videos/{VIDEO}/like")).json() == {"userLike": True}
        assert (await client.get(f"/api/videos/{VIDEO}/like")).json() == {"userLike": True}
        assert (await client.get("/api/me")).status_code == 200
        mine = await client.get(f"/api/me/likes?ids={VIDEO}")
        assert mine.json() == {"userLikes": {VIDEO: True}}
        posted = await client.post(f"/api/videos/{VIDEO}/comments", json={"content": "Hello"})
        assert posted.status_code == 201, posted.text
        comment = posted.json()["id"]
        liked = await client.post(f"/api/comments/{comment}/like")
        assert liked.json() == {"userLike": True}
        assert (await client.delete(f"/api/videos/{VIDEO}/like")).json() == {"userLike": None}
    engine = create_async_engine(app_role_url)
    try:
        async with engine.connect() as conn:
            assert (
                await conn.scalar(
                    text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
                )
                is False
            )
    finally:
        await engine.dispose()
