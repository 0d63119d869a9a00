"""Like writes on PostgreSQL go in batches: what one batch does, and what it costs."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

import httpx
import pytest
from conftest import (
    RunningApp,
    counter_drift,
    execute,
    make_settings,
    opened_database,
    running_app,
    scalar,
    seed_demo,
)
from metric_samples import sample
from statement_counter import statements_sent

from videolikes.db.units import Database
from videolikes.identity import ClientKeys
from videolikes.likes.changes import LikeChange
from videolikes.likes.folding import LikeOp, fold
from videolikes.likes.repository.batch_writes import LikeWrite, write_likes

VIDEO = "DEMO00000001"
OTHER_VIDEO = "DEMO00000002"
LIKE = f"/api/videos/{VIDEO}/like"


@pytest.fixture
async def pg(postgres_url: str) -> AsyncIterator[Database]:
    async with opened_database(postgres_url, demo=True) as database:
        yield database


async def _write(
    database: Database, *writes: LikeWrite, dislikes: bool = False
) -> list[LikeChange]:
    async with database.driver_connection() as conn:
        return await write_likes(conn, writes, dislikes=dislikes)


def _change(*, rating: bool | None, changed: bool) -> LikeChange:
    return LikeChange(video_found=True, rating=rating, changed=changed)


async def test_one_batch_answers_each_write_as_if_alone(pg: Database) -> None:
    await _write(
        pg,
        LikeWrite(LikeOp.LIKE, VIDEO, ClientKeys("liker")),
        LikeWrite(LikeOp.LIKE, VIDEO, ClientKeys("toggler-off")),
    )
    changes = await _write(
        pg,
        LikeWrite(LikeOp.TOGGLE, VIDEO, ClientKeys("toggler-on")),
        LikeWrite(LikeOp.TOGGLE, VIDEO, ClientKeys("toggler-off")),
        LikeWrite(LikeOp.LIKE, VIDEO, ClientKeys("liker")),
        LikeWrite(LikeOp.LIKE, OTHER_VIDEO, ClientKeys("liker")),
        LikeWrite(LikeOp.UNLIKE, VIDEO, ClientKeys("never-wrote")),
        LikeWrite(LikeOp.TOGGLE, "NO_SUCH_VIDEO", ClientKeys("toggler-on")),
        LikeWrite(LikeOp.UNLIKE, OTHER_VIDEO, ClientKeys("toggler-off")),
    )
    assert changes == [
        _change(rating=True, changed=True),
        _change(rating=None, changed=True),
        _change(rating=True, changed=False),
        _change(rating=True, changed=True),
        _change(rating=None, changed=False),
        LikeChange(video_found=False, rating=None, changed=False),
        _change(rating=None, changed=False),
    ]
    likes = "SELECT likes FROM videos WHERE id = :id"
    assert await scalar(pg, likes, id=VIDEO) == 2
    assert await scalar(pg, likes, id=OTHER_VIDEO) == 1
    assert await counter_drift(pg) == 0
    # Users are made by writes that can like, and only for videos that exist.
    users = await scalar(pg, "SELECT string_agg(ip_hash, ',' ORDER BY ip_hash) FROM users")
    assert users == "liker,toggler-off,toggler-on"


async def test_repeated_writes_of_one_client_to_one_video_are_answered_in_order(
    pg: Database,
) -> None:
    await _write(pg, LikeWrite(LikeOp.LIKE, VIDEO, ClientKeys("liked-before")))
    changes = await _write(
        pg,
        LikeWrite(LikeOp.TOGGLE, VIDEO, ClientKeys("new")),
        LikeWrite(LikeOp.TOGGLE, VIDEO, ClientKeys("liked-before")),
        LikeWrite(LikeOp.TOGGLE, VIDEO, ClientKeys("new")),
        LikeWrite(LikeOp.TOGGLE, VIDEO, ClientKeys("liked-before")),
        LikeWrite(LikeOp.TOGGLE, VIDEO, ClientKeys("new")),
        LikeWrite(LikeOp.UNLIKE, VIDEO, ClientKeys("liked-before")),
        LikeWrite(LikeOp.UNLIKE, VIDEO, ClientKeys("unlike-only")),
        LikeWrite(LikeOp.UNLIKE, VIDEO, ClientKeys("unlike-only")),
    )
    assert changes == [
        _change(rating=True, changed=True),
        _change(rating=None, changed=True),
        _change(rating=None, changed=True),
        _change(rating=True, changed=True),
        _change(rating=True, changed=True),
        _change(rating=None, changed=True),
        _change(rating=None, changed=False),
        _change(rating=None, changed=False),
    ]
    liked = (
        "SELECT string_agg(u.ip_hash, ',') FROM video_likes AS l"
        " JOIN users AS u ON u.id = l.user_id"
    )
    assert await scalar(pg, liked) == "new"
    assert await scalar(pg, "SELECT likes FROM videos WHERE id = :id", id=VIDEO) == 1
    assert await scalar(pg, "SELECT count(*) FROM users WHERE ip_hash = 'unlike-only'") == 0


async def test_a_batch_never_takes_a_counter_below_zero(pg: Database) -> None:
    await _write(
        pg,
        LikeWrite(LikeOp.LIKE, VIDEO, ClientKeys("a")),
        LikeWrite(LikeOp.LIKE, VIDEO, ClientKeys("b")),
    )
    await execute(pg, "UPDATE videos SET likes = 1 WHERE id = :id", id=VIDEO)
    await _write(
        pg,
        LikeWrite(LikeOp.UNLIKE, VIDEO, ClientKeys("a")),
        LikeWrite(LikeOp.TOGGLE, VIDEO, ClientKeys("b")),
    )
    assert await scalar(pg, "SELECT likes FROM videos WHERE id = :id", id=VIDEO) == 0


async def test_a_lone_request_costs_one_write_statement(postgres_url: str) -> None:
    async with running_app(make_settings(postgres_url)) as api, api.client() as client:
        database = api.app.state.services.database
        await seed_demo(database)
        await client.put(f"/api/videos/{OTHER_VIDEO}/like")
        for method in ("POST", "PUT", "DELETE"):
            async with statements_sent(database) as sent:
                assert (await client.request(method, LIKE)).status_code == 200
            # The user upsert (not for DELETE), then the write: locks, likes and counter.
            assert len(sent) == (2 if method != "DELETE" else 1)
            assert sent[-1].startswith("SELECT * FROM videolikes_write_likes(")
        async with statements_sent(database) as sent:
            assert (await client.get(LIKE)).status_code == 200
        assert len(sent) == 1


async def test_writes_that_arrive_together_share_statements(postgres_url: str) -> None:
    writers = 40
    async with running_app(make_settings(postgres_url)) as api:
        database = api.app.state.services.database
        await seed_demo(database)
        async with api.client() as client:
            before = (await client.get("/metrics")).text
            async with statements_sent(database) as sent:
                responses = await asyncio.gather(*(_toggle_as(api, n) for n in range(writers)))
            after = (await client.get("/metrics")).text
        assert [r.json() for r in responses] == [{"userLike": True}] * writers
        batches = sum(
            statement.startswith("SELECT * FROM videolikes_write_likes(") for statement in sent
        )
        assert 1 <= batches <= writers // 4

        def delta(name: str) -> float:
            return sample(after, name, kind="write") - sample(before, name, kind="write")

        assert delta("videolikes_like_batch_size_count") == batches
        assert delta("videolikes_like_batch_size_sum") == writers
        likes = await scalar(database, "SELECT likes FROM videos WHERE id = :id", id=VIDEO)
        assert likes == writers
        assert await counter_drift(database) == 0


async def test_status_reads_that_arrive_together_share_statements(postgres_url: str) -> None:
    readers = 40
    async with running_app(make_settings(postgres_url)) as api:
        database = api.app.state.services.database
        await seed_demo(database)
        await _toggle_as(api, 0)
        paths = [LIKE, f"/api/videos/{OTHER_VIDEO}/like", "/api/videos/NO_SUCH_VIDEO/like"]
        async with statements_sent(database) as sent:
            responses = await asyncio.gather(
                *(_read_as(api, n % 2, paths[n % 3]) for n in range(readers))
            )
        expected = [
            (404, {"error": "Video not found"})
            if n % 3 == 2
            else (200, {"userLike": True if (n % 2, n % 3) == (0, 0) else None})
            for n in range(readers)
        ]
        assert [(r.status_code, r.json()) for r in responses] == expected
        assert 1 <= len(sent) <= readers // 4


async def _toggle_as(api: RunningApp, n: int) -> httpx.Response:
    async with api.client(f"198.51.100.{n + 1}") as client:
        return await client.post(LIKE)


async def _read_as(api: RunningApp, n: int, path: str) -> httpx.Response:
    async with api.client(f"198.51.100.{n + 1}") as client:
        return await client.get(path)


@pytest.mark.parametrize("found", [None, True, False])
async def test_with_dislikes_one_batch_answers_every_run_as_the_fold_model(
    pg: Database, found: bool | None
) -> None:
    runs = [list(run) for length in (1, 2, 3) for run in itertools.product(LikeOp, repeat=length)]
    clients = [ClientKeys(f"rater-{n}") for n in range(len(runs))]
    if found is not None:
        op = LikeOp.LIKE if found else LikeOp.DISLIKE
        await _write(pg, *(LikeWrite(op, VIDEO, client) for client in clients), dislikes=True)
    # Every run's writes in one batch, the runs interleaved.
    writes = [
        (n, LikeWrite(op, VIDEO, clients[n]))
        for step in range(3)
        for n, run in enumerate(runs)
        for op in run[step : step + 1]
    ]
    changes = await _write(pg, *(write for _, write in writes), dislikes=True)
    answers: dict[int, list[tuple[bool | None, bool]]] = {}
    for (n, _), change in zip(writes, changes, strict=True):
        answers.setdefault(n, []).append((change.rating, change.changed))
    for n, run in enumerate(runs):
        assert answers[n] == fold(run, dislikes=True).answers(found), run
    finals = [fold(run, dislikes=True).answers(found)[-1][0] for run in runs]
    counters = await scalar(
        pg, "SELECT likes || ',' || dislikes FROM videos WHERE id = :id", id=VIDEO
    )
    assert counters == f"{finals.count(True)},{finals.count(False)}"
    assert await counter_drift(pg) == 0


async def test_with_dislikes_off_a_dislike_row_is_left_alone(pg: Database) -> None:
    await _write(pg, LikeWrite(LikeOp.DISLIKE, VIDEO, ClientKeys("disliker")), dislikes=True)
    changes = await _write(
        pg,
        LikeWrite(LikeOp.TOGGLE, VIDEO, ClientKeys("disliker")),
        LikeWrite(LikeOp.LIKE, OTHER_VIDEO, ClientKeys("disliker")),
    )
    changes += await _write(pg, LikeWrite(LikeOp.LIKE, VIDEO, ClientKeys("disliker")))
    changes += await _write(pg, LikeWrite(LikeOp.UNLIKE, VIDEO, ClientKeys("disliker")))
    assert changes == [
        _change(rating=None, changed=False),
        _change(rating=True, changed=True),
        _change(rating=None, changed=False),
        _change(rating=None, changed=False),
    ]
    row = "SELECT likes || ',' || dislikes FROM videos WHERE id = :id"
    assert await scalar(pg, row, id=VIDEO) == "0,1"
    assert await counter_drift(pg) == 0
