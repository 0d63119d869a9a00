"""All SQL: videos, users and the like rows with their counter.

Like writes differ by database. On PostgreSQL the writes that arrive together go in one
transaction (write_likes): it locks the videos first, in id order, then changes like rows and
moves each counter once, so concurrent writes queue instead of deadlocking and a hot video's
row is updated once per batch rather than once per request. On SQLite the unit of work is one
serialised transaction per write, so plain statements in sequence are atomic.
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
    ScalarSelect,
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

from videolikes.batching import Batcher
from videolikes.db.tables import User, Video, VideoLike
from videolikes.db.units import Database
from videolikes.identity import ClientKeys
from videolikes.legacy_identity import LEGACY_PREFIX
from videolikes.likes.folding import FoldedRun, LikeOp, fold
from videolikes.metrics import record_legacy_moves, record_like_batch

AnyRow = Row[*tuple[Any, ...]]

_USERNAME_ALPHABET = string.ascii_lowercase + string.digits
_USERNAME_LENGTH = 6

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
    # One draw from the OS for all six characters (secrets.choice makes one per character;
    # every write of a batch names a user it may create), and as uniform.
    base = len(_USERNAME_ALPHABET)
    number = secrets.randbelow(base**_USERNAME_LENGTH)
    characters = []
    for _ in range(_USERNAME_LENGTH):
        number, digit = divmod(number, base)
        characters.append(_USERNAME_ALPHABET[digit])
    return "@user-" + "".join(characters)


@dataclass(frozen=True, slots=True)
class LikeChange:
    """What one like write did; `video_found` False means nothing was touched."""

    video_found: bool
    liked: bool
    changed: bool


def client_user_id(client: ClientKeys) -> ScalarSelect[Any]:
    """The id of this client's user: the one under its own hash, else the original's.

    COALESCE evaluates the second lookup only when the first finds nothing, so a client
    with a user of its own costs what it cost before adoption.
    """
    own = select(users.c.id).where(users.c.ip_hash == client.ip_hash).scalar_subquery()
    if client.legacy_hash is None:
        return own
    legacy = select(users.c.id).where(users.c.ip_hash == client.legacy_hash).scalar_subquery()
    return select(func.coalesce(own, legacy)).scalar_subquery()


_IS_LEGACY = users.c.ip_hash.startswith(LEGACY_PREFIX, autoescape=True)


async def legacy_users_remain(conn: AsyncConnection) -> bool:
    """Whether any user still waits under a key re-keyed from the original's hash."""
    return bool(await conn.scalar(select(exists().where(_IS_LEGACY))))


async def count_users(conn: AsyncConnection) -> tuple[int, int]:
    """(users still under a re-keyed original hash, users in all)."""
    row = (
        await conn.execute(select(func.count().filter(_IS_LEGACY), func.count()).select_from(users))
    ).one()
    return int(row[0]), int(row[1])


async def move_legacy_user(conn: AsyncConnection, client: ClientKeys) -> bool:
    """Give the original's user of this client its own hash, unless it has a user already.

    Race-free: a concurrent mover holds the row's lock, and once it commits the row no longer
    matches the legacy key, so the second finds nothing to move.
    """
    if client.legacy_hash is None:
        return False
    already = exists().where(users.c.ip_hash == client.ip_hash)
    moved = await conn.execute(
        update(users)
        .where(users.c.ip_hash == client.legacy_hash, ~already)
        .values(ip_hash=client.ip_hash)
    )
    return bool(moved.rowcount)


@dataclass(frozen=True, slots=True)
class Numbered:
    """A text() statement as asyncpg takes it: each `:name` becomes `$n`, in order of first use."""

    sql: str
    names: tuple[str, ...]

    @classmethod
    def of(cls, statement: TextClause) -> Numbered:
        names: dict[str, int] = {}

        def number(match: re.Match[str]) -> str:
            return f"${names.setdefault(match.group(1), len(names) + 1)}"

        sql = re.sub(r"(?<![:\w]):(\w+)", number, statement.text)
        return cls(sql, tuple(names))

    def args(self, **values: Any) -> list[Any]:
        return [values[name] for name in self.names]


async def like_status(conn: AsyncConnection, *, video_id: str, client: ClientKeys) -> bool | None:
    """True if liked, False if not, None if the video does not exist."""
    liked = exists().where(
        video_likes.c.video_id == video_id,
        video_likes.c.user_id == client_user_id(client),
        video_likes.c.is_like,
    )
    row = (
        await conn.execute(
            select(
                exists().where(videos.c.id == video_id).label("video_found"),
                liked.label("liked"),
            )
        )
    ).one()
    return bool(row.liked) if row.video_found else None


@dataclass(frozen=True, slots=True)
class StatusRead:
    video_id: str
    client: ClientKeys


# Many clients' status reads in one statement: one row per read, in the order given.
LIKE_STATUSES = Numbered.of(
    text(
        """
        SELECT EXISTS (SELECT 1 FROM videos WHERE id = r.video_id) AS video_found,
               EXISTS (SELECT 1 FROM video_likes AS l
                       WHERE l.video_id = r.video_id AND l.is_like
                         AND l.user_id = COALESCE(
                             (SELECT id FROM users WHERE ip_hash = r.ip_hash),
                             (SELECT id FROM users WHERE ip_hash = r.legacy_hash)))
                   AS liked
        FROM unnest(:video_ids::text[], :ip_hashes::text[], :legacy_hashes::text[])
             WITH ORDINALITY AS r(video_id, ip_hash, legacy_hash, position)
        ORDER BY r.position
        """
    )
)


async def like_statuses(conn: asyncpg.Connection, reads: Sequence[StatusRead]) -> list[bool | None]:
    """like_status for each read, on an asyncpg connection, in one round trip."""
    rows = await conn.fetch(
        LIKE_STATUSES.sql,
        *LIKE_STATUSES.args(
            video_ids=[read.video_id for read in reads],
            ip_hashes=[read.client.ip_hash for read in reads],
            legacy_hashes=[read.client.legacy_hash for read in reads],
        ),
    )
    return [bool(row["liked"]) if row["video_found"] else None for row in rows]


async def get_or_create_user(conn: AsyncConnection, *, client: ClientKeys) -> AnyRow:
    """The (id, username) of this client, created on first call; race-free on both databases.

    A user the original service knew is moved to this client's own hash first. The insert
    ignores a conflict with a concurrent creator and the select that follows runs on a fresh
    snapshot, so it sees whichever row won.
    """
    query = select(users.c.id, users.c.username).where(users.c.ip_hash == client.ip_hash)
    row = (await conn.execute(query)).first()
    if row is not None:
        return row
    if await move_legacy_user(conn, client):
        record_legacy_moves(1)
        return (await conn.execute(query)).one()
    await conn.execute(
        _upsert_insert(conn, users)
        .values(id=uuid.uuid4(), ip_hash=client.ip_hash, username=new_username())
        .on_conflict_do_nothing(index_elements=["ip_hash"])
    )
    return (await conn.execute(query)).one()


class LikeStore(Protocol):
    async def status(self, *, video_id: str, client: ClientKeys) -> bool | None:
        """True if liked, False if not, None if the video does not exist."""

    async def toggle(self, *, video_id: str, client: ClientKeys) -> LikeChange: ...

    async def like(self, *, video_id: str, client: ClientKeys) -> LikeChange: ...

    async def unlike(self, *, video_id: str, client: ClientKeys) -> LikeChange: ...

    async def aclose(self) -> None:
        """Return once every write accepted so far is written."""


@dataclass(frozen=True, slots=True)
class LikeWrite:
    op: LikeOp
    video_id: str
    client: ClientKeys


# A batch of like writes on PostgreSQL takes two autocommitted statements. The clients that
# may like are created first, by a statement of their own; then videolikes_write_likes() (a
# function made by migration 0003) locks the batch's videos in id order and applies the writes
# with a snapshot taken after the locks, so it already holds every like committed before them:
# no write acts on a stale view, and none needs a second attempt. Every like write takes its
# video's lock before it touches a like row, so writes to one video queue there, and as every
# one locks in the same order they queue without deadlocking. The locks are held for that one
# statement and its commit: on 20 clients x 3 videos both workers' batches queue on the same
# three rows.

# Users are created in ip_hash order, so two batches creating the same new users wait for each
# other in one direction only; and only for writes to videos that exist. On an adopted
# database, the batch's clients that the original knew and that have no user of their own yet
# are first moved to their own hash: their rows are locked in key order, so two batches moving
# the same users queue in one direction, and a mover that waited on a row another batch just
# moved finds it no longer under the legacy key. One client per own hash: IPv6 addresses of
# one prefix share it. Answers how many users it moved.
_CREATE_USERS = Numbered.of(
    text(
        """
        WITH wanted AS (
            SELECT DISTINCT ON (w.ip_hash) w.ip_hash, w.legacy_hash
            FROM unnest(:known_ip_hashes::text[], :legacy_hashes::text[])
                 AS w(ip_hash, legacy_hash)
            ORDER BY w.ip_hash
        ), claimed AS (
            SELECT users.id, wanted.ip_hash FROM users
            JOIN wanted ON users.ip_hash = wanted.legacy_hash
            WHERE NOT EXISTS (SELECT 1 FROM users AS own WHERE own.ip_hash = wanted.ip_hash)
            ORDER BY users.ip_hash
            FOR UPDATE OF users
        ), moved AS (
            UPDATE users SET ip_hash = claimed.ip_hash FROM claimed
            WHERE users.id = claimed.id
            RETURNING users.ip_hash
        ), created AS (
            INSERT INTO users (id, ip_hash, username)
            SELECT gen_random_uuid(), new.ip_hash, min(new.username)
            FROM unnest(:ip_hashes::text[], :usernames::text[], :video_ids::text[])
                 AS new(ip_hash, username, video_id)
            WHERE EXISTS (SELECT 1 FROM videos WHERE videos.id = new.video_id)
              AND new.ip_hash NOT IN (SELECT ip_hash FROM moved)
            GROUP BY new.ip_hash
            ORDER BY new.ip_hash
            ON CONFLICT (ip_hash) DO NOTHING
        )
        SELECT count(*) FROM moved
        """
    )
)

# One row per write whose video exists: whether it found a like, removed it, added one.
_WRITE_LIKES = Numbered.of(
    text(
        "SELECT * FROM videolikes_write_likes("
        ":positions::int[], :ops::text[], :video_ids::text[], :ip_hashes::text[])"
    )
)

# What write_likes sends, in order.
LIKE_WRITE_STATEMENTS = (_CREATE_USERS, _WRITE_LIKES)

_NOT_FOUND = LikeChange(video_found=False, liked=False, changed=False)


async def write_likes(conn: asyncpg.Connection, writes: Sequence[LikeWrite]) -> list[LikeChange]:
    """Apply a batch of like writes; one change per write, in order.

    The writes of one client to one video are folded into one (videolikes.likes.folding), so the
    statements see each pair once, and each of those writes is answered as if it had run alone,
    in batch order.
    """
    runs: dict[tuple[str, str], list[int]] = {}
    for n, write in enumerate(writes):
        runs.setdefault((write.client.ip_hash, write.video_id), []).append(n)
    pairs = list(runs)
    folded = [fold([writes[n].op for n in runs[pair]]) for pair in pairs]
    await _create_users(conn, writes)
    rows = await conn.fetch(
        _WRITE_LIKES.sql,
        *_WRITE_LIKES.args(
            positions=list(range(len(pairs))),
            ops=[_op_name(run) for run in folded],
            video_ids=[video_id for _, video_id in pairs],
            ip_hashes=[ip_hash for ip_hash, _ in pairs],
        ),
    )
    # A write without a row: its video does not exist.
    changes = [_NOT_FOUND] * len(writes)
    for row in rows:
        i = row["position"]
        answers = folded[i].answers(row["existed"])
        now_liked = row["added"] or (row["existed"] and not row["removed"])
        if now_liked != answers[-1][0]:
            # The like met a row it cannot turn into a like (a dislike): nothing changed.
            answers = [(now_liked, False)] * len(answers)
        for n, (liked, changed) in zip(runs[pairs[i]], answers, strict=True):
            changes[n] = LikeChange(video_found=True, liked=liked, changed=changed)
    return changes


async def _create_users(conn: asyncpg.Connection, writes: Sequence[LikeWrite]) -> None:
    """Create the users of the writes that may like; move the original's users first."""
    creating = [write for write in writes if write.op is not LikeOp.UNLIKE]
    legacy = [write.client for write in writes if write.client.legacy_hash is not None]
    if not creating and not legacy:
        return
    moved = await conn.fetchval(
        _CREATE_USERS.sql,
        *_CREATE_USERS.args(
            known_ip_hashes=[client.ip_hash for client in legacy],
            legacy_hashes=[client.legacy_hash for client in legacy],
            ip_hashes=[write.client.ip_hash for write in creating],
            usernames=[new_username() for _ in creating],
            video_ids=[write.video_id for write in creating],
        ),
    )
    record_legacy_moves(moved)


def _op_name(run: FoldedRun) -> str:
    return "none" if run.op is None else run.op.value


# Enough to carry every request a busy worker holds at once, small enough that one batch's
# statement stays far inside the statement timeout.
_MAX_BATCH = 256


class PostgresLikes:
    """Status reads and like writes each go through a Batcher.

    A batch of reads is one statement; a batch of writes is two (users, then the writes).
    """

    def __init__(self, database: Database) -> None:
        self._database = database
        self._reads: Batcher[StatusRead, bool | None] = Batcher(
            self._read_batch, max_size=_MAX_BATCH
        )
        self._writes: Batcher[LikeWrite, LikeChange] = Batcher(
            self._write_batch, max_size=_MAX_BATCH
        )

    async def status(self, *, video_id: str, client: ClientKeys) -> bool | None:
        # The request's deadline covers its wait for a batch too, not only the batch's own.
        async with self._database.deadline():
            return await self._reads.submit(StatusRead(video_id, client))

    async def _read_batch(self, reads: Sequence[StatusRead]) -> list[bool | None]:
        record_like_batch("status", len(reads))
        async with self._database.driver_connection() as conn:
            return await like_statuses(conn, reads)

    async def _write_batch(self, writes: Sequence[LikeWrite]) -> list[LikeChange]:
        record_like_batch("write", len(writes))
        async with self._database.driver_connection() as conn:
            return await write_likes(conn, writes)

    async def toggle(self, *, video_id: str, client: ClientKeys) -> LikeChange:
        return await self._write(LikeWrite(LikeOp.TOGGLE, video_id, client))

    async def like(self, *, video_id: str, client: ClientKeys) -> LikeChange:
        return await self._write(LikeWrite(LikeOp.LIKE, video_id, client))

    async def unlike(self, *, video_id: str, client: ClientKeys) -> LikeChange:
        return await self._write(LikeWrite(LikeOp.UNLIKE, video_id, client))

    async def _write(self, write: LikeWrite) -> LikeChange:
        async with self._database.deadline():
            return await self._writes.submit(write)

    async def aclose(self) -> None:
        await self._reads.aclose()
        await self._writes.aclose()


# CURRENT_TIMESTAMP, the column default, keeps whole seconds; with milliseconds a client's
# likes made in quick succession still list newest first.
_SQLITE_NOW = func.strftime("%Y-%m-%d %H:%M:%f", "now")


class SqliteLikes:
    """Each operation is one serialised transaction of plain statements."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def status(self, *, video_id: str, client: ClientKeys) -> bool | None:
        async with self._database.read() as conn:
            return await like_status(conn, video_id=video_id, client=client)

    async def toggle(self, *, video_id: str, client: ClientKeys) -> LikeChange:
        async with self._database.write() as conn:
            return await self._toggle(conn, video_id=video_id, client=client)

    async def _toggle(
        self, conn: AsyncConnection, *, video_id: str, client: ClientKeys
    ) -> LikeChange:
        found = await conn.scalar(select(exists().where(videos.c.id == video_id)))
        if not found:
            return LikeChange(video_found=False, liked=False, changed=False)
        user = await get_or_create_user(conn, client=client)
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

    async def like(self, *, video_id: str, client: ClientKeys) -> LikeChange:
        async with self._database.write() as conn:
            return await self._like(conn, video_id=video_id, client=client)

    async def unlike(self, *, video_id: str, client: ClientKeys) -> LikeChange:
        async with self._database.write() as conn:
            return await self._unlike(conn, video_id=video_id, client=client)

    async def _like(
        self, conn: AsyncConnection, *, video_id: str, client: ClientKeys
    ) -> LikeChange:
        found = await conn.scalar(select(exists().where(videos.c.id == video_id)))
        if not found:
            return LikeChange(video_found=False, liked=False, changed=False)
        user = await get_or_create_user(conn, client=client)
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

    async def aclose(self) -> None:
        """Nothing to wait for: each write finished inside its own call."""

    async def _unlike(
        self, conn: AsyncConnection, *, video_id: str, client: ClientKeys
    ) -> LikeChange:
        found = await conn.scalar(select(exists().where(videos.c.id == video_id)))
        if not found:
            return LikeChange(video_found=False, liked=False, changed=False)
        if await move_legacy_user(conn, client):
            record_legacy_moves(1)
        user_id = select(users.c.id).where(users.c.ip_hash == client.ip_hash).scalar_subquery()
        removed = await conn.execute(
            delete(video_likes).where(
                video_likes.c.video_id == video_id,
                video_likes.c.user_id == user_id,
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


async def insert_missing_videos(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> int:
    """Insert the rows that are not there yet; how many were."""
    insert = _upsert_insert(conn, videos).on_conflict_do_nothing().returning(videos.c.id)
    return len((await conn.execute(insert, list(rows))).all())


def _upsert_insert(conn: AsyncConnection, table: Table) -> pg_insert_type | sqlite_insert_type:
    """An INSERT that knows ON CONFLICT; both dialects spell it the same way."""
    if conn.dialect.name == "sqlite":
        return sqlite_insert(table)
    return pg_insert(table)


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
    every like committed before the locks. Like writes on PostgreSQL lock their videos first
    too, in the same order, so none can change a like row of these videos until the commit,
    and none deadlocks with the recount. On SQLite the whole recount is serialised anyway.
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
