"""The migrated schema is exactly the original service's (SPEC section 1), on real databases."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from conftest import execute, opened_database, scalar
from sqlalchemy import insert, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from videolikes.db.schema_version import alembic_config
from videolikes.db.tables import Base, users, video_likes, videos
from videolikes.db.units import Database

# (table, column) -> (data_type, character_maximum_length, is_nullable, column_default)
EXPECTED_POSTGRES_COLUMNS: dict[tuple[str, str], tuple[str, int | None, str, str | None]] = {
    ("videos", "id"): ("character varying", 50, "NO", None),
    ("videos", "title"): ("character varying", 255, "YES", None),
    ("videos", "filename"): ("character varying", 255, "NO", None),
    ("videos", "length"): ("integer", None, "NO", None),
    ("videos", "has_thumbnail"): ("boolean", None, "NO", "false"),
    ("videos", "views"): ("integer", None, "NO", "0"),
    ("videos", "likes"): ("integer", None, "NO", "0"),
    ("videos", "is_shorts"): ("boolean", None, "NO", "false"),
    ("videos", "playlist"): ("character varying", 100, "YES", None),
    # Not the original's: the dislike counter (migration 0006).
    ("videos", "dislikes"): ("integer", None, "NO", "0"),
    ("users", "id"): ("uuid", None, "NO", "gen_random_uuid()"),
    ("users", "ip_hash"): ("character varying", 64, "NO", None),
    ("users", "username"): ("character varying", 50, "NO", None),
    ("users", "created_at"): ("timestamp without time zone", None, "NO", "now()"),
    ("video_likes", "id"): ("uuid", None, "NO", "gen_random_uuid()"),
    ("video_likes", "video_id"): ("character varying", 50, "NO", None),
    ("video_likes", "user_id"): ("uuid", None, "NO", None),
    ("video_likes", "is_like"): ("boolean", None, "NO", None),
    ("video_likes", "created_at"): ("timestamp without time zone", None, "NO", "now()"),
}

# (table, column) -> (SQLite declared type, nullable, default as SQLite stores it)
EXPECTED_SQLITE_COLUMNS: dict[tuple[str, str], tuple[str, bool, str | None]] = {
    ("videos", "id"): ("VARCHAR(50)", False, None),
    ("videos", "title"): ("VARCHAR(255)", True, None),
    ("videos", "filename"): ("VARCHAR(255)", False, None),
    ("videos", "length"): ("INTEGER", False, None),
    ("videos", "has_thumbnail"): ("BOOLEAN", False, "0"),
    ("videos", "views"): ("INTEGER", False, "'0'"),
    ("videos", "likes"): ("INTEGER", False, "'0'"),
    ("videos", "is_shorts"): ("BOOLEAN", False, "0"),
    ("videos", "playlist"): ("VARCHAR(100)", True, None),
    ("videos", "dislikes"): ("INTEGER", False, "'0'"),
    ("users", "id"): ("CHAR(32)", False, None),
    ("users", "ip_hash"): ("VARCHAR(64)", False, None),
    ("users", "username"): ("VARCHAR(50)", False, None),
    ("users", "created_at"): ("DATETIME", False, "CURRENT_TIMESTAMP"),
    ("video_likes", "id"): ("CHAR(32)", False, None),
    ("video_likes", "video_id"): ("VARCHAR(50)", False, None),
    ("video_likes", "user_id"): ("CHAR(32)", False, None),
    ("video_likes", "is_like"): ("BOOLEAN", False, None),
    ("video_likes", "created_at"): ("DATETIME", False, "CURRENT_TIMESTAMP"),
}

TABLES = {"videos", "users", "video_likes"}
# Their columns and constraints are pinned against the original's in tests/comments.
COMMENT_TABLES = {"comments", "comment_likes"}
# PostgreSQL's catalogue is read through information_schema and pg_constraint above; SQLite's
# through SQLAlchemy's inspector.
SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
MIGRATIONS = Path(__file__).parents[2] / "src" / "videolikes" / "migrations" / "versions"


@pytest.fixture
async def pg_database(postgres_url: str) -> AsyncIterator[Database]:
    async with opened_database(postgres_url) as database:
        yield database


async def _rows(database: Database, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    async with database.transaction() as conn:
        return [tuple(row) for row in await conn.execute(text(sql), params)]


async def _constraints(database: Database) -> dict[str, tuple[str, str, str]]:
    """constraint name -> (table, kind, definition) for every table of the public schema."""
    rows = await _rows(
        database,
        """
        SELECT c.conname, t.relname, c.contype::text, pg_get_constraintdef(c.oid)
        FROM pg_constraint AS c JOIN pg_class AS t ON t.oid = c.conrelid
        JOIN pg_namespace AS n ON n.oid = t.relnamespace
        WHERE n.nspname = 'public' AND t.relname IN ('videos', 'users', 'video_likes')
        """,
    )
    return {name: (table, kind, definition) for name, table, kind, definition in rows}


# PostgreSQL


async def test_postgres_tables_are_exactly_the_originals(pg_database: Database) -> None:
    tables = await _rows(
        pg_database,
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    )
    assert {name for (name,) in tables} == TABLES | COMMENT_TABLES | {"alembic_version"}


async def test_postgres_columns_have_spec_types_lengths_nullability_and_defaults(
    pg_database: Database,
) -> None:
    rows = await _rows(
        pg_database,
        """
        SELECT table_name, column_name, data_type, character_maximum_length,
               is_nullable, column_default
        FROM information_schema.columns
        WHERE table_schema = 'public' AND table_name IN ('videos', 'users', 'video_likes')
        """,
    )
    actual = {(table, column): tuple(rest) for table, column, *rest in rows}
    assert actual == EXPECTED_POSTGRES_COLUMNS


async def test_postgres_primary_keys_are_the_id_columns(pg_database: Database) -> None:
    constraints = await _constraints(pg_database)
    primary = {table: definition for table, kind, definition in constraints.values() if kind == "p"}
    assert primary == dict.fromkeys(TABLES, "PRIMARY KEY (id)")


async def test_postgres_video_user_unique_is_on_video_id_then_user_id(
    pg_database: Database,
) -> None:
    constraints = await _constraints(pg_database)
    assert constraints["video_user_unique"] == ("video_likes", "u", "UNIQUE (video_id, user_id)")


async def test_postgres_filename_and_ip_hash_are_unique(pg_database: Database) -> None:
    constraints = await _constraints(pg_database)
    unique = {
        (table, definition) for table, kind, definition in constraints.values() if kind == "u"
    }
    assert unique == {
        ("videos", "UNIQUE (filename)"),
        ("users", "UNIQUE (ip_hash)"),
        ("video_likes", "UNIQUE (video_id, user_id)"),
    }


async def test_postgres_like_rows_reference_videos_and_users_with_on_delete_cascade(
    pg_database: Database,
) -> None:
    constraints = await _constraints(pg_database)
    foreign = {
        (table, definition) for table, kind, definition in constraints.values() if kind == "f"
    }
    assert foreign == {
        ("video_likes", "FOREIGN KEY (video_id) REFERENCES videos(id) ON DELETE CASCADE"),
        ("video_likes", "FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE"),
    }


async def test_postgres_views_are_indexed_by_videos_views_idx(pg_database: Database) -> None:
    rows = await _rows(
        pg_database,
        "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' "
        "AND indexname = 'videos_views_idx'",
    )
    assert rows == [("CREATE INDEX videos_views_idx ON public.videos USING btree (views)",)]


async def test_postgres_defaults_fill_omitted_columns(pg_database: Database) -> None:
    await execute(pg_database, "INSERT INTO videos (id, filename, length) VALUES ('v1', 'v1', 5)")
    row = (
        await _rows(
            pg_database, "SELECT has_thumbnail, views, likes, is_shorts FROM videos WHERE id='v1'"
        )
    )[0]
    assert row == (False, 0, 0, False)
    await execute(pg_database, "INSERT INTO users (ip_hash, username) VALUES ('h', '@user-abcdef')")
    user_id, created_at = (await _rows(pg_database, "SELECT id, created_at FROM users"))[0]
    assert isinstance(user_id, uuid.UUID)
    assert created_at is not None
    assert created_at.tzinfo is None


# Both databases


@SQLITE_ONLY
async def test_sqlite_columns_have_spec_types_nullability_and_defaults(database: Database) -> None:
    def columns(conn: Connection) -> dict[tuple[str, str], tuple[str, bool, str | None]]:
        inspector = inspect(conn)
        assert set(inspector.get_table_names()) == TABLES | COMMENT_TABLES | {"alembic_version"}
        return {
            (table, column["name"]): (
                str(column["type"]),
                column["nullable"],
                column.get("default"),
            )
            for table in TABLES
            for column in inspector.get_columns(table)
        }

    async with database.transaction() as conn:
        actual = await conn.run_sync(columns)
    assert actual == EXPECTED_SQLITE_COLUMNS


@SQLITE_ONLY
async def test_sqlite_constraints_and_index_match_the_spec(database: Database) -> None:
    def shape(conn: Connection) -> dict[str, Any]:
        inspector = inspect(conn)
        return {
            "pk": {t: inspector.get_pk_constraint(t)["constrained_columns"] for t in TABLES},
            "unique": {
                (t, u["name"], tuple(u["column_names"]))
                for t in TABLES
                for u in inspector.get_unique_constraints(t)
            },
            "fk": {
                (
                    tuple(fk["constrained_columns"]),
                    fk["referred_table"],
                    tuple(fk["referred_columns"]),
                    fk["options"].get("ondelete"),
                )
                for fk in inspector.get_foreign_keys("video_likes")
            },
            "indexes": {
                (index["name"], tuple(index["column_names"]), bool(index["unique"]))
                for index in inspector.get_indexes("videos")
            },
        }

    async with database.transaction() as conn:
        actual = await conn.run_sync(shape)
    assert actual["pk"] == {table: ["id"] for table in TABLES}
    assert actual["unique"] == {
        ("videos", "videos_filename_unique", ("filename",)),
        ("users", "users_ip_hash_unique", ("ip_hash",)),
        ("video_likes", "video_user_unique", ("video_id", "user_id")),
    }
    assert actual["fk"] == {
        (("video_id",), "videos", ("id",), "CASCADE"),
        (("user_id",), "users", ("id",), "CASCADE"),
    }
    assert actual["indexes"] == {("videos_views_idx", ("views",), False)}


async def _insert_video_user_like(database: Database, video_id: str, ip_hash: str) -> None:
    user_id = uuid.uuid4()
    async with database.transaction() as conn:
        await conn.execute(
            insert(videos).values(id=video_id, filename=f"{video_id}.mp4", length=10, likes=1)
        )
        await conn.execute(
            insert(users).values(id=user_id, ip_hash=ip_hash, username="@user-aaaaaa")
        )
        await conn.execute(
            insert(video_likes).values(
                id=uuid.uuid4(), video_id=video_id, user_id=user_id, is_like=True
            )
        )


async def test_deleting_a_video_deletes_its_like_rows(database: Database) -> None:
    await _insert_video_user_like(database, "gone", "hash-1")
    await _insert_video_user_like(database, "kept", "hash-2")
    await execute(database, "DELETE FROM videos WHERE id = 'gone'")
    likes = await _rows(database, "SELECT video_id FROM video_likes")
    assert likes == [("kept",)]
    assert await scalar(database, "SELECT count(*) FROM users") == 2


async def test_deleting_a_user_deletes_their_like_rows(database: Database) -> None:
    await _insert_video_user_like(database, "v1", "hash-1")
    await _insert_video_user_like(database, "v2", "hash-2")
    await execute(database, "DELETE FROM users WHERE ip_hash = 'hash-1'")
    likes = await _rows(database, "SELECT video_id FROM video_likes")
    assert likes == [("v2",)]
    assert await scalar(database, "SELECT count(*) FROM videos") == 2


async def test_a_like_row_cannot_point_at_a_missing_video(database: Database) -> None:
    await _insert_video_user_like(database, "v1", "hash-1")
    with pytest.raises(IntegrityError, match=r"(?i)foreign key"):
        await execute(database, "UPDATE video_likes SET video_id = 'missing'")


async def test_migrations_form_one_line_whose_head_is_recorded_in_alembic_version(
    database_url: str, database: Database
) -> None:
    script = ScriptDirectory.from_config(alembic_config(database_url))
    newest_first = list(script.walk_revisions())
    assert len(newest_first) == len(list(MIGRATIONS.glob("*.py")))
    assert [r.down_revision for r in newest_first] == [r.revision for r in newest_first[1:]] + [
        None
    ]
    assert newest_first[-1].revision == "0001"
    assert script.get_heads() == [newest_first[0].revision]
    recorded = await _rows(database, "SELECT version_num FROM alembic_version")
    assert recorded == [(newest_first[0].revision,)]


async def test_the_models_match_the_migrated_schema(database: Database) -> None:
    """The tables the code queries (models.py) are the ones the migration created."""

    def differences(conn: Connection) -> list[Any]:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    async with database.transaction() as conn:
        assert await conn.run_sync(differences) == []
