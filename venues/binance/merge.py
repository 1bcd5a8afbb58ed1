"""Interleave several async streams into one, in arrival order, without background tasks
outliving the iteration (used to serve perp and spot marks from one ``stream_marks``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import TypeVar

T = TypeVar("T")


async def merge_streams(sources: Sequence[AsyncIterator[T]]) -> AsyncGenerator[T, None]:
    """Yield items of every source as they arrive; end when all sources end.

    Each source has at most one pending ``__anext__`` at a time, awaited in a task owned by
    this generator: when the caller stops iterating (or a source raises), every pending task
    is cancelled and awaited, and every source that is an async generator is closed, before
    this generator returns. The first error of a source is raised unchanged (no
    ``ExceptionGroup``), and ``asyncio.CancelledError`` propagates.
    """
    pending: dict[asyncio.Task[T], AsyncIterator[T]] = {}

    def schedule(source: AsyncIterator[T], index: int) -> None:
        task = asyncio.ensure_future(anext(source))
        task.set_name(f"binance.merge.{index}")
        pending[task] = source

    indices = {id(s): i for i, s in enumerate(sources)}
    try:
        for index, source in enumerate(sources):
            schedule(source, index)
        while pending:
            done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in sorted(done, key=lambda t: t.get_name()):
                source = pending.pop(task)
                try:
                    item = task.result()
                except StopAsyncIteration:
                    continue
                schedule(source, indices[id(source)])
                yield item
    finally:
        for task in pending:
            task.cancel()
        # Outcomes of cancelled reads are dropped on purpose: the caller stopped iterating,
        # or another source's error is already propagating.
        await asyncio.gather(*pending, return_exceptions=True)
        for source in sources:
            if isinstance(source, AsyncGenerator):
                await source.aclose()
