"""The running agent as the control surface sees it: the engine's state now, the event-loop
heartbeat and the progress of the engine's clock.

The engine is read through the small protocols below (:class:`EngineView`, :class:`FeedView`),
which :class:`agent.engine.engine.Engine` and :class:`agent.live.feed.LiveFeed` satisfy, so this
package never imports the engine. Everything here runs on the event loop, between the engine's
awaits: a read sees the ledger between two bookings, never half of one.

:class:`Heartbeat` is beaten by a task on the loop every ``heartbeat_s``: each beat records
the time (``monotonic``, seconds) and whether the engine's clock moved since the last beat.
The engine's clock moves with every step and mark tick it processes (a replay's simulated time,
a live run's wall time), so "seconds since the clock last moved" is "seconds since the last
step or mark" in both modes, measured on this process's monotonic clock.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from agent.config import AgentConfig
from agent.portfolio.ledger import PnlStreams, Portfolio, ledger_context
from agent.risk import RiskEngine
from strategies.base import MarketSnapshot
from venues.model import (
    Instrument,
    InstrumentId,
    InstrumentKind,
    MarkPrice,
    funding_rate_per_hour,
)

LatencyHook = Callable[[str, float], None]
"""Called with a venue name and the seconds from sending an order to the venue's answer."""
Monotonic = Callable[[], float]
"""A monotonic clock, seconds (:func:`time.monotonic`; tests pass a fake)."""


class ClockView(Protocol):
    """The engine's clock."""

    def now_ms(self) -> int:
        """The engine's time, epoch ms UTC."""
        ...


class MarketView(Protocol):
    """The engine's market data (:class:`agent.engine.marketdata.MarketData`)."""

    @property
    def instruments(self) -> Mapping[InstrumentId, Instrument]:
        """Every tracked instrument."""
        ...

    @property
    def prices(self) -> Mapping[InstrumentId, float]:
        """Latest price per instrument, quote units."""
        ...

    def snapshot(
        self, ts_ms: int, instrument_ids: Iterable[InstrumentId], history_bars: int
    ) -> MarketSnapshot:
        """An immutable view (its ``funding``: the latest rate per perp)."""
        ...


class DeskView(Protocol):
    """The order desk's latency hook (:class:`agent.execution.desk.OrderDesk`)."""

    on_order_latency: LatencyHook | None


class ExecutorView(Protocol):
    """The executor (:class:`agent.execution.executor.Executor`)."""

    @property
    def desk(self) -> DeskView:
        """Its order desk."""
        ...

    @property
    def unhedged_usd_s_total(self) -> float:
        """Unhedged notional integrated over time, every pair of the run, USD·s."""
        ...

    @property
    def pairs_past_budget(self) -> int:
        """Pairs whose unhedged USD·s passed their strategy's ``naked_budget_usd_s``."""
        ...

    @property
    def open_pairs(self) -> int:
        """Pairs tracked now (sent and not yet balanced or closed)."""
        ...


class VenueHealthView(Protocol):
    """One venue's health (:class:`agent.engine.venue_health.VenueHealthStatus`)."""

    @property
    def venue(self) -> str:
        """Venue name."""
        ...

    @property
    def healthy(self) -> bool:
        """False while the venue is unhealthy (opening there refused)."""
        ...

    @property
    def failing_s(self) -> float:
        """How long its worst channel has failed, s (0: none fails)."""
        ...

    @property
    def channel(self) -> str:
        """That channel (``rest``, ``marks``), empty when none fails."""
        ...

    @property
    def rest_failures(self) -> int:
        """Consecutive failed REST calls."""
        ...

    @property
    def last_error(self) -> str:
        """The last REST failure, empty after a success."""
        ...

    @property
    def last_rest_ok_ms(self) -> int | None:
        """Last successful REST call, epoch ms UTC."""
        ...

    @property
    def last_mark_ms(self) -> int | None:
        """Newest streamed mark, epoch ms UTC."""
        ...


class LegDistanceView(Protocol):
    """One held perp's distance to liquidation (:class:`agent.engine.liquidation.LegDistance`)."""

    @property
    def instrument_id(self) -> InstrumentId:
        """The perp."""
        ...

    @property
    def qty(self) -> Decimal:
        """The venue's net position, signed base units."""
        ...

    @property
    def mark_price(self) -> Decimal:
        """Mark, quote units."""
        ...

    @property
    def liquidation_price(self) -> Decimal | None:
        """Liquidation price, quote units (None: the venue reports none)."""
        ...

    @property
    def distance_frac(self) -> float | None:
        """``|mark − liquidation| / mark``."""
        ...

    @property
    def ts_ms(self) -> int:
        """When it was read, epoch ms UTC."""
        ...


class SafetyStatusView(Protocol):
    """The safety guard now (:class:`agent.engine.safety.SafetyStatus`)."""

    @property
    def venues(self) -> Sequence[VenueHealthView]:
        """Each venue's health."""
        ...

    @property
    def legs(self) -> Sequence[LegDistanceView]:
        """Each held perp's latest distance."""
        ...

    @property
    def low_instruments(self) -> Sequence[str]:
        """Instruments near liquidation now (opening more refused)."""
        ...


class SafetyView(Protocol):
    """The engine's safety guard (:class:`agent.engine.safety.SafetyGuard`)."""

    def status(self) -> SafetyStatusView:
        """Its state now."""
        ...


class EngineView(Protocol):
    """What the control surface reads of :class:`agent.engine.engine.Engine`."""

    @property
    def cfg(self) -> AgentConfig:
        """The run's configuration."""
        ...

    @property
    def clock(self) -> ClockView:
        """The engine's clock."""
        ...

    @property
    def portfolio(self) -> Portfolio:
        """The ledger."""
        ...

    @property
    def risk(self) -> RiskEngine:
        """The risk engine."""
        ...

    @property
    def market(self) -> MarketView:
        """The market data."""
        ...

    @property
    def executor(self) -> ExecutorView:
        """The executor."""
        ...

    @property
    def safety(self) -> SafetyView:
        """The safety guard (venue health, liquidation distances)."""
        ...

    def counters(self) -> dict[str, int]:
        """Run counters (``orders_sent``, ``orders_rejected``, ``risk_rejections``,
        ``unresolved_orders`` ...)."""
        ...


class FeedView(Protocol):
    """What the control surface reads of :class:`agent.live.feed.LiveFeed` (live data)."""

    @property
    def latest_marks(self) -> Mapping[InstrumentId, MarkPrice]:
        """Newest streamed mark per instrument."""
        ...

    @property
    def marks_received(self) -> int:
        """Marks kept."""
        ...

    @property
    def marks_dropped(self) -> int:
        """Marks dropped as duplicates or older than the last (after a reconnect)."""
        ...

    @property
    def bars_missing(self) -> int:
        """Hourly bars a venue had not closed in time."""
        ...


class Heartbeat:
    """Event-loop heartbeat and the progress of the engine's clock (module docstring).

    Parameters
    ----------
    monotonic : Monotonic
        Seconds, monotonic.
    """

    def __init__(self, monotonic: Monotonic = time.monotonic) -> None:
        self.monotonic = monotonic
        self.started_s = monotonic()
        self.started_wall_ms = time.time_ns() // 1_000_000
        self.last_beat_s: float | None = None
        self.last_event_s: float | None = None
        self.engine_clock_ms: int | None = None
        self.beats = 0
        self._clock: ClockView | None = None
        self._beaten = asyncio.Event()

    def follow(self, clock: ClockView) -> None:
        """Watch ``clock`` (the engine's) from now on; its first value counts as an event."""
        self._clock = clock
        self.engine_clock_ms = clock.now_ms()
        self.last_event_s = self.monotonic()

    def beat(self) -> None:
        """Record a beat now, and an event if the engine's clock moved since the last one."""
        now_s = self.monotonic()
        self.last_beat_s = now_s
        if self._clock is not None:
            clock_ms = self._clock.now_ms()
            if clock_ms != self.engine_clock_ms:
                self.engine_clock_ms = clock_ms
                self.last_event_s = now_s
        self.beats += 1
        self._beaten.set()
        self._beaten = asyncio.Event()

    async def wait_beat(self) -> None:
        """Return after the next beat."""
        await self._beaten.wait()

    async def run(self, interval_s: float, until: asyncio.Future[object]) -> None:
        """Beat every ``interval_s`` seconds until ``until`` is done (the run's driver)."""
        while not until.done():
            self.beat()
            await asyncio.wait([until], timeout=interval_s)

    def heartbeat_age_s(self) -> float | None:
        """Seconds since the last beat; None before the first."""
        return None if self.last_beat_s is None else self.monotonic() - self.last_beat_s

    def event_age_s(self) -> float | None:
        """Seconds since the engine's clock last moved (as seen by the beats); None before
        an engine is followed."""
        return None if self.last_event_s is None else self.monotonic() - self.last_event_s

    def uptime_s(self) -> float:
        """Seconds since this heartbeat (the control surface) was created."""
        return self.monotonic() - self.started_s


# ---- the engine's state now ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LivePosition:
    """A strategy's position now: signed size (base units), average entry and mark (USD per
    unit), notional and unrealized P&L at that mark (USD)."""

    strategy: str
    instrument: str
    qty: Decimal
    avg_entry_usd: Decimal | None
    mark_usd: Decimal | None
    notional_usd: Decimal | None
    unrealized_pnl_usd: Decimal | None


@dataclass(frozen=True, slots=True)
class LiveFunding:
    """The latest funding rate the market data holds for a perp (settled in a replay; the
    venue's predicted rate where a live source streams it): per interval and per hour
    (fractions), its settlement time and the next one."""

    instrument: str
    rate: float
    interval_s: int
    rate_per_hour: float
    ts_funding_ms: int
    next_funding_ms: int


@dataclass(frozen=True, slots=True)
class StreamHealth:
    """A venue's mark stream: newest mark (engine time of the event, epoch ms) and its age on
    the wall clock (s), instruments with a mark."""

    venue: str
    last_mark_ms: int
    age_s: float
    instruments: int


@dataclass(frozen=True, slots=True)
class FeedHealth:
    """The live feed's counters and each venue's mark stream."""

    marks_received: int
    marks_dropped: int
    bars_missing: int
    venues: tuple[StreamHealth, ...]


@dataclass(frozen=True, slots=True)
class RiskNow:
    """The risk engine now: opening blocked, the breakers in effect (rule → limit, value,
    time) and its references, USD."""

    halted: bool
    tripped: Mapping[str, tuple[float, float, int]]
    peak_equity_usd: float
    day_open_equity_usd: float
    daily_drawdown_frac: float
    total_drawdown_frac: float
    daily_limit_frac: float
    total_limit_frac: float


@dataclass(frozen=True, slots=True)
class VenueNow:
    """A venue's health now: ``healthy`` (False: opening there refused), how long its worst
    channel (``rest`` or ``marks``) has failed (s), consecutive REST failures and the last
    error, the last successful REST call and the newest mark (epoch ms UTC; None: none)."""

    venue: str
    healthy: bool
    failing_s: float
    channel: str
    rest_failures: int
    last_error: str
    last_rest_ok_ms: int | None
    last_mark_ms: int | None


@dataclass(frozen=True, slots=True)
class LiquidationNow:
    """A held perp's distance to liquidation at its last reading: the venue's net position
    (base units), mark and liquidation price (USD per unit; None: none reported), the distance
    ``|mark − liquidation| / mark`` and whether it is low (opening more refused)."""

    instrument: str
    qty: Decimal
    mark_usd: Decimal
    liquidation_price_usd: Decimal | None
    distance_frac: float | None
    low: bool
    ts_ms: int


@dataclass(frozen=True, slots=True)
class EngineNow:
    """The engine's state at ``engine_clock_ms`` (all money exact, USD)."""

    engine_clock_ms: int
    equity_usd: Decimal
    initial_equity_usd: Decimal
    pnl: Mapping[str, Decimal]
    pnl_by_strategy: Mapping[str, Mapping[str, Decimal]]
    net_delta_usd: Decimal
    gross_notional_usd: Decimal
    net_positions: Mapping[str, Decimal]
    marks: Mapping[str, Decimal]
    positions: tuple[LivePosition, ...]
    funding: tuple[LiveFunding, ...]
    risk: RiskNow
    counters: Mapping[str, int]
    feed: FeedHealth | None
    leg_risk: LegRiskNow
    venue_health: tuple[VenueNow, ...]
    liquidation: tuple[LiquidationNow, ...]


@dataclass(frozen=True, slots=True)
class LegRiskNow:
    """The pairs' naked exposure (:class:`agent.execution.exposure.ExposureBook`): unhedged
    USD·s over the run, pairs past their budget, pairs tracked now."""

    unhedged_usd_s_total: float
    pairs_past_budget: int
    open_pairs: int


def pnl_streams(streams: PnlStreams) -> dict[str, Decimal]:
    """P&L streams under the status JSON keys (:data:`agent.control.status.STREAM_KEYS`), USD."""
    return {
        "price_spot_usd": streams.price_spot_usd,
        "price_perp_usd": streams.price_perp_usd,
        "funding_usd": streams.funding_usd,
        "fees_usd": streams.fees_usd,
        "slippage_usd": streams.slippage_usd,
        "total_usd": streams.total_usd,
        "realized_usd": streams.realized_usd,
        "unrealized_usd": streams.unrealized_usd,
    }


def engine_now(engine: EngineView, feed: FeedView | None, wall_ms: int) -> EngineNow:
    """Read the engine (and the live feed) now; ``wall_ms`` ages the streams' marks."""
    portfolio = engine.portfolio
    pnl = portfolio.pnl()
    now_ms = engine.clock.now_ms()
    safety = engine.safety.status()
    marks = portfolio.marks()
    return EngineNow(
        engine_clock_ms=now_ms,
        equity_usd=portfolio.equity_usd(),
        initial_equity_usd=portfolio.initial_equity_usd,
        pnl=pnl_streams(pnl),
        pnl_by_strategy={name: pnl_streams(s) for name, s in sorted(pnl.by_strategy.items())},
        net_delta_usd=portfolio.net_delta_usd(),
        gross_notional_usd=portfolio.gross_notional_usd(),
        net_positions={str(i): q for i, q in sorted(portfolio.positions().items())},
        marks={str(i): marks[i] for i in sorted(portfolio.positions()) if i in marks},
        positions=_positions(portfolio, sorted(pnl.by_strategy)),
        funding=_funding(engine, now_ms),
        risk=_risk(engine),
        counters=dict(engine.counters()),
        feed=None if feed is None else _feed(feed, wall_ms),
        leg_risk=LegRiskNow(
            engine.executor.unhedged_usd_s_total,
            engine.executor.pairs_past_budget,
            engine.executor.open_pairs,
        ),
        venue_health=_venue_health(safety),
        liquidation=_liquidation(safety),
    )


def _venue_health(status: SafetyStatusView) -> tuple[VenueNow, ...]:
    return tuple(
        VenueNow(v.venue, v.healthy, v.failing_s, v.channel, v.rest_failures, v.last_error,
                 v.last_rest_ok_ms, v.last_mark_ms)
        for v in status.venues
    )  # fmt: skip


def _liquidation(status: SafetyStatusView) -> tuple[LiquidationNow, ...]:
    low = set(status.low_instruments)
    return tuple(
        LiquidationNow(str(d.instrument_id), d.qty, d.mark_price, d.liquidation_price,
                       d.distance_frac, str(d.instrument_id) in low, d.ts_ms)
        for d in status.legs
    )  # fmt: skip


def _positions(portfolio: Portfolio, strategies: list[str]) -> tuple[LivePosition, ...]:
    marks = portfolio.marks()
    out: list[LivePosition] = []
    with ledger_context():
        for strategy in strategies:
            for iid, qty in sorted(portfolio.positions(strategy).items()):
                avg = portfolio.avg_cost(strategy, iid)
                mark = marks.get(iid)
                notional = None if mark is None else qty * mark
                unrealized = None if mark is None or avg is None else qty * (mark - avg)
                out.append(LivePosition(strategy, str(iid), qty, avg, mark, notional, unrealized))
    return tuple(out)


def _funding(engine: EngineView, now_ms: int) -> tuple[LiveFunding, ...]:
    perps = [i for i in engine.market.instruments if i.kind is InstrumentKind.PERP]
    snapshot = engine.market.snapshot(now_ms, perps, 1)
    latest = ((i, snapshot.latest_funding(i)) for i in perps)
    rates = {iid: rate for iid, rate in latest if rate is not None}
    out = []
    for iid, rate in sorted(rates.items()):
        out.append(
            LiveFunding(
                str(iid),
                rate.rate,
                rate.interval_s,
                funding_rate_per_hour(rate.rate, max(rate.interval_s, 1)),
                rate.ts_funding_ms,
                rate.ts_next_funding_ms,
            )
        )
    return tuple(out)


def _risk(engine: EngineView) -> RiskNow:
    state = engine.risk.state()
    equity = float(engine.portfolio.equity_usd())
    peak = float(state["peak_equity_usd"])
    day_open = float(state["day_open_equity_usd"])
    limits = engine.cfg.risk
    return RiskNow(
        halted=engine.risk.halted,
        tripped={
            str(r): (float(v[0]), float(v[1]), int(v[2])) for r, v in state["tripped"].items()
        },
        peak_equity_usd=peak,
        day_open_equity_usd=day_open,
        daily_drawdown_frac=1.0 - equity / day_open if day_open > 0 else 0.0,
        total_drawdown_frac=1.0 - equity / peak if peak > 0 else 0.0,
        daily_limit_frac=limits.daily_drawdown_frac,
        total_limit_frac=limits.total_drawdown_frac,
    )


def _feed(feed: FeedView, wall_ms: int) -> FeedHealth:
    newest: dict[str, tuple[int, int]] = {}
    for iid, mark in feed.latest_marks.items():
        last_ms, count = newest.get(iid.venue, (0, 0))
        newest[iid.venue] = (max(last_ms, mark.ts_event_ms), count + 1)
    venues = tuple(
        StreamHealth(venue, last_ms, (wall_ms - last_ms) / 1000, count)
        for venue, (last_ms, count) in sorted(newest.items())
    )
    return FeedHealth(feed.marks_received, feed.marks_dropped, feed.bars_missing, venues)


def process_info(heartbeat: Heartbeat) -> dict[str, float | int | None]:
    """This process: pid, start (wall, epoch ms), uptime and heartbeat age (s)."""
    return {
        "pid": os.getpid(),
        "started_at_ms": heartbeat.started_wall_ms,
        "uptime_s": heartbeat.uptime_s(),
        "heartbeat_age_s": heartbeat.heartbeat_age_s(),
        "last_event_age_s": heartbeat.event_age_s(),
    }
