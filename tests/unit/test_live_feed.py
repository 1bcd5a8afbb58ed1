"""agent.live.feed against in-memory venues on a fake wall clock (no network, no real sleeps).

Expected closes come from ``tests.support.fake_market.price_at`` (a closed form), expected
times from hour arithmetic written out here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from agent.errors import LiveDataError
from agent.live.account_feed import AccountFeed
from agent.live.feed import (
    AccountTick,
    FundingTick,
    LiveEvent,
    LiveFeed,
    LiveStep,
    MarkTick,
    SleepFn,
    TimerTick,
    load_live_instruments,
)
from agent.live.timers import FollowUpTimers
from tests.support.fake_market import FakeMarketData, FakeWall, instrument, price_at
from venues.errors import VenueError, VenueUnavailable
from venues.model import HOUR_MS, FundingRate, InstrumentId, InstrumentKind, MarkPrice

pytestmark = pytest.mark.timeout(10)

H = HOUR_MS
T = 480_100 * H  # a whole hour, epoch ms
PERP = InstrumentId("binance", InstrumentKind.PERP, "BTCUSDT")
SPOT = InstrumentId("binance", InstrumentKind.SPOT, "BTCUSDT")
BYBIT = InstrumentId("bybit", InstrumentKind.PERP, "BTCUSDT")


def _rate(ts_ms: int, rate: float = 1e-4) -> FundingRate:
    return FundingRate(PERP, rate, 28_800, ts_ms, ts_ms + 8 * H)


def _setup(
    now_ms: int, sleeps: list[SleepFn] | None = None, **feed_kwargs: float
) -> tuple[FakeWall, FakeMarketData, LiveFeed]:
    """A feed on a fake wall at ``now_ms``; it sleeps with ``wall.sleep``, or with the first of
    ``sleeps`` once the test has put one there."""
    wall = FakeWall(now_ms)
    source = FakeMarketData(
        "binance", {PERP: instrument(PERP), SPOT: instrument(SPOT)}, now_ms=wall.now_ms
    )
    settings: dict[str, float] = {"bar_delay_s": 15, "mark_every_s": 60, **feed_kwargs}

    async def sleep(seconds: float) -> None:
        await (sleeps[0] if sleeps else wall.sleep)(seconds)

    feed = LiveFeed(
        {"binance": source},
        {PERP: instrument(PERP), SPOT: instrument(SPOT)},
        clock=wall,
        sleep=sleep,
        bar_delay_s=settings["bar_delay_s"],
        mark_every_s=settings["mark_every_s"],
    )
    return wall, source, feed


async def _collect(feed: LiveFeed, steps: int) -> list[LiveEvent]:
    stop = asyncio.Event()
    events: list[LiveEvent] = []
    async for event in feed.events(stop):
        events.append(event)
        if sum(isinstance(e, LiveStep) for e in events) == steps:
            stop.set()
    return events


async def test_warmup_reads_only_closed_and_published_history() -> None:
    # 5 s after T: T's bar is not due yet (15 s delay), so the last closed hour is T - 1h.
    _, source, feed = _setup(T + 5_000)
    source.settlements = [_rate(T - 16 * H, 2e-4), _rate(T - 8 * H, 1e-4), _rate(T, 3e-4)]
    warm = await feed.warmup(history_bars=5, funding_days=1)
    assert [s.ts_ms for s in warm.steps] == [T - 5 * H, T - 4 * H, T - 3 * H, T - 2 * H, T - H]
    for step in warm.steps:
        assert step.closes == {PERP: price_at(PERP, step.ts_ms), SPOT: price_at(SPOT, step.ts_ms)}
    funding = [(r.ts_funding_ms, r.rate) for r in warm.funding]
    assert funding == [(T - 16 * H, 2e-4), (T - 8 * H, 1e-4)]


async def test_warmup_has_a_step_for_every_hour_even_one_no_instrument_has_a_bar() -> None:
    _, source, feed = _setup(T + 5_000)
    # T - 3h: neither instrument has a bar (a venue outage); T - 2h: only the spot is missing.
    source.missing_bars = {(PERP, T - 3 * H), (SPOT, T - 3 * H), (SPOT, T - 2 * H)}
    warm = await feed.warmup(history_bars=5, funding_days=1)
    assert [s.ts_ms for s in warm.steps] == [T - 5 * H, T - 4 * H, T - 3 * H, T - 2 * H, T - H]
    closes = {s.ts_ms: set(s.closes) for s in warm.steps}
    assert closes[T - 3 * H] == set()
    assert closes[T - 2 * H] == {PERP}
    assert closes[T - H] == {PERP, SPOT}


async def test_warmup_without_any_bar_names_the_instrument() -> None:
    _, source, feed = _setup(T + 60_000)
    source.missing_bars = {(SPOT, T - k * H) for k in range(0, 4)}
    with pytest.raises(LiveDataError, match="binance:spot:BTCUSDT"):
        await feed.warmup(history_bars=3, funding_days=1)


async def test_events_need_a_warmup() -> None:
    _, _, feed = _setup(T)
    with pytest.raises(RuntimeError, match="warmup"):
        await anext(feed.events(asyncio.Event()))


async def test_steps_carry_the_closed_bar_and_new_settlements_marks_drop_stale_updates() -> None:
    wall, source, feed = _setup(T + 5_000)
    source.settlements = [_rate(T - 8 * H), _rate(T, 3e-4)]
    await feed.warmup(history_bars=2, funding_days=1)
    first = MarkPrice(PERP, 60_101.5, T + 1_000)
    for mark in (
        first,
        first,  # duplicate after a reconnect
        MarkPrice(PERP, 60_090.0, T + 500),  # older than one already seen
        MarkPrice(SPOT, 60_080.0, T + 2_000),
        MarkPrice(BYBIT, 1.0, T + 3_000),  # not followed: ignored
    ):
        source.marks.put_nowait(mark)

    events = await _collect(feed, steps=2)

    steps = [e for e in events if isinstance(e, LiveStep)]
    ticks = [e for e in events if isinstance(e, MarkTick)]
    assert [s.ts_ms for s in steps] == [T, T + H]
    assert steps[0].closes == {PERP: price_at(PERP, T), SPOT: price_at(SPOT, T)}
    assert [(r.ts_funding_ms, r.rate) for r in steps[0].funding] == [(T, 3e-4)]
    assert steps[1].funding == ()  # T was delivered once, not again
    assert len(ticks) == 1  # later ticks had nothing new and were not emitted
    assert ticks[0].prices == {PERP: 60_101.5, SPOT: 60_080.0}
    assert (feed.marks_received, feed.marks_dropped) == (2, 2)
    # wall time: first step due at T + 15 s, the second at T + 1 h + 15 s
    assert wall.now == T + H + 15_000


async def test_a_settlement_published_late_arrives_with_the_next_step() -> None:
    _, source, feed = _setup(T + 5_000)
    source.settlements = [_rate(T - 8 * H), _rate(T, 5e-4)]
    source.publish_delay_ms = 30 * 60_000  # the venue lists T's rate 30 min after T
    await feed.warmup(history_bars=2, funding_days=1)
    steps = [e for e in await _collect(feed, steps=2) if isinstance(e, LiveStep)]
    assert steps[0].funding == ()
    assert [(r.ts_funding_ms, r.rate) for r in steps[1].funding] == [(T, 5e-4)]


async def test_a_missing_bar_is_retried_then_the_mark_stands_in() -> None:
    wall, source, feed = _setup(T + 5_000)
    await feed.warmup(history_bars=2, funding_days=1)
    source.missing_bars = {(PERP, T), (SPOT, T)}
    feed.on_mark(MarkPrice(PERP, 60_123.0, T - 10_000))  # during T's hour: usable
    feed.on_mark(MarkPrice(SPOT, 60_000.0, T - H - 1))  # before T's hour: not usable
    steps = [e for e in await _collect(feed, steps=1) if isinstance(e, LiveStep)]
    assert steps[0].closes == {PERP: 60_123.0}
    assert feed.bars_missing == 2
    # 4 attempts per instrument, 5 s apart, both instruments in parallel
    assert wall.sleeps_s.count(5.0) == 6


async def test_venue_errors_during_a_step_are_not_fatal() -> None:
    _, source, feed = _setup(T + 5_000)
    await feed.warmup(history_bars=2, funding_days=1)

    async def down(*args: object) -> list[FundingRate]:
        raise VenueUnavailable("binance: 502", venue="binance")

    source.fetch_funding_history = down  # type: ignore[method-assign]
    steps = [e for e in await _collect(feed, steps=1) if isinstance(e, LiveStep)]
    assert steps[0].funding == ()
    assert steps[0].closes[PERP] == price_at(PERP, T)


async def test_every_rest_read_reports_its_outcome_to_venue_health() -> None:
    _, source, feed = _setup(T + 5_000)
    seen: list[tuple[str, str | None]] = []
    feed.on_rest_result = lambda v, e: seen.append((v, None if e is None else type(e).__name__))
    await feed.warmup(history_bars=2, funding_days=1)
    assert seen == [("binance", None)] * 3  # bars of 2 instruments, funding of the perp
    seen.clear()

    async def down(*args: object) -> list[FundingRate]:
        raise VenueUnavailable("binance: 502", venue="binance")

    source.fetch_funding_history = down  # type: ignore[method-assign]
    await _collect(feed, steps=1)
    # the step's two bars answered; its funding read failed
    assert seen.count(("binance", None)) == 2
    assert seen.count(("binance", "VenueUnavailable")) == 1
    assert len(seen) == 3


async def test_instruments_not_listed_are_named() -> None:
    wall = FakeWall(T)
    source = FakeMarketData("binance", {PERP: instrument(PERP)}, now_ms=wall.now_ms)
    with pytest.raises(LiveDataError) as info:
        await load_live_instruments({"binance": source}, [PERP, SPOT, BYBIT])
    text = str(info.value)
    assert "binance lists no spot 'BTCUSDT'" in text
    assert "bybit: no market data client" in text
    assert await load_live_instruments({"binance": source}, [PERP]) == {PERP: instrument(PERP)}


# ---- between steps: predicted funding, account events, follow-up timers --------------------


async def _until(
    feed: LiveFeed,
    done: Callable[[list[LiveEvent]], bool],
    **sources: Any,
) -> list[LiveEvent]:
    """Events until ``done`` says so (or the first step)."""
    stop = asyncio.Event()
    events: list[LiveEvent] = []
    async for event in feed.events(stop, **sources):
        events.append(event)
        if done(events) or isinstance(event, LiveStep):
            stop.set()
    return events


class ArrivalDuringSleep:
    """A sleep on ``wall`` during which ``arrive`` is called at ``at_ms``: the clock moves to
    ``at_ms`` and the sleep then lasts until cancelled (only the loop's wake-up on the arrival
    ends it; without one the test times out)."""

    def __init__(self, wall: FakeWall, at_ms: int, arrive: Callable[[], None]) -> None:
        self.wall = wall
        self.at_ms = at_ms
        self.arrive: Callable[[], None] | None = arrive

    async def __call__(self, seconds: float) -> None:
        if self.arrive is not None and self.wall.now + round(seconds * 1000) > self.at_ms:
            self.wall.now = self.at_ms
            arrive, self.arrive = self.arrive, None
            arrive()
            await asyncio.Event().wait()  # the rest of the sleep
        await self.wall.sleep(seconds)


async def test_predicted_funding_is_handed_over_as_it_arrives_newest_per_perp() -> None:
    """Two predictions of one settlement arrive together, a third in the middle of the loop's
    sleep towards the next mark tick: a FundingTick at once with the newer of the two, then
    one the moment the third arrives (not at the minute's tick)."""
    sleeps: list[SleepFn] = []
    wall, source, feed = _setup(T + 20_000, sleeps)
    await feed.warmup(history_bars=2, funding_days=1)
    source.marks.put_nowait(_rate(T + 8 * H, -0.0002))
    source.marks.put_nowait(_rate(T + 8 * H, -0.0003))  # the same settlement, newer
    third = _rate(T + 8 * H, -0.0009)
    sleeps.append(ArrivalDuringSleep(wall, T + 50_000, lambda: source.marks.put_nowait(third)))

    events = await _until(feed, lambda es: sum(isinstance(e, FundingTick) for e in es) == 2)

    ticks = [e for e in events if isinstance(e, FundingTick)]
    assert [(t.ts_ms, [r.rate for r in t.rates]) for t in ticks] == [
        (T + 20_000, [-0.0003]),
        (T + 50_000, [-0.0009]),
    ]
    assert feed.predicted_funding_received == 3
    assert "stream_market" in source.calls


async def test_account_events_wake_the_loop_at_once() -> None:
    """An account event arriving while the loop sleeps towards the next mark tick is handed
    over the moment it arrives."""
    sleeps: list[SleepFn] = []
    wall, _, feed = _setup(T + 20_000, sleeps)
    await feed.warmup(history_bars=2, funding_days=1)
    events_in: asyncio.Queue[Any] = asyncio.Queue()

    class Account:
        name = "binance"

        async def stream_account(self) -> AsyncIterator[Any]:
            while True:
                yield await events_in.get()

    account = AccountFeed({"binance": Account()})  # type: ignore[dict-item]
    ack = object()
    sleeps.append(ArrivalDuringSleep(wall, T + 50_000, lambda: events_in.put_nowait(ack)))

    events = await _until(
        feed, lambda es: any(isinstance(e, AccountTick) for e in es), account=account
    )
    (tick,) = [e for e in events if isinstance(e, AccountTick)]
    assert (tick.ts_ms, tick.events) == (T + 50_000, (ack,))
    assert account.events_received == {"binance": 1}


async def test_follow_up_timers_wake_the_loop_on_their_schedule() -> None:
    wall, _, feed = _setup(T + 20_000)
    await feed.warmup(history_bars=2, funding_days=1)
    timers = FollowUpTimers(lambda: ["order-1"])
    events = await _until(
        feed, lambda es: sum(isinstance(e, TimerTick) for e in es) == 4, timers=timers
    )
    ticks = [e for e in events if isinstance(e, TimerTick)]
    assert [(t.ts_ms - (T + 20_000), t.order_ids) for t in ticks] == [
        (1_000, ("order-1",)),
        (3_000, ("order-1",)),
        (7_000, ("order-1",)),
        (15_000, ("order-1",)),
    ]
    assert wall.sleeps_s[:4] == [1.0, 2.0, 4.0, 8.0]


async def test_an_account_stream_that_keeps_failing_is_reopened_with_backoff() -> None:
    """The subscription is refused four times, then the stream delivers one event and fails
    again: waits 30, 60, 120, 240 s (doubling from retry_s), then 30 s again (an event
    reset the backoff). The cap: 30 × 2**5 = 960 > 600."""
    opened = 0
    waits_s: list[float] = []
    delivered = asyncio.Event()

    class Refusing:
        name = "binance"

        async def stream_account(self) -> AsyncIterator[Any]:
            nonlocal opened
            opened += 1
            if opened == 5:
                yield "fill"
            raise VenueError("user data subscription refused", venue="binance")

    async def sleep(wait_s: float) -> None:
        waits_s.append(wait_s)
        if len(waits_s) == 5:
            delivered.set()
            await asyncio.Event().wait()  # park the pump here

    account = AccountFeed({"binance": Refusing()}, sleep=sleep)  # type: ignore[dict-item]
    account.start()
    await delivered.wait()
    await account.stop()

    assert waits_s == [30.0, 60.0, 120.0, 240.0, 30.0]
    assert account.take() == ("fill",)
    assert [account.retry_wait_s(n) for n in (4, 5, 200)] == [480.0, 600.0, 600.0]
