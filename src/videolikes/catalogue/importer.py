"""Import videos from a JSON array or a CSV file in the /api/videos shape."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.exc import IntegrityError

from videolikes.catalogue.import_staging import (
    count_staged_existing,
    create_import_staging,
    drop_import_staging,
    merge_staged_videos,
    stage_videos,
    staged_repeats,
)
from videolikes.db.units import Database
from videolikes.wire import VIDEO_ID_PATTERN

BATCH_SIZE = 1000
MERGE_CHUNK_SIZE = 50_000
MAX_REPORTED_ERRORS = 20


# PostgreSQL text cannot hold NUL; SQLite can, so the file is refused alike on both.
_NO_NUL = r"^[^\x00]*$"


class VideoIn(BaseModel):
    """One imported row; `likes` and `dislikes` (as `/api/videos` shows them with dislikes on)
    are accepted and ignored: the counters belong to the rows."""

    # No stripping or normalising: every text is stored exactly as the file gives it.
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: str = Field(pattern=VIDEO_ID_PATTERN)
    title: str | None = Field(default=None, max_length=255, pattern=_NO_NUL)
    filename: str = Field(min_length=1, max_length=255, pattern=_NO_NUL)
    length: int = Field(ge=0, le=2_147_483_647)
    has_thumbnail: bool = Field(default=False, alias="hasThumbnail")
    views: int = Field(default=0, ge=0, le=2_147_483_647)
    likes: int | None = None
    dislikes: int | None = None
    is_shorts: bool = False
    playlist: str | None = Field(default=None, max_length=100, pattern=_NO_NUL)

    def staged(self, seq: int, location: str) -> tuple[Any, ...]:
        """The row in repository.STAGED_COLUMNS order (the counters are not among them)."""
        return (
            seq,
            location,
            self.id,
            self.title,
            self.filename,
            self.length,
            self.has_thumbnail,
            self.views,
            self.is_shorts,
            self.playlist,
        )


@dataclass
class ImportReport:
    added: int = 0
    updated: int = 0
    rejected: int = 0
    likes_ignored: bool = False
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.rejected == 0


class ImportFileError(Exception):
    """The file as a whole cannot be read (not a row-level problem)."""


@dataclass
class Progress:
    """How far an import has read: rows, and the share of the file (0 to 1)."""

    rows: int = 0
    fraction: float = 0.0


ProgressCallback = Callable[[Progress], None]


def read_records(path: Path, progress: Progress) -> Iterator[tuple[str, Any]]:
    """Yield (where, record) pairs; `where` names the CSV line or the JSON index."""
    if path.suffix.lower() == ".csv":
        yield from _read_csv(path, progress)
    else:
        yield from _read_json(path, progress)


def _read_csv(path: Path, progress: Progress) -> Iterator[tuple[str, Any]]:
    size = max(path.stat().st_size, 1)
    # utf-8-sig: spreadsheet programs often start a UTF-8 CSV with a byte order mark.
    try:
        with (
            path.open("rb") as raw,
            io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as handle,
        ):
            reader = csv.DictReader(handle)
            if not reader.fieldnames or "id" not in reader.fieldnames:
                raise ImportFileError(f"{path}: the first line must name the columns, including id")
            for record in reader:
                progress.rows += 1
                if progress.rows % BATCH_SIZE == 0:
                    # The byte position runs ahead by at most one read buffer; close enough.
                    progress.fraction = min(raw.tell() / size, 1.0)
                if None in record:
                    yield f"line {reader.line_num}", {"__extra_values__": record.pop(None)}
                    continue
                yield f"line {reader.line_num}", _nulls_from_blanks(record)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ImportFileError(f"{path}: not a readable UTF-8 CSV file ({exc})") from exc
    progress.fraction = 1.0


# CSV cannot tell NULL from empty text; an empty cell of a nullable column means NULL.
_NULLABLE_COLUMNS = ("title", "playlist", "likes", "dislikes")


def _nulls_from_blanks(record: dict[str, Any]) -> dict[str, Any]:
    return {
        key: None if value == "" and key in _NULLABLE_COLUMNS else value
        for key, value in record.items()
    }


def _read_json(path: Path, progress: Progress) -> Iterator[tuple[str, Any]]:
    # A JSON array is parsed whole; large catalogues should come as CSV, which streams.
    try:
        with path.open(encoding="utf-8") as handle:
            records = json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ImportFileError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(records, list):
        raise ImportFileError(f"{path}: expected a JSON array of videos")
    for index, record in enumerate(records):
        progress.rows = index + 1
        progress.fraction = progress.rows / len(records)
        yield f"index {index}", record


def _validate(where: str, record: Any, report: ImportReport) -> VideoIn | None:
    try:
        video = VideoIn.model_validate(record)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'row'}: {error['msg']}"
            for error in exc.errors(include_url=False)
        )
        _reject(report, f"{where}: {problems}")
        return None
    if video.likes is not None or video.dislikes is not None:
        report.likes_ignored = True
    return video


def _reject(report: ImportReport, message: str) -> None:
    report.rejected += 1
    if len(report.errors) < MAX_REPORTED_ERRORS:
        report.errors.append(message)


class _Rollback(Exception):
    pass


async def import_videos(
    database: Database, path: Path, on_progress: ProgressCallback | None = None
) -> ImportReport:
    """Validate every row and upsert them in one transaction: all rows land, or none.

    Valid rows are staged batch by batch in a temporary table; once the file is read, the
    rows that repeat an earlier id or filename are found there, and the rest are merged into
    videos in chunks.
    """
    report = ImportReport()
    progress = Progress()
    try:
        async with database.transaction() as conn:
            await create_import_staging(conn)
            staged = 0
            batch: list[tuple[Any, ...]] = []
            for where, record in read_records(path, progress):
                video = _validate(where, record, report)
                if video is not None:
                    staged += 1
                    batch.append(video.staged(staged, where))
                if len(batch) >= BATCH_SIZE:
                    await stage_videos(conn, batch)
                    batch = []
                    if on_progress is not None:
                        on_progress(progress)
            if batch:
                await stage_videos(conn, batch)
            if on_progress is not None:
                on_progress(progress)
            for where in await staged_repeats(conn):
                _reject(report, f"{where}: id or filename repeats an earlier row")
            if not report.ok:
                raise _Rollback
            report.updated = await count_staged_existing(conn)
            report.added = staged - report.updated
            for after in range(0, staged, MERGE_CHUNK_SIZE):
                await merge_staged_videos(conn, after=after, limit=MERGE_CHUNK_SIZE)
            await drop_import_staging(conn)
    except _Rollback:
        report.added = report.updated = 0
    except IntegrityError as exc:
        report.added = report.updated = 0
        detail = str(exc.orig).splitlines()[-1] if exc.orig else "constraint violated"
        _reject(report, f"a filename is already used by another video in the database ({detail})")
    return report
