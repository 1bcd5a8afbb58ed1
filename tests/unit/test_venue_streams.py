"""``venues.streams.merge`` against real async generators, driven one step at a time through
queues and events (no sleeps): arrival order, end, errors, closing, cancellation, read-ahead."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing

import pytest

from venues.errors import ProtocolError
from venues.streams import merge

END = object()


class Source:
    """An async generator the test feeds: a value put on :attr:`queue` is yielded (prefixed
    with the label), :data:`END` ends it, an exception is raised from it."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.queue: asyncio.Queue[object] = asyncio.Queue()
        self.waiting = asyncio.Event()  # it has asked for a value
        self.closed = asyncio.Event()  # its ``finally`` ran

    async def items(self) -> AsyncGenerator[str, None]:
        try:
            while True:
                self.waiting.set()
                value = await self.queue.get()
                if value is END:
                    return
                if isinstance(value, Exception):
                    raise value
                yield f"{self.label}{value}"
        finally:
            self.closed.set()


def only_this_task_left() -> bool:
    return asyncio.all_tasks() == {asyncio.current_task()}


async def next_in_task(merged: AsyncIterator[str]) -> asyncio.Task[str]:
    """A task awaiting ``anext(merged)``, returned once it has run its first step."""
    started = asyncio.Event()

    async def take() -> str:
        started.set()
        return await anext(merged)

    task = asyncio.create_task(take())
    await started.wait()  # set in take()'s first step, so that step has finished
    return task


async def test_items_come_in_arrival_order() -> None:
    a, b = Source("a"), Source("b")
    async with aclosing(merge([a.items(), b.items()], name="t")) as merged:
        for source, value in [(a, 1), (b, 1), (b, 2), (a, 2)]:
            source.queue.put_nowait(value)
            assert await anext(merged) == f"{source.label}{value}"
        a.queue.put_nowait(3)  # a resumes first (FIFO wake-ups), so a3 arrives first
        b.queue.put_nowait(3)
        assert [await anext(merged), await anext(merged)] == ["a3", "b3"]


async def test_a_source_that_ends_stops_contributing_and_the_last_end_ends_the_merge() -> None:
    a, b = Source("a"), Source("b")
    merged = merge([a.items(), b.items()], name="t")
    a.queue.put_nowait(END)
    b.queue.put_nowait(1)
    assert await anext(merged) == "b1"
    await a.closed.wait()
    b.queue.put_nowait(2)
    assert await anext(merged) == "b2"
    b.queue.put_nowait(END)
    with pytest.raises(StopAsyncIteration):
        await anext(merged)
    assert b.closed.is_set()
    assert only_this_task_left()


async def test_no_source_ends_at_once() -> None:
    no_source: list[AsyncIterator[str]] = []
    assert [item async for item in merge(no_source, name="t")] == []


async def test_the_first_error_is_raised_unchanged_after_the_items_before_it() -> None:
    a, b, c = Source("a"), Source("b"), Source("c")
    error = ProtocolError("bad frame", venue="test")
    merged = merge([a.items(), b.items(), c.items()], name="t")
    a.queue.put_nowait(1)
    b.queue.put_nowait(error)
    c.queue.put_nowait(ProtocolError("later error", venue="test"))
    assert await anext(merged) == "a1"
    with pytest.raises(ProtocolError) as raised:
        await anext(merged)
    assert raised.value is error  # not wrapped in an ExceptionGroup, not the later one
    assert a.closed.is_set()  # a was cancelled while waiting for its next value
    assert c.closed.is_set()
    assert only_this_task_left()
    with pytest.raises(StopAsyncIteration):  # the merged stream is over
        await anext(merged)


async def test_closing_early_closes_every_source_and_leaves_no_task() -> None:
    a, b = Source("a"), Source("b")
    for value in (1, 2, 3):
        a.queue.put_nowait(value)
    async with aclosing(merge([a.items(), b.items()], name="t")) as merged:
        assert await anext(merged) == "a1"
        await b.waiting.wait()
        names = {task.get_name() for task in asyncio.all_tasks()}
        assert {"t.0", "t.1"} <= names
    assert a.closed.is_set()  # held at a yield (read-ahead used up): closed by aclose()
    assert b.closed.is_set()  # waiting for a value: its read was cancelled
    assert only_this_task_left()


async def test_cancelling_the_consumer_cancels_and_closes_the_sources() -> None:
    a, b = Source("a"), Source("b")
    merged = merge([a.items(), b.items()], name="t")
    consumer = await next_in_task(merged)
    await a.waiting.wait()
    await b.waiting.wait()
    consumer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await consumer
    assert a.closed.is_set()
    assert b.closed.is_set()
    assert only_this_task_left()


async def _counted(produced: list[int], count: int) -> AsyncGenerator[int, None]:
    for n in range(count):
        produced.append(n)
        yield n


@pytest.mark.parametrize("read_ahead", [1, 3])
async def test_a_source_runs_at_most_read_ahead_items_ahead(read_ahead: int) -> None:
    produced: list[int] = []
    merged = merge([_counted(produced, 10)], name="t", read_ahead=read_ahead)
    async with aclosing(merged):
        for n in range(10):
            assert await anext(merged) == n
            assert len(produced) - (n + 1) <= read_ahead
    assert produced == list(range(10))


async def test_without_read_ahead_bound_a_source_is_drained_at_once() -> None:
    produced: list[int] = []
    drained = asyncio.Event()

    async def source() -> AsyncGenerator[int, None]:
        async for n in _counted(produced, 10):
            yield n
        drained.set()

    async with aclosing(merge([source()], name="t", read_ahead=None)) as merged:
        assert await anext(merged) == 0
        await drained.wait()  # read to its end while the consumer holds the first item
        assert produced == list(range(10))
        assert [n async for n in merged] == list(range(1, 10))


async def test_read_ahead_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="read_ahead"):
        await anext(merge([], name="t", read_ahead=0))


async def test_without_end_with_sources_the_merge_waits_after_the_sources() -> None:
    # With no source, the default merge ends within the first step of the task iterating it
    # (nothing to wait for); end_with_sources=False keeps it waiting until cancelled.
    consumer = await next_in_task(merge([], name="t", end_with_sources=False))
    assert not consumer.done()
    consumer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await consumer
    assert only_this_task_left()

    ended = await next_in_task(merge([], name="t"))
    assert ended.done()
    with pytest.raises(StopAsyncIteration):
        await ended
