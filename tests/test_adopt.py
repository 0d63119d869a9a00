"""videolikes db adopt: a database the original service made becomes a videolikes one."""

from __future__ import annotations

from typing import Any

import pytest
from commands import videolikes
from conftest import TEST_IP_HASH_SECRET, make_settings, running_app
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from videolikes.identity import ClientIdentity

pytestmark = pytest.mark.postgres

KNOWN_CLIENT = "203.0.113.10"

# What the original service's migrations (Drizzle) created, with the constraint names it
# gave them; the names videolikes uses are a parameter so tests can vary them.
ORIGINAL_SCHEMA = """
CREATE SCHEMA drizzle;
CREATE TABLE drizzle.__drizzle_migrations (
    id SERIAL PRIMARY KEY,
    hash text NOT NULL,
    created_at bigint
);
CREATE TABLE videos (
    id varchar(50) PRIMARY KEY NOT NULL,
    title varchar(255),
    filename varchar(255) NOT NULL,
    length integer NOT NULL,
    has_thumbnail boolean DEFAULT false NOT NULL,
    views integer DEFAULT 0 NOT NULL,
    likes integer DEFAULT 0 NOT NULL,
    is_shorts boolean DEFAULT false NOT NULL,
    playlist varchar(100),
    CONSTRAINT {filename_unique} UNIQUE (filename)
);
CREATE TABLE users (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
    ip_hash varchar(64) NOT NULL,
    username varchar(50) NOT NULL,
    created_at timestamp DEFAULT now() NOT NULL,
    CONSTRAINT users_ip_hash_unique UNIQUE (ip_hash)
);
CREATE TABLE video_likes (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
    video_id varchar(50) NOT NULL,
    user_id uuid NOT NULL,
    is_like boolean NOT NULL,
    created_at timestamp DEFAULT now() NOT NULL,
    CONSTRAINT {video_user_unique} UNIQUE (video_id, user_id)
);
ALTER TABLE video_likes ADD CONSTRAINT {video_fk} FOREIGN KEY (video_id)
    REFERENCES public.videos(id) ON DELETE cascade ON UPDATE no action;
ALTER TABLE video_likes ADD CONSTRAINT video_likes_user_id_users_id_fk FOREIGN KEY (user_id)
    REFERENCES public.users(id) ON DELETE cascade ON UPDATE no action;
CREATE INDEX videos_views_idx ON videos USING btree (views);
CREATE TABLE comments (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
    video_id varchar(50) NOT NULL REFERENCES videos(id) ON DELETE cascade,
    user_id uuid NOT NULL REFERENCES users(id) ON DELETE cascade,
    body text NOT NULL,
    created_at timestamp DEFAULT now() NOT NULL
);
CREATE TABLE comment_likes (
    comment_id uuid NOT NULL REFERENCES comments(id) ON DELETE cascade,
    user_id uuid NOT NULL REFERENCES users(id) ON DELETE cascade,
    CONSTRAINT comment_likes_pk PRIMARY KEY (comment_id, user_id)
)
"""
ORIGINAL_NAMES = {
    "filename_unique": "videos_filename_unique",
    "video_user_unique": "video_user_unique",
    "video_fk": "video_likes_video_id_videos_id_fk",
}

ORIGINAL_ROWS = """
INSERT INTO drizzle.__drizzle_migrations (hash, created_at) VALUES
    ('9a1c0f3e', 1717000000000), ('b7e2d4a1', 1719000000000);
INSERT INTO videos (id, title, filename, length, has_thumbnail, views, likes, is_shorts, playlist)
VALUES
    ('EFTA01683563', 'Harbour at dawn', 'EFTA01683563.mp4', 184, true, 1520, 2, false, 'harbour'),
    ('EFTA01683564', NULL, 'EFTA01683564.mp4', 42, false, 80, 1, true, NULL),
    ('EFTA01683565', 'Rain', 'EFTA01683565.webm', 3600, true, 0, 0, false, 'weather');
INSERT INTO users (id, ip_hash, username, created_at) VALUES
    ('6f1d2a0e-1111-4c4c-9a9a-000000000001', :known_hash, '@user-k3x9q1', '2024-05-01 10:00:00'),
    ('6f1d2a0e-1111-4c4c-9a9a-000000000002', :other_hash, '@user-a0b1c2', '2024-05-02 11:30:00');
INSERT INTO video_likes (id, video_id, user_id, is_like, created_at) VALUES
    ('0d9c8b7a-2222-4d4d-8b8b-000000000001', 'EFTA01683563',
     '6f1d2a0e-1111-4c4c-9a9a-000000000001', true, '2024-05-01 10:01:00'),
    ('0d9c8b7a-2222-4d4d-8b8b-000000000002', 'EFTA01683563',
     '6f1d2a0e-1111-4c4c-9a9a-000000000002', true, '2024-05-02 11:31:00'),
    ('0d9c8b7a-2222-4d4d-8b8b-000000000003', 'EFTA01683564',
     '6f1d2a0e-1111-4c4c-9a9a-000000000002', true, '2024-05-02 11:32:00');
INSERT INTO comments (id, video_id, user_id, body) VALUES
    ('3c3c3c3c-3333-4e4e-8c8c-000000000001', 'EFTA01683563',
     '6f1d2a0e-1111-4c4c-9a9a-000000000002', 'What a sunrise');
INSERT INTO comment_likes (comment_id, user_id) VALUES
    ('3c3c3c3c-3333-4e4e-8c8c-000000000001', '6f1d2a0e-1111-4c4c-9a9a-000000000001')
"""


def _hash_of(address: str) -> str:
    identity = ClientIdentity(
        secret=TEST_IP_HASH_SECRET.encode(), trusted_proxies=[], ipv6_prefix_length=64
    )
    return identity.ip_hash({"type": "http", "client": (address, 40000), "headers": []})


async def _run_script(url: str, script: str, **params: Any) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            for statement in script.split(";"):
                if statement.strip():
                    used = {k: v for k, v in params.items() if f":{k}" in statement}
                    await conn.execute(text(statement), used)
    finally:
        await engine.dispose()


async def _make_original(url: str, **names: str) -> None:
    await _run_script(url, ORIGINAL_SCHEMA.format(**{**ORIGINAL_NAMES, **names}))
    await _run_script(
        url, ORIGINAL_ROWS, known_hash=_hash_of(KNOWN_CLIENT), other_hash=_hash_of("198.51.100.4")
    )


@pytest.fixture
async def original(empty_postgres: str) -> str:
    await _make_original(empty_postgres)
    return empty_postgres


async def _everything(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table but Alembic's, in a stable order."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            tables = (
                await conn.execute(
                    text(
                        """
                        SELECT table_schema || '.' || table_name FROM information_schema.tables
                        WHERE table_schema IN ('public', 'drizzle')
                          AND table_name <> 'alembic_version'
                        ORDER BY 1
                        """
                    )
                )
            ).scalars()
            return {
                table: [
                    tuple(row)
                    for row in await conn.execute(text(f"SELECT * FROM {table} ORDER BY 1"))
                ]
                for table in list(tables)
            }
    finally:
        await engine.dispose()


async def _catalog(url: str) -> list[tuple[Any, ...]]:
    """Tables, columns and constraint names: what a failed adoption must leave as it was."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            columns = await conn.execute(
                text(
                    """
                    SELECT table_name, column_name, data_type, is_nullable, column_default
                    FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1, 2
                    """
                )
            )
            constraints = await conn.execute(
                text("SELECT conrelid::regclass::text, conname FROM pg_constraint ORDER BY 1, 2")
            )
            return [tuple(row) for row in columns] + [tuple(row) for row in constraints]
    finally:
        await engine.dispose()


async def _alembic_version(url: str) -> str | None:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            exists = await conn.scalar(text("SELECT to_regclass('public.alembic_version')"))
            if exists is None:
                return None
            return str(await conn.scalar(text("SELECT version_num FROM alembic_version")))
    finally:
        await engine.dispose()


async def test_adopt_upgrade_and_serve_an_original_database_keeping_every_row(
    original: str,
) -> None:
    before = await _everything(original)
    assert set(before) >= {
        "public.comments",
        "public.comment_likes",
        "drizzle.__drizzle_migrations",
    }

    adopted = await videolikes("db", "adopt", database_url=original)
    assert adopted.code == 0, adopted.err
    assert "adopted: recorded migration baseline 0001" in adopted.out
    assert await _alembic_version(original) == "0001"
    upgraded = await videolikes("db", "upgrade", database_url=original)
    assert upgraded.code == 0, upgraded.err
    assert await _everything(original) == before

    async with running_app(make_settings(original)) as api:
        async with api.client(KNOWN_CLIENT) as known:
            status = await known.get("/api/videos/EFTA01683563/like")
            assert status.json() == {"userLike": True}
            me = (await known.get("/api/me")).json()
            assert me == {"id": "6f1d2a0e-1111-4c4c-9a9a-000000000001", "username": "@user-k3x9q1"}
        async with api.client("192.0.2.55") as newcomer:
            liked = await newcomer.post("/api/videos/EFTA01683565/like")
            assert liked.json() == {"userLike": True}
            videos = {v["id"]: v for v in (await newcomer.get("/api/videos")).json()}
    assert [videos[v]["likes"] for v in ("EFTA01683563", "EFTA01683564", "EFTA01683565")] == [
        2,
        1,
        1,
    ]
    after = await _everything(original)
    assert len(after["public.users"]) == len(before["public.users"]) + 1
    assert len(after["public.video_likes"]) == len(before["public.video_likes"]) + 1
    for table in ("public.comments", "public.comment_likes", "drizzle.__drizzle_migrations"):
        assert after[table] == before[table]
    assert set(before["public.users"]) <= set(after["public.users"])


async def test_adopt_gives_differently_named_constraints_videolikes_names(
    empty_postgres: str,
) -> None:
    await _make_original(
        empty_postgres,
        filename_unique="videos_filename_key",
        video_user_unique="video_likes_video_id_user_id_key",
        video_fk="video_likes_video_id_fkey",
    )
    before = await _everything(empty_postgres)
    adopted = await videolikes("db", "adopt", database_url=empty_postgres)
    assert adopted.code == 0, adopted.err
    for line in (
        "videos: rename constraint videos_filename_key to videos_filename_unique",
        "video_likes: rename constraint video_likes_video_id_user_id_key to video_user_unique",
        "video_likes: rename constraint video_likes_video_id_fkey to "
        "video_likes_video_id_videos_id_fk",
    ):
        assert line in adopted.out
    names = {row[1] for row in await _catalog(empty_postgres) if len(row) == 2}
    assert {"video_user_unique", "videos_filename_unique"} <= names
    assert await _everything(empty_postgres) == before
    upgraded = await videolikes("db", "upgrade", database_url=empty_postgres)
    assert upgraded.code == 0, upgraded.err
    # The like writes name video_user_unique in their ON CONFLICT: they work after the rename.
    async with running_app(make_settings(empty_postgres)) as api, api.client() as client:
        assert (await client.post("/api/videos/EFTA01683565/like")).json() == {"userLike": True}


async def test_adopt_check_reports_without_changing_anything(empty_postgres: str) -> None:
    await _make_original(empty_postgres, video_fk="video_likes_video_id_fkey")
    catalog = await _catalog(empty_postgres)
    checked = await videolikes("db", "adopt", "--check", database_url=empty_postgres)
    assert checked.code == 0, checked.err
    assert "would give constraints videolikes' names" in checked.out
    assert "compatible: adopting would record migration baseline 0001" in checked.out
    assert await _alembic_version(empty_postgres) is None
    assert await _catalog(empty_postgres) == catalog


async def test_adopt_reports_every_mismatch_and_changes_nothing(original: str) -> None:
    await _run_script(
        original,
        """
        ALTER TABLE videos DROP COLUMN is_shorts;
        ALTER TABLE videos ALTER COLUMN likes DROP NOT NULL;
        ALTER TABLE videos ALTER COLUMN likes DROP DEFAULT;
        ALTER TABLE users ALTER COLUMN ip_hash TYPE varchar(32) USING left(ip_hash, 32);
        ALTER TABLE users ADD COLUMN email text NOT NULL DEFAULT '';
        ALTER TABLE users ALTER COLUMN email DROP DEFAULT;
        ALTER TABLE video_likes ALTER COLUMN is_like TYPE integer USING is_like::int;
        ALTER TABLE video_likes DROP CONSTRAINT video_user_unique;
        ALTER TABLE video_likes DROP CONSTRAINT video_likes_user_id_users_id_fk;
        ALTER TABLE video_likes DROP CONSTRAINT video_likes_video_id_videos_id_fk;
        ALTER TABLE video_likes ADD CONSTRAINT video_likes_video_id_videos_id_fk
            FOREIGN KEY (video_id) REFERENCES videos(id)
        """,
    )
    catalog = await _catalog(original)
    rows = await _everything(original)
    refused = await videolikes("db", "adopt", database_url=original)
    assert refused.code == 1
    for problem in (
        "videos.is_shorts: missing",
        "videos.likes: videolikes needs it NOT NULL",
        "videos.likes: has no default, videolikes inserts without it",
        "users.ip_hash: holds 32 characters, videolikes needs 64",
        "users.email: an extra NOT NULL column without a default",
        "video_likes.is_like: type INTEGER, videolikes needs boolean",
        "video_likes: no unique constraint on (video_id, user_id)",
        "video_likes.user_id -> users.id: foreign key missing",
        "video_likes.video_id -> videos.id: foreign key must be ON DELETE CASCADE",
        "nothing was changed",
    ):
        assert problem in refused.err
    assert await _alembic_version(original) is None
    assert await _catalog(original) == catalog
    assert await _everything(original) == rows


async def test_adopt_refuses_a_database_without_the_original_tables(empty_postgres: str) -> None:
    refused = await videolikes("db", "adopt", database_url=empty_postgres)
    assert refused.code == 1
    assert "videos: table missing" in refused.err
    assert await _alembic_version(empty_postgres) is None


async def test_adopt_leaves_a_videolikes_database_as_it_is(original: str) -> None:
    assert (await videolikes("db", "adopt", database_url=original)).code == 0
    again = await videolikes("db", "adopt", database_url=original)
    assert (again.code, again.out.strip()) == (0, "already a videolikes database (revision 0001)")


async def test_adopt_is_for_postgres_only(tmp_path: Any) -> None:
    refused = await videolikes("db", "adopt", database_url=f"sqlite+aiosqlite:///{tmp_path}/x.db")
    assert refused.code == 2
    assert "PostgreSQL" in refused.err
