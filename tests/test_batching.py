"""The Batcher on its own: who shares a batch, who waits, and who hears of an error."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from videolikes.batching import Batcher


class Recorder:
    """A write that records each batch and can be held until released."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.release = asyncio.Event()
        self.release.set()
        self.fail_with: Exception | None = None

    async def write(self, items: Sequence[str]) -> list[str]:
        self.batches.append(list(items))
        await self.release.wait()
        if self.fail_with is not None:
            raise self.fail_with
        return [item.upper() for item in items]


def _batcher(recorder: Recorder, max_size: int = 100) -> Batcher[str, str]:
    return Batcher(recorder.write, max_size=max_size)


async def _started(batcher: Batcher[str, str], item: str) -> asyncio.Task[str]:
    task = asyncio.create_task(batcher.submit(item))
    await asyncio.sleep(0)
    return task


async def test_what_arrives_during_a_write_goes_together_in_the_next() -> None:
    recorder = Recorder()
    recorder.release.clear()
    batcher = _batcher(recorder)
    first = await _started(batcher, "a1")
    rest = [await _started(batcher, item) for item in ("b1", "c1", "d1")]
    recorder.release.set()
    assert await asyncio.gather(first, *rest) == ["A1", "B1", "C1", "D1"]
    assert recorder.batches == [["a1"], ["b1", "c1", "d1"]]


async def test_a_batch_is_at_most_max_size() -> None:
    recorder = Recorder()
    recorder.release.clear()
    batcher = _batcher(recorder, max_size=2)
    tasks = [await _started(batcher, item) for item in ("a1", "b1", "c1", "d1", "e1")]
    recorder.release.set()
    await asyncio.gather(*tasks)
    assert recorder.batches == [["a1"], ["b1", "c1"], ["d1", "e1"]]


async def test_an_error_reaches_every_caller_of_its_batch_and_the_next_batch_runs() -> None:
    recorder = Recorder()
    recorder.release.clear()
    batcher = _batcher(recorder)
    blocker = await _started(batcher, "z1")
    doomed = [await _started(batcher, item) for item in ("a1", "b1")]
    recorder.fail_with = RuntimeError("database gone")
    recorder.release.set()
    results = await asyncio.gather(blocker, *doomed, return_exceptions=True)
    assert [str(result) for result in results] == ["database gone"] * 3
    recorder.fail_with = None
    assert await batcher.submit("c1") == "C1"


async def test_a_caller_that_leaves_before_its_batch_is_sent_is_not_written() -> None:
    recorder = Recorder()
    recorder.release.clear()
    batcher = _batcher(recorder)
    blocker = await _started(batcher, "z1")
    leaving = await _started(batcher, "a1")
    staying = await _started(batcher, "b1")
    leaving.cancel()
    recorder.release.set()
    assert [await blocker, await staying] == ["Z1", "B1"]
    with pytest.raises(asyncio.CancelledError):
        await leaving
    assert recorder.batches == [["z1"], ["b1"]]


async def test_aclose_returns_once_everything_submitted_is_written() -> None:
    recorder = Recorder()
    recorder.release.clear()
    batcher = _batcher(recorder)
    tasks = [await _started(batcher, item) for item in ("a1", "a2")]
    closing = asyncio.create_task(batcher.aclose())
    await asyncio.sleep(0.01)
    assert not closing.done()
    recorder.release.set()
    await closing
    assert recorder.batches == [["a1"], ["a2"]]
    assert [task.result() for task in tasks] == ["A1", "A2"]
