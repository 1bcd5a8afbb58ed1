"""One async stream made of several, interleaved in arrival order: :func:`merge`.

A venue that serves one logical stream over several connections merges them here: Binance's
USD-M and spot marks (and its USD-M and spot user data streams), Bybit's linear and spot
tickers. Nothing here knows about websockets or venues; the sources are any async iterators
(in practice the venue streams built on :func:`venues.ws.stream`).

How it runs: each source is read by one task (named ``<name>.<i>``) of an
``asyncio.TaskGroup`` owned by the merged generator, which takes the items off one queue in
the order the sources produced them. No task outlives the iteration: whether the merged
stream ends, fails, is closed (``aclose``) or is cancelled, every source task is cancelled
and awaited, and every source that is an async generator is closed, before control returns.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Ended:
    """Queue marker: a source ended, by exhaustion (``error`` is ``None``) or with ``error``."""

    error: Exception | None = None


async def merge(
    sources: Sequence[AsyncIterator[T]],
    *,
    name: str,
    read_ahead: int | None = 1,
    end_with_sources: bool = True,
) -> AsyncGenerator[T, None]:
    """Yield the items of every source as they arrive.

    Parameters
    ----------
    sources : Sequence[AsyncIterator[T]]
        The streams to interleave. Each item is yielded once, in the order the sources
        produced them; the items of one source keep their order.
    name : str
        Prefix of the reader tasks' names: the task reading ``sources[i]`` is ``<name>.<i>``
        (``binance.merge.0``, ``bybit.ws.marks.1``).
    read_ahead : int | None
        At most this many items of one source are read before the consumer has taken them
        (default 1: the next item of a source is requested as soon as its previous item is
        handed on, so a slow consumer holds each source back). ``None``: no bound, every
        source is drained as fast as it produces and its items wait in memory.
    end_with_sources : bool
        True (default): the merged stream ends once every source has ended (at once if there
        is none); a source that ends early just stops contributing. False: after every
        source has ended, or with no source at all, the merged stream waits without end
        until it is closed or cancelled.

    Yields
    ------
    T
        The sources' items.

    Raises
    ------
    ValueError
        If ``read_ahead`` is less than 1.
    Exception
        The first error a source raises, unchanged (not wrapped in an ``ExceptionGroup``),
        after the other sources' reads were cancelled and the sources closed. Items that
        arrived before the error are yielded first; the rest are dropped, and so are errors
        raised by other sources while they are cancelled. ``asyncio.CancelledError`` of the
        consumer propagates (after the same clean-up).
    """
    if read_ahead is not None and read_ahead < 1:
        raise ValueError(f"read_ahead must be at least 1 or None, got {read_ahead}")
    queue: asyncio.Queue[tuple[int, T | _Ended]] = asyncio.Queue()
    credits = [None if read_ahead is None else asyncio.Semaphore(read_ahead) for _ in sources]

    error: Exception | None = None
    live = len(sources)
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [
                group.create_task(_read(source, i, queue, credits[i]), name=f"{name}.{i}")
                for i, source in enumerate(sources)
            ]
            try:
                while error is None and (live > 0 or not end_with_sources):
                    index, outcome = await queue.get()
                    if isinstance(outcome, _Ended):
                        live -= 1
                        error = outcome.error
                        continue
                    credit = credits[index]
                    if credit is not None:
                        credit.release()  # the source may read its next item meanwhile
                    try:
                        yield outcome
                    except GeneratorExit:
                        break  # closed by the consumer: leave the group without an error
            finally:
                for task in tasks:
                    task.cancel()
    finally:
        await _close(sources)
    if error is not None:
        raise error


async def _read(
    source: AsyncIterator[T],
    index: int,
    queue: asyncio.Queue[tuple[int, T | _Ended]],
    credit: asyncio.Semaphore | None,
) -> None:
    """Put each item of ``source`` on ``queue`` as ``(index, item)`` (taking one ``credit``
    before each read, if any), then ``(index, _Ended(error))`` once the source ends."""
    try:
        while True:
            if credit is not None:
                await credit.acquire()
            try:
                item = await anext(source)
            except StopAsyncIteration:
                break
            queue.put_nowait((index, item))
    except Exception as e:  # noqa: BLE001  # not swallowed: raised by the consumer
        queue.put_nowait((index, _Ended(e)))
        return
    queue.put_nowait((index, _Ended()))


async def _close(sources: Sequence[AsyncIterator[object]]) -> None:
    """Close every source that is an async generator (a no-op for one that has finished)."""
    for source in sources:
        if isinstance(source, AsyncGenerator):
            await source.aclose()
