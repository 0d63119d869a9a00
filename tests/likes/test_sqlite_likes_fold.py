"""SQLite's like writes, one transaction each, answer what the fold model says of the same run."""

from __future__ import annotations

import itertools

import pytest
from conftest import counter_drift, opened_database, scalar

from videolikes.identity import ClientKeys
from videolikes.likes.folding import LikeOp, fold
from videolikes.likes.stores import SqliteLikes

VIDEO = "DEMO00000001"
RUNS = [list(run) for length in (1, 2, 3) for run in itertools.product(LikeOp, repeat=length)]


@pytest.mark.parametrize("found_liked", [False, True])
async def test_each_run_of_writes_answers_as_the_fold_model(
    sqlite_url: str, found_liked: bool
) -> None:
    async with opened_database(sqlite_url, demo=True) as database:
        store = SqliteLikes(database)
        for n, run in enumerate(RUNS):
            client = ClientKeys(f"client-{found_liked}-{n}")
            if found_liked:
                await store.like(video_id=VIDEO, client=client)
            answers = []
            for op in run:
                write = {LikeOp.TOGGLE: store.toggle, LikeOp.LIKE: store.like}.get(op, store.unlike)
                change = await write(video_id=VIDEO, client=client)
                answers.append((change.liked, change.changed))
            assert answers == fold(run).answers(found_liked), run
        likes = await scalar(database, "SELECT likes FROM videos WHERE id = :id", id=VIDEO)
        expected = sum(fold(run).answers(found_liked)[-1][0] for run in RUNS)
        assert likes == expected
        assert await counter_drift(database) == 0
