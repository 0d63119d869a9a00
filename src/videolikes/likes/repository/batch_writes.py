"""PostgreSQL like writes: the writes that arrive together, in two autocommitted statements.

They lock the videos first, in id order, then change like rows and move each counter once,
so concurrent writes queue instead of deadlocking and a hot video's row is updated once per
batch rather than once per request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
from sqlalchemy import (
    text,
)

from videolikes.db.driver import Numbered
from videolikes.identity import ClientKeys
from videolikes.likes.changes import LikeChange
from videolikes.likes.folding import FoldedRun, LikeOp, Rating, creates_rating, fold, op_map
from videolikes.metrics import record_legacy_moves
from videolikes.users.repository import (
    new_username,
)


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
# other in one direction only; and only for writes to videos that exist.
_NEW_USERS = """
    INSERT INTO users (id, ip_hash, username)
    SELECT gen_random_uuid(), new.ip_hash, min(new.username)
    FROM unnest(
        CAST(:ip_hashes AS text[]), CAST(:usernames AS text[]), CAST(:video_ids AS text[])
    )
         AS new(ip_hash, username, video_id)
    WHERE EXISTS (SELECT 1 FROM videos WHERE videos.id = new.video_id){and_not_moved}
    GROUP BY new.ip_hash
    ORDER BY new.ip_hash
    ON CONFLICT (ip_hash) DO NOTHING
"""
_CREATE_USERS = Numbered.of(text(_NEW_USERS.format(and_not_moved="")))

# On an adopted database, the batch's clients that the original knew and that have no user of
# their own yet are first moved to their own hash: their rows are locked in key order, so two
# batches moving the same users queue in one direction, and a mover that waited on a row
# another batch just moved finds it no longer under the legacy key. One client per own hash:
# IPv6 addresses of one prefix share it. Answers how many users it moved. Only batches that
# carry legacy keys send it: planned per execution, it costs more than the plain insert.
_MOVE_LEGACY_USERS = """
    WITH wanted AS (
        SELECT DISTINCT ON (w.ip_hash) w.ip_hash, w.legacy_hash
        FROM unnest(CAST(:known_ip_hashes AS text[]), CAST(:legacy_hashes AS text[]))
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
    ), created AS ({new_users})
    SELECT count(*) FROM moved
"""
_MOVED = "\n      AND new.ip_hash NOT IN (SELECT ip_hash FROM moved)"
_MOVE_AND_CREATE_USERS = Numbered.of(
    text(_MOVE_LEGACY_USERS.format(new_users=_NEW_USERS.format(and_not_moved=_MOVED)))
)

# One row per write whose video exists: whether it found a like, removed it, added one.
_WRITE_LIKES = Numbered.of(
    text(
        "SELECT * FROM videolikes_write_likes(CAST(:positions AS int[]), CAST(:ops AS text[]), "
        "CAST(:video_ids AS text[]), CAST(:ip_hashes AS text[]))"
    )
)
# With dislikes on: one row per write whose video exists, the rating it found and the one it
# left. Each write is its folded map of the rating, as its three columns.
_WRITE_RATINGS = Numbered.of(
    text(
        "SELECT * FROM videolikes_write_ratings(CAST(:positions AS int[]), "
        "CAST(:from_none AS boolean[]), CAST(:from_liked AS boolean[]), "
        "CAST(:from_disliked AS boolean[]), CAST(:video_ids AS text[]), CAST(:ip_hashes AS text[]))"
    )
)

# What write_likes sends, in order.
LIKE_WRITE_STATEMENTS = (_CREATE_USERS, _WRITE_LIKES)

_NOT_FOUND = LikeChange(video_found=False, rating=None, changed=False)


async def write_likes(
    conn: asyncpg.Connection, writes: Sequence[LikeWrite], *, dislikes: bool = False
) -> list[LikeChange]:
    """Apply a batch of like writes; one change per write, in order.

    The writes of one client to one video are folded into one (videolikes.likes.folding), so the
    statements see each pair once, and each of those writes is answered as if it had run alone,
    in batch order. With dislikes off the writes go to videolikes_write_likes(), which sees
    like rows only; with them on to videolikes_write_ratings(), which sees both.
    """
    runs: dict[tuple[str, str], list[int]] = {}
    for n, write in enumerate(writes):
        runs.setdefault((write.client.ip_hash, write.video_id), []).append(n)
    pairs = list(runs)
    folded = [fold([writes[n].op for n in runs[pair]], dislikes=dislikes) for pair in pairs]
    await _create_users(conn, writes, dislikes=dislikes)
    apply = _write_ratings if dislikes else _write_like_rows
    outcomes = await apply(conn, pairs, folded)
    # A write without an outcome: its video does not exist.
    changes = [_NOT_FOUND] * len(writes)
    for i, found, now in outcomes:
        answers = folded[i].answers(found)
        if now != answers[-1][0]:
            # The write met a row it cannot change (with dislikes off, a dislike): nothing
            # changed.
            answers = [(now, False)] * len(answers)
        for n, (rating, changed) in zip(runs[pairs[i]], answers, strict=True):
            changes[n] = LikeChange(video_found=True, rating=rating, changed=changed)
    return changes


# (position, the rating found, the rating now) for each write whose video exists.
_Outcomes = list[tuple[int, Rating, Rating]]


async def _write_like_rows(
    conn: asyncpg.Connection, pairs: Sequence[tuple[str, str]], folded: Sequence[FoldedRun]
) -> _Outcomes:
    rows = await conn.fetch(
        _WRITE_LIKES.sql,
        *_WRITE_LIKES.args(
            positions=list(range(len(pairs))),
            ops=[_op_name(run) for run in folded],
            video_ids=[video_id for _, video_id in pairs],
            ip_hashes=[ip_hash for ip_hash, _ in pairs],
        ),
    )
    return [
        (
            row["position"],
            True if row["existed"] else None,
            True if row["added"] or (row["existed"] and not row["removed"]) else None,
        )
        for row in rows
    ]


async def _write_ratings(
    conn: asyncpg.Connection, pairs: Sequence[tuple[str, str]], folded: Sequence[FoldedRun]
) -> _Outcomes:
    rows = await conn.fetch(
        _WRITE_RATINGS.sql,
        *_WRITE_RATINGS.args(
            positions=list(range(len(pairs))),
            from_none=[run.state_map[0] for run in folded],
            from_liked=[run.state_map[1] for run in folded],
            from_disliked=[run.state_map[2] for run in folded],
            video_ids=[video_id for _, video_id in pairs],
            ip_hashes=[ip_hash for ip_hash, _ in pairs],
        ),
    )
    return [(row["position"], row["was"], row["rating"]) for row in rows]


async def _create_users(
    conn: asyncpg.Connection, writes: Sequence[LikeWrite], *, dislikes: bool
) -> None:
    """Create the users of the writes that may rate; move the original's users first."""
    creating = [write for write in writes if creates_rating(op_map(write.op, dislikes=dislikes))]
    new_users = {
        "ip_hashes": [write.client.ip_hash for write in creating],
        "usernames": [new_username() for _ in creating],
        "video_ids": [write.video_id for write in creating],
    }
    legacy = [write.client for write in writes if write.client.legacy_hash is not None]
    if legacy:
        moved = await conn.fetchval(
            _MOVE_AND_CREATE_USERS.sql,
            *_MOVE_AND_CREATE_USERS.args(
                known_ip_hashes=[client.ip_hash for client in legacy],
                legacy_hashes=[client.legacy_hash for client in legacy],
                **new_users,
            ),
        )
        record_legacy_moves(moved)
    elif creating:
        await conn.execute(_CREATE_USERS.sql, *_CREATE_USERS.args(**new_users))


def _op_name(run: FoldedRun) -> str:
    return "none" if run.op is None else run.op.value
