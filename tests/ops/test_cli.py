"""The `videolikes` command against real databases: db upgrade, seed and import; its help.

The main paths run the installed console script in a subprocess, so the real entry point is
proven; the many error cases call the same Typer app in-process (in a worker thread, because
the command runs its own event loop) to keep the suite quick.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from conftest import POSTGRES_URL, execute, require_postgres, scalar
from sqlalchemy import inspect, select, text
from sqlalchemy.ext.asyncio import create_async_engine
from typer.testing import CliRunner

from videolikes.catalogue.demo import demo_videos
from videolikes.catalogue.importer import BATCH_SIZE
from videolikes.catalogue.repository import VIDEO_COLUMNS
from videolikes.config import Settings
from videolikes.db.schema_version import alembic_config
from videolikes.db.tables import videos
from videolikes.db.units import Database
from videolikes.ops.cli import app

VIDEOLIKES = Path(sys.executable).parent / "videolikes"
TABLES = {"videos", "users", "video_likes", "comments", "comment_likes"}
# The /api/videos shape, in its order.
FIELDS = [
    "id",
    "title",
    "filename",
    "length",
    "hasThumbnail",
    "views",
    "likes",
    "is_shorts",
    "playlist",
]
LIKES_NOTE = "note: the likes field is ignored"
Snapshot = list[tuple[Any, ...]]


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    stdout: str
    stderr: str


def _env(database_url: str, **variables: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "ENVIRONMENT": "development",
        **variables,
    }


async def run_command(database_url: str, *args: str, **variables: str) -> Outcome:
    """The installed `videolikes` console script, in a subprocess."""
    done = await asyncio.to_thread(
        subprocess.run,
        [str(VIDEOLIKES), *args],
        env=_env(database_url, **variables),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return Outcome(done.returncode, done.stdout, done.stderr)


async def invoke(database_url: str, *args: str) -> Outcome:
    """The same Typer app in-process (in a thread: the command runs its own event loop)."""
    runner = CliRunner()
    result = await asyncio.to_thread(
        runner.invoke, app, list(args), env=_env(database_url), catch_exceptions=False
    )
    return Outcome(result.exit_code, result.stdout, result.stderr)


def video(video_id: str, **overrides: Any) -> dict[str, Any]:
    """One record in the /api/videos shape."""
    record: dict[str, Any] = {
        "id": video_id,
        "title": f"Title of {video_id}",
        "filename": f"{video_id}.mp4",
        "length": 120,
        "hasThumbnail": True,
        "views": 10,
        "likes": 0,
        "is_shorts": False,
        "playlist": "coast",
    }
    record.update(overrides)
    return record


def as_row(record: dict[str, Any], likes: int = 0) -> tuple[Any, ...]:
    """What the database must hold for `record` (the file's `likes` never lands; nor do
    dislikes, which start at 0)."""
    return (
        record["id"],
        record["title"],
        record["filename"],
        record["length"],
        record["hasThumbnail"],
        record["views"],
        likes,
        record["is_shorts"],
        record["playlist"],
        0,
    )


def write_json(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps(records), encoding="utf-8")
    return path


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def write_csv(path: Path, records: list[dict[str, Any]], fields: list[str] | None = None) -> Path:
    fields = fields or FIELDS
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(fields)
        for record in records:
            writer.writerow([_csv_cell(record.get(name)) for name in fields])
    return path


def write_file(kind: str, directory: Path, records: list[dict[str, Any]]) -> Path:
    if kind == "csv":
        return write_csv(directory / "videos.csv", records)
    return write_json(directory / "videos.json", records)


async def snapshot(database: Database) -> Snapshot:
    """Every column of every video, in id order."""
    async with database.transaction() as conn:
        rows = await conn.execute(select(*VIDEO_COLUMNS).order_by(videos.c.id))
        return [tuple(row) for row in rows]


async def count_videos(database: Database) -> int:
    return int(await scalar(database, "SELECT count(*) FROM videos"))


async def existing(database: Database, *records: dict[str, Any], likes: int = 0) -> None:
    """Put videos in the database directly, with a like counter already set."""
    for record in records:
        await execute(
            database,
            "INSERT INTO videos (id, title, filename, length, has_thumbnail, views, likes, "
            "is_shorts, playlist) VALUES (:id, :title, :filename, :length, :has_thumbnail, "
            ":views, :likes, :is_shorts, :playlist)",
            id=record["id"],
            title=record["title"],
            filename=record["filename"],
            length=record["length"],
            has_thumbnail=record["hasThumbnail"],
            views=record["views"],
            likes=likes,
            is_shorts=record["is_shorts"],
            playlist=record["playlist"],
        )


async def table_names(database_url: str) -> set[str]:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


# db upgrade


def migrations() -> list[tuple[str, str]]:
    """(revision, first line of its docstring) of every migration, oldest first."""
    script = ScriptDirectory.from_config(alembic_config(""))
    return [(r.revision, r.doc) for r in reversed(list(script.walk_revisions()))]


async def test_db_upgrade_says_which_database_and_each_revision_it_applied(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'new.db'}"
    head = migrations()[-1][0]

    first = await run_command(url, "db", "upgrade")
    second = await run_command(url, "db", "upgrade")

    assert (first.exit_code, second.exit_code) == (0, 0), first.stderr + second.stderr
    assert first.stdout.splitlines() == [
        f"database: {url}",
        *(f"applied {revision}: {doc}" for revision, doc in migrations()),
        f"at the latest revision {head}",
    ]
    assert second.stdout.splitlines() == [
        f"database: {url}",
        f"already at the latest revision {head}",
    ]


async def test_db_upgrade_applies_only_what_is_missing(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'behind.db'}"
    (first, _), *later = migrations()
    await asyncio.to_thread(command.upgrade, alembic_config(url), first)
    upgraded = await run_command(url, "db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.stderr
    assert [line for line in upgraded.stdout.splitlines() if line.startswith("applied")] == [
        f"applied {revision}: {doc}" for revision, doc in later
    ]


async def test_db_upgrade_of_a_database_a_later_version_migrated_changes_nothing(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'newer.db'}"
    assert (await run_command(url, "db", "upgrade")).exit_code == 0
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = '9999_later'"))
        upgraded = await run_command(url, "db", "upgrade")
        async with engine.connect() as conn:
            kept = await conn.scalar(text("SELECT version_num FROM alembic_version"))
    finally:
        await engine.dispose()
    assert upgraded.exit_code == 0, upgraded.stderr
    assert "at revision 9999_later, which is newer than this version's migrations" in (
        upgraded.stdout
    )
    assert kept == "9999_later"


async def test_db_upgrade_masks_the_password_of_the_database_it_names() -> None:
    require_postgres()
    name = f"videolikes_cli_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    parts = urlsplit(POSTGRES_URL)
    password = "pw-Visible-0815"  # the test server trusts local connections: any password works
    netloc = f"{parts.username}:{password}@{parts.hostname}:{parts.port or 5432}"
    url = parts._replace(netloc=netloc, path=f"/{name}").geturl()
    try:
        upgraded = await run_command(url, "db", "upgrade")
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()
    assert upgraded.exit_code == 0, upgraded.stderr
    assert password not in upgraded.stdout + upgraded.stderr
    masked = parts._replace(netloc=netloc.replace(password, "********"), path=f"/{name}")
    assert upgraded.stdout.splitlines()[0] == f"database: {masked.geturl()}"


async def test_db_upgrade_creates_the_tables_in_a_new_sqlite_file_and_is_repeatable(
    tmp_path: Path,
) -> None:
    path = tmp_path / "brand-new.db"
    url = f"sqlite+aiosqlite:///{path}"

    first = await run_command(url, "db", "upgrade")
    assert first.exit_code == 0, first.stderr
    assert "latest revision" in first.stdout
    assert await table_names(url) == TABLES | {"alembic_version"}

    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text("INSERT INTO videos (id, filename, length, likes) VALUES ('k', 'k.mp4', 1, 3)")
            )
        second = await run_command(url, "db", "upgrade")
        assert second.exit_code == 0, second.stderr
        async with engine.connect() as conn:
            kept = (await conn.execute(text("SELECT id, likes FROM videos"))).all()
            versions = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
    finally:
        await engine.dispose()
    assert [tuple(row) for row in kept] == [("k", 3)]
    assert len(versions) == 1
    assert await table_names(url) == TABLES | {"alembic_version"}


async def test_db_upgrade_creates_the_tables_in_a_new_postgres_database_and_is_repeatable() -> None:
    require_postgres()
    name = f"videolikes_cli_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = urlsplit(POSTGRES_URL)._replace(path=f"/{name}").geturl()
    try:
        assert await table_names(url) == set()
        first = await run_command(url, "db", "upgrade")
        assert first.exit_code == 0, first.stderr
        assert await table_names(url) == TABLES | {"alembic_version"}
        second = await run_command(url, "db", "upgrade")
        assert second.exit_code == 0, second.stderr
        assert await table_names(url) == TABLES | {"alembic_version"}
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


async def test_db_upgrade_on_an_up_to_date_database_keeps_every_row(
    database_url: str, database: Database
) -> None:
    await existing(database, video("keep"), likes=4)
    before = await snapshot(database)
    outcome = await invoke(database_url, "db", "upgrade")
    assert outcome.exit_code == 0, outcome.stderr
    assert await snapshot(database) == before


# seed


async def test_seed_demo_adds_the_demo_catalogue_and_a_second_run_changes_nothing(
    database_url: str, database: Database
) -> None:
    expected = demo_videos()

    first = await run_command(database_url, "seed", "--demo")
    assert first.exit_code == 0, first.stderr
    assert first.stdout.splitlines() == [
        f"database: {database_url}",
        f"added {len(expected)} of the {len(expected)} demo videos; 0 were already there",
    ]
    after_first = await snapshot(database)
    assert len(after_first) == len(expected)
    assert after_first == sorted(
        (
            v["id"],
            v["title"],
            v["filename"],
            v["length"],
            v["has_thumbnail"],
            v["views"],
            0,
            v["is_shorts"],
            v["playlist"],
            0,
        )
        for v in expected
    )

    second = await invoke(database_url, "seed", "--demo")
    assert second.exit_code == 0, second.stderr
    assert f"added 0 of the 36 demo videos; {len(expected)} were already there" in second.stdout
    assert await snapshot(database) == after_first


async def test_seed_never_changes_existing_like_counters_or_rows(
    database_url: str, database: Database
) -> None:
    assert (await invoke(database_url, "seed", "--demo")).exit_code == 0
    first_id = demo_videos()[0]["id"]
    await execute(
        database,
        "UPDATE videos SET likes = 7, title = 'Renamed', views = 1 WHERE id = :id",
        id=first_id,
    )
    deleted_id = demo_videos()[1]["id"]
    await execute(database, "DELETE FROM videos WHERE id = :id", id=deleted_id)
    before = await snapshot(database)

    outcome = await invoke(database_url, "seed", "--demo")

    assert outcome.exit_code == 0, outcome.stderr
    assert "added 1 of the 36 demo videos; 35 were already there" in outcome.stdout
    after = await snapshot(database)
    assert len(after) == len(demo_videos())  # the missing demo video is back...
    assert [row for row in after if row[0] != deleted_id] == before  # ...and nothing else moved
    assert await scalar(database, "SELECT likes FROM videos WHERE id = :id", id=first_id) == 7
    assert await scalar(database, "SELECT title FROM videos WHERE id = :id", id=first_id) == (
        "Renamed"
    )


async def test_seed_without_demo_exits_non_zero_and_says_what_to_seed(
    database_url: str, database: Database
) -> None:
    outcome = await invoke(database_url, "seed")
    assert outcome.exit_code != 0
    assert "--demo" in outcome.stderr
    assert await count_videos(database) == 0


# import: the happy paths


async def test_import_json_array_adds_videos_then_reimport_updates_them(
    database_url: str, database: Database, tmp_path: Path
) -> None:
    records = [
        video("EFTA01683563"),
        video("b-2", title=None, hasThumbnail=False, is_shorts=True, playlist=None),
        video("c_3", views=0, length=0),
    ]
    path = write_json(tmp_path / "videos.json", records)

    first = await run_command(database_url, "import", str(path))

    assert first.exit_code == 0, first.stderr
    assert first.stdout.strip().splitlines()[-1] == "added 3, updated 0, rejected 0"
    assert await snapshot(database) == sorted(as_row(r) for r in records)

    changed = [
        {**records[0], "title": "A new title", "views": 999},
        {**records[1], "views": 5},
        records[2],
        video("d-4"),
    ]
    second = await invoke(database_url, "import", str(write_json(path, changed)))

    assert second.exit_code == 0, second.stderr
    assert second.stdout.strip().splitlines()[-1] == "added 1, updated 3, rejected 0"
    assert await snapshot(database) == sorted(as_row(r) for r in changed)


async def test_import_csv_with_the_api_header_adds_then_updates_by_id(
    database_url: str, database: Database, tmp_path: Path
) -> None:
    records = [
        video("A1", title='Comma, "quoted" title', playlist=None),
        video("B2", title=None, hasThumbnail=False, is_shorts=True),
    ]
    path = write_csv(tmp_path / "videos.csv", records)

    first = await run_command(database_url, "import", str(path))

    assert first.exit_code == 0, first.stderr
    assert first.stdout.strip().splitlines()[-1] == "added 2, updated 0, rejected 0"
    assert await snapshot(database) == sorted(as_row(r) for r in records)

    changed = [{**records[0], "title": "Retitled", "views": 77}, records[1]]
    second = await invoke(database_url, "import", str(write_csv(path, changed)))

    assert second.exit_code == 0, second.stderr
    assert second.stdout.strip().splitlines()[-1] == "added 0, updated 2, rejected 0"
    assert await snapshot(database) == sorted(as_row(r) for r in changed)


@pytest.mark.parametrize("kind", ["json", "csv"])
async def test_import_ignores_likes_in_the_file_and_says_so_once(
    database_url: str, database: Database, tmp_path: Path, kind: str
) -> None:
    old = video("old-1")
    await existing(database, old, likes=5)
    records = [
        {**old, "likes": 999, "views": 50},
        video("new-1", likes=42),
        video("new-2", likes=3),
    ]

    outcome = await invoke(database_url, "import", str(write_file(kind, tmp_path, records)))

    assert outcome.exit_code == 0, outcome.stderr
    assert outcome.stdout.count(LIKES_NOTE) == 1
    assert "added 2, updated 1, rejected 0" in outcome.stdout
    assert await snapshot(database) == [
        as_row(records[1], likes=0),
        as_row(records[2], likes=0),
        as_row(records[0], likes=5),
    ]


async def test_import_without_likes_values_adds_no_note(
    database_url: str, database: Database, tmp_path: Path
) -> None:
    json_records = [{k: v for k, v in video("j1").items() if k != "likes"}]
    csv_records = [video("c1", likes=None)]  # a blank cell in the likes column

    from_json = await invoke(
        database_url, "import", str(write_json(tmp_path / "a.json", json_records))
    )
    from_csv = await invoke(database_url, "import", str(write_csv(tmp_path / "b.csv", csv_records)))

    assert (from_json.exit_code, from_csv.exit_code) == (0, 0), from_csv.stderr
    assert LIKES_NOTE not in from_json.stdout + from_csv.stdout
    assert await count_videos(database) == 2


async def test_import_csv_written_by_a_spreadsheet_with_a_byte_order_mark(
    database_url: str, database: Database, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "videos.csv", [video("bom-1")])
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())

    outcome = await invoke(database_url, "import", str(path))

    assert outcome.exit_code == 0, outcome.stderr
    assert await snapshot(database) == [as_row(video("bom-1"))]


async def test_import_of_5000_csv_rows_lands_in_batches(
    database_url: str, database: Database, tmp_path: Path
) -> None:
    count = 5000
    assert count > 4 * BATCH_SIZE
    records = [video(f"BULK{index:06d}", views=index) for index in range(count)]
    path = write_csv(tmp_path / "bulk.csv", records)

    outcome = await invoke(database_url, "import", str(path))

    assert outcome.exit_code == 0, outcome.stderr
    assert outcome.stdout.strip().splitlines()[-1] == f"added {count}, updated 0, rejected 0"
    assert await count_videos(database) == count
    assert await scalar(database, "SELECT sum(views) FROM videos") == sum(range(count))
    assert await scalar(database, "SELECT max(likes) FROM videos") == 0


# import: all rows land, or none


def _bad_length(record: dict[str, Any]) -> dict[str, Any]:
    return {**record, "length": "abc"}


def _bad_id(record: dict[str, Any]) -> dict[str, Any]:
    return {**record, "id": "a b"}


def _no_filename(record: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in record.items() if key != "filename"}


def _blank_filename(record: dict[str, Any]) -> dict[str, Any]:
    return {**record, "filename": ""}


def _negative_views(record: dict[str, Any]) -> dict[str, Any]:
    return {**record, "views": -1}


def _unknown_field(record: dict[str, Any]) -> dict[str, Any]:
    return {**record, "colour": "red"}


BAD_ROWS: list[tuple[str, Callable[[dict[str, Any]], dict[str, Any]], str, str]] = [
    ("csv", _bad_length, "line 3", "length"),
    ("json", _bad_length, "index 1", "length"),
    ("csv", _bad_id, "line 3", "id"),
    ("json", _bad_id, "index 1", "id"),
    ("csv", _blank_filename, "line 3", "filename"),
    ("json", _no_filename, "index 1", "filename"),
    ("json", _negative_views, "index 1", "views"),
    ("json", _unknown_field, "index 1", "colour"),
]


@pytest.mark.parametrize(
    ("kind", "spoil", "where", "field"),
    BAD_ROWS,
    ids=[f"{kind}-{spoil.__name__.strip('_')}" for kind, spoil, _, _ in BAD_ROWS],
)
async def test_import_with_a_bad_row_exits_1_names_it_and_writes_nothing(
    database_url: str,
    database: Database,
    tmp_path: Path,
    kind: str,
    spoil: Callable[[dict[str, Any]], dict[str, Any]],
    where: str,
    field: str,
) -> None:
    old = video("old-1")
    await existing(database, old, likes=2)
    before = await snapshot(database)
    # A good update and a good new row come before the bad one: neither may land.
    records = [{**old, "title": "changed"}, spoil(video("bad-1")), video("good-2")]

    outcome = await invoke(database_url, "import", str(write_file(kind, tmp_path, records)))

    assert outcome.exit_code == 1
    rejected = [line for line in outcome.stderr.splitlines() if line.startswith("rejected ")]
    assert len(rejected) == 1, outcome.stderr
    assert f"{where}: " in rejected[0]
    assert field in rejected[0]
    assert "nothing was written" in outcome.stderr
    assert "added 0, updated 0, rejected 1" in outcome.stdout
    assert await snapshot(database) == before


async def test_import_reports_every_bad_row_not_only_the_first(
    database_url: str, database: Database, tmp_path: Path
) -> None:
    records = [video("ok-1"), _bad_length(video("x-1")), video("ok-2"), _bad_id(video("x-2"))]

    outcome = await invoke(database_url, "import", str(write_csv(tmp_path / "v.csv", records)))

    assert outcome.exit_code == 1
    assert "line 3: length" in outcome.stderr
    assert "line 5: id" in outcome.stderr
    assert "rejected 2" in outcome.stdout
    assert await count_videos(database) == 0


async def test_import_bad_row_after_a_full_batch_rolls_back_the_batches_already_sent(
    database_url: str, database: Database, tmp_path: Path
) -> None:
    records = [video(f"R{index:06d}") for index in range(BATCH_SIZE + 500)]
    records.append(_bad_length(video("LAST")))
    bad_line = len(records) + 1  # the header is line 1

    outcome = await invoke(database_url, "import", str(write_csv(tmp_path / "v.csv", records)))

    assert outcome.exit_code == 1
    assert f"line {bad_line}: length" in outcome.stderr
    assert await count_videos(database) == 0


@pytest.mark.parametrize("kind", ["json", "csv"])
async def test_import_rejects_an_id_repeated_within_the_file(
    database_url: str, database: Database, tmp_path: Path, kind: str
) -> None:
    records = [video("dup"), video("other"), video("dup", filename="dup-again.mp4")]

    outcome = await invoke(database_url, "import", str(write_file(kind, tmp_path, records)))

    assert outcome.exit_code == 1
    where = "line 4" if kind == "csv" else "index 2"
    assert f"{where}: id or filename repeats an earlier row" in outcome.stderr
    assert await count_videos(database) == 0


async def test_import_rejects_a_filename_repeated_within_the_file(
    database_url: str, database: Database, tmp_path: Path
) -> None:
    records = [video("one", filename="same.mp4"), video("two", filename="same.mp4")]

    outcome = await invoke(database_url, "import", str(write_json(tmp_path / "v.json", records)))

    assert outcome.exit_code == 1
    assert "index 1: id or filename repeats an earlier row" in outcome.stderr
    assert await count_videos(database) == 0


async def test_import_rejects_a_filename_used_by_another_video_in_the_database(
    database_url: str, database: Database, tmp_path: Path
) -> None:
    await existing(database, video("owner", filename="taken.mp4"), likes=1)
    before = await snapshot(database)
    records = [video("first-ok"), video("intruder", filename="taken.mp4")]

    outcome = await invoke(database_url, "import", str(write_json(tmp_path / "v.json", records)))

    assert outcome.exit_code == 1
    assert "filename is already used by another video" in outcome.stderr
    assert "nothing was written" in outcome.stderr
    assert "added 0, updated 0, rejected 1" in outcome.stdout
    assert await snapshot(database) == before


def _not_json(directory: Path) -> Path:
    path = directory / "videos.json"
    path.write_text("id,title\nA1,hello\n", encoding="utf-8")
    return path


def _json_object(directory: Path) -> Path:
    path = directory / "videos.json"
    path.write_text(json.dumps({"videos": [video("A1")]}), encoding="utf-8")
    return path


def _csv_without_id(directory: Path) -> Path:
    fields = [name for name in FIELDS if name != "id"]
    return write_csv(directory / "videos.csv", [video("A1")], fields)


def _empty_csv(directory: Path) -> Path:
    path = directory / "videos.csv"
    path.write_text("", encoding="utf-8")
    return path


def _latin1_csv(directory: Path) -> Path:
    path = directory / "videos.csv"
    path.write_bytes(b"id,title,filename,length\nA1,caf\xe9,a.mp4,3\n")
    return path


BAD_FILES: list[tuple[Callable[[Path], Path], str]] = [
    (_not_json, "not valid JSON"),
    (_json_object, "expected a JSON array"),
    (_csv_without_id, "must name the columns, including id"),
    (_empty_csv, "must name the columns, including id"),
    (_latin1_csv, "not a readable UTF-8 CSV file"),
]


@pytest.mark.parametrize(
    ("make", "message"), BAD_FILES, ids=[make.__name__.strip("_") for make, _ in BAD_FILES]
)
async def test_import_of_an_unreadable_file_exits_non_zero_with_a_clear_message(
    database_url: str,
    database: Database,
    tmp_path: Path,
    make: Callable[[Path], Path],
    message: str,
) -> None:
    path = make(tmp_path)

    outcome = await invoke(database_url, "import", str(path))

    assert outcome.exit_code == 2
    assert message in outcome.stderr
    assert str(path) in outcome.stderr
    assert "Traceback" not in outcome.stderr
    assert await count_videos(database) == 0


async def test_import_of_a_missing_file_exits_non_zero(database_url: str, tmp_path: Path) -> None:
    outcome = await invoke(database_url, "import", str(tmp_path / "nope.json"))
    assert outcome.exit_code == 2
    assert "does not exist" in outcome.stderr


# help and version


async def test_version_prints_the_installed_package_version() -> None:
    outcome = await run_command("sqlite+aiosqlite:///:memory:", "--version")
    assert outcome.exit_code == 0, outcome.stderr
    assert outcome.stdout == f"videolikes {version('videolikes')}\n"


async def test_serve_help_shows_the_variable_and_default_of_every_option() -> None:
    # Wide enough that no help line wraps.
    outcome = await run_command("sqlite+aiosqlite:///:memory:", "serve", "--help", COLUMNS="200")
    assert outcome.exit_code == 0, outcome.stderr
    defaults = Settings.model_fields
    for option, variable in (("--host", "host"), ("--port", "port"), ("--workers", "workers")):
        line = next(line for line in outcome.stdout.splitlines() if f" {option} " in line)
        assert f"(env {variable.upper()}, default {defaults[variable].default})" in line


async def test_help_lists_the_global_options() -> None:
    outcome = await run_command("sqlite+aiosqlite:///:memory:", "--help", COLUMNS="200")
    assert outcome.exit_code == 0, outcome.stderr
    for option in ("--version", "--debug"):
        assert f" {option} " in outcome.stdout
