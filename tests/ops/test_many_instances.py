"""Two `videolikes serve` instances, two workers each, behind a real haproxy.

Each test builds its own: a throwaway PostgreSQL primary, migrated and seeded with the demo
videos; a private Redis the instances share for rate limits; two instances on ports of their
own; haproxy in front, health-checking `/ready`. Visitors connect to haproxy from distinct
loopback addresses (127.1.x.y), as distinct TCP peers; haproxy appends that address to
X-Forwarded-For and the instances trust only haproxy's own 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from commands import videolikes
from conftest import counter_drift, opened_database, require_program, scalar
from haproxy import FALLBACK, Haproxy, Target, haproxy_in_front_of, unavailable_reason
from metric_samples import sample
from pg_cluster import PostgresCluster, standby_of
from redis_server import PrivateRedis, require_redis_server_binary
from served import Server, served

pytestmark = pytest.mark.postgres

VIDEOS = [f"DEMO{n:08d}" for n in range(1, 5)]
WRITES_PER_MINUTE = 20
INSTANCES = ("a", "b")
# Each client request, and every wait of these tests, is bounded.
_REQUEST_TIMEOUT = 10.0


@dataclass
class Topology:
    haproxy: Haproxy
    instances: dict[str, Server]
    database_url: str
    redis: PrivateRedis


def replica_urls(standbys: Sequence[PostgresCluster]) -> str | None:
    """DATABASE_REPLICA_URLS for standbys made by tests/pg_cluster.py's standby_of(primary),
    which take the reads that may lag; None (unset) without any."""
    return " ".join(standby.url() for standby in standbys) or None


@asynccontextmanager
async def many_instances(
    pg_cluster: PostgresCluster, tmp_path: Path, *, writes_per_minute: int = WRITES_PER_MINUTE
) -> AsyncIterator[Topology]:
    require_program("haproxy", unavailable_reason())
    require_redis_server_binary()
    url = pg_cluster.url()
    for command in (("db", "upgrade"), ("seed", "--demo")):
        ran = await videolikes(*command, database_url=url)
        assert ran.code == 0, ran.err
    redis = PrivateRedis(tmp_path)
    redis.start()
    try:
        async with contextlib.AsyncExitStack() as stack:
            # One streaming replica takes the reads that may lag, as deployed.
            standbys = [stack.enter_context(standby_of(pg_cluster))]
            instances = {
                name: await stack.enter_async_context(
                    served(
                        url,
                        tmp_path / f"instance-{name}.log",
                        workers=2,
                        DATABASE_REPLICA_URLS=replica_urls(standbys),
                        REDIS_URL=redis.url,
                        # haproxy connects from 127.0.0.1; its visitors from elsewhere.
                        TRUSTED_PROXIES="127.0.0.1/32",
                        RATE_LIMIT_GENERAL=f"{max(1000, writes_per_minute)}/minute",
                        RATE_LIMIT_WRITES=f"{writes_per_minute}/minute",
                        VIDEOS_CACHE_SECONDS="0",
                    )
                )
                for name in INSTANCES
            }
            targets = [Target(name, server.port) for name, server in instances.items()]
            balancer = stack.enter_context(
                haproxy_in_front_of(
                    targets, log=tmp_path / "haproxy.log", check_interval_ms=200, request_log=True
                )
            )
            yield Topology(balancer, instances, url, redis)
    finally:
        redis.stop()


def visitor(index: int) -> httpx.AsyncClient:
    """A client connecting from an address of its own, as a distinct visitor would."""
    address = f"127.1.{index // 200}.{index % 200 + 1}"
    transport = httpx.AsyncHTTPTransport(local_address=address)
    return httpx.AsyncClient(transport=transport, timeout=_REQUEST_TIMEOUT)


async def visit(
    topology: Topology, index: int, steps: int, seed: int
) -> tuple[dict[str, bool], Counter[int]]:
    """One visitor's random likes, unlikes, toggles and reads, one after another.

    Every answer must agree with what this visitor did before: its own writes show at once.
    Returns what it likes at the end and the statuses it got.
    """
    rng = random.Random(seed)
    liked = dict.fromkeys(VIDEOS, False)
    statuses: Counter[int] = Counter()
    async with visitor(index) as client:
        for _ in range(steps):
            video = rng.choice(VIDEOS)
            method = rng.choice(["PUT", "DELETE", "POST", "GET"])
            answer = await client.request(method, f"{topology.haproxy.url}/api/videos/{video}/like")
            statuses[answer.status_code] += 1
            if answer.status_code != 200:
                continue
            if method != "GET":
                liked[video] = {"PUT": True, "DELETE": False, "POST": not liked[video]}[method]
            assert answer.json() == {"userLike": True if liked[video] else None}, (method, video)
    return liked, statuses


async def assert_no_drift(database_url: str) -> None:
    async with opened_database(database_url) as database:
        assert await counter_drift(database) == 0
    ran = await videolikes("reconcile", database_url=database_url)
    assert (ran.code, ran.out.strip()) == (0, "every counter matches its like rows"), ran.err


async def test_concurrent_visitors_through_haproxy_get_only_200s_and_exact_counters(
    pg_cluster: PostgresCluster, tmp_path: Path
) -> None:
    async with many_instances(pg_cluster, tmp_path) as topology:
        visitors = 120
        results = await asyncio.gather(
            *(visit(topology, index, steps=12, seed=index) for index in range(visitors))
        )
        statuses = sum((statuses for _, statuses in results), Counter[int]())
        assert statuses == Counter({200: visitors * 12})

        # Read on the primary: a replica may show another client's writes only later.
        async with opened_database(topology.database_url) as database:
            for video in VIDEOS:
                expected = sum(liked[video] for liked, _ in results)
                counter = await scalar(
                    database, "SELECT likes FROM videos WHERE id = :id", id=video
                )
                assert counter == expected, video
        await assert_no_drift(topology.database_url)
        served_by = {name: stats.requests for name, stats in topology.haproxy.stats().items()}
        # Round robin: each instance answered about half, neither all.
        assert all(count > visitors * 12 * 0.3 for count in served_by.values()), served_by
        # Reads that may lag went to the replica, and still each visitor saw its own writes.
        async with httpx.AsyncClient(timeout=_REQUEST_TIMEOUT) as client:
            for server in topology.instances.values():
                metrics = (await client.get(f"{server.url}/metrics")).text
                assert sample(metrics, "videolikes_db_reads_total", server="replica-0") > 0


async def test_the_write_limit_is_shared_by_both_instances_and_forged_headers_change_nothing(
    pg_cluster: PostgresCluster, tmp_path: Path
) -> None:
    async with many_instances(pg_cluster, tmp_path) as topology:
        before = topology.haproxy.stats()
        statuses: Counter[int] = Counter()
        async with visitor(7) as client:
            for attempt in range(2 * WRITES_PER_MINUTE):
                method = "PUT" if attempt % 2 == 0 else "DELETE"
                url = f"{topology.haproxy.url}/api/videos/{VIDEOS[0]}/like"
                # A new made-up client each time: haproxy appends the real peer after it, and
                # the instances take that right-most untrusted entry, so this changes nothing.
                forged = {"X-Forwarded-For": f"10.9.0.{attempt + 1}"}
                answer = await client.request(method, url, headers=forged)
                statuses[answer.status_code] += 1
        after = topology.haproxy.stats()
        assert statuses == Counter({200: WRITES_PER_MINUTE, 429: WRITES_PER_MINUTE})
        # Both instances (four workers) answered this visitor, and counted it as one.
        for name in INSTANCES:
            assert after[name].requests - before[name].requests >= WRITES_PER_MINUTE // 2


async def keep_visiting(topology: Topology, index: int, until: float) -> list[tuple[float, str]]:
    """A visitor liking and unliking until `until`: when it sent each request, and the
    outcome, a status code or the error."""
    outcomes: list[tuple[float, str]] = []
    url = f"{topology.haproxy.url}/api/videos/{VIDEOS[index % len(VIDEOS)]}/like"
    async with visitor(index) as client:
        step = 0
        while (sent := time.monotonic()) < until:
            method = ("PUT", "GET", "DELETE")[step % 3]
            step += 1
            try:
                outcomes.append((sent, str((await client.request(method, url)).status_code)))
            except httpx.TransportError as error:
                outcomes.append((sent, type(error).__name__))
    return outcomes


async def test_killing_an_instance_fails_requests_only_until_haproxy_marks_it_down(
    pg_cluster: PostgresCluster, tmp_path: Path
) -> None:
    async with many_instances(pg_cluster, tmp_path, writes_per_minute=100_000) as topology:
        visitors = 40
        start = time.monotonic()
        load = asyncio.gather(
            *(keep_visiting(topology, index, until=start + 8) for index in range(visitors))
        )
        await asyncio.sleep(3)
        os.killpg(topology.instances["b"].process.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        detected = await asyncio.to_thread(topology.haproxy.wait_for_status, "b", "DOWN", 5)
        outcomes = [outcome for visits in await load for outcome in visits]
        failed = [(sent, outcome) for sent, outcome in outcomes if outcome != "200"]
        print(
            f"\n{len(outcomes)} requests, {len(failed)} failed"
            f" ({dict(Counter(outcome for _, outcome in outcomes))}); haproxy marked the killed"
            f" instance DOWN {detected:.2f} s after the kill; stats: {topology.haproxy.stats()}"
        )
        assert detected < 2
        # What failed was in flight on the killed instance, or sent to it before haproxy's
        # checks noticed; nothing before the kill, nothing once it was DOWN.
        assert all(killed_at - 1 < sent < killed_at + detected for sent, _ in failed)
        assert len(failed) < len(outcomes) * 0.1
        await assert_no_drift(topology.database_url)


async def test_with_redis_down_no_instance_is_ready_yet_haproxy_sends_to_the_live_ones(
    pg_cluster: PostgresCluster, tmp_path: Path
) -> None:
    async with many_instances(pg_cluster, tmp_path) as topology:
        topology.redis.stop()
        for name in INSTANCES:
            await asyncio.to_thread(topology.haproxy.wait_for_status, name, "DOWN", 10)
        before = topology.haproxy.stats(FALLBACK)
        statuses: Counter[int] = Counter()
        async with visitor(3) as client:
            for method in ("PUT", "GET", "DELETE", "GET") * 5:
                url = f"{topology.haproxy.url}/api/videos/{VIDEOS[0]}/like"
                statuses[(await client.request(method, url)).status_code] += 1
        # Rate limits fail open (RATE_LIMIT_FAIL_OPEN's default), so every request is served.
        assert statuses == Counter({200: 20})
        after = topology.haproxy.stats(FALLBACK)
        assert all(after[name].requests > before[name].requests for name in INSTANCES)

        topology.redis.start()
        for name in INSTANCES:
            await asyncio.to_thread(topology.haproxy.wait_for_status, name, "UP", 10)
