"""videolikes reconcile: drift is reported, and fixed without losing a concurrent like."""

from __future__ import annotations

import asyncio
import random
import uuid

from commands import videolikes
from conftest import counter_drift, execute, make_settings, running_app, scalar, seed_demo
from sqlalchemy import text

from videolikes.db.units import Database, create_engine
from videolikes.likes.counters import recount_likes
from videolikes.likes.reconcile import reconcile


def _user(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


async def _like(database: Database, video_id: str, clients: int) -> None:
    """`clients` like rows on one video, with its counter kept right."""
    for n in range(clients):
        await execute(
            database,
            """
            INSERT INTO users (id, ip_hash, username) VALUES (:uid, :hash, :name)
            ON CONFLICT (ip_hash) DO NOTHING
            """,
            uid=_user(n),
            hash=f"{n:064d}",
            name=f"@user-{n:06d}",
        )
        await execute(
            database,
            """
            INSERT INTO video_likes (id, video_id, user_id, is_like)
            VALUES (:id, :video, :uid, true)
            """,
            id=str(uuid.uuid4()),
            video=video_id,
            uid=_user(n),
        )
    await execute(database, "UPDATE videos SET likes = :n WHERE id = :id", n=clients, id=video_id)


async def _drift(database: Database) -> dict[str, int]:
    """Spoil three counters; returns what they should be."""
    await _like(database, "DEMO00000001", 3)
    await _like(database, "DEMO00000002", 1)
    await execute(database, "UPDATE videos SET likes = 7 WHERE id = 'DEMO00000001'")
    await execute(database, "UPDATE videos SET likes = 0 WHERE id = 'DEMO00000002'")
    await execute(database, "UPDATE videos SET likes = 2 WHERE id = 'DEMO00000030'")
    return {"DEMO00000001": 3, "DEMO00000002": 1, "DEMO00000030": 0}


async def test_reconcile_reports_every_drifted_video_and_changes_nothing(
    database: Database,
) -> None:
    await seed_demo(database)
    await _drift(database)
    said: list[str] = []
    report = await reconcile(database, fix=False, say=said.append, page_size=5)
    assert (report.drifted, report.fixed) == (3, 0)
    assert said == [
        "DEMO00000001: likes 7, like rows 3",
        "DEMO00000002: likes 0, like rows 1",
        "DEMO00000030: likes 2, like rows 0",
    ]
    assert await counter_drift(database) == 3


async def test_reconcile_fix_sets_every_drifted_counter_to_its_rows(database: Database) -> None:
    await seed_demo(database)
    expected = await _drift(database)
    said: list[str] = []
    report = await reconcile(database, fix=True, say=said.append, page_size=4, batch_size=1)
    assert (report.drifted, report.fixed) == (3, 3)
    assert "fixed DEMO00000001: likes 7 -> 3" in said
    assert await counter_drift(database) == 0
    for video_id, likes in expected.items():
        assert (
            await scalar(database, "SELECT likes FROM videos WHERE id = :id", id=video_id) == likes
        )
    again: list[str] = []
    assert (await reconcile(database, fix=True, say=again.append)).drifted == 0
    assert again == []


async def test_reconcile_command_exits_1_on_drift_and_0_once_fixed(
    database_url: str, database: Database
) -> None:
    await seed_demo(database)
    await _drift(database)
    report = await videolikes("reconcile", database_url=database_url)
    assert report.code == 1
    assert "DEMO00000001: likes 7, like rows 3" in report.out
    assert "3 videos drifted" in report.out
    fixed = await videolikes("reconcile", "--fix", database_url=database_url)
    assert fixed.code == 0
    assert "3 videos drifted; fixed 3" in fixed.out
    clean = await videolikes("reconcile", database_url=database_url)
    assert (clean.code, clean.out.strip()) == (0, "every counter matches its like rows")


async def test_reconcile_fix_during_concurrent_toggles_loses_no_like(postgres_url: str) -> None:
    """Toggles only add or subtract one, so a counter a fix set wrongly stays wrong: drift 0
    after the storm, with no fix after it, shows that every fix kept every toggle."""
    settings = make_settings(postgres_url, database_pool_size=40)
    database = Database(create_engine(settings))
    try:
        rows = await seed_demo(database)
        hot = [row["id"] for row in rows[:4]]
        clients = [f"198.51.100.{n}" for n in range(1, 31)]
        toggles_per_pair = 9  # odd: every pair ends liked
        await execute(database, "UPDATE videos SET likes = likes + 5")
        async with running_app(settings) as api:

            async def storm(ip: str) -> set[int]:
                plan = hot * toggles_per_pair
                random.shuffle(plan)
                async with api.client(ip) as client:
                    return {(await client.post(f"/api/videos/{v}/like")).status_code for v in plan}

            toggling = asyncio.gather(*(storm(ip) for ip in clients))
            fixed = 0
            while not toggling.done():
                # The scan finds drift only at first; recounting the hot videos over and over
                # is what keeps fixes racing the toggles until the storm ends.
                report = await reconcile(database, fix=True, say=lambda _: None, batch_size=3)
                fixed += report.fixed
                async with database.transaction() as conn:
                    await recount_likes(conn, hot)
            statuses = set().union(*await toggling)
        assert statuses == {200}
        assert fixed >= len(rows)  # the +5 on every video was fixed while toggles ran
        assert await counter_drift(database) == 0
        liked = await scalar(database, "SELECT count(*) FROM video_likes WHERE is_like")
        assert liked == len(clients) * len(hot)
        assert await scalar(database, "SELECT sum(likes) FROM videos") == liked
    finally:
        await database.dispose()


async def test_recount_waiting_on_an_uncommitted_like_counts_it_once(postgres_url: str) -> None:
    """The narrow race, made certain: a like and its +1 are written but not committed when
    a recount reaches the video; the recount must wait and then count that like exactly once."""
    database = Database(create_engine(make_settings(postgres_url)))
    try:
        await seed_demo(database)
        await _like(database, "DEMO00000001", 2)
        await _like(database, "DEMO00000002", 3)  # and a third user
        async with database.transaction() as toggle:
            await toggle.execute(
                text(
                    """
                    WITH added AS (
                        INSERT INTO video_likes (id, video_id, user_id, is_like)
                        VALUES (gen_random_uuid(), 'DEMO00000001',
                                '00000000-0000-4000-8000-000000000002', true)
                        ON CONFLICT DO NOTHING RETURNING 1
                    )
                    UPDATE videos SET likes = likes + (SELECT count(*) FROM added)
                    WHERE id = 'DEMO00000001'
                    """
                )
            )
            # A committed unlike that the counter never heard of: drift for the recount to fix.
            await execute(
                database,
                "DELETE FROM video_likes WHERE video_id = 'DEMO00000001' AND user_id = :u",
                u=_user(0),
            )
            recount = asyncio.create_task(_recount(database, ["DEMO00000001"]))
            await asyncio.sleep(0.3)
            assert not recount.done()  # waiting for the like's transaction
        await recount
        assert await counter_drift(database) == 0
        assert await scalar(database, "SELECT likes FROM videos WHERE id = 'DEMO00000001'") == 2
    finally:
        await database.dispose()


async def _recount(database: Database, video_ids: list[str]) -> None:
    async with database.transaction() as conn:
        await recount_likes(conn, video_ids)


async def test_reconcile_reports_and_fixes_a_drifted_dislike_counter(database: Database) -> None:
    await seed_demo(database)
    await _like(database, "DEMO00000001", 3)
    # Two of the three turn their likes into dislikes, and the counters are left as they were;
    # a third video claims dislikes it has no row for.
    await execute(
        database,
        "UPDATE video_likes SET is_like = false WHERE user_id IN (:one, :two)",
        one=_user(0),
        two=_user(1),
    )
    await execute(database, "UPDATE videos SET dislikes = 4 WHERE id = 'DEMO00000002'")
    said: list[str] = []
    report = await reconcile(database, fix=False, say=said.append)
    assert (report.drifted, report.fixed) == (2, 0)
    assert said == [
        "DEMO00000001: likes 3, like rows 1",
        "DEMO00000001: dislikes 0, dislike rows 2",
        "DEMO00000002: dislikes 4, dislike rows 0",
    ]
    fixed: list[str] = []
    report = await reconcile(database, fix=True, say=fixed.append)
    assert (report.drifted, report.fixed) == (2, 2)
    assert "fixed DEMO00000001: dislikes 0 -> 2" in fixed
    assert "fixed DEMO00000001: likes 3 -> 1" in fixed
    assert "fixed DEMO00000002: dislikes 4 -> 0" in fixed
    assert await counter_drift(database) == 0
