"""Dynamic batching: items submitted concurrently are run together, a batch at a time, in a thread.

A worker takes the first waiting item, waits up to ``wait_s`` for more (at most ``max_batch``), and
runs ``process(items)`` in a worker thread, so the event loop keeps accepting requests while a model
works. Several workers let batches overlap (a reader that batches further on its own side).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")


@dataclass(frozen=True)
class Batched(Generic[Out]):
    """One item's output, with the seconds its batch ran and how many items the batch had."""

    output: Out
    run_s: float
    batch_size: int


class Batcher(Generic[In, Out]):
    """Runs ``process`` (a list of items -> one output per item) over batches of submitted items."""

    def __init__(
        self,
        process: Callable[[Sequence[In]], Sequence[Out]],
        *,
        max_batch: int,
        wait_s: float,
        workers: int = 1,
    ) -> None:
        if max_batch < 1 or workers < 1:
            raise ValueError("max_batch and workers must be at least 1")
        self._process = process
        self._max_batch = max_batch
        self._wait_s = wait_s
        self._workers = workers
        self._queue: asyncio.Queue[tuple[In, asyncio.Future[Batched[Out]]]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Start the workers on the running event loop."""
        self._tasks = [asyncio.create_task(self._work()) for _ in range(self._workers)]

    async def stop(self) -> None:
        """Stop the workers (a batch running in a thread finishes there; its results are dropped)."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def submit(self, item: In) -> Batched[Out]:
        """Queue ``item`` and wait for its output, or the exception it raised (a batch that raises is run
        again item by item, so the other items of the batch still get their outputs)."""
        future: asyncio.Future[Batched[Out]] = asyncio.get_running_loop().create_future()
        await self._queue.put((item, future))
        return await future

    async def _take(self) -> list[tuple[In, asyncio.Future[Batched[Out]]]]:
        batch = [await self._queue.get()]
        if self._wait_s > 0 and self._queue.qsize() < self._max_batch - 1:
            # A plain sleep, then a non-blocking drain: asyncio.wait_for around Queue.get can lose
            # an item on Python 3.11 when the timeout and the item arrive together.
            await asyncio.sleep(self._wait_s)
        while len(batch) < self._max_batch:
            try:
                batch.append(self._queue.get_nowait())
            except asyncio.QueueEmpty:
                break
        return [(item, future) for item, future in batch if not future.done()]  # done: the client left

    async def _work(self) -> None:
        while True:
            batch = await self._take()
            if not batch:
                continue
            started = time.perf_counter()
            try:
                outputs = await asyncio.to_thread(self._process, [item for item, _ in batch])
            except Exception as error:
                if len(batch) == 1:
                    _fail(batch[0][1], error)
                    continue
                await self._one_by_one(batch)  # only the items that raise again fail
                continue
            run_s = time.perf_counter() - started
            for (_, future), output in zip(batch, outputs, strict=True):
                if not future.done():
                    future.set_result(Batched(output, run_s, len(batch)))

    async def _one_by_one(self, batch: list[tuple[In, asyncio.Future[Batched[Out]]]]) -> None:
        """A failed batch's items again, each alone and concurrently: one bad item fails only itself."""

        async def alone(item: In, future: asyncio.Future[Batched[Out]]) -> None:
            started = time.perf_counter()
            try:
                (output,) = await asyncio.to_thread(self._process, [item])
            except Exception as error:
                _fail(future, error)
                return
            if not future.done():
                future.set_result(Batched(output, time.perf_counter() - started, 1))

        await asyncio.gather(*(alone(item, future) for item, future in batch if not future.done()))


def _fail(future: asyncio.Future[Batched[Out]], error: Exception) -> None:
    if not future.done():
        future.set_exception(error)
