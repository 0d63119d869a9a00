"""videolikes import: all rows or none, repeats rejected, progress shown, bounded memory."""

from __future__ import annotations

import csv
import json
import os
import pty
import subprocess
import time
from pathlib import Path

import pytest
from commands import VIDEOLIKES, command_env
from conftest import scalar
from sqlalchemy import text

from videolikes.catalogue.importer import BATCH_SIZE, import_videos
from videolikes.db.units import Database

HEADER = ["id", "title", "filename", "length", "hasThumbnail", "views", "likes", "is_shorts"]


def write_csv(path: Path, rows: int, *, start: int = 0, repeat_at: int | None = None) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for n in range(start, start + rows):
            video = n if repeat_at is None or n != start + repeat_at else start
            writer.writerow(
                [f"V{video:09d}", f"Video {n}", f"V{n:09d}.mp4", n % 3600, "true", n, 7, "false"]
            )
    return path


async def test_import_adds_then_updates_and_never_writes_likes(
    database: Database, tmp_path: Path
) -> None:
    report = await import_videos(database, write_csv(tmp_path / "a.csv", 3))
    assert (report.added, report.updated, report.rejected, report.likes_ignored) == (3, 0, 0, True)
    await import_videos(database, write_csv(tmp_path / "b.csv", 2, start=2))
    assert await scalar(database, "SELECT count(*) FROM videos") == 4
    assert await scalar(database, "SELECT sum(likes) FROM videos") == 0
    again = await import_videos(database, write_csv(tmp_path / "c.csv", 4))
    assert (again.added, again.updated) == (0, 4)


async def test_import_rejects_a_repeated_id_in_a_later_batch_and_writes_nothing(
    database: Database, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "repeats.csv", BATCH_SIZE + 500, repeat_at=BATCH_SIZE + 100)
    report = await import_videos(database, path)
    assert (report.added, report.updated, report.rejected) == (0, 0, 1)
    assert report.errors == [f"line {BATCH_SIZE + 102}: id or filename repeats an earlier row"]
    assert await scalar(database, "SELECT count(*) FROM videos") == 0


async def test_import_rejects_a_filename_another_video_has_and_writes_nothing(
    database: Database, tmp_path: Path
) -> None:
    await import_videos(database, write_csv(tmp_path / "a.csv", 1))
    taken = tmp_path / "taken.csv"
    taken.write_text("id,filename,length\nNEW1,V000000000.mp4,5\nNEW2,new2.mp4,5\n")
    report = await import_videos(database, taken)
    assert report.rejected == 1
    assert "filename is already used" in report.errors[0]
    assert await scalar(database, "SELECT count(*) FROM videos") == 1


def test_import_shows_a_progress_bar_on_a_terminal(database_url: str, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "bar.csv", 3 * BATCH_SIZE)
    main, secondary = pty.openpty()
    process = subprocess.Popen(
        [VIDEOLIKES, "import", str(path)],
        env=command_env(database_url),
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
    )
    os.close(secondary)
    output = b""
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    assert process.wait(timeout=60) == 0
    os.close(main)
    text = output.decode()
    assert "importing" in text
    assert "100%" in text
    assert f"added {3 * BATCH_SIZE}" in text


def _peak_rss_mb(args: list[str], env: dict[str, str]) -> tuple[int, str, float]:
    """Run the command; its exit status, output, and peak resident memory in MB."""
    process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert process.stdout is not None
    output = process.stdout.read().decode()
    process.stdout.close()
    # wait4 reports this child's own peak, unlike getrusage(RUSAGE_CHILDREN).
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, output, usage.ru_maxrss / 1024


@pytest.mark.large
def test_import_of_a_million_csv_rows_runs_in_bounded_memory(tmp_path: Path) -> None:
    """Peak memory of a 1,000,000-row import stays within a few MB of a 10,000-row one."""
    env = command_env(f"sqlite+aiosqlite:///{tmp_path}/big.db")
    assert subprocess.run([VIDEOLIKES, "db", "upgrade"], env=env, check=False).returncode == 0
    small_code, small_out, small_rss = _peak_rss_mb(
        [VIDEOLIKES, "import", str(write_csv(tmp_path / "small.csv", 10_000))], env
    )
    assert small_code == 0, small_out
    assert "read " not in small_out  # progress lines are for large files
    big = write_csv(tmp_path / "big.csv", 1_000_000, start=10_000)
    started = time.monotonic()
    code, out, rss = _peak_rss_mb([VIDEOLIKES, "import", str(big)], env)
    elapsed = time.monotonic() - started
    assert code == 0, out
    assert "added 1000000, updated 0, rejected 0" in out
    lines = [line for line in out.splitlines() if line.startswith("read ")]
    assert lines[0] == "read 100000 rows (10%)"
    assert lines[-1] == "read 1000000 rows (100%)"
    assert len(lines) == 10
    print(
        f"1,000,000 rows: {elapsed:.1f} s, peak RSS {rss:.0f} MB (10,000 rows: {small_rss:.0f} MB)"
    )
    assert rss - small_rss < 30


KEPT_AS_GIVEN = [
    "  leading spaces",
    "trailing spaces   ",
    "\ttabs\tinside and around\t",
    "Ünïcödé — 日本語のタイトル 🎬",
    " ",
    "",
]


@pytest.mark.parametrize("form", ["json", "csv"])
async def test_import_keeps_every_text_as_given(
    database: Database, tmp_path: Path, form: str
) -> None:
    rows = [
        {
            "id": f"KEPT{n:08d}",
            "title": title,
            "filename": f"  kept {n}.mp4 ",
            "length": 60,
            "hasThumbnail": False,
            "views": n,
            "is_shorts": False,
            "playlist": f" list {n}\t",
        }
        for n, title in enumerate(KEPT_AS_GIVEN)
    ]
    path = tmp_path / f"kept.{form}"
    if form == "json":
        path.write_text(json.dumps(rows), encoding="utf-8")
    else:
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    report = await import_videos(database, path)
    assert (report.added, report.rejected) == (len(rows), 0), report.errors
    async with database.transaction() as conn:
        stored = (
            await conn.execute(text("SELECT id, title, filename, playlist FROM videos ORDER BY id"))
        ).all()
    # An empty CSV cell is NULL (CSV has no other way to say it); JSON keeps "" as "".
    empty_title = "" if form == "json" else None
    expected = [
        (row["id"], row["title"] or empty_title, row["filename"], row["playlist"]) for row in rows
    ]
    assert [tuple(row) for row in stored] == expected


async def test_import_refuses_a_nul_in_a_text_and_writes_nothing(
    database: Database, tmp_path: Path
) -> None:
    path = tmp_path / "nul.json"
    row = {"id": "NUL000000001", "title": "a\u0000b", "filename": "nul.mp4", "length": 1}
    path.write_text(json.dumps([row]), encoding="utf-8")
    report = await import_videos(database, path)
    assert (report.added, report.rejected) == (0, 1)
    assert "title" in report.errors[0]
    assert await scalar(database, "SELECT count(*) FROM videos") == 0


async def test_the_catalogue_as_served_with_dislikes_imports_and_its_counters_are_ignored(
    database: Database, tmp_path: Path
) -> None:
    path = tmp_path / "served.json"
    served = {
        "id": "V1",
        "title": "Served",
        "filename": "V1.mp4",
        "length": 10,
        "hasThumbnail": False,
        "views": 3,
        "likes": 5,
        "is_shorts": False,
        "playlist": None,
        "dislikes": 2,
    }
    path.write_text(json.dumps([served]), encoding="utf-8")
    report = await import_videos(database, path)
    assert (report.added, report.rejected, report.likes_ignored) == (1, 0, True)
    assert await scalar(database, "SELECT likes + dislikes FROM videos WHERE id = 'V1'") == 0
