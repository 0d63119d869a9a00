"""Read replicas on real servers: a throwaway primary and a streaming standby of it.

Reads that may lag are counted per server in /metrics; which one answered is read there. Lag
is made real by pausing the standby's replay while the primary writes.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from alembic import command
from conftest import (
    REDIS_URL,
    RunningApp,
    make_settings,
    opened_database,
    require_redis,
    running_app,
)
from metric_samples import sample
from pg_cluster import PostgresCluster, free_port, standby_of, throwaway_cluster
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from videolikes.db.read_routing import ReadRouter
from videolikes.db.replicas import Replica, ReplicaState
from videolikes.db.schema_version import alembic_config
from videolikes.db.units import Database, create_engine
from videolikes.db.write_positions import (
    InMemoryWritePositions,
    RedisWritePositions,
    WritePositions,
)

pytestmark = pytest.mark.postgres

VIDEO = "DEMO00000001"
OTHER_VIDEO = "DEMO00000002"
MAX_LAG = 1.0
WAIT = 20.0


@pytest.fixture(scope="module")
def primary(pg_cluster_template: Path) -> Iterator[PostgresCluster]:
    with throwaway_cluster(template=pg_cluster_template) as cluster:
        command.upgrade(alembic_config(cluster.url()), "head")
        yield cluster


@pytest.fixture(scope="module")
async def seeded(primary: PostgresCluster) -> None:
    async with opened_database(primary.url(), demo=True):
        pass


@pytest.fixture(scope="module")
def standby(primary: PostgresCluster, seeded: None) -> Iterator[PostgresCluster]:
    with standby_of(primary, name="replica") as cluster:
        yield cluster


def replica_settings(primary: PostgresCluster, *replicas: PostgresCluster, **extra: Any) -> Any:
    # A secret of each test's own: its clients' keys in the shared Redis are its own too.
    values = {
        "database_replica_urls": [replica.url() for replica in replicas],
        "database_replica_max_lag": MAX_LAG,
        "ip_hash_secret": f"replicas-{uuid.uuid4().hex}",
        "database_timeout": 4.0,
        **extra,
    }
    return make_settings(primary.url(), **values)


async def on(cluster: PostgresCluster, sql: str) -> Any:
    conn = await asyncpg.connect(host="127.0.0.1", port=cluster.port, user="postgres")
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {WAIT:g} s: {what}")
        await asyncio.sleep(0.1)


async def replica_state(client: httpx.AsyncClient, name: str = "replica-0") -> str:
    body = (await client.get("/ready")).json()
    return str(body["replicas"][name]["state"])


async def state_is(client: httpx.AsyncClient, state: str, name: str = "replica-0") -> None:
    async def reached() -> bool:
        return await replica_state(client, name) == state

    await until(reached, f"{name} {state}")


async def reads(client: httpx.AsyncClient) -> dict[str, float]:
    text = (await client.get("/metrics")).text
    return {
        server: sample(text, "videolikes_db_reads_total", server=server)
        for server in ("primary", "replica-0", "replica-1")
    }


def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {server: after[server] - before[server] for server in after}


async def lagging_reads(client: httpx.AsyncClient) -> None:
    """One read of each kind that may lag: 6 reads."""
    for path in (
        f"/api/videos/{VIDEO}/like",
        f"/api/me/likes?ids={VIDEO},{OTHER_VIDEO}",
        "/api/me/likes",
        f"/api/videos/{VIDEO}",
        "/api/videos?limit=2",
        f"/api/videos/{VIDEO}/comments",
    ):
        response = await client.get(path)
        assert response.status_code == 200, (path, response.text)


@asynccontextmanager
async def paused_replay(standby: PostgresCluster) -> AsyncIterator[None]:
    await on(standby, "SELECT pg_wal_replay_pause()")
    try:
        yield
    finally:
        await on(standby, "SELECT pg_wal_replay_resume()")


async def test_reads_go_to_a_healthy_replica_and_to_the_primary_while_it_lags(
    primary: PostgresCluster, standby: PostgresCluster
) -> None:
    async with running_app(replica_settings(primary, standby)) as api, api.client() as client:
        await state_is(client, "usable")
        before = await reads(client)
        await lagging_reads(client)
        assert delta(before, await reads(client)) == {"primary": 0, "replica-0": 6, "replica-1": 0}

        async with paused_replay(standby):
            # The primary writes; the standby does not replay it.
            await on(primary, f"UPDATE videos SET views = views + 1 WHERE id = '{VIDEO}'")
            await state_is(client, "lagging")
            lag = (await client.get("/ready")).json()["replicas"]["replica-0"]["lag"]
            assert lag > MAX_LAG
            before = await reads(client)
            await lagging_reads(client)
            assert delta(before, await reads(client))["primary"] == 6
            metrics = (await client.get("/metrics")).text
            assert sample(metrics, "videolikes_db_replica_lag_seconds", server="replica-0") > 1
            assert (
                sample(metrics, "videolikes_db_replica_state", server="replica-0", state="lagging")
                == 1
            )

        await state_is(client, "usable")
        before = await reads(client)
        await lagging_reads(client)
        assert delta(before, await reads(client))["replica-0"] == 6


async def test_a_client_reads_its_own_like_on_another_instance_while_replay_is_paused(
    primary: PostgresCluster, standby: PostgresCluster
) -> None:
    require_redis()
    # A bound the paused replica stays within: it keeps serving, lagging for real.
    settings = replica_settings(
        primary, standby, redis_url=REDIS_URL, database_replica_max_lag=60.0
    )
    async with (
        running_app(settings) as first,
        running_app(settings) as second,
        first.client("198.51.100.1") as writer_on_first,
        second.client("198.51.100.1") as writer_on_second,
        second.client("198.51.100.2") as someone_else,
    ):
        await state_is(writer_on_second, "usable")
        likes_before = (await someone_else.get(f"/api/videos/{OTHER_VIDEO}")).json()["likes"]
        async with paused_replay(standby):
            response = await writer_on_first.put(f"/api/videos/{OTHER_VIDEO}/like")
            assert response.json() == {"userLike": True}
            posted = await writer_on_first.post(
                f"/api/videos/{OTHER_VIDEO}/comments", json={"content": "seen at once"}
            )
            assert posted.status_code == 201

            # The writer, on the other instance: its like, its count, its comment.
            before = await reads(writer_on_second)
            status = await writer_on_second.get(f"/api/videos/{OTHER_VIDEO}/like")
            assert status.json() == {"userLike": True}
            mine = await writer_on_second.get("/api/me/likes")
            assert mine.json() == [OTHER_VIDEO]
            video = (await writer_on_second.get(f"/api/videos/{OTHER_VIDEO}")).json()
            assert video["likes"] == likes_before + 1
            comments = (await writer_on_second.get(f"/api/videos/{OTHER_VIDEO}/comments")).json()
            assert [c["content"] for c in comments["comments"]] == ["seen at once"]
            assert delta(before, await reads(writer_on_second))["primary"] == 4

            # Anyone else, on the replica: neither yet.
            before = await reads(someone_else)
            video = (await someone_else.get(f"/api/videos/{OTHER_VIDEO}")).json()
            assert video["likes"] == likes_before
            comments = (await someone_else.get(f"/api/videos/{OTHER_VIDEO}/comments")).json()
            assert comments["comments"] == []
            assert delta(before, await reads(someone_else))["replica-0"] == 2

        # Once the replica has replayed the writes, it serves the writer again.
        async def served_by_the_replica() -> bool:
            before = await reads(writer_on_second)
            status = await writer_on_second.get(f"/api/videos/{OTHER_VIDEO}/like")
            assert status.json() == {"userLike": True}
            return delta(before, await reads(writer_on_second))["replica-0"] == 1

        await until(served_by_the_replica, "the writer's reads on the replica again")


async def test_while_replay_is_paused_another_client_reads_the_replica_as_it_was(
    primary: PostgresCluster, standby: PostgresCluster
) -> None:
    """Without Redis, within one instance: the writer sees its write; someone else, served by
    the replica (a usable one, within the bound), does not yet: the replica really lags."""
    settings = replica_settings(primary, standby, database_replica_max_lag=60.0)
    async with (
        running_app(settings) as api,
        api.client("198.51.100.3") as writer,
        api.client("198.51.100.4") as someone_else,
    ):
        await state_is(writer, "usable")
        video = f"/api/videos/{VIDEO}"
        likes_before = (await someone_else.get(video)).json()["likes"]
        async with paused_replay(standby):
            assert (await writer.put(f"{video}/like")).json() == {"userLike": True}
            before = await reads(writer)
            assert (await writer.get(f"{video}/like")).json() == {"userLike": True}
            assert (await writer.get(video)).json()["likes"] == likes_before + 1
            assert (await someone_else.get(video)).json()["likes"] == likes_before
            assert delta(before, await reads(writer)) == {
                "primary": 2,
                "replica-0": 1,
                "replica-1": 0,
            }
        await until(
            _likes_are(someone_else, video, likes_before + 1), "the replica replays the like"
        )


def _likes_are(client: httpx.AsyncClient, path: str, likes: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return bool((await client.get(path)).json()["likes"] == likes)

    return check


async def test_a_stopped_replica_is_skipped_and_used_again_once_back(
    primary: PostgresCluster, standby: PostgresCluster
) -> None:
    async with running_app(replica_settings(primary, standby)) as api, api.client() as client:
        await state_is(client, "usable")
        standby.stop()
        try:
            # Whether the monitor has seen it yet or a read finds out first: never an error.
            await lagging_reads(client)
            await state_is(client, "down")
            before = await reads(client)
            await lagging_reads(client)
            assert delta(before, await reads(client))["primary"] == 6
        finally:
            standby.start()
        await state_is(client, "usable")
        before = await reads(client)
        await lagging_reads(client)
        assert delta(before, await reads(client))["replica-0"] == 6


async def test_a_frozen_replica_costs_a_read_half_its_deadline_then_the_primary_answers(
    primary: PostgresCluster, standby: PostgresCluster
) -> None:
    async with running_app(replica_settings(primary, standby)) as api, api.client() as client:
        await state_is(client, "usable")
        standby.freeze()
        try:
            started = time.monotonic()
            response = await client.get(f"/api/videos/{VIDEO}/like")
            assert response.status_code == 200
            assert time.monotonic() - started < api.settings.database_timeout
            await state_is(client, "down")
        finally:
            standby.thaw()
        await state_is(client, "usable")


async def test_a_promoted_replica_is_skipped(primary: PostgresCluster, seeded: None) -> None:
    with standby_of(primary, name="promoted") as doomed:
        settings = replica_settings(primary, doomed)
        async with running_app(settings) as api, api.client() as client:
            await state_is(client, "usable")
            doomed.promote()
            await state_is(client, "promoted")
            before = await reads(client)
            await lagging_reads(client)
            assert delta(before, await reads(client))["primary"] == 6


async def test_two_replicas_share_the_reads(
    primary: PostgresCluster, standby: PostgresCluster
) -> None:
    with standby_of(primary, name="second") as second:
        async with (
            running_app(replica_settings(primary, standby, second)) as api,
            api.client() as client,
        ):
            await state_is(client, "usable", "replica-0")
            await state_is(client, "usable", "replica-1")
            before = await reads(client)
            for _ in range(2):
                await lagging_reads(client)
            counted = delta(before, await reads(client))
            assert counted["primary"] == 0
            assert counted["replica-0"] > 0
            assert counted["replica-1"] > 0


async def test_ready_without_replicas_says_nothing_of_them(api: RunningApp) -> None:
    async with api.client() as client:
        assert "replicas" not in (await client.get("/ready")).json()


def _unanswered_url() -> str:
    return f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/postgres"


async def _on_a_standby(conn: AsyncConnection) -> bool:
    return bool(await conn.scalar(text("SELECT pg_is_in_recovery()")))


async def _standby_flags(conn: asyncpg.Connection, items: Sequence[int]) -> list[bool]:
    in_recovery = bool(await conn.fetchval("SELECT pg_is_in_recovery()"))
    return [in_recovery for _ in items]


@asynccontextmanager
async def router_of(
    primary: PostgresCluster, replica_url: str, positions: WritePositions
) -> AsyncIterator[ReadRouter]:
    """A router whose one replica is taken as usable (no monitor runs to say otherwise)."""
    settings = replica_settings(primary)
    database = Database(create_engine(settings), timeout=settings.database_timeout)
    replica = Replica("replica-0", Database(create_engine(settings, url=replica_url), timeout=1.0))
    replica.state = ReplicaState.USABLE
    router = ReadRouter(database, [replica], positions, max_lag=MAX_LAG)
    try:
        yield router
    finally:
        await router.aclose()
        await database.dispose()


async def test_a_read_that_finds_its_replica_gone_is_answered_by_the_primary(
    primary: PostgresCluster, seeded: None
) -> None:
    async with router_of(primary, _unanswered_url(), InMemoryWritePositions(5.0)) as router:
        assert await router.read("a-reader", _on_a_standby) is False
        assert router.replicas[0].state is ReplicaState.DOWN
        router.replicas[0].state = ReplicaState.USABLE
        flags = await router.driver_batch([1, 2, 3], ["a", "b", "c"], _standby_flags)
        assert flags == [False, False, False]
        assert router.replicas[0].state is ReplicaState.DOWN


async def test_a_healthy_replica_answers_and_a_recent_writer_goes_to_the_primary(
    primary: PostgresCluster, standby: PostgresCluster
) -> None:
    positions = InMemoryWritePositions(5.0)
    async with router_of(primary, standby.url(), positions) as router:
        router.replicas[0].replayed = 100
        await positions.remember(["writer"], 101)
        assert await router.read("reader", _on_a_standby) is True
        assert await router.read("writer", _on_a_standby) is False
        flags = await router.driver_batch([1, 2, 3], ["reader", "writer", "other"], _standby_flags)
        assert flags == [True, False, True]


async def test_with_redis_unreachable_every_read_goes_to_the_primary(
    primary: PostgresCluster, standby: PostgresCluster
) -> None:
    unreachable = RedisWritePositions(
        f"redis://127.0.0.1:{free_port()}/0", seconds=5.0, timeout=0.2
    )
    async with router_of(primary, standby.url(), unreachable) as router:
        router.replicas[0].replayed = 2**62
        assert await router.read("reader", _on_a_standby) is False
        assert await router.driver_batch([1], ["reader"], _standby_flags) == [False]
        # A write position Redis could not take is kept by this process.
        await unreachable.remember(["writer"], 7)
        assert unreachable._unstored.positions_now(["writer", "reader"]) == [7, 0]
