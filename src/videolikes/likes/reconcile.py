"""Find and fix drift between the counters (`videos.likes`, `videos.dislikes`) and their rows,
safely under live traffic."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from videolikes.db.units import Database
from videolikes.likes.counters import CounterCheck, counter_page, recount_likes

SCAN_PAGE_SIZE = 1000
# Small, so each fixing transaction holds its video row locks for milliseconds only.
FIX_BATCH_SIZE = 50


@dataclass
class ReconcileReport:
    drifted: int = 0
    fixed: int = 0


async def drifted_videos(
    database: Database, *, page_size: int = SCAN_PAGE_SIZE
) -> AsyncIterator[list[CounterCheck]]:
    """Every video whose counter differs from its rows, a page at a time, in id order."""
    after = ""
    while True:
        async with database.read() as conn:
            page = await counter_page(conn, after=after, limit=page_size)
        if not page:
            return
        drifted = [check for check in page if check.drifted]
        if drifted:
            yield drifted
        after = page[-1].video_id


async def reconcile(
    database: Database,
    *,
    fix: bool,
    say: Callable[[str], None],
    batch_size: int = FIX_BATCH_SIZE,
    page_size: int = SCAN_PAGE_SIZE,
) -> ReconcileReport:
    """Report every drifted video; with `fix`, recount them in short transactions.

    The scan reads without locks, so what it finds is re-checked under lock when fixing:
    a video that no longer drifts by then is left alone.
    """
    report = ReconcileReport()
    async for drifted in drifted_videos(database, page_size=page_size):
        report.drifted += len(drifted)
        for check in drifted:
            for drift in check.drift():
                say(f"{check.video_id}: {drift}")
        if not fix:
            continue
        for start in range(0, len(drifted), batch_size):
            batch = [check.video_id for check in drifted[start : start + batch_size]]
            async with database.transaction() as conn:
                changed = await recount_likes(conn, batch)
            for check in changed:
                for counter, before, after in (
                    ("likes", check.likes, check.like_rows),
                    ("dislikes", check.dislikes, check.dislike_rows),
                ):
                    if before != after:
                        say(f"fixed {check.video_id}: {counter} {before} -> {after}")
            report.fixed += len(changed)
    return report
