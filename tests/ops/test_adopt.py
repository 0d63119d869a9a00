"""videolikes db adopt, on a database made by the original service's own tooling.

Every test starts from the original's schema file (tests/original_service.py) with rows made
the original's way, and drives the real `videolikes` command and the real app.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx
import pytest
from commands import videolikes
from conftest import (
    IN_CI,
    TEST_IP_HASH_SECRET,
    RunningApp,
    counter_drift,
    make_settings,
    opened_database,
    running_app,
)
from original_service import (
    SCHEMA_FILE,
    SHARED_SCHEMA_FILE,
    OriginalData,
    alembic_version,
    catalog,
    every_row,
    make_original_database,
    original_hash,
    run_sql,
)
from prometheus_client import REGISTRY

from videolikes.identity import ClientIdentity
from videolikes.legacy_identity import LegacyIdentity

pytestmark = pytest.mark.postgres

PROXY = "10.0.0.1"
LEGACY = LegacyIdentity(secret=TEST_IP_HASH_SECRET.encode())


@pytest.fixture
async def original(empty_postgres: str) -> tuple[str, OriginalData]:
    return empty_postgres, await make_original_database(empty_postgres)


def own_hash(address: str) -> str:
    identity = ClientIdentity(secret=TEST_IP_HASH_SECRET.encode())
    return identity.ip_hash({"type": "http", "client": (address, 40000), "headers": []})


def proxied(api: RunningApp) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=api.app, raise_app_exceptions=False, client=(PROXY, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def as_client(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


async def adopt_and_upgrade(url: str) -> None:
    adopted = await videolikes("db", "adopt", database_url=url)
    assert adopted.code == 0, adopted.err
    upgraded = await videolikes("db", "upgrade", database_url=url)
    assert upgraded.code == 0, upgraded.err


def test_the_schema_file_is_the_shared_reference() -> None:
    if not SHARED_SCHEMA_FILE.exists():
        if IN_CI:
            pytest.fail(f"{SHARED_SCHEMA_FILE} is missing; CI lays shared/ beside the clone")
        pytest.skip(f"{SHARED_SCHEMA_FILE} is not here to compare with")
    assert SCHEMA_FILE.read_bytes() == SHARED_SCHEMA_FILE.read_bytes()


async def test_adopt_check_lists_what_it_would_change_and_changes_nothing(
    original: tuple[str, OriginalData],
) -> None:
    url, data = original
    rows, shape = await every_row(url), await catalog(url)
    checked = await videolikes("db", "adopt", "--check", database_url=url)
    assert checked.code == 0, checked.err
    assert (
        "video_likes: turn unique index video_user_unique into constraint video_user_unique"
        in checked.out
    )
    assert f"would re-key {len(data.clients)} users' ip_hash" in checked.out
    assert "compatible: adopting would record migration baseline 0001" in checked.out
    assert await alembic_version(url) is None
    assert await catalog(url) == shape
    assert await every_row(url) == rows


async def test_upgrade_before_adopt_stops_with_one_line_and_changes_nothing(
    original: tuple[str, OriginalData],
) -> None:
    url, _ = original
    rows, shape = await every_row(url), await catalog(url)
    refused = await videolikes("db", "upgrade", database_url=url)
    assert refused.code == 1
    assert "Traceback" not in refused.err
    assert "made by the original service" in refused.err
    assert "videolikes db adopt" in refused.err
    assert len(refused.err.strip().splitlines()) == 1
    assert await alembic_version(url) is None
    assert (await catalog(url), await every_row(url)) == (shape, rows)


async def test_adopted_database_keeps_every_row_and_every_returning_visitor(
    original: tuple[str, OriginalData],
) -> None:
    url, data = original
    before = await every_row(url)
    await adopt_and_upgrade(url)
    after = await every_row(url)

    # Every row of every table is as it was, but for users' ip_hash: re-keyed, irreversibly.
    assert set(after) == set(before)
    for table in before:
        if table not in ("public.users", "public.videos"):
            assert after[table] == before[table], table
    # videos gains the dislike counter (migration 0006), counted from the rows.
    assert [row[:-1] for row in after["public.videos"]] == before["public.videos"]
    disliked = Counter(row[1] for row in before["public.video_likes"] if row[3] is False)
    assert {row[0]: row[-1] for row in after["public.videos"]} == {
        row[0]: disliked[row[0]] for row in before["public.videos"]
    }
    rekeyed = [
        (id_, LEGACY.rekeyed(ip_hash), *rest) for id_, ip_hash, *rest in before["public.users"]
    ]
    assert after["public.users"] == rekeyed
    stored = {row[1] for row in after["public.users"]}
    assert not stored & {original_hash(address) for address in data.clients}

    settings = make_settings(url, trusted_proxies="10.0.0.0/8")
    async with running_app(settings) as api, proxied(api) as proxy:
        for address, user_id in data.clients.items():
            for video in data.videos:
                answer = await proxy.get(f"/api/videos/{video}/like", headers=as_client(address))
                expected = True if video in data.liked[address] else None
                assert answer.json() == {"userLike": expected}, (address, video)
            ids = ",".join(data.videos)
            mine = await proxy.get(f"/api/me/likes?ids={ids}", headers=as_client(address))
            assert {v for v, liked in mine.json()["userLikes"].items() if liked} == (
                data.liked[address]
            )
            me = await proxy.get("/api/me", headers=as_client(address))
            assert me.json() == {"id": str(user_id), "username": data.usernames[address]}
        # A toggle on a video the visitor liked with the original unlikes it.
        liker = next(address for address in data.clients if data.liked[address])
        video = sorted(data.liked[liker])[0]
        counter = _likes_of(await proxy.get("/api/videos"), video)
        toggled = await proxy.post(f"/api/videos/{video}/like", headers=as_client(liker))
        assert toggled.json() == {"userLike": None}
        assert _likes_of(await proxy.get("/api/videos"), video) == counter - 1

    final = await every_row(url)
    assert len(final["public.users"]) == len(before["public.users"])
    by_id = {row[0]: row[1] for row in final["public.users"]}
    # /api/me and the toggle moved every visitor to videolikes' own hash.
    assert all(by_id[data.clients[address]] == own_hash(address) for address in data.clients)
    reconciled = await videolikes("reconcile", database_url=url)
    assert reconciled.code == 0, reconciled.out + reconciled.err
    assert "every counter matches its like rows" in reconciled.out


def _moved() -> float:
    return REGISTRY.get_sample_value("videolikes_legacy_identities_moved_total") or 0.0


def _likes_of(catalogue: httpx.Response, video: str) -> int:
    return int(next(v["likes"] for v in catalogue.json() if v["id"] == video))


async def test_identities_command_counts_the_visitors_not_yet_back(
    original: tuple[str, OriginalData],
) -> None:
    url, data = original
    await adopt_and_upgrade(url)
    counted = await videolikes("db", "identities", database_url=url)
    assert f"users of the original service not yet back: {len(data.clients)}" in counted.out
    returning = list(data.clients)[:5]
    moved_before = _moved()
    settings = make_settings(url, trusted_proxies="10.0.0.0/8")
    async with running_app(settings) as api, proxied(api) as proxy:
        for address in returning:
            await proxy.put(f"/api/videos/{data.videos[0]}/like", headers=as_client(address))
            await proxy.put(f"/api/videos/{data.videos[1]}/like", headers=as_client(address))
    assert _moved() - moved_before == len(returning)
    counted = await videolikes("db", "identities", database_url=url)
    assert f"not yet back: {len(data.clients) - len(returning)}" in counted.out
    assert f"users in all: {len(data.clients)}" in counted.out


async def test_with_the_legacy_lookup_off_a_returning_visitor_is_a_stranger(
    original: tuple[str, OriginalData],
) -> None:
    url, data = original
    await adopt_and_upgrade(url)
    liker = next(address for address in data.clients if data.liked[address])
    video = sorted(data.liked[liker])[0]
    settings = make_settings(url, trusted_proxies="10.0.0.0/8", legacy_identity="off")
    async with running_app(settings) as api, proxied(api) as proxy:
        status = await proxy.get(f"/api/videos/{video}/like", headers=as_client(liker))
    assert status.json() == {"userLike": None}


async def test_concurrent_first_requests_of_a_returning_visitor_make_one_user(
    original: tuple[str, OriginalData],
) -> None:
    """Two app instances, each answering many first requests of one legacy visitor at once."""
    url, data = original
    await adopt_and_upgrade(url)
    visitor = next(address for address in data.clients if data.liked[address])
    settings = make_settings(url, trusted_proxies="10.0.0.0/8", database_pool_size=5)
    before = await every_row(url)
    async with (
        running_app(settings) as first,
        running_app(settings) as second,
        proxied(first) as a,
        proxied(second) as b,
    ):
        requests: list[Any] = []
        for n, client in enumerate([a, b] * 16):
            video = data.videos[n % len(data.videos)]
            headers = as_client(visitor)
            match n % 4:
                case 0:
                    requests.append(client.put(f"/api/videos/{video}/like", headers=headers))
                case 1:
                    requests.append(client.get("/api/me", headers=headers))
                case 2:
                    requests.append(client.get(f"/api/videos/{video}/like", headers=headers))
                case _:
                    requests.append(
                        client.delete(f"/api/videos/{data.videos[-1]}/like", headers=headers)
                    )
        answers = await asyncio.gather(*requests)
    assert {answer.status_code for answer in answers} == {200}
    mes = {answer.text for answer in answers if answer.request.url.path == "/api/me"}
    assert mes == {f'{{"id":"{data.clients[visitor]}","username":"{data.usernames[visitor]}"}}'}
    after = await every_row(url)
    assert len(after["public.users"]) == len(before["public.users"])
    user_id = data.clients[visitor]
    liked_now = {row[1] for row in after["public.video_likes"] if row[2] == user_id}
    put_videos = {data.videos[n % len(data.videos)] for n in range(0, 32, 4)}
    assert liked_now == (data.liked[visitor] | put_videos) - {data.videos[-1]}
    counts: dict[str, int] = {}
    for row in after["public.video_likes"]:
        counts[row[1]] = counts.get(row[1], 0) + 1
    assert {row[0]: row[6] for row in after["public.videos"]} == {
        video: counts.get(video, 0) for video in data.videos
    }


async def test_adopt_refuses_the_development_secret(original: tuple[str, OriginalData]) -> None:
    url, _ = original
    rows = await every_row(url)
    refused = await videolikes("db", "adopt", database_url=url, IP_HASH_SECRET=None)
    assert refused.code == 2
    assert "IP_HASH_SECRET" in refused.err
    assert await every_row(url) == rows
    assert await alembic_version(url) is None


async def test_adopt_gives_differently_named_constraints_videolikes_names(
    original: tuple[str, OriginalData],
) -> None:
    url, _ = original
    await run_sql(
        url,
        """
        ALTER TABLE videos RENAME CONSTRAINT videos_filename_unique TO videos_filename_key;
        ALTER INDEX video_user_unique RENAME TO video_likes_video_id_user_id_key;
        ALTER TABLE video_likes RENAME CONSTRAINT video_likes_video_id_videos_id_fk
            TO video_likes_video_id_fkey;
        ALTER INDEX videos_views_idx RENAME TO videos_views;
        """,
    )
    adopted = await videolikes("db", "adopt", database_url=url)
    assert adopted.code == 0, adopted.err
    for line in (
        "videos: rename constraint videos_filename_key to videos_filename_unique",
        "video_likes: turn unique index video_likes_video_id_user_id_key into constraint "
        "video_user_unique",
        "video_likes: rename constraint video_likes_video_id_fkey to "
        "video_likes_video_id_videos_id_fk",
        "videos: rename index videos_views to videos_views_idx",
    ):
        assert line in adopted.out
    names = {row[1] for row in await catalog(url)}
    assert {"video_user_unique", "videos_filename_unique", "videos_views_idx"} <= names
    upgraded = await videolikes("db", "upgrade", database_url=url)
    assert upgraded.code == 0, upgraded.err
    # The like writes name video_user_unique in their ON CONFLICT: they work after the change.
    async with running_app(make_settings(url)) as api, api.client("192.0.2.55") as client:
        assert (await client.post("/api/videos/EFTA01683560/like")).json() == {"userLike": True}


async def test_adopt_reports_every_mismatch_and_changes_nothing(
    original: tuple[str, OriginalData],
) -> None:
    url, _ = original
    await run_sql(
        url,
        """
        ALTER TABLE videos DROP COLUMN is_shorts;
        ALTER TABLE videos ALTER COLUMN likes DROP NOT NULL;
        ALTER TABLE videos ALTER COLUMN likes DROP DEFAULT;
        ALTER TABLE users ALTER COLUMN ip_hash TYPE varchar(32) USING left(ip_hash, 32);
        ALTER TABLE users ADD COLUMN email text NOT NULL DEFAULT '';
        ALTER TABLE users ALTER COLUMN email DROP DEFAULT;
        ALTER TABLE video_likes ALTER COLUMN is_like TYPE integer USING is_like::int;
        DROP INDEX video_user_unique;
        ALTER TABLE video_likes DROP CONSTRAINT video_likes_user_id_users_id_fk;
        ALTER TABLE video_likes DROP CONSTRAINT video_likes_video_id_videos_id_fk;
        ALTER TABLE video_likes ADD CONSTRAINT video_likes_video_id_videos_id_fk
            FOREIGN KEY (video_id) REFERENCES videos(id);
        """,
    )
    shape, rows = await catalog(url), await every_row(url)
    refused = await videolikes("db", "adopt", database_url=url)
    assert refused.code == 1
    for problem in (
        "videos.is_shorts: missing",
        "videos.likes: videolikes needs it NOT NULL",
        "videos.likes: has no default, videolikes inserts without it",
        "users.ip_hash: holds 32 characters, videolikes needs 64",
        "users.email: an extra NOT NULL column without a default",
        "video_likes.is_like: type INTEGER, videolikes needs boolean",
        "video_likes: no unique constraint or index on (video_id, user_id)",
        "video_likes.user_id -> users.id: foreign key missing",
        "video_likes.video_id -> videos.id: foreign key must be ON DELETE CASCADE",
        "nothing was changed",
    ):
        assert problem in refused.err
    assert await alembic_version(url) is None
    assert (await catalog(url), await every_row(url)) == (shape, rows)


async def test_adopt_refuses_a_database_without_the_original_tables(empty_postgres: str) -> None:
    refused = await videolikes("db", "adopt", database_url=empty_postgres)
    assert refused.code == 1
    assert "videos: table missing" in refused.err
    assert await alembic_version(empty_postgres) is None


async def test_adopt_leaves_a_videolikes_database_as_it_is(
    original: tuple[str, OriginalData],
) -> None:
    url, _ = original
    assert (await videolikes("db", "adopt", database_url=url)).code == 0
    rows = await every_row(url)
    again = await videolikes("db", "adopt", database_url=url)
    assert (again.code, again.out.strip()) == (0, "already a videolikes database (revision 0001)")
    assert await every_row(url) == rows


async def test_adopt_is_for_postgres_only(tmp_path: Any) -> None:
    refused = await videolikes("db", "adopt", database_url=f"sqlite+aiosqlite:///{tmp_path}/x.db")
    assert refused.code == 2
    assert "PostgreSQL" in refused.err


async def test_after_upgrade_a_returning_visitor_can_dislike_what_it_liked(
    original: tuple[str, OriginalData],
) -> None:
    url, data = original
    await adopt_and_upgrade(url)
    address, liked = next((a, videos) for a, videos in data.liked.items() if videos)
    video = sorted(liked)[0]
    settings = make_settings(url, trusted_proxies="10.0.0.0/8", dislikes_enabled=True)
    async with running_app(settings) as api, proxied(api) as proxy:
        headers = as_client(address)
        before = (await proxy.get(f"/api/videos/{video}", headers=headers)).json()
        assert (await proxy.get(f"/api/videos/{video}/like", headers=headers)).json() == {
            "userLike": True
        }
        disliked = await proxy.post(f"/api/videos/{video}/dislike", headers=headers)
        assert disliked.json() == {"userLike": False}
        after = (await proxy.get(f"/api/videos/{video}", headers=headers)).json()
        assert (after["likes"], after["dislikes"]) == (before["likes"] - 1, 1)
        me = (await proxy.get("/api/me", headers=headers)).json()
    assert me["id"] == str(data.clients[address])
    async with opened_database(url) as database:
        assert await counter_drift(database) == 0
