"""An adopted original keeps its comments: the tables as they were, served to its visitors."""

from __future__ import annotations

from typing import Any

from commands import videolikes
from conftest import make_settings, running_app
from original_service import (
    OriginalData,
    alembic_version,
    catalog,
    every_row,
    make_original_database,
    run_sql,
)

from videolikes.db.tables import comment_likes
from videolikes.db.tables import comments as comments_table


async def _adopted(url: str) -> None:
    for step in (("db", "adopt"), ("db", "upgrade")):
        result = await videolikes(*step, database_url=url)
        assert result.code == 0, result.err


def _comment_tables(shape: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The comment tables' catalogue, less the one index videolikes adds (migration 0005)."""
    names = {comments_table.name, comment_likes.name}
    return [row for row in shape if row[0] in names and row[1] != "comment_likes_liked_idx"]


async def test_upgrade_leaves_the_originals_comment_tables_and_rows_as_they_are(
    empty_postgres: str,
) -> None:
    data = await make_original_database(empty_postgres)
    shape, rows = await catalog(empty_postgres), await every_row(empty_postgres)
    await _adopted(empty_postgres)
    assert _comment_tables(await catalog(empty_postgres)) == _comment_tables(shape)
    after = await every_row(empty_postgres)
    for table in ("public.comments", "public.comment_likes"):
        assert after[table] == rows[table]

    async with running_app(make_settings(empty_postgres)) as api:
        video = data.videos[0]
        async with api.client("198.51.100.99") as stranger:
            body = (await stranger.get(f"/api/videos/{video}/comments")).json()
    stored = [row for row in rows["public.comments"] if row[1] == video]
    top_level = [row for row in stored if row[3] is None]
    assert len(body["comments"]) == len(top_level)
    assert body["totalCount"] == len(stored)
    listed = [*body["comments"], *(r for c in body["comments"] for r in c["replies"])]
    listed_ids = {c["id"] for c in listed}
    liked = [row for row in rows["public.comment_likes"] if str(row[1]) in listed_ids]
    assert liked
    assert sum(c["likes"] for c in listed) == len(liked)
    assert all(c["createdAt"].endswith("Z") for c in listed)


async def test_a_database_of_the_original_without_comments_gets_them_from_upgrade(
    empty_postgres: str,
) -> None:
    await make_original_database(empty_postgres)
    await run_sql(empty_postgres, "DROP TABLE comment_likes; DROP TABLE comments;")
    await _adopted(empty_postgres)
    tables = {row[0] for row in await catalog(empty_postgres)}
    assert {"comments", "comment_likes"} <= tables


async def test_adopt_reports_an_incompatible_comments_table_and_changes_nothing(
    empty_postgres: str,
) -> None:
    data: OriginalData = await make_original_database(empty_postgres)
    assert data.videos
    await run_sql(
        empty_postgres,
        """
        ALTER TABLE comments ALTER COLUMN content TYPE varchar(100);
        ALTER TABLE comments ALTER COLUMN created_at DROP DEFAULT;
        DROP INDEX comment_user_unique;
        ALTER TABLE comment_likes DROP CONSTRAINT comment_likes_comment_id_comments_id_fk;
        ALTER TABLE comment_likes ADD CONSTRAINT comment_likes_comment_id_comments_id_fk
            FOREIGN KEY (comment_id) REFERENCES comments(id);
        """,
    )
    shape, rows = await catalog(empty_postgres), await every_row(empty_postgres)
    refused = await videolikes("db", "adopt", database_url=empty_postgres)
    assert refused.code == 1
    for problem in (
        "comments.content: type VARCHAR(100), videolikes needs text",
        "comments.created_at: has no default, videolikes inserts without it",
        "comment_likes: no unique constraint or index on (comment_id, user_id)",
        "comment_likes.comment_id -> comments.id: foreign key must be ON DELETE CASCADE",
    ):
        assert problem in refused.err
    assert await alembic_version(empty_postgres) is None
    assert (await catalog(empty_postgres), await every_row(empty_postgres)) == (shape, rows)


async def test_a_returning_visitor_keeps_its_comment_likes_and_its_daily_count(
    empty_postgres: str,
) -> None:
    data = await make_original_database(empty_postgres)
    rows = await every_row(empty_postgres)
    await _adopted(empty_postgres)
    address_of = {user_id: address for address, user_id in data.clients.items()}
    comment_video = {row[0]: row[1] for row in rows["public.comments"]}
    comment_id, user_id = next(
        (row[1], row[2]) for row in rows["public.comment_likes"] if row[2] in address_of
    )
    video = comment_video[comment_id]
    # Nine comments by this visitor on that video within the day, written by the original.
    await run_sql(
        empty_postgres,
        "INSERT INTO comments (video_id, user_id, content, created_at) SELECT "
        f"'{video}', '{user_id}', 'earlier ' || n, timezone('UTC', now()) - interval '1 hour' "
        "FROM generate_series(1, 9) AS n",
    )

    async with (
        running_app(make_settings(empty_postgres)) as api,
        api.client(address_of[user_id]) as visitor,
    ):
        body = (await visitor.get(f"/api/videos/{video}/comments")).json()
        listed = [*body["comments"], *(r for c in body["comments"] for r in c["replies"])]
        liked = next(c for c in listed if c["id"] == str(comment_id))
        assert liked["userLike"] is True
        tenth = await visitor.post(f"/api/videos/{video}/comments", json={"content": "10th"})
        assert tenth.status_code == 201
        assert tenth.json()["user"]["id"] == str(user_id)
        eleventh = await visitor.post(f"/api/videos/{video}/comments", json={"content": "11"})
        assert eleventh.status_code == 429
        unliked = await visitor.post(f"/api/comments/{comment_id}/like")
        assert unliked.json() == {"userLike": None}
