"""Failover by promotion: a real `videolikes serve` on a primary and its standby, listed in
DATABASE_URL with target_session_attrs=read-write, finds the promoted standby by itself.

While no listed server accepts writes, writes answer 503 within the request's deadline; once
the standby is promoted they answer 200 again within seconds, without a restart.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from faulty_database import VIDEO, migrated_with_demo
from pg_cluster import PostgresCluster, server_list_url, standby_of, throwaway_cluster
from served import Server, served

# The request deadline; a write must never wait longer than this, and a little for the reply.
DATABASE_TIMEOUT = 2.0
PROMPT = DATABASE_TIMEOUT + 1.0
# How soon after the promotion writes must answer 200 again.
RESUMED_WITHIN = 10.0


@dataclass
class Pair:
    primary: PostgresCluster
    standby: PostgresCluster

    @property
    def url(self) -> str:
        return server_list_url(self.primary, self.standby)


@pytest.fixture
def pair(pg_cluster_template: Path) -> Iterator[Pair]:
    with throwaway_cluster(template=pg_cluster_template) as primary:
        asyncio.run(migrated_with_demo(primary))
        with standby_of(primary) as standby:
            yield Pair(primary, standby)


def serving(pair: Pair, tmp_path: Path) -> AbstractAsyncContextManager[Server]:
    return served(
        pair.url,
        tmp_path / "server.log",
        DATABASE_TIMEOUT=str(DATABASE_TIMEOUT),
        TRUSTED_PROXIES="127.0.0.1/32",
        RATE_LIMIT_ENABLED="false",
    )


async def like(client: httpx.AsyncClient, visitor: int) -> tuple[int, float]:
    """PUT a like as visitor `visitor`: the status and how long the answer took."""
    sent = time.monotonic()
    answer = await client.put(
        f"/api/videos/{VIDEO}/like",
        headers={"X-Forwarded-For": f"10.0.{visitor // 256}.{visitor % 256}"},
    )
    return answer.status_code, time.monotonic() - sent


async def until_a_write_answers_200(
    client: httpx.AsyncClient, first_visitor: int
) -> tuple[float, Counter[int]]:
    """Seconds until a like answers 200, and the statuses of those that did not."""
    began = time.monotonic()
    statuses: Counter[int] = Counter()
    visitor = first_visitor
    async with asyncio.timeout(RESUMED_WITHIN + PROMPT):
        while True:
            status, seconds = await like(client, visitor)
            visitor += 1
            assert seconds < PROMPT, f"a write waited {seconds:.1f} s"
            if status == 200:
                return time.monotonic() - began, statuses
            statuses[status] += 1
            await asyncio.sleep(0.05)


async def test_writes_answer_503_while_the_primary_is_dead_and_200_soon_after_promotion(
    pair: Pair, tmp_path: Path
) -> None:
    async with serving(pair, tmp_path) as server, client_of(server) as client:
        assert [(await like(client, n))[0] for n in range(20)] == [200] * 20
        await asyncio.to_thread(pair.primary.kill)

        outage = Counter([(await like(client, n))[0] for n in range(100, 120)])
        reads = Counter([(await client.get(f"/api/videos/{VIDEO}")).status_code for _ in range(5)])
        ready = await client.get("/ready")
        await asyncio.to_thread(pair.standby.promote)
        resumed, during_resumption = await until_a_write_answers_200(client, 200)
        after = [(await like(client, n))[0] for n in range(300, 320)]

    assert outage == {503: 20}
    assert ready.json()["down"] == {
        "database": "unavailable: no usable server"
        " (server 1: connection refused; server 2: not read-write)"
    }
    assert set(reads) <= {200, 503}
    assert set(during_resumption) <= {503}
    assert resumed < RESUMED_WITHIN
    assert after == [200] * 20


async def test_a_frozen_primary_does_not_keep_writes_from_the_promoted_standby(
    pair: Pair, tmp_path: Path
) -> None:
    # A primary that stops answering without refusing connections, as a host gone from the
    # network does: each connection to it must give up in time to try the standby.
    async with serving(pair, tmp_path) as server, client_of(server) as client:
        assert (await like(client, 1))[0] == 200
        await asyncio.to_thread(pair.primary.freeze)
        await asyncio.to_thread(pair.standby.promote)
        resumed, _ = await until_a_write_answers_200(client, 100)
        after = [(await like(client, n))[0] for n in range(200, 210)]
    assert resumed < RESUMED_WITHIN
    assert after == [200] * 10


async def test_pooled_connections_to_a_dead_primary_are_not_handed_to_requests(
    pair: Pair, tmp_path: Path
) -> None:
    async with serving(pair, tmp_path) as server, client_of(server) as client:
        # Fill the pool with connections to the primary.
        await asyncio.gather(*(like(client, n) for n in range(40)))
        await asyncio.to_thread(pair.primary.kill)
        await asyncio.to_thread(pair.standby.promote)
        # Time for the server's event loop to see the closed sockets.
        await asyncio.sleep(0.5)
        answers = [(await client.get(f"/api/videos/{VIDEO}")).status_code for _ in range(10)] + [
            (await like(client, n))[0] for n in range(100, 110)
        ]
    assert answers == [200] * 20


def client_of(server: Server) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.url, timeout=30)
