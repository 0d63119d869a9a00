"""A database of a throwaway cluster, the routes that reach it, and what the service logs."""

from __future__ import annotations

import asyncio
import logging

import pytest
from alembic import command
from conftest import RunningApp, opened_database
from pg_cluster import PostgresCluster

from videolikes.db.schema_version import alembic_config

VIDEO = "DEMO00000001"
UNAVAILABLE = {"error": "Service unavailable"}
# Every route that reaches the database, by both of its paths (SQLAlchemy and asyncpg's own).
DATABASE_ROUTES = [
    ("GET", f"/api/videos/{VIDEO}/like"),
    ("POST", f"/api/videos/{VIDEO}/like"),
    ("PUT", f"/api/videos/{VIDEO}/like"),
    ("GET", f"/api/videos/{VIDEO}"),
    ("GET", "/api/videos?limit=5"),
    ("GET", "/api/videos"),
    ("GET", "/api/me"),
    ("GET", f"/api/me/likes?ids={VIDEO}"),
    ("GET", "/api/me/likes"),
]


async def migrated_with_demo(cluster: PostgresCluster) -> str:
    url = cluster.url()
    await asyncio.to_thread(command.upgrade, alembic_config(url), "head")
    async with opened_database(url, demo=True):
        pass
    return url


def database_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """What the service logged about the database (not the request lines)."""
    return [
        record
        for record in caplog.records
        if record.name.startswith("videolikes") and record.name != "videolikes.access"
    ]


async def until_every_route_answers_200(api: RunningApp) -> None:
    """Until the service serves again: each pooled connection a fault killed fails one
    request at most, and is replaced."""
    async with asyncio.timeout(20), api.client() as client:
        while True:
            answers = [(await client.request(m, p)).status_code for m, p in DATABASE_ROUTES]
            if answers == [200] * len(DATABASE_ROUTES):
                return
            await asyncio.sleep(0.1)
