"""The live venues' account streams, read while a ``mode = "live"`` run trades.

:class:`AccountFeed` opens each live venue's account stream (``Venue.stream_account``: the
Binance USD-M user data stream on its listenKey — created, kept alive every 30 min and renewed
by the client, :mod:`venues.binance.user_stream` — and the spot WebSocket API subscription; the
Bybit private ``order`` + ``execution`` topics; OKX ``orders``; Hyperliquid ``orderUpdates`` /
``userFills``) and keeps what arrives, in arrival order, until the live loop takes it
(:meth:`take`) and hands it to the engine as an :class:`~agent.live.steps.AccountTick`: fills and
order updates are booked as they arrive, the venues' order answers and lookups stay the
fallback (the engine books each trade once, whichever way it came first).

The streams reconnect and resync on their own (each client's documented behaviour); a stream
that gives up with an error is logged (``account_stream_failed``, with the attempt and the wait)
and opened again after a wait that starts at ``retry_s`` and doubles with each failure in a row
up to ``retry_max_s`` (exponential backoff: a venue refusing the subscription is asked again
every 10 minutes, not every 30 s, and a stream that delivered an event starts over at
``retry_s``); a venue without an account stream (``UnsupportedByVenue`` /
``NotImplementedError``: Purple Flea) is logged once (``account_stream_unavailable``) and left
to the REST answers. Nothing here books anything.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from contextlib import suppress

import structlog

from venues.base import AccountEvent, Venue
from venues.errors import UnsupportedByVenue, VenueError

__all__ = ["AccountFeed"]

log = structlog.get_logger("zerobeta.live_feed")


class AccountFeed:
    """The account streams of the live venues (see the module docstring).

    Parameters
    ----------
    venues : Mapping[str, Venue]
        The live trading clients by name (opened and closed by the supervisor).
    retry_s : float
        Wait before opening a stream again after its first failure in a row, seconds.
    retry_max_s : float
        Longest wait: each failure in a row doubles the previous wait up to this, seconds.
    sleep : Callable[[float], Awaitable[None]]
        Waits (``asyncio.sleep``; tests pass a recorder).

    Attributes
    ----------
    arrived : asyncio.Event
        Set whenever an event arrives (the live loop wakes on it); the loop clears it.
    events_received : dict[str, int]
        Events received per venue.
    """

    def __init__(
        self,
        venues: Mapping[str, Venue],
        *,
        retry_s: float = 30.0,
        retry_max_s: float = 600.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._venues = dict(venues)
        self._retry_s = retry_s
        self._retry_max_s = retry_max_s
        self._sleep = sleep
        self._inbox: list[AccountEvent] = []
        self._tasks: list[asyncio.Task[None]] = []
        self.arrived = asyncio.Event()
        self.events_received: dict[str, int] = dict.fromkeys(self._venues, 0)

    def start(self) -> None:
        """Open every venue's account stream in a task of its own (idempotent)."""
        if self._tasks:
            return
        self._tasks = [
            asyncio.create_task(self._pump(name, venue), name=f"live_feed.account.{name}")
            for name, venue in sorted(self._venues.items())
        ]

    async def stop(self) -> None:
        """Close every stream (cancel its task and wait for it)."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with suppress(asyncio.CancelledError):
                await task

    @property
    def total_received(self) -> int:
        """Events received from every venue."""
        return sum(self.events_received.values())

    def take(self) -> tuple[AccountEvent, ...]:
        """Everything received since the last call, in arrival order."""
        events, self._inbox = tuple(self._inbox), []
        return events

    def on_event(self, venue: str, event: AccountEvent) -> None:
        """Keep one event of ``venue``'s stream for the loop."""
        self._inbox.append(event)
        self.events_received[venue] = self.events_received.get(venue, 0) + 1
        self.arrived.set()

    async def _pump(self, name: str, venue: Venue) -> None:
        """Keep ``venue``'s account stream running; it reconnects on its own, this only opens
        it again after an error it gave up on, with exponential backoff (module docstring)."""
        failures = 0
        while True:
            error_text = ""
            try:
                async for event in venue.stream_account():
                    failures = 0  # it worked: the next failure starts over at retry_s
                    self.on_event(name, event)
                log.warning("account_stream_ended", venue=name)
            except (NotImplementedError, UnsupportedByVenue) as error:
                log.warning("account_stream_unavailable", venue=name, reason=str(error))
                return
            except VenueError as error:
                error_text = str(error)
            except Exception as error:  # noqa: BLE001 - a refused handshake must not end the run
                error_text = type(error).__name__
            wait_s = self.retry_wait_s(failures)
            failures += 1
            if error_text:
                log.error(
                    "account_stream_failed",
                    venue=name,
                    error=error_text,
                    attempt=failures,
                    retry_in_s=wait_s,
                )
            await self._sleep(wait_s)

    def retry_wait_s(self, failures: int) -> float:
        """Wait before opening a stream again after ``failures`` earlier failures in a row,
        seconds: ``min(retry_max_s, retry_s × 2 ** failures)``."""
        return min(self._retry_max_s, self._retry_s * 2.0 ** min(failures, 60))
