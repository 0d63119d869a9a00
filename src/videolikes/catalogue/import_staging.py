"""SQL for imports: rows staged in a temporary table, checked and merged set-wise."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    exists,
    func,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from videolikes.catalogue.repository import VIDEO_WRITABLE_COLUMNS
from videolikes.db.tables import upsert_insert, videos

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
    statement = upsert_insert(conn, videos).from_select(columns, source)
    statement = statement.on_conflict_do_update(
        index_elements=["id"],
        set_={column: statement.excluded[column] for column in VIDEO_WRITABLE_COLUMNS},
    )
    await conn.execute(statement)
