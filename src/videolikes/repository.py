"""All SQL: videos, users and the like rows with their counter.

Like writes differ by database. On PostgreSQL each write is one data-modifying statement, so
it is atomic by itself and costs one round trip; its row locks are always taken in the same
order (like row, then video row), so concurrent writes queue instead of deadlocking. On SQLite
the unit of work is one serialised transaction, so plain statements in sequence are atomic.
"""

from __future__ import annotations

import re
import secrets
import string
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import asyncpg
from sqlalchemy import (
    Boolean,
    Column,
    Integer,
    MetaData,
    Row,
    String,
    Table,
    TextClause,
    delete,
    exists,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import Insert as pg_insert_type
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import Insert as sqlite_insert_type
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from videolikes.db import Database
from videolikes.models import User, Video, VideoLike

AnyRow = Row[*tuple[Any, ...]]

_USERNAME_ALPHABET = string.ascii_lowercase + string.digits
# A no-op write on PostgreSQL means another request for the same client committed between
# this statement's snapshot and its row locks; running it again sees that commit.
_MAX_ATTEMPTS = 10

videos: Table = Video.__table__  # type: ignore[assignment]
users: Table = User.__table__  # type: ignore[assignment]
video_likes: Table = VideoLike.__table__  # type: ignore[assignment]

VIDEO_COLUMNS = (
    videos.c.id,
    videos.c.title,
    videos.c.filename,
    videos.c.length,
    videos.c.has_thumbnail,
    videos.c.views,
    videos.c.likes,
    videos.c.is_shorts,
    videos.c.playlist,
)


def new_username() -> str:
    return "@user-" + "".join(secrets.choice(_USERNAME_ALPHABET) for _ in range(6))


@dataclass(frozen=True, slots=True)
class LikeChange:
    """What one like write did; `video_found` False means nothing was touched."""

    video_found: bool
    liked: bool
    changed: bool


_LIKE_STATUS = text(
    """
    SELECT EXISTS (SELECT 1 FROM videos WHERE id = :video_id) AS video_found,
           EXISTS (SELECT 1 FROM video_likes AS l JOIN users AS u ON u.id = l.user_id
                   WHERE u.ip_hash = :ip_hash AND l.video_id = :video_id AND l.is_like) AS liked
    """
)


@dataclass(frozen=True, slots=True)
class _Numbered:
    """A text() statement as asyncpg takes it: each `:name` becomes `$n`, in order of first use."""

    sql: str
    names: tuple[str, ...]

    @classmethod
    def of(cls, statement: TextClause) -> _Numbered:
        names: dict[str, int] = {}

        def number(match: re.Match[str]) -> str:
            return f"${names.setdefault(match.group(1), len(names) + 1)}"

        sql = re.sub(r"(?<![:\w]):(\w+)", number, statement.text)
        return cls(sql, tuple(names))

    def args(self, **values: Any) -> list[Any]:
        return [values[name] for name in self.names]


async def like_status(conn: AsyncConnection, *, video_id: str, ip_hash: str) -> bool | None:
    """True if liked, False if not, None if the video does not exist."""
    row = (await conn.execute(_LIKE_STATUS, {"video_id": video_id, "ip_hash": ip_hash})).one()
    return bool(row.liked) if row.video_found else None


_PG_LIKE_STATUS = _Numbered.of(_LIKE_STATUS)


async def _pg_like_status(conn: asyncpg.Connection, *, video_id: str, ip_hash: str) -> bool | None:
    """like_status on an asyncpg connection: the same statement, prepared once per connection."""
    statement = _PG_LIKE_STATUS
    row = await conn.fetchrow(statement.sql, *statement.args(video_id=video_id, ip_hash=ip_hash))
    return bool(row["liked"]) if row["video_found"] else None


async def get_or_create_user(conn: AsyncConnection, *, ip_hash: str) -> AnyRow:
    """The (id, username) of this client, created on first call; race-free on both databases.

    The insert ignores a conflict with a concurrent creator and the select that follows runs
    on a fresh snapshot, so it sees whichever row won.
    """
    query = select(users.c.id, users.c.username).where(users.c.ip_hash == ip_hash)
    row = (await conn.execute(query)).first()
    if row is not None:
        return row
    await conn.execute(
        _upsert_insert(conn, users)
        .values(id=uuid.uuid4(), ip_hash=ip_hash, username=new_username())
        .on_conflict_do_nothing(index_elements=["ip_hash"])
    )
    return (await conn.execute(query)).one()


class LikeStore(Protocol):
    async def status(self, *, video_id: str, ip_hash: str) -> bool | None:
        """True if liked, False if not, None if the video does not exist."""

    async def toggle(self, *, video_id: str, ip_hash: str) -> LikeChange: ...

    async def like(self, *, video_id: str, ip_hash: str) -> LikeChange: ...

    async def unlike(self, *, video_id: str, ip_hash: str) -> LikeChange: ...


_PG_TOGGLE = text(
    """
    WITH video AS (
        SELECT id FROM videos WHERE id = :video_id
    ), found_user AS (
        SELECT id FROM users WHERE ip_hash = :ip_hash
    ), new_user AS (
        INSERT INTO users (id, ip_hash, username)
        SELECT gen_random_uuid(), :ip_hash, :username
        WHERE EXISTS (SELECT 1 FROM video) AND NOT EXISTS (SELECT 1 FROM found_user)
        ON CONFLICT (ip_hash) DO NOTHING
        RETURNING id
    ), client AS (
        SELECT id FROM found_user UNION ALL SELECT id FROM new_user
    ), removed AS (
        DELETE FROM video_likes
        WHERE video_id = :video_id AND user_id = (SELECT id FROM client) AND is_like
        RETURNING 1
    ), added AS (
        INSERT INTO video_likes (id, video_id, user_id, is_like)
        SELECT gen_random_uuid(), :video_id, client.id, true FROM client
        WHERE EXISTS (SELECT 1 FROM video) AND NOT EXISTS (SELECT 1 FROM removed)
        ON CONFLICT ON CONSTRAINT video_user_unique DO NOTHING
        RETURNING 1
    ), counted AS (
        UPDATE videos
        SET likes = GREATEST(
            likes + (SELECT count(*) FROM added) - (SELECT count(*) FROM removed), 0
        )
        WHERE id = :video_id AND EXISTS (SELECT 1 FROM added UNION ALL SELECT 1 FROM removed)
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM video) AS video_found,
           EXISTS (SELECT 1 FROM added) AS added,
           EXISTS (SELECT 1 FROM removed) AS removed
    """
)


# The user is upserted rather than inserted: when a concurrent first write by this client
# created it after this statement's snapshot, DO UPDATE still returns its id, so the
# statement never needs a second attempt. It sets a column outside every unique index, so the
# row lock it takes is FOR NO KEY UPDATE, which the foreign-key checks of concurrent like
# inserts (FOR KEY SHARE) do not wait for; setting ip_hash would lock FOR UPDATE and deadlock
# against them. The like insert then either adds the row or meets the existing one, and both
# mean "liked".
_PG_LIKE = text(
    """
    WITH video AS (
        SELECT id FROM videos WHERE id = :video_id
    ), found_user AS (
        SELECT id FROM users WHERE ip_hash = :ip_hash
    ), new_user AS (
        INSERT INTO users (id, ip_hash, username)
        SELECT gen_random_uuid(), :ip_hash, :username
        WHERE EXISTS (SELECT 1 FROM video) AND NOT EXISTS (SELECT 1 FROM found_user)
        ON CONFLICT (ip_hash) DO UPDATE SET username = users.username
        RETURNING id
    ), client AS (
        SELECT id FROM found_user UNION ALL SELECT id FROM new_user
    ), added AS (
        INSERT INTO video_likes (id, video_id, user_id, is_like)
        SELECT gen_random_uuid(), :video_id, client.id, true FROM client
        WHERE EXISTS (SELECT 1 FROM video)
        ON CONFLICT ON CONSTRAINT video_user_unique DO NOTHING
        RETURNING 1
    ), counted AS (
        UPDATE videos SET likes = likes + (SELECT count(*) FROM added)
        WHERE id = :video_id AND EXISTS (SELECT 1 FROM added)
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM video) AS video_found, EXISTS (SELECT 1 FROM added) AS added
    """
)

# Never creates a user. A like committed after this statement's snapshot is left alone: the
# unlike is then ordered before that like, which is what both clients were told.
_PG_UNLIKE = text(
    """
    WITH video AS (
        SELECT id FROM videos WHERE id = :video_id
    ), removed AS (
        DELETE FROM video_likes
        WHERE video_id = :video_id AND is_like
          AND user_id = (SELECT id FROM users WHERE ip_hash = :ip_hash)
        RETURNING 1
    ), counted AS (
        UPDATE videos SET likes = GREATEST(likes - (SELECT count(*) FROM removed), 0)
        WHERE id = :video_id AND EXISTS (SELECT 1 FROM removed)
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM video) AS video_found, EXISTS (SELECT 1 FROM removed) AS removed
    """
)


_PG_TOGGLE_NUMBERED = _Numbered.of(_PG_TOGGLE)
_PG_LIKE_NUMBERED = _Numbered.of(_PG_LIKE)
_PG_UNLIKE_NUMBERED = _Numbered.of(_PG_UNLIKE)


class PostgresLikes:
    """Each operation is one statement, sent on the pool's asyncpg connection directly."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def status(self, *, video_id: str, ip_hash: str) -> bool | None:
        async with self._database.driver_connection() as conn:
            return await _pg_like_status(conn, video_id=video_id, ip_hash=ip_hash)

    async def _fetch_row(self, statement: _Numbered, **values: Any) -> asyncpg.Record:
        async with self._database.driver_connection() as conn:
            return await conn.fetchrow(statement.sql, *statement.args(**values))

    async def toggle(self, *, video_id: str, ip_hash: str) -> LikeChange:
        statement = _PG_TOGGLE_NUMBERED
        async with self._database.driver_connection() as conn:
            for _ in range(_MAX_ATTEMPTS):
                args = statement.args(video_id=video_id, ip_hash=ip_hash, username=new_username())
                row = await conn.fetchrow(statement.sql, *args)
                if not row["video_found"]:
                    return LikeChange(video_found=False, liked=False, changed=False)
                if row["added"] or row["removed"]:
                    return LikeChange(video_found=True, liked=bool(row["added"]), changed=True)
            liked = await _pg_like_status(conn, video_id=video_id, ip_hash=ip_hash)
        return LikeChange(video_found=liked is not None, liked=bool(liked), changed=False)

    async def like(self, *, video_id: str, ip_hash: str) -> LikeChange:
        row = await self._fetch_row(
            _PG_LIKE_NUMBERED, video_id=video_id, ip_hash=ip_hash, username=new_username()
        )
        found = bool(row["video_found"])
        return LikeChange(video_found=found, liked=found, changed=bool(row["added"]))

    async def unlike(self, *, video_id: str, ip_hash: str) -> LikeChange:
        row = await self._fetch_row(_PG_UNLIKE_NUMBERED, video_id=video_id, ip_hash=ip_hash)
        return LikeChange(
            video_found=bool(row["video_found"]), liked=False, changed=bool(row["removed"])
        )


# CURRENT_TIMESTAMP, the column default, keeps whole seconds; with milliseconds a client's
# likes made in quick succession still list newest first.
_SQLITE_NOW = func.strftime("%Y-%m-%d %H:%M:%f", "now")


class SqliteLikes:
    """Each operation is one serialised transaction of plain statements."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def status(self, *, video_id: str, ip_hash: str) -> bool | None:
        async with self._database.unit_of_work() as conn:
            return await like_status(conn, video_id=video_id, ip_hash=ip_hash)

    async def toggle(self, *, video_id: str, ip_hash: str) -> LikeChange:
        async with self._database.unit_of_work() as conn:
            return await self._toggle(conn, video_id=video_id, ip_hash=ip_hash)

    async def _toggle(self, conn: AsyncConnection, *, video_id: str, ip_hash: str) -> LikeChange:
        found = await conn.scalar(select(exists().where(videos.c.id == video_id)))
        if not found:
            return LikeChange(video_found=False, liked=False, changed=False)
        user = await get_or_create_user(conn, ip_hash=ip_hash)
        removed = await conn.execute(
            delete(video_likes).where(
                video_likes.c.video_id == video_id,
                video_likes.c.user_id == user.id,
                video_likes.c.is_like,
            )
        )
        if removed.rowcount:
            await _add_to_counter(conn, video_id=video_id, delta=-1)
            return LikeChange(video_found=True, liked=False, changed=True)
        await conn.execute(
            insert(video_likes).values(
                id=uuid.uuid4(),
                video_id=video_id,
                user_id=user.id,
                is_like=True,
                created_at=_SQLITE_NOW,
            )
        )
        await _add_to_counter(conn, video_id=video_id, delta=1)
        return LikeChange(video_found=True, liked=True, changed=True)

    async def like(self, *, video_id: str, ip_hash: str) -> LikeChange:
        async with self._database.unit_of_work() as conn:
            return await self._like(conn, video_id=video_id, ip_hash=ip_hash)

    async def unlike(self, *, video_id: str, ip_hash: str) -> LikeChange:
        async with self._database.unit_of_work() as conn:
            return await self._unlike(conn, video_id=video_id, ip_hash=ip_hash)

    async def _like(self, conn: AsyncConnection, *, video_id: str, ip_hash: str) -> LikeChange:
        found = await conn.scalar(select(exists().where(videos.c.id == video_id)))
        if not found:
            return LikeChange(video_found=False, liked=False, changed=False)
        user = await get_or_create_user(conn, ip_hash=ip_hash)
        added = await conn.execute(
            sqlite_insert(video_likes)
            .values(
                id=uuid.uuid4(),
                video_id=video_id,
                user_id=user.id,
                is_like=True,
                created_at=_SQLITE_NOW,
            )
            .on_conflict_do_nothing(index_elements=["video_id", "user_id"])
        )
        if added.rowcount:
            await _add_to_counter(conn, video_id=video_id, delta=1)
        return LikeChange(video_found=True, liked=True, changed=bool(added.rowcount))

    async def _unlike(self, conn: AsyncConnection, *, video_id: str, ip_hash: str) -> LikeChange:
        found = await conn.scalar(select(exists().where(videos.c.id == video_id)))
        if not found:
            return LikeChange(video_found=False, liked=False, changed=False)
        client = select(users.c.id).where(users.c.ip_hash == ip_hash).scalar_subquery()
        removed = await conn.execute(
            delete(video_likes).where(
                video_likes.c.video_id == video_id,
                video_likes.c.user_id == client,
                video_likes.c.is_like,
            )
        )
        if removed.rowcount:
            await _add_to_counter(conn, video_id=video_id, delta=-1)
        return LikeChange(video_found=True, liked=False, changed=bool(removed.rowcount))


async def _add_to_counter(conn: AsyncConnection, *, video_id: str, delta: int) -> None:
    await conn.execute(
        update(videos)
        .where(videos.c.id == video_id)
        .values(likes=func.max(videos.c.likes + delta, 0))
    )


def like_store_for(database: Database) -> LikeStore:
    return SqliteLikes(database) if database.is_sqlite else PostgresLikes(database)


VIDEO_WRITABLE_COLUMNS = (
    "title",
    "filename",
    "length",
    "has_thumbnail",
    "views",
    "is_shorts",
    "playlist",
)


async def insert_missing_videos(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    await conn.execute(_upsert_insert(conn, videos).on_conflict_do_nothing(), list(rows))


def _upsert_insert(conn: AsyncConnection, table: Table) -> pg_insert_type | sqlite_insert_type:
    """An INSERT that knows ON CONFLICT; both dialects spell it the same way."""
    if conn.dialect.name == "sqlite":
        return sqlite_insert(table)
    return pg_insert(table)


async def ping(conn: AsyncConnection) -> None:
    await conn.execute(text("SELECT 1"))


@dataclass(frozen=True, slots=True)
class CounterCheck:
    video_id: str
    counter: int
    rows: int


_COUNTER_PAGE = text(
    """
    SELECT page.id, page.likes,
           (SELECT count(*) FROM video_likes AS l WHERE l.video_id = page.id AND l.is_like) AS rows
    FROM (SELECT id, likes FROM videos WHERE id > :after ORDER BY id LIMIT :limit) AS page
    ORDER BY page.id
    """
)


async def counter_page(conn: AsyncConnection, *, after: str, limit: int) -> list[CounterCheck]:
    """Counter and like rows of the next `limit` videos by id, reading without locks."""
    result = await conn.execute(_COUNTER_PAGE, {"after": after, "limit": limit})
    return [CounterCheck(row.id, row.likes, row.rows) for row in result]


async def recount_likes(conn: AsyncConnection, video_ids: Sequence[str]) -> list[CounterCheck]:
    """Set each video's counter to its like rows; returns the videos changed, with old counts.

    Call inside a transaction. The video rows are locked first, in id order, by a statement
    of their own; the recount that follows then takes a fresh snapshot that already holds
    every like committed before the locks. A like committed later has not changed its
    counter yet (a toggle updates its video row last, after our commit releases it), so it
    adds its +1 to the recounted value rather than being counted twice or lost. Reconcile
    never waits on a like row, so it cannot deadlock with a toggle (like row, then video row).
    """
    locked = await conn.execute(
        select(videos.c.id, videos.c.likes)
        .where(videos.c.id.in_(video_ids))
        .order_by(videos.c.id)
        .with_for_update()
    )
    before = {row.id: row.likes for row in locked}
    counted = (
        select(func.count())
        .where(video_likes.c.video_id == videos.c.id, video_likes.c.is_like)
        .scalar_subquery()
    )
    changed = await conn.execute(
        update(videos)
        .where(videos.c.id.in_(video_ids), videos.c.likes != counted)
        .values(likes=counted)
        .returning(videos.c.id, videos.c.likes)
    )
    return [CounterCheck(row.id, before[row.id], row.likes) for row in changed]


# An import stages its rows here first, with no checks on the way in; set-based queries then
# find the ids and filenames the file repeats and merge the rest. Memory stays at one batch
# whatever the file's size, and each batch is one plain executemany.
_staging_metadata = MetaData()
import_staging = Table(
    "videolikes_import_staging",
    _staging_metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("location", String(40), nullable=False),
    Column("id", String(50), nullable=False),
    Column("title", String(255)),
    Column("filename", String(255), nullable=False),
    Column("length", Integer, nullable=False),
    Column("has_thumbnail", Boolean, nullable=False),
    Column("views", Integer, nullable=False),
    Column("is_shorts", Boolean, nullable=False),
    Column("playlist", String(100)),
    prefixes=["TEMPORARY"],
)
STAGED_COLUMNS = ("seq", "location", "id", *VIDEO_WRITABLE_COLUMNS)


async def create_import_staging(conn: AsyncConnection) -> None:
    await conn.run_sync(lambda sync: import_staging.create(sync))


async def drop_import_staging(conn: AsyncConnection) -> None:
    await conn.run_sync(lambda sync: import_staging.drop(sync))


async def stage_videos(conn: AsyncConnection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Stage rows, values in STAGED_COLUMNS order.

    Straight to the driver (COPY on PostgreSQL, executemany on SQLite): SQLAlchemy's per-row
    processing would cost more than the insert itself on a million rows.
    """
    if conn.dialect.name == "postgresql":
        raw = await conn.get_raw_connection()
        await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
            import_staging.name, records=rows, columns=STAGED_COLUMNS
        )
        return
    placeholders = ", ".join("?" for _ in STAGED_COLUMNS)
    columns = ", ".join(STAGED_COLUMNS)
    await conn.exec_driver_sql(
        f"INSERT INTO {import_staging.name} ({columns}) VALUES ({placeholders})",  # noqa: S608
        list(rows),
    )


_STAGED_REPEATS = text(
    """
    SELECT location FROM (
        SELECT seq, location,
               row_number() OVER (PARTITION BY id ORDER BY seq) AS by_id,
               row_number() OVER (PARTITION BY filename ORDER BY seq) AS by_filename
        FROM videolikes_import_staging
    ) AS ranked
    WHERE by_id > 1 OR by_filename > 1
    ORDER BY seq
    """
)


async def staged_repeats(conn: AsyncConnection) -> list[str]:
    """Where staged rows repeat the id or filename of an earlier staged row, in file order."""
    return list((await conn.execute(_STAGED_REPEATS)).scalars())


async def count_staged_existing(conn: AsyncConnection) -> int:
    staged_and_present = (
        select(func.count())
        .select_from(import_staging)
        .where(exists().where(videos.c.id == import_staging.c.id))
    )
    return int(await conn.scalar(staged_and_present) or 0)


async def merge_staged_videos(conn: AsyncConnection, *, after: int, limit: int) -> None:
    """Upsert staged rows after..after+limit (by seq) into videos; `likes` is never written.

    The caller merges in chunks so each statement stays well inside the statement timeout.
    """
    columns = ["id", *VIDEO_WRITABLE_COLUMNS]
    source = select(*(import_staging.c[name] for name in columns)).where(
        import_staging.c.seq > after, import_staging.c.seq <= after + limit
    )
    statement = _upsert_insert(conn, videos).from_select(columns, source)
    statement = statement.on_conflict_do_update(
        index_elements=["id"],
        set_={column: statement.excluded[column] for column in VIDEO_WRITABLE_COLUMNS},
    )
    await conn.execute(statement)
