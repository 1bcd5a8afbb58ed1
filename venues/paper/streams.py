"""Subscriber streams of the paper venue: :class:`PaperStream`, one bounded queue each.

Moved from :mod:`venues.paper.venue` (which re-exports it). ``PaperVenue.stream_marks`` and
``PaperVenue.stream_account`` hand these out; an overflowing account stream ends with
``venues.errors.TransportError``, as a dropped websocket would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, TypeVar

from venues.errors import TransportError

__all__ = ["PaperStream"]

_T = TypeVar("_T")


class PaperStream(Generic[_T]):
    """Async iterator over one subscriber's bounded ``asyncio.Queue``.

    Subscribed when created (not on first read), so nothing published between the call and
    the first ``await`` is lost. ``drop_oldest`` streams (marks: only the latest price matters)
    discard the oldest event when full; the others (account events, which must not be lost
    silently) stop accepting events and raise ``TransportError`` once drained, like a dropped
    websocket: the consumer must reconcile with ``fetch_*`` and subscribe again.

    Parameters
    ----------
    maxsize : int
        Queue capacity, events.
    drop_oldest : bool
        Overflow policy (see above).
    venue : str
        Venue name carried by the overflow ``TransportError``.
    on_close : Callable[[], object]
        Called once when the stream ends, to unsubscribe it from the venue.
    """

    def __init__(
        self, maxsize: int, *, drop_oldest: bool, venue: str, on_close: Callable[[], object]
    ) -> None:
        self._queue: asyncio.Queue[_T | None] = asyncio.Queue(maxsize)
        self._drop_oldest = drop_oldest
        self._venue = venue
        self._on_close = on_close
        self._ended = False
        self._overflowed = False

    def __aiter__(self) -> PaperStream[_T]:
        return self

    async def __anext__(self) -> _T:
        if self._queue.empty():
            if self._overflowed:
                raise TransportError(
                    "account stream overflowed: events were lost; reconcile and resubscribe",
                    venue=self._venue,
                )
            if self._ended:
                raise StopAsyncIteration
        item = await self._queue.get()
        if item is None:
            raise StopAsyncIteration
        return item

    def push(self, item: _T) -> None:
        """Queue ``item`` for the consumer (see the class docstring for a full queue)."""
        if self._ended:
            return
        if self._queue.full():
            if not self._drop_oldest:
                self._overflowed = True
                self.end()
                return
            self._queue.get_nowait()
        self._queue.put_nowait(item)

    def end(self) -> None:
        """Finish the stream after the queued events; unsubscribe. Idempotent."""
        if self._ended:
            return
        self._ended = True
        self._on_close()
        if not self._queue.full():  # wake a waiting consumer; a full queue has none waiting
            self._queue.put_nowait(None)

    async def aclose(self) -> None:
        """Stop consuming: unsubscribe and end the stream."""
        self.end()
