"""SQLite's like writes, one transaction each, answer what the fold model says of the same run."""

from __future__ import annotations

import itertools

import pytest
from conftest import counter_drift, opened_database, scalar
from sqlalchemy import text

from videolikes.identity import ClientKeys
from videolikes.likes.folding import LikeOp, Rating, fold
from videolikes.likes.stores import SqliteLikes

VIDEO = "DEMO00000001"
LIKE_OPS = (LikeOp.TOGGLE, LikeOp.LIKE, LikeOp.UNLIKE)
_SETS = {True: LikeOp.LIKE, False: LikeOp.DISLIKE}


@pytest.mark.parametrize("dislikes", [False, True])
@pytest.mark.parametrize("found", [None, True, False])
async def test_each_run_of_writes_answers_as_the_fold_model(
    sqlite_url: str, found: Rating, dislikes: bool
) -> None:
    ops = LikeOp if dislikes else LIKE_OPS
    runs = [list(run) for length in (1, 2, 3) for run in itertools.product(ops, repeat=length)]
    async with opened_database(sqlite_url, demo=True) as database:
        # A dislike to start from is made with dislikes on, as a database keeps it after.
        setter = SqliteLikes(database, dislikes=True)
        store = SqliteLikes(database, dislikes=dislikes)
        for n, run in enumerate(runs):
            client = ClientKeys(f"client-{found}-{n}")
            if found is not None:
                await setter.write(_SETS[found], video_id=VIDEO, client=client)
            answers = []
            for op in run:
                change = await store.write(op, video_id=VIDEO, client=client)
                answers.append((change.rating, change.changed))
            assert answers == fold(run, dislikes=dislikes).answers(found), run
        finals = [fold(run, dislikes=dislikes).answers(found)[-1][0] for run in runs]
        counters = "SELECT likes, dislikes FROM videos WHERE id = :id"
        async with database.read() as conn:
            row = (await conn.execute(text(counters), {"id": VIDEO})).one()
        assert (row.likes, row.dislikes) == (finals.count(True), finals.count(False))
        assert await counter_drift(database) == 0
        assert await scalar(database, "SELECT count(*) FROM video_likes") == len(
            runs
        ) - finals.count(None)
