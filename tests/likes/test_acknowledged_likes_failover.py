"""No acknowledged like lost in a failover, under synchronous replication.

A real `videolikes serve` on a primary and its standby takes PUT likes from distinct
visitors; the standby falls behind (the primary's WAL sender frozen), the primary is
killed mid-load and the standby promoted. Every like that answered 200 must be on the
promoted standby, its counter equal to its rows. The same fault under asynchronous
replication loses the likes acknowledged while the standby was behind: the check sees it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from acknowledged_likes import (
    REPLICATION,
    STANDBY,
    STANDBY_SETTINGS,
    fail_over_under_load,
    survival,
    until_streaming,
)
from conftest import TEST_IP_HASH_SECRET
from faulty_database import migrated_with_demo
from pg_cluster import server_list_url, standby_of, throwaway_cluster
from served import served

DATABASE_TIMEOUT = 2.0


@pytest.mark.parametrize("replication", ["synchronous", "asynchronous"])
async def test_every_acknowledged_like_survives_failover_only_under_synchronous_replication(
    pg_cluster_template: Path, tmp_path: Path, replication: str
) -> None:
    with (
        throwaway_cluster(REPLICATION[replication], template=pg_cluster_template) as primary,
        standby_of(primary, name=STANDBY, settings=STANDBY_SETTINGS) as standby,
    ):
        sync_state = "sync" if replication == "synchronous" else "async"
        await until_streaming(primary, sync_state=sync_state)
        await migrated_with_demo(primary)
        async with served(
            server_list_url(primary, standby),
            tmp_path / "server.log",
            DATABASE_TIMEOUT=str(DATABASE_TIMEOUT),
            TRUSTED_PROXIES="127.0.0.1/32",
            RATE_LIMIT_ENABLED="false",
        ) as server:
            failover = await fail_over_under_load(
                primary, standby, server.url, clients=8, before=1.0, lag=0.5, down=0.5, after=0.5
            )
        held = await survival(
            standby.url(scheme="postgresql"), failover.answers, ip_hash_secret=TEST_IP_HASH_SECRET
        )

    outage = failover.outage()
    assert held.acknowledged > 0
    assert held.drift == 0
    assert set(outage.statuses) <= {200, 503}, outage.statuses
    assert outage.slowest_seconds < DATABASE_TIMEOUT + 1
    if replication == "synchronous":
        assert held.lost == 0, held
    else:
        assert held.lost > 0, held
