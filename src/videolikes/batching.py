"""Natural batching: what arrives while one batch is being written goes together in the next.

Nothing waits for a timer or a size: a lone request is written at once, and under load one
write serves every request that queued behind the one before it. Each item's caller gets its
own result, or the error that sank its batch.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

_Waiting = tuple[Item, "asyncio.Future[Result]"]


class Batcher(Generic[Item, Result]):
    """Writes items in batches, one batch at a time, through `write`.

    `write` gets at most `max_size` items, in the order they were submitted, and returns one
    result per item, in order.
    """

    def __init__(
        self,
        write: Callable[[Sequence[Item]], Awaitable[Sequence[Result]]],
        *,
        max_size: int,
    ) -> None:
        self._write = write
        self._max_size = max_size
        self._waiting: deque[_Waiting[Item, Result]] = deque()
        self._runner: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._runner is None:
            self._runner = asyncio.create_task(self._run())
        return await future

    async def aclose(self) -> None:
        """Wait until every item submitted so far has been written."""
        if self._runner is not None:
            await self._runner

    async def _run(self) -> None:
        try:
            while self._waiting:
                await self._write_batch(self._take_batch())
        finally:
            self._runner = None

    def _take_batch(self) -> list[_Waiting[Item, Result]]:
        batch: list[_Waiting[Item, Result]] = []
        while self._waiting and len(batch) < self._max_size:
            waiting = self._waiting.popleft()
            # A caller that went away (a client that hung up) before its write was sent.
            if not waiting[1].done():
                batch.append(waiting)
        return batch

    async def _write_batch(self, batch: list[_Waiting[Item, Result]]) -> None:
        if not batch:
            return
        try:
            results = await self._write([item for item, _ in batch])
        except Exception as exc:  # each caller gets the error its batch met
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        except BaseException:
            # Cancelled with the event loop: nobody may be left waiting for ever.
            for _, future in batch:
                future.cancel()
            raise
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
