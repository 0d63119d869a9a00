"""Import videos from a JSON array or a CSV file in the /api/videos shape."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from videolikes.db import Database
from videolikes.repository import existing_video_ids, upsert_videos
from videolikes.schemas import VIDEO_ID_PATTERN

BATCH_SIZE = 1000
MAX_REPORTED_ERRORS = 20


class VideoIn(BaseModel):
    """One imported row; `likes` is accepted and ignored, the counter belongs to the rows."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, str_strip_whitespace=True)

    id: str = Field(pattern=VIDEO_ID_PATTERN)
    title: str | None = Field(default=None, max_length=255)
    filename: str = Field(min_length=1, max_length=255)
    length: int = Field(ge=0, le=2_147_483_647)
    has_thumbnail: bool = Field(default=False, alias="hasThumbnail")
    views: int = Field(default=0, ge=0, le=2_147_483_647)
    likes: int | None = None
    is_shorts: bool = False
    playlist: str | None = Field(default=None, max_length=100)

    @field_validator("title", "playlist", "likes", mode="before")
    @classmethod
    def _blank_is_null(cls, value: Any) -> Any:
        return None if value == "" else value

    def to_row(self) -> dict[str, Any]:
        return self.model_dump(exclude={"likes"})


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


def read_records(path: Path) -> Iterator[tuple[str, Any]]:
    """Yield (where, record) pairs; `where` names the CSV line or the JSON index."""
    if path.suffix.lower() == ".csv":
        yield from _read_csv(path)
    else:
        yield from _read_json(path)


def _read_csv(path: Path) -> Iterator[tuple[str, Any]]:
    # utf-8-sig: spreadsheet programs often start a UTF-8 CSV with a byte order mark.
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            if not reader.fieldnames or "id" not in reader.fieldnames:
                raise ImportFileError(f"{path}: the first line must name the columns, including id")
            for record in reader:
                if None in record:
                    yield f"line {reader.line_num}", {"__extra_values__": record.pop(None)}
                    continue
                yield f"line {reader.line_num}", record
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ImportFileError(f"{path}: not a readable UTF-8 CSV file ({exc})") from exc


def _read_json(path: Path) -> Iterator[tuple[str, Any]]:
    try:
        with path.open(encoding="utf-8") as handle:
            records = json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ImportFileError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(records, list):
        raise ImportFileError(f"{path}: expected a JSON array of videos")
    for index, record in enumerate(records):
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
    if video.likes is not None:
        report.likes_ignored = True
    return video


def _reject(report: ImportReport, message: str) -> None:
    report.rejected += 1
    if len(report.errors) < MAX_REPORTED_ERRORS:
        report.errors.append(message)


class _Rollback(Exception):
    pass


async def import_videos(database: Database, path: Path) -> ImportReport:
    """Validate every row and upsert them in one transaction: all rows land, or none."""
    report = ImportReport()
    seen_ids: set[str] = set()
    seen_filenames: set[str] = set()
    try:
        async with database.transaction() as conn:
            batch: list[dict[str, Any]] = []
            for where, record in read_records(path):
                video = _validate(where, record, report)
                if video is None:
                    continue
                if video.id in seen_ids or video.filename in seen_filenames:
                    _reject(report, f"{where}: id or filename repeats an earlier row")
                    continue
                seen_ids.add(video.id)
                seen_filenames.add(video.filename)
                batch.append(video.to_row())
                if len(batch) >= BATCH_SIZE:
                    await _write_batch(conn, batch, report)
                    batch = []
            if batch:
                await _write_batch(conn, batch, report)
            if not report.ok:
                raise _Rollback
    except _Rollback:
        report.added = report.updated = 0
    except IntegrityError as exc:
        report.added = report.updated = 0
        detail = str(exc.orig).splitlines()[-1] if exc.orig else "constraint violated"
        _reject(report, f"a filename is already used by another video in the database ({detail})")
    return report


async def _write_batch(
    conn: AsyncConnection, batch: list[dict[str, Any]], report: ImportReport
) -> None:
    if not report.ok:
        return  # the import will be rolled back; keep validating to report every bad row
    existing = await existing_video_ids(conn, [row["id"] for row in batch])
    await upsert_videos(conn, batch)
    report.updated += len(existing)
    report.added += len(batch) - len(existing)
