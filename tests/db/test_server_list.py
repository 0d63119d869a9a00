"""ServerList on a real primary and its standby: each role finds its server, in the URL's
order or not, and a server that never answers leaves time for the next."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pg_cluster import PostgresCluster, free_port, standby_of, throwaway_cluster
from sqlalchemy.engine import make_url

from videolikes.database_urls import engine_url
from videolikes.db.errors import unavailable_reason
from videolikes.db.servers import NoUsableServer, ServerList


@pytest.fixture(scope="module")
def pair(pg_cluster_template: Path) -> Iterator[tuple[PostgresCluster, PostgresCluster]]:
    with throwaway_cluster(template=pg_cluster_template) as primary, standby_of(primary) as standby:
        yield primary, standby


def options(*ports: int, role: str) -> dict[str, Any]:
    """asyncpg's arguments as SQLAlchemy's dialect makes them from libpq's URL."""
    servers = ",".join(f"127.0.0.1:{port}" for port in ports)
    url = make_url(
        engine_url(f"postgresql://postgres@{servers}/postgres?target_session_attrs={role}")
    )
    _, found = url.get_dialect()().create_connect_args(url)
    return dict(found)


async def in_recovery(role: str, *ports: int) -> bool:
    connection = await ServerList(within=5).connect(**options(*ports, role=role))
    try:
        return bool(await connection.fetchval("SELECT pg_is_in_recovery()"))
    finally:
        await connection.close()


@pytest.mark.parametrize(
    ("role", "standby_first", "expected_in_recovery"),
    [
        ("read-write", True, False),
        ("read-write", False, False),
        ("prefer-standby", False, True),
        ("prefer-standby", True, True),
        ("standby", False, True),
        ("any", True, True),
        ("any", False, False),
    ],
)
async def test_each_role_finds_its_server(
    pair: tuple[PostgresCluster, PostgresCluster],
    role: str,
    standby_first: bool,
    expected_in_recovery: bool,
) -> None:
    primary, standby = pair
    ports = (standby.port, primary.port) if standby_first else (primary.port, standby.port)
    assert await in_recovery(role, *ports) is expected_in_recovery


async def test_prefer_standby_takes_the_primary_when_no_standby_answers(
    pair: tuple[PostgresCluster, PostgresCluster],
) -> None:
    primary, _ = pair
    assert await in_recovery("prefer-standby", free_port(), primary.port) is False


async def test_no_usable_server_says_why_for_each_and_is_unavailable(
    pair: tuple[PostgresCluster, PostgresCluster],
) -> None:
    _, standby = pair
    with pytest.raises(NoUsableServer) as raised:
        await ServerList(within=5).connect(**options(free_port(), standby.port, role="read-write"))
    assert unavailable_reason(raised.value) == (
        "no usable server (server 1: connection refused; server 2: not read-write)"
    )


async def test_a_server_that_never_answers_gets_its_share_of_the_time_only(
    pair: tuple[PostgresCluster, PostgresCluster],
) -> None:
    primary, standby = pair
    standby.freeze()
    try:
        began = time.monotonic()
        assert await in_recovery("prefer-standby", standby.port, primary.port) is False
        # Two passes (a standby, then any) over two servers: a quarter of the time each.
        assert time.monotonic() - began < 5 / 2 + 1
    finally:
        standby.thaw()
