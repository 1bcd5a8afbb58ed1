"""Paper-on-live market data: the venues' public REST and websockets turned into the same
hourly steps the replay serves, plus mark ticks between them.

``[market_data] source = "live"`` runs the strategies on exactly what a replay gives them — one
step per hour with the **closed 1h bar** of every instrument and the funding **settled** at that
hour — so the same strategy code trades recorded history, paper-on-live and live:

- at start-up (:meth:`LiveFeed.warmup`) the last ``history_bars`` closed hourly bars and the
  last days of settled funding come from each venue's REST API (``fetch_bars``,
  ``fetch_funding_history``);
- after every full hour plus ``bar_delay_s`` a :class:`LiveStep` is built from REST: the bar that
  just closed and every settlement since the last one seen (a settlement the venue publishes
  late is delivered with the next step, never dropped);
- between steps, every ``mark_every_s`` a :class:`MarkTick` carries the newest mark prices
  from the venues' websocket streams (``stream_marks``) so positions are marked and the
  drawdown breakers checked within a minute, not an hour. Marks are kept per instrument only
  when newer than the last one: a reconnect's replayed or resynced update never moves a
  price back;
- the same streams carry the venues' **predicted** funding rates where the venue sends them
  (``venues.base.MarketStreamSource.stream_market``: Binance ``markPriceUpdate`` ``r``/``T``,
  Bybit linear tickers, Hyperliquid ``activeAssetCtx``, OKX ``funding-rate``): a
  :class:`FundingTick` hands the changed ones to the engine as they arrive (at most one tick
  every ``FUNDING_TICK_MIN_S``), so the funding-flip monitor can act before a settlement. They
  are estimates: only the settled rates of a :class:`LiveStep` are ever settled or booked;
- ``mode = "live"``: the account streams' fills and order updates (:mod:`agent.live.account_feed`)
  as an :class:`AccountTick` as soon as they arrive, and the follow-up timers of unresolved
  orders (:mod:`agent.live.timers`) as a :class:`TimerTick` when due.

The loop (:meth:`LiveFeed.events`) sleeps until the next step, mark tick or timer is due, and
wakes at once when predicted funding or an account event arrives. When several are ready it
hands out the step first, then account events, timers, predicted funding and the mark tick.

A bar that the venue has not closed yet is retried ``bar_retries`` times ``bar_retry_s`` apart;
then the instrument's newest streamed mark stands in for its close (logged
``bar_missing_used_mark``), or, with no mark either, the step has no close for it
(``bar_missing``): the engine repeats its previous close in the history so every series stays
hour-aligned, and the market data marks it stale after ``stale_after_s``. Gaps in the start-up
history are filled the same way (every hour between the first and last bar is a step).

Errors: :class:`~agent.errors.LiveDataError` when start-up cannot get what the strategies need
(an instrument the venue does not list, no history); after start-up venue errors are logged
and retried at the next step, never fatal.

The step values, the instrument listing check and the pure shaping of start-up history
(hours → steps, a resume's pending steps) live in :mod:`agent.live.steps`; this module
holds the :class:`LiveFeed` that fetches and streams.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from types import MappingProxyType
from typing import TypeVar

import structlog

from agent.clock import Clock
from agent.errors import LiveDataError
from agent.live.account_feed import AccountFeed
from agent.live.steps import (
    AccountTick,
    FundingTick,
    LiveEvent,
    LiveStep,
    MarkTick,
    TimerTick,
    Warmup,
    load_live_instruments,
    split_pending,
    steps_from_bars,
)
from agent.live.timers import FollowUpTimers
from venues.base import MarketDataSource, MarketStreamSource
from venues.errors import VenueError, is_retryable
from venues.model import (
    HOUR_MS,
    Bar,
    FundingRate,
    Instrument,
    InstrumentId,
    MarkPrice,
)

__all__ = [
    "FUNDING_TICK_MIN_S",
    "HOUR_S",
    "AccountTick",
    "FundingTick",
    "LiveEvent",
    "LiveFeed",
    "LiveStep",
    "MarkTick",
    "SleepFn",
    "TimerTick",
    "Warmup",
    "load_live_instruments",
]

log = structlog.get_logger("zerobeta.live_feed")

SleepFn = Callable[[float], Awaitable[None]]
HOUR_S = 3_600
_T = TypeVar("_T")
_DAY_MS = 86_400_000
FUNDING_TICK_MIN_S = 1.0
"""At most one :class:`FundingTick` per this many seconds (Binance sends a new predicted rate
with every 1 s mark of every perp; the changes in between are kept, the newest per perp)."""


@dataclass(slots=True)
class _Due:
    """When the loop's next mark tick and (with predicted funding waiting) funding tick are
    due, epoch ms."""

    tick_ms: int
    funding_ms: int


class LiveFeed:
    """Hourly steps and mark ticks from real venues, on the wall clock.

    Parameters
    ----------
    sources : Mapping[str, MarketDataSource]
        Open market-data clients by venue name (not closed here).
    instruments : Mapping[InstrumentId, Instrument]
        What to follow (see :func:`load_live_instruments`).
    clock : Clock
        Wall clock, epoch ms UTC.
    sleep : SleepFn
        Waits that many seconds (the supervisor's returns early on a stop request).
    bar_delay_s : float
        Wait after each full hour before fetching its bar and funding, seconds.
    mark_every_s : float
        Interval between mark ticks, seconds.
    bar_retries, bar_retry_s : int, float
        Attempts to get a bar the venue has not closed yet, and the wait between, seconds.
    max_concurrent_requests : int
        REST requests in flight at once while building a step.

    Attributes
    ----------
    on_rest_result : Callable[[str, BaseException | None], None] | None
        Called with the venue name and None after each bar or funding read that succeeded, or
        with its ``VenueError``; set by the supervisor to the engine's venue health.
    """

    def __init__(
        self,
        sources: Mapping[str, MarketDataSource],
        instruments: Mapping[InstrumentId, Instrument],
        *,
        clock: Clock,
        sleep: SleepFn,
        bar_delay_s: float = 15.0,
        mark_every_s: float = 60.0,
        bar_retries: int = 4,
        bar_retry_s: float = 5.0,
        max_concurrent_requests: int = 8,
    ) -> None:
        self._sources = dict(sources)
        self._instruments = dict(instruments)
        self._clock = clock
        self._sleep = sleep
        self._bar_delay_ms = round(bar_delay_s * 1000)
        self._mark_every_ms = round(mark_every_s * 1000)
        self._bar_retries = bar_retries
        self._bar_retry_s = bar_retry_s
        self._gate = asyncio.Semaphore(max_concurrent_requests)
        self._marks: dict[InstrumentId, MarkPrice] = {}
        self._ticked: dict[InstrumentId, int] = {}
        self._last_funding_ms: dict[InstrumentId, int] = {}
        self._predicted: dict[InstrumentId, FundingRate] = {}
        self._next_step_ms: int | None = None
        self.marks_received = 0
        self.marks_dropped = 0
        self.bars_missing = 0
        self.predicted_funding_received = 0
        self.marks_arrived = asyncio.Event()
        self.funding_arrived = asyncio.Event()
        self.on_rest_result: Callable[[str, BaseException | None], None] | None = None

    @property
    def perps(self) -> list[InstrumentId]:
        """Followed perps, in instrument order."""
        return [i for i, inst in self._instruments.items() if inst.is_perp]

    @property
    def latest_marks(self) -> Mapping[InstrumentId, MarkPrice]:
        """Newest streamed mark per instrument (read-only view)."""
        return MappingProxyType(self._marks)

    # ---- start-up ---------------------------------------------------------------------------

    async def warmup(
        self, history_bars: int, funding_days: int, resume_after_ms: int | None = None
    ) -> Warmup:
        """Read the last ``history_bars`` closed hourly bars of every instrument and the last
        ``funding_days`` of settled funding of every perp.

        ``resume_after_ms`` (a resumed run: its last completed step) splits the hours read into
        history (up to it) and :attr:`Warmup.pending` steps after it, which carry the
        settlements published in between (the window is widened to reach back to it).

        Raises
        ------
        LiveDataError
            If a venue refuses a read or an instrument has no bar in the window.
        venues.errors.VenueError
            A retryable one (the venue did not answer), as raised, for the start-up to retry.
        """
        now_ms = self._clock.now_ms()
        last_close_ms = now_ms - now_ms % HOUR_MS
        if now_ms - last_close_ms < self._bar_delay_ms:
            last_close_ms -= HOUR_MS  # the hour that just ended may not be published yet
        start_ms = last_close_ms - max(history_bars, 1) * HOUR_MS
        funding_start_ms = last_close_ms - funding_days * _DAY_MS
        if resume_after_ms is not None:
            start_ms = min(start_ms, resume_after_ms)
            funding_start_ms = min(funding_start_ms, resume_after_ms)
        log.info(
            "live_warmup_started",
            instruments=len(self._instruments),
            history_bars=history_bars,
            funding_days=funding_days,
            resume_after_ms=resume_after_ms,
        )
        ids = list(self._instruments)
        try:
            bars = await asyncio.gather(*(self._bars(i, start_ms, last_close_ms) for i in ids))
            history = await asyncio.gather(
                *(self._funding_between(i, funding_start_ms, last_close_ms + 1) for i in self.perps)
            )
        except VenueError as error:
            if is_retryable(error):
                raise  # the network or the venue is down: the start-up waits and retries
            raise LiveDataError(f"live warm-up failed: {error}") from error
        empty = [str(i) for i, rows in zip(ids, bars, strict=True) if not rows]
        if empty:
            raise LiveDataError(
                "live warm-up: no closed 1h bar in the last "
                f"{history_bars} h for {', '.join(empty)}"
            )
        steps = steps_from_bars(dict(zip(ids, bars, strict=True)))
        funding = sorted(
            (r for rows in history for r in rows), key=lambda r: (r.ts_funding_ms, r.instrument_id)
        )
        for perp, rows in zip(self.perps, history, strict=True):
            self._last_funding_ms[perp] = rows[-1].ts_funding_ms if rows else funding_start_ms
        self._next_step_ms = last_close_ms + HOUR_MS
        warm = Warmup(tuple(steps), tuple(funding))
        if resume_after_ms is not None:
            warm = split_pending(warm, resume_after_ms, self._last_funding_ms)
        log.info(
            "live_warmup_finished",
            steps=len(warm.steps),
            settlements=len(warm.funding),
            pending_steps=len(warm.pending),
        )
        return warm

    # ---- running ----------------------------------------------------------------------------

    async def events(
        self,
        stop: asyncio.Event,
        *,
        account: AccountFeed | None = None,
        timers: FollowUpTimers | None = None,
    ) -> AsyncIterator[LiveEvent]:
        """Yield a :class:`LiveStep` after each full hour and, between steps, :class:`MarkTick`,
        :class:`FundingTick` and — with ``account`` and ``timers`` (``mode = "live"``) —
        :class:`AccountTick` and :class:`TimerTick` (see the module docstring), until ``stop``
        is set. Runs one market-stream task per venue (and ``account``'s streams) while
        iterating.

        Raises
        ------
        RuntimeError
            If :meth:`warmup` was not run first.
        """
        if self._next_step_ms is None:
            raise RuntimeError("LiveFeed.warmup() must run before events()")
        wakers = [self.funding_arrived, *([account.arrived] if account is not None else [])]
        now_ms = self._clock.now_ms()
        due = _Due(tick_ms=now_ms + self._mark_every_ms, funding_ms=now_ms)
        async with self._streaming(account):
            while not stop.is_set():
                for waker in wakers:
                    waker.clear()  # whatever arrives from here on wakes the next wait
                now_ms = self._clock.now_ms()
                if now_ms >= self._next_step_ms + self._bar_delay_ms:
                    yield await self._step(self._next_step_ms)
                    self._next_step_ms += HOUR_MS
                elif (ready := self._ready(now_ms, account, timers, due)) is not None:
                    yield ready
                elif now_ms >= due.tick_ms:
                    due.tick_ms = now_ms + self._mark_every_ms
                    if (tick := self._tick(now_ms)).prices:
                        yield tick
                else:
                    await self._wait(self._wait_s(now_ms, timers, due), wakers)

    @asynccontextmanager
    async def _streaming(self, account: AccountFeed | None) -> AsyncIterator[None]:
        """One market-stream task per venue (and ``account``'s streams) while the block runs;
        all cancelled and awaited when it ends."""
        tasks = [
            asyncio.create_task(self._pump(v, ids), name=f"live_feed.marks.{v}")
            for v, ids in self._ids_by_venue().items()
        ]
        if account is not None:
            account.start()
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with suppress(asyncio.CancelledError):
                    await task
            if account is not None:
                await account.stop()

    def _ready(
        self,
        now_ms: int,
        account: AccountFeed | None,
        timers: FollowUpTimers | None,
        due: _Due,
    ) -> LiveEvent | None:
        """The between-steps event ready at ``now_ms``, by priority: account events, due
        timers, predicted funding (not before ``due.funding_ms``); None if none is."""
        if account is not None and (events := account.take()):
            return AccountTick(now_ms, events)
        if timers is not None and (order_ids := timers.take(now_ms)):
            return TimerTick(now_ms, order_ids)
        if self._predicted and now_ms >= due.funding_ms:
            due.funding_ms = now_ms + round(FUNDING_TICK_MIN_S * 1000)
            rates, self._predicted = tuple(self._predicted.values()), {}
            return FundingTick(now_ms, rates)
        return None

    def _wait_s(self, now_ms: int, timers: FollowUpTimers | None, due: _Due) -> float:
        """Seconds until the next step, mark tick, follow-up timer or (with predicted funding
        waiting) funding tick is due."""
        assert self._next_step_ms is not None
        deadlines = [self._next_step_ms + self._bar_delay_ms, due.tick_ms]
        timer_ms = None if timers is None else timers.next_due_ms(now_ms)
        if timer_ms is not None:
            deadlines.append(timer_ms)
        if self._predicted:
            deadlines.append(due.funding_ms)
        return (min(deadlines) - now_ms) / 1000

    async def _wait(self, seconds: float, wakers: Sequence[asyncio.Event]) -> None:
        """Sleep ``seconds`` (the injected sleep: the supervisor's returns early on a stop), or
        less if one of ``wakers`` is set first."""
        await asyncio.sleep(0)  # a stream task that is ready hands over what it has first
        if any(w.is_set() for w in wakers):
            return
        sleeper = asyncio.ensure_future(self._sleep(seconds))
        waits = [asyncio.ensure_future(w.wait()) for w in wakers]
        try:
            await asyncio.wait([sleeper, *waits], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()
            if not sleeper.done():
                sleeper.cancel()
            await asyncio.wait([sleeper, *waits])
        error = None if sleeper.cancelled() else sleeper.exception()
        if error is not None:
            raise error

    def _ids_by_venue(self) -> dict[str, list[InstrumentId]]:
        grouped: dict[str, list[InstrumentId]] = {}
        for iid in self._instruments:
            grouped.setdefault(iid.venue, []).append(iid)
        return grouped

    async def _pump(self, venue: str, ids: Sequence[InstrumentId]) -> None:
        """Keep ``venue``'s mark stream running; the stream reconnects on its own, this only
        restarts it after an error it gave up on."""
        source = self._sources[venue]
        while True:
            try:
                updates: AsyncIterator[MarkPrice | FundingRate] = (
                    source.stream_market(ids)
                    if isinstance(source, MarketStreamSource)
                    else source.stream_marks(ids)
                )
                async for update in updates:
                    if isinstance(update, FundingRate):
                        self.on_predicted_funding(update)
                    else:
                        self.on_mark(update)
                log.warning("marks_stream_ended", venue=venue)
            except NotImplementedError as error:
                log.warning("marks_stream_unavailable", venue=venue, reason=str(error))
                return
            except VenueError as error:
                log.error("marks_stream_failed", venue=venue, error=str(error))
            await asyncio.sleep(30.0)

    def on_mark(self, mark: MarkPrice) -> None:
        """Keep ``mark`` if it is newer than the last one of its instrument (a duplicate or an
        older update from a reconnect is dropped and counted)."""
        iid = mark.instrument_id
        if iid not in self._instruments:
            return
        last = self._marks.get(iid)
        if last is not None and mark.ts_event_ms <= last.ts_event_ms:
            self.marks_dropped += 1
            return
        self._marks[iid] = mark
        self.marks_received += 1
        self.marks_arrived.set()

    def on_predicted_funding(self, rate: FundingRate) -> None:
        """Keep a venue's predicted rate of a followed perp for the next :class:`FundingTick`
        (the newest per perp: a later settlement, or a new rate of the same one)."""
        iid = rate.instrument_id
        instrument = self._instruments.get(iid)
        if instrument is None or not instrument.is_perp:
            return
        last = self._predicted.get(iid)
        if last is not None and rate.ts_funding_ms < last.ts_funding_ms:
            return
        self._predicted[iid] = rate
        self.predicted_funding_received += 1
        self.funding_arrived.set()

    def _tick(self, now_ms: int) -> MarkTick:
        prices: dict[InstrumentId, float] = {}
        for iid, mark in self._marks.items():
            if self._ticked.get(iid) != mark.ts_event_ms:
                self._ticked[iid] = mark.ts_event_ms
                prices[iid] = mark.mark_price
        return MarkTick(now_ms, prices)

    async def _step(self, ts_ms: int) -> LiveStep:
        ids = list(self._instruments)
        closes = await asyncio.gather(*(self._close_at(i, ts_ms) for i in ids))
        funding = await asyncio.gather(*(self._new_settlements(p, ts_ms) for p in self.perps))
        rates = sorted(
            (r for rows in funding for r in rows), key=lambda r: (r.ts_funding_ms, r.instrument_id)
        )
        step = LiveStep(
            ts_ms,
            {i: c for i, c in zip(ids, closes, strict=True) if c is not None},
            tuple(rates),
        )
        log.info("live_step", ts_ms=ts_ms, closes=len(step.closes), settlements=len(rates))
        return step

    async def _close_at(self, iid: InstrumentId, ts_ms: int) -> float | None:
        """Close of the 1h bar ``[ts_ms - 1h, ts_ms)``; retried, then the newest mark."""
        for attempt in range(self._bar_retries):
            try:
                bars = await self._bars(iid, ts_ms - HOUR_MS, ts_ms)
            except VenueError as error:
                log.warning("bar_fetch_failed", instrument=str(iid), error=str(error))
                bars = []
            closed = [b for b in bars if b.ts_open_ms == ts_ms - HOUR_MS]
            if closed:
                return closed[-1].close
            if attempt + 1 < self._bar_retries:
                await self._sleep(self._bar_retry_s)
        self.bars_missing += 1
        mark = self._marks.get(iid)
        if mark is not None and ts_ms - HOUR_MS <= mark.ts_event_ms:
            log.warning("bar_missing_used_mark", instrument=str(iid), ts_ms=ts_ms)
            return mark.mark_price
        log.warning("bar_missing", instrument=str(iid), ts_ms=ts_ms)
        return None

    async def _new_settlements(self, perp: InstrumentId, ts_ms: int) -> list[FundingRate]:
        since_ms = self._last_funding_ms.get(perp, ts_ms - HOUR_MS)
        try:
            rates = await self._funding_between(perp, since_ms + 1, ts_ms + 1)
        except VenueError as error:
            log.warning("funding_fetch_failed", instrument=str(perp), error=str(error))
            return []
        if rates:
            self._last_funding_ms[perp] = rates[-1].ts_funding_ms
        return rates

    async def _bars(self, iid: InstrumentId, start_ms: int, end_ms: int) -> list[Bar]:
        source = self._sources[iid.venue]
        bars = await self._rest(iid.venue, lambda: source.fetch_bars(iid, start_ms, end_ms, HOUR_S))
        return [b for b in bars if b.ts_open_ms + HOUR_MS <= end_ms]

    async def _rest(self, venue: str, call: Callable[[], Awaitable[_T]]) -> _T:
        """One REST read (``call()``) under the concurrency gate, its outcome reported to
        :attr:`on_rest_result`."""
        async with self._gate:
            try:
                result = await call()
            except VenueError as error:
                if self.on_rest_result is not None:
                    self.on_rest_result(venue, error)
                raise
        if self.on_rest_result is not None:
            self.on_rest_result(venue, None)
        return result

    async def _funding_between(
        self, perp: InstrumentId, start_ms: int, end_ms: int
    ) -> list[FundingRate]:
        source = self._sources[perp.venue]
        rates = await self._rest(
            perp.venue, lambda: source.fetch_funding_history(perp, start_ms, end_ms)
        )
        seen: set[int] = set()
        unique = []
        for rate in sorted(rates, key=lambda r: r.ts_funding_ms):
            if start_ms <= rate.ts_funding_ms < end_ms and rate.ts_funding_ms not in seen:
                seen.add(rate.ts_funding_ms)
                unique.append(rate)
        return unique
