"""The supervisor: wires config, journal, venues, market data, strategies, risk and execution,
and runs them in one ``asyncio.TaskGroup`` until the data ends or a stop signal arrives.

Two drivers feed the same :class:`~agent.engine.engine.Engine`:

- **replay** (``[market_data] source = "replay"``): the bundled real history on a simulated
  clock. Nothing sleeps, so a 17-month replay takes seconds and two runs write identical
  journals.
- **paper on live data** (``source = "live"``, ``mode = "paper"``): the venues' public REST and
  websockets (:mod:`agent.live.feed`) on the wall clock; fills are simulated by the paper
  venues exactly as in a replay. No API keys are needed.

- **live** (``mode = "live"``, ``source = "live"``): the same live driver with the venues'
  authenticated clients: at start each account is put in one-way / cross / configured leverage
  (or the start is refused), its quote balances become the ledger's cash, and its positions are
  reconciled with the journal (any difference refuses the start); orders go to the venues and
  funding is booked from each venue's payment history (:mod:`agent.live.account`). The
  venues' account streams are opened (:mod:`agent.live.account_feed`: the Binance listenKey
  user data stream and spot subscription, the Bybit private stream ...): fills and order
  updates are booked as they arrive, the order answers and lookups stay the fallback, and
  unresolved orders are looked up on timers within seconds (:mod:`agent.live.timers`).

On live data the strategies keep their hourly cadence while the engine reacts to events as
they come (:func:`_run_live`): mark ticks, the venues' predicted funding, account-stream fills
and order updates, follow-up timers.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from contextlib import AsyncExitStack, nullcontext, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import structlog

from agent import blas, collector
from agent.clock import Clock, LiveClock
from agent.config import AgentConfig, StrategySection
from agent.engine.builder import build_engine, claim_journal, journal_path
from agent.engine.engine import Engine
from agent.engine.venue_health import newest_mark_ms
from agent.errors import ConfigError, ShutdownRequested
from agent.journal.lock import JournalLock
from agent.live.account import (
    configured_capital_usd,
    credentials_for,
    prepare_accounts,
    quote_cash_usd,
)
from agent.live.account_feed import AccountFeed
from agent.live.feed import (
    AccountTick,
    FundingTick,
    LiveFeed,
    LiveStep,
    MarkTick,
    load_live_instruments,
)
from agent.live.input_guard import LiveInputGuard
from agent.live.retry import DEFAULT_START_RETRY, StartRetry, retry_at_start
from agent.live.timers import FollowUpTimers
from agent.notify import AlertDispatcher, build_dispatcher
from agent.progress import TerminalProgress, terminal_progress
from agent.signals import StopSignals
from agent.systemd import SystemdNotifier, watchdog_pings
from strategies.base import Alert, Strategy, StrategyContext
from venues.base import MarketDataSource, Venue
from venues.model import HOUR_MS, Instrument, InstrumentId, InstrumentKind
from venues.registry import replay_funding_venues, venue_spec
from venues.replay.catalog import (
    available_intervals,
    has_funding_file,
    missing_rules,
    resolve_data_dir,
)
from venues.replay.guards import DataGuards, DataNote
from venues.replay.loader import DataFileError
from venues.replay.source import BINANCE, ReplayDataset, ReplayStep, available_symbols

if TYPE_CHECKING:
    from agent.control.server import ControlSurface

log = structlog.get_logger("zerobeta.supervisor")

_YIELD_EVERY_STEPS = 64
_T = TypeVar("_T")
MarketDataFactory = Callable[[str], MarketDataSource]
"""Builds the public market-data client of a venue by name (``venues.registry``)."""


@dataclass
class RunResult:
    """Outcome of a run: journal path, first/last step times (epoch ms), steps, wall time."""

    journal_path: Path
    start_ms: int
    end_ms: int
    steps: int
    wall_time_s: float
    stopped_early: bool
    counters: dict[str, int] = field(default_factory=dict)


def build_strategies(config: AgentConfig) -> list[Strategy]:
    """One strategy per enabled ``[strategies.<name>]`` section, built by its class's
    ``from_config`` with the section's parameters and :meth:`AgentConfig.strategy_context`,
    in the order they run in each step (:meth:`agent.config.StrategiesConfig.run_order`).

    Raises
    ------
    ConfigError
        If a class's ``from_config`` refuses its section (``ValueError``), or returns a
        strategy not named after its section.
    """
    context = config.strategy_context()
    return [_build_strategy(section, context) for section in config.strategies.run_order()]


def _build_strategy(section: StrategySection, context: StrategyContext) -> Strategy:
    try:
        strategy = section.strategy_class.from_config(section.name, section.params, context)
    except ValueError as err:
        reason = f"{section.class_path} cannot run with this section: {err}"
        raise ConfigError([(f"strategies.{section.name}", reason)]) from err
    if strategy.name != section.name:
        reason = (
            f"{section.class_path}.from_config returned a strategy named {strategy.name!r}; "
            f"it must carry its section name {section.name!r}"
        )
        raise ConfigError([(f"strategies.{section.name}.class", reason)])
    return strategy


def _symbols_for(strategies: Sequence[Strategy], kind: InstrumentKind) -> list[str]:
    return sorted({i.symbol for s in strategies for i in s.instruments() if i.kind is kind})


class Supervisor:
    """Runs one agent from a validated :class:`AgentConfig`.

    Parameters
    ----------
    config : AgentConfig
    show_progress : bool
        Draw the replay's progress bar when log lines go to a terminal (:mod:`agent.progress`).
    market_data_factory : MarketDataFactory | None
        ``source = "live"`` only: builds each venue's market-data client (default: the real
        venues from ``venues.registry`` with the config's URL overrides). Tests pass clients
        behind respx and a local websocket server.
    venue_factory : Callable[[str], Venue] | None
        ``mode = "live"`` only: builds each venue's authenticated client (default: the real
        venues from ``venues.registry`` with the config's credentials and URL overrides).
    clock : Clock | None
        ``source = "live"`` only: the wall clock (default :class:`LiveClock`).
    sleep : Callable[[float], Awaitable[None]] | None
        ``source = "live"`` only: waits between events and between start-up retries; the
        default returns early when a stop is requested.
    signals : StopSignals | None
        The process's stop-signal recorder (:mod:`agent.signals`, installed by the CLI before
        the config was loaded): a signal it already received stops the run at once, and it
        takes the signals back when the run's loop handlers are removed.
    start_retry : StartRetry
        ``source = "live"`` only: backoff of the start-up reads (:mod:`agent.live.retry`).
    """

    def __init__(
        self,
        config: AgentConfig,
        *,
        show_progress: bool = False,
        market_data_factory: MarketDataFactory | None = None,
        venue_factory: Callable[[str], Venue] | None = None,
        clock: Clock | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        signals: StopSignals | None = None,
        start_retry: StartRetry = DEFAULT_START_RETRY,
    ) -> None:
        self._cfg = config
        self._signals = signals
        self._start_retry = start_retry
        self._show_progress = show_progress
        self._stop = asyncio.Event()
        self._strategies = build_strategies(config)
        self._market_data_factory = market_data_factory
        self._venue_factory = venue_factory
        self._clock = clock or LiveClock()
        self._sleep = sleep or self._sleep_unless_stopped
        self.control: ControlSurface | None = None
        self._engine: Engine | None = None
        """The HTTP control surface while the run serves it (``[control]``), else None."""
        self.alerts = AlertDispatcher.disabled()
        """Notifications to a person (``[alerts]``), built by :meth:`run` for the run."""

    def request_stop(self) -> None:
        """Ask the run to stop after the current step (signal-safe); under systemd
        ``Type=notify`` it is told the agent is stopping."""
        if not self._stop.is_set():
            systemd = SystemdNotifier.from_env()
            if systemd is not None:
                systemd.stopping("stop requested: finishing the current step")
        self._stop.set()

    def _trading_venue(self, name: str) -> Venue:
        factory = self._venue_factory or _credentialed_factory(self._cfg)
        return factory(name)

    async def _sleep_unless_stopped(self, seconds: float) -> None:
        with suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=max(seconds, 0.0))

    async def run(self) -> RunResult:
        """Run until the data ends or a stop is requested; returns the run's outcome.

        A start refused (:data:`agent.notify.START_REFUSALS`) or any other error ending the
        run is also notified (``[alerts]``: ``start_refused``, ``agent_failed``) before it is
        raised; what the alert dispatcher still holds is sent within ``send_timeout_s``.

        Raises
        ------
        agent.errors.AgentError
            On any unrecoverable error (after the journal has been flushed and closed).
        agent.errors.ConfigError
            Also when apprise cannot use an ``[alerts] urls`` entry (before anything starts).
        agent.errors.ShutdownRequested
            When a stop was requested before the run started stepping (during start-up:
            nothing to summarize; a graceful stop all the same).
        """
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self.request_stop)
            except (NotImplementedError, RuntimeError):  # pragma: no cover - non-main thread
                log.debug("signal_handler_unavailable", signal=sig.name)
        if self._signals is not None and self._signals.received is not None:
            self.request_stop()  # arrived while the config was being loaded
        log.info(
            "agent_starting",
            mode=self._cfg.mode,
            source=self._cfg.market_data.source,
            strategies=[s.name for s in self._strategies],
        )
        driver: Coroutine[Any, Any, RunResult] | None
        try:
            self.alerts = build_dispatcher(self._cfg)
            systemd = SystemdNotifier.from_env()
            async with self.alerts.reporting(self._clock.now_ms), AsyncExitStack() as stack:
                stack.enter_context(collector.run_pace())
                stack.enter_context(blas.run_threads())
                try:
                    driver = await self._start(stack)
                except ShutdownRequested:
                    driver = None  # not a failure: leave the alert scope without an alert
                if driver is not None:
                    return await self._serve(driver, systemd)
            log.info("stopped_during_start")
            raise ShutdownRequested("stop requested before the run started")
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            if self._signals is not None:
                self._signals.install()  # a late signal still ends in a graceful exit

    async def _start(self, stack: AsyncExitStack) -> Coroutine[Any, Any, RunResult]:
        """Everything before the first step: config checks, journal, control surface, data
        or venues; returns the driver.

        Raises
        ------
        agent.errors.ShutdownRequested
            If a stop is requested before the driver is returned.
        """
        self._raise_if_stopped("before start-up")
        if self._cfg.market_data.source == "replay":
            _check_replay_config(self._cfg, self._strategies)  # config errors: nothing left
        lock = claim_journal(self._cfg, stack)  # then: before any data or venue
        if self._cfg.control.http_enabled(self._cfg.market_data.source):
            # Imported here, where the endpoint is served: prometheus_client and the rest of
            # the control surface stay off the import path of runs without one.
            from agent.control.server import ControlSurface

            self.control = await ControlSurface.open(self._cfg, stack)
        if self._cfg.market_data.source == "live":
            return await self._live_driver(stack, lock)
        return await self._replay_driver(stack, lock)

    def _raise_if_stopped(self, where: str) -> None:
        if self._stop.is_set():
            raise ShutdownRequested(f"stop requested {where}")

    async def _serve(
        self, driver: Coroutine[Any, Any, RunResult], systemd: SystemdNotifier | None
    ) -> RunResult:
        """Run the driver and the run's other long-lived tasks in one task group."""
        if systemd is not None:
            systemd.ready(self._ready_status())
        try:
            async with asyncio.TaskGroup() as group:
                name = f"{self._cfg.market_data.source}.driver"
                task = group.create_task(driver, name=name)
                if systemd is not None and systemd.watchdog_interval_s is not None:
                    group.create_task(self._watchdog(systemd, task), name="systemd.watchdog")
                if self.control is not None:
                    group.create_task(self.control.serve(task), name="control.http")
                group.create_task(self.alerts.run(task), name="alerts.dispatcher")
        except ExceptionGroup as group_error:
            # One task failed: surface its own error (AgentError, DataFileError...)
            # so the CLI can map it to an exit code.
            raise group_error.exceptions[0] from group_error
        return task.result()

    def _ready_status(self) -> str:
        cfg = self._cfg
        names = ", ".join(s.name for s in self._strategies)
        return f"{cfg.mode} on {cfg.market_data.source} data: {names}"

    async def _watchdog(self, systemd: SystemdNotifier, driver: asyncio.Task[Any]) -> None:
        """Watchdog pings while the run is healthy, until the driver ends (``agent.systemd``)."""

        async def until_driver_ends(seconds: float) -> object:
            return await asyncio.wait({driver}, timeout=seconds)

        await watchdog_pings(systemd, self._healthy, until_driver_ends, driver.done)

    def _healthy(self) -> bool:
        """The engine is built and, on live data, its clock (moved by every step and mark) is
        no further behind the wall clock than the staleness limit (a mark interval at least).
        A replay that keeps stepping is healthy; a blocked loop sends no ping anyway."""
        engine = self._engine
        if engine is None:
            return False
        md = self._cfg.market_data
        if md.source != "live":
            return True
        limit_ms = max(md.stale_after_s, 2 * md.live_mark_every_s) * 1000
        return self._clock.now_ms() - engine.clock.now_ms() <= limit_ms

    # ---- replay -----------------------------------------------------------------------------

    async def _replay_driver(
        self, stack: AsyncExitStack, lock: JournalLock
    ) -> Coroutine[Any, Any, RunResult]:
        dataset, trade_from_ms = _load_dataset(self._cfg, self._strategies)
        await asyncio.sleep(0)  # a signal that arrived during the (blocking) load is handled
        self._raise_if_stopped("while the data was loaded")
        first_ms, _ = dataset.window_ms()
        instruments = dict(dataset.instruments())
        engine = await build_engine(
            self._cfg,
            self._strategies,
            stack,
            instruments=instruments,
            first_ms=first_ms,
            window_first_ms=trade_from_ms,
            journal_lock=lock,
            price_source=_price_sources(instruments),
            alerts=self.alerts,
        )
        _journal_data_notes(engine, dataset.notes)
        if self.control is not None:
            self.control.attach(engine)
        self._engine = engine
        return _run_replay(
            engine,
            dataset,
            self._stop,
            trade_from_ms=trade_from_ms,
            show_progress=self._show_progress,
        )

    # ---- paper on live data -----------------------------------------------------------------

    async def _live_driver(
        self, stack: AsyncExitStack, lock: JournalLock
    ) -> Coroutine[Any, Any, RunResult]:
        live = self._cfg.mode == "live"
        sources, trading = await self._open_live_sources(stack, live)
        wanted = _live_wanted(self._cfg, self._strategies)
        instruments = await self._retrying(
            "load_instruments", lambda: load_live_instruments(sources, wanted)
        )
        cash: dict[str, Decimal] | None = None
        if live:
            await self._retrying(
                "account_setup", lambda: prepare_accounts(self._cfg, trading, instruments)
            )
            capital_usd = configured_capital_usd(self._cfg.capital, self._cfg.venues)
            cash = await self._retrying(
                "balances",
                lambda: quote_cash_usd(
                    trading, self._cfg.capital.quote_assets, capital_usd=capital_usd
                ),
            )
        feed = LiveFeed(
            sources,
            instruments,
            clock=self._clock,
            sleep=self._sleep,
            bar_delay_s=self._cfg.market_data.live_bar_delay_s,
            mark_every_s=self._cfg.market_data.live_mark_every_s,
        )
        history_bars = max((s.history_bars for s in self._strategies), default=1)
        now_ms = self._clock.now_ms()
        engine = await build_engine(
            self._cfg,
            self._strategies,
            stack,
            instruments=instruments,
            first_ms=now_ms - (history_bars + 1) * HOUR_MS,
            journal_lock=lock,
            live_venues=trading if live else None,
            live_cash_usd=cash,
            alerts=self.alerts,
            wall_clock=self._clock,
            option_sources=sources,
        )
        feed.on_rest_result = engine.safety.health.record
        engine.safety.health.watch_streams(lambda: newest_mark_ms(feed.latest_marks))
        if live:
            await self._retrying("reconcile", lambda: engine.reconcile_at_start(now_ms))
        if self.control is not None:
            self.control.attach(engine, feed, self._clock)
        md = self._cfg.market_data
        guard = LiveInputGuard(
            DataGuards(
                funding_cap_default_frac=md.funding_cap_default_frac,
                price_jump_max_sigmas=md.price_jump_max_sigmas,
            ),
            report=engine.safety.health.record,
        )
        await self._warm(engine, feed, history_bars, guard)
        engine.checkpoint_start()  # a kill during the first step resumes from here
        self._engine = engine
        account = AccountFeed(trading) if live else None
        timers = FollowUpTimers(engine.unresolved_order_ids)
        engine.executor.between_intents = partial(
            engine.work_between_intents, timers.take, self._clock.now_ms
        )
        return _run_live(engine, feed, self._stop, account=account, timers=timers, guard=guard)

    async def _open_live_sources(
        self, stack: AsyncExitStack, live: bool
    ) -> tuple[dict[str, MarketDataSource], dict[str, Venue]]:
        """Open every enabled venue (closed by ``stack``): trading clients in live mode, where
        they are the market data too, else public market-data clients."""
        sources: dict[str, MarketDataSource] = {}
        trading: dict[str, Venue] = {}
        for name in sorted(n for n, v in self._cfg.venues.items() if v.enabled):
            if live:
                client = self._trading_venue(name)
                trading[name] = client
                source: MarketDataSource = client
            else:
                source = (self._market_data_factory or _registry_factory(self._cfg))(name)
            await self._retrying(f"open {name}", source.open)
            stack.push_async_callback(source.close)
            sources[name] = source
        return sources, trading

    async def _retrying(self, what: str, operation: Callable[[], Awaitable[_T]]) -> _T:
        """A start-up read retried while the network or the venue is down
        (:mod:`agent.live.retry`); a stop request ends the wait (``ShutdownRequested``)."""
        return await retry_at_start(
            operation, what=what, stop=self._stop, sleep=self._sleep, policy=self._start_retry
        )

    async def _warm(
        self, engine: Engine, feed: LiveFeed, history_bars: int, guard: LiveInputGuard
    ) -> None:
        """Start-up history into the market data (and the input guard's volatility history);
        a resumed run then catches up the hours it missed (settling their funding)."""
        warmup = await self._retrying(
            "warmup",
            lambda: feed.warmup(
                history_bars,
                self._cfg.market_data.live_funding_history_days,
                resume_after_ms=engine.resumed_from_ms,
            ),
        )
        for step in warmup.steps:
            engine.warm(step)
            guard.learn(step.closes)
        engine.observe_funding(warmup.funding)
        for step in warmup.pending:
            await engine.catch_up(step)
        if warmup.pending:
            log.warning(
                "caught_up_after_restart",
                steps=len(warmup.pending),
                settlements=sum(len(s.funding) for s in warmup.pending),
            )


async def _run_replay(
    engine: Engine,
    dataset: ReplayDataset,
    stop: asyncio.Event,
    *,
    trade_from_ms: int | None = None,
    show_progress: bool = False,
) -> RunResult:
    """Replay every step; returns when the data ends or ``stop`` is set. Steps before
    ``trade_from_ms`` (the warm-up loaded before the window) only feed the market data. With
    ``show_progress`` a bar is drawn on the terminal's log console (:mod:`agent.progress`),
    advanced by bars replayed (a 1m replay of a day is 1 440 of them)."""
    wall_start = time.perf_counter()
    total = dataset.step_count()
    bar = terminal_progress("replay", total) if show_progress else None
    warm_until_ms = max(
        -1 if engine.resumed_from_ms is None else engine.resumed_from_ms,
        -1 if trade_from_ms is None else trade_from_ms - 1,
    )
    with bar if bar is not None else nullcontext():
        first, last, steps = await _replay_steps(engine, dataset, stop, bar, warm_until_ms)
    wall = time.perf_counter() - wall_start
    log.info(
        "replay_finished", steps=steps, wall_time_s=round(wall, 3), stopped_early=stop.is_set()
    )
    return RunResult(
        journal_path=journal_path(engine.cfg),
        start_ms=first,
        end_ms=last,
        steps=steps,
        wall_time_s=wall,
        stopped_early=stop.is_set(),
        counters={**engine.counters(), "drift_rebalances": engine.between_steps.drift_rebalances},
    )


async def _replay_steps(
    engine: Engine,
    dataset: ReplayDataset,
    stop: asyncio.Event,
    bar: TerminalProgress | None,
    warm_until_ms: int,
) -> tuple[int, int, int]:
    """The replay loop: (first step traded ms, last step ms, steps run). Steps at or before
    ``warm_until_ms`` — the warm-up history, or what a resumed run already processed — feed
    the market data only (:meth:`Engine.warm`). A step on the hour is an engine step (the
    strategies' cadence, funding); with a sub-hour ``[market_data] bar_interval`` the bars
    between the hours are :meth:`Engine.replay_bar` (marks, breakers, drift, safety, margin);
    ``steps`` counts both."""
    steps = done = 0
    first: int | None = None
    last = engine.clock.now_ms()
    log.info("replay_started", steps=dataset.step_count(), strategies=engine.runner.names)
    for step in dataset.steps():
        if stop.is_set():
            break
        done += 1
        last = step.ts_ms
        if not await _replay_step(engine, step, warm_until_ms):
            continue
        first = step.ts_ms if first is None else first
        steps += 1
        if steps % _YIELD_EVERY_STEPS == 0:
            if bar is not None:
                bar.update(done, _equity_detail(engine))
            await asyncio.sleep(0)  # let signal handlers run
    if stop.is_set():
        await engine.shutdown(last)  # [execution] on_shutdown
    engine.finish(last)
    if bar is not None:
        bar.update(done, _equity_detail(engine))
    return (last if first is None else first), last, steps


async def _replay_step(engine: Engine, step: ReplayStep, warm_until_ms: int) -> bool:
    """One replayed bar; False when it was only warm-up (at or before ``warm_until_ms``)."""
    on_hour = step.ts_ms % HOUR_MS == 0
    if step.ts_ms <= warm_until_ms:  # warm-up or processed before a restart: market data only
        if on_hour:
            engine.warm(step)
        else:
            engine.warm_marks(step)
        return False
    if on_hour:
        await engine.step(step)
    else:
        await engine.replay_bar(step)  # a sub-hour bar: per-bar work, no strategies
    return True


def _equity_detail(engine: Engine) -> str:
    return f"equity {float(engine.portfolio.equity_usd()):,.2f} USD"


async def _run_live(
    engine: Engine,
    feed: LiveFeed,
    stop: asyncio.Event,
    *,
    account: AccountFeed | None = None,
    timers: FollowUpTimers | None = None,
    guard: LiveInputGuard | None = None,
) -> RunResult:
    """Run the live feed's events through the engine until ``stop`` is set: hourly steps (the
    strategies' cadence) and, between them, each event as it comes — mark ticks, predicted
    funding, account-stream events (``account``, ``mode = "live"``) and follow-up timers.
    Closes, marks and funding rates pass ``guard`` first (:mod:`agent.live.input_guard`)."""
    wall_start = time.perf_counter()
    steps = 0
    first = last = engine.clock.now_ms()
    log.info("live_started", strategies=engine.runner.names)
    async for event in feed.events(stop, account=account, timers=timers):
        if isinstance(event, LiveStep):
            await engine.step(event if guard is None else guard.step(event))
            steps += 1
        elif isinstance(event, MarkTick):
            await engine.mark_tick(event if guard is None else guard.marks(event))
            await engine.after_marks()  # breaker/halt flatten, drift: now, not at the next hour
            await engine.review_safety()  # venue health, liquidation distances at these marks
        elif isinstance(event, FundingTick):
            await engine.on_predicted_funding(event if guard is None else guard.funding(event))
        elif isinstance(event, AccountTick):
            await engine.on_account(event)
        else:
            await engine.on_timer(event)
        last = engine.clock.now_ms()
    await engine.shutdown(last)  # [execution] on_shutdown: only a stop ends a live run
    engine.finish(last)
    wall = time.perf_counter() - wall_start
    counters = {
        **engine.counters(),
        **engine.between_steps.as_dict(),
        "marks_received": feed.marks_received,
        "marks_dropped": feed.marks_dropped,
        "bars_missing": feed.bars_missing,
        "live_inputs_rejected": 0 if guard is None else guard.rejected,
        "predicted_funding_received": feed.predicted_funding_received,
        **({} if account is None else {"account_events_received": account.total_received}),
    }
    log.info("live_finished", steps=steps, wall_time_s=round(wall, 3), **counters)
    return RunResult(
        journal_path=journal_path(engine.cfg),
        start_ms=first,
        end_ms=last,
        steps=steps,
        wall_time_s=wall,
        stopped_early=True,
        counters=counters,
    )


def _credentialed_factory(cfg: AgentConfig) -> Callable[[str], Venue]:
    from venues.registry import create_trading_venue

    def build(name: str) -> Venue:
        venue = cfg.venues[name]
        return create_trading_venue(
            name, credentials_for(name, venue), rest_url=venue.rest_url, ws_url=venue.ws_url
        )

    return build


def _live_wanted(cfg: AgentConfig, strategies: Sequence[Strategy]) -> list[InstrumentId]:
    """Instruments the strategies trade or read, plus ``[market_data] reference_instrument``
    (beta reference, BTC price of equity snapshots) when its venue is enabled."""
    wanted = [i for s in strategies for i in s.instruments()]
    reference = cfg.market_data.reference_instrument_id
    if cfg.venues[reference.venue].enabled:
        wanted.append(reference)
    return list(dict.fromkeys(wanted))


def _registry_factory(cfg: AgentConfig) -> MarketDataFactory:
    from venues.registry import create_market_data

    def build(name: str) -> MarketDataSource:
        venue = cfg.venues[name]
        return create_market_data(name, rest_url=venue.rest_url, ws_url=venue.ws_url)

    return build


def _load_dataset(
    cfg: AgentConfig, strategies: Sequence[Strategy]
) -> tuple[ReplayDataset, int | None]:
    """The replay data of the strategies' instruments and the reference instrument, and the
    first bar close to trade at (epoch ms; None: from the first bar of the data).

    With ``[market_data] start`` set, the history the strategies ask for (the largest
    ``history_bars``, hours) is loaded before it as warm-up: those steps feed the market data
    and are not traded, so a strategy trades from the window's first day instead of spending
    its first days collecting history. Where the data starts later than that, the warm-up is
    shorter (logged ``replay_warmup`` with the hours loaded and asked for).

    Raises
    ------
    ConfigError
        For an enabled venue whose data the replay does not have, or a reference instrument
        without recorded prices.
    """
    _check_replay_config(cfg, strategies)
    md = cfg.market_data
    reference = md.reference_instrument_id
    funding_venues = tuple(n for n, v in sorted(cfg.venues.items()) if v.enabled)
    perps = _symbols_for(strategies, InstrumentKind.PERP)
    spots = _symbols_for(strategies, InstrumentKind.SPOT)
    if reference.kind is InstrumentKind.PERP:
        perps = sorted({*perps, reference.symbol})
    else:
        spots = sorted({*spots, reference.symbol})
    start_ms = _to_ms(md.start)
    warmup_h = max((s.history_bars for s in strategies), default=0) if md.warmup else 0
    try:
        dataset = ReplayDataset.load(
            md.data_dir,
            perp_symbols=perps,
            spot_symbols=spots,
            funding_venues=funding_venues,
            start_ms=None if start_ms is None else start_ms - warmup_h * HOUR_MS,
            end_ms=_to_ms(md.end),
            bar_interval=md.bar_interval,
            guards=DataGuards(
                funding_cap_default_frac=md.funding_cap_default_frac,
                price_jump_max_sigmas=md.price_jump_max_sigmas,
                price_jump_policy=md.price_jump_policy,
            ),
        )
    except DataFileError:
        raise  # names the file and line: the CLI exits 2
    except OSError as err:  # a data file that cannot be read
        where = err.filename or str(md.data_dir or "market_data.data_dir")
        raise ConfigError([(str(where), f"data file cannot be read: {err.strerror}")]) from err
    except ValueError as err:  # the window holds no data, or data the replay cannot use
        window = f"{md.start or 'start of data'} to {md.end or 'end of data'}"
        reason = f"{err} (window {window}; see `zerobeta data download` for more)"
        raise ConfigError([("market_data.start/end", reason)]) from err
    if start_ms is None:
        return dataset, None
    first_ms, last_ms = dataset.window_ms()
    if start_ms > last_ms:
        reason = f"the data ends at {_utc(last_ms)}, before the window starts ({md.start})"
        raise ConfigError([("market_data.start", reason)])
    loaded_h = max(0, (start_ms - first_ms) // HOUR_MS)
    log.info("replay_warmup", hours_loaded=loaded_h, hours_asked=warmup_h, trade_from=md.start)
    if loaded_h < warmup_h:
        log.warning(
            "replay_warmup_short",
            hours_loaded=loaded_h,
            hours_asked=warmup_h,
            reason="the data starts after the warm-up would",
        )
    return dataset, start_ms


def _check_replay_config(cfg: AgentConfig, strategies: Sequence[Strategy] = ()) -> None:
    """Refuse a replay whose data cannot be: a data directory that is missing, an enabled
    venue the replay has no data for, a reference instrument without recorded prices, a
    symbol of ``strategies`` without recorded klines. Reads nothing but the data directory's
    listing.

    Raises
    ------
    ConfigError
        Naming each such key.
    """
    md = cfg.market_data
    funding_venues = tuple(n for n, v in sorted(cfg.venues.items()) if v.enabled)
    if md.data_dir is not None and not md.data_dir.is_dir():
        reason = f"data directory {md.data_dir} not found (or not a directory)"
        raise ConfigError([("market_data.data_dir", reason)])
    errors = [
        *_replay_venue_errors(funding_venues),
        *_replay_reference_errors(md.reference_instrument_id, md.data_dir, md.bar_interval),
        *_replay_symbol_errors(strategies, md.data_dir, md.bar_interval),
    ]
    if not errors:  # the rules of symbols that have data
        errors = _replay_rules_errors(strategies, md.data_dir, funding_venues)
    if errors:
        raise ConfigError(errors)


def _replay_venue_errors(enabled: Sequence[str]) -> list[tuple[str, str]]:
    """Enabled venues whose recorded data the replay does not read."""
    replayed = ", ".join(replay_funding_venues())
    return [
        (
            f"venues.{name}.enabled",
            f"the replay has no recorded data for {name} (it replays {replayed}); disable it "
            'for replays or use [market_data] source = "live"',
        )
        for name in enabled
        if not venue_spec(name).replay_funding
    ]


def _replay_symbol_errors(
    strategies: Sequence[Strategy], data_dir: Path | None, interval: str = "1h"
) -> list[tuple[str, str]]:
    """Symbols the strategies trade or read that have no recorded Binance klines of their
    kind and of the bar ``interval`` (every replayed price comes from them), one per strategy
    and kind."""
    errors: list[tuple[str, str]] = []
    for kind in (InstrumentKind.PERP, InstrumentKind.SPOT):
        recorded = set(available_symbols(data_dir, kind, interval))
        for strategy in strategies:
            wanted = {i.symbol for i in strategy.instruments() if i.kind is kind}
            missing = sorted({_binance_symbol(s) for s in wanted} - recorded)
            if missing:
                where = data_dir or "the bundled data"
                has = ", ".join(sorted(recorded)) or "no symbol"
                others = _other_intervals(data_dir, kind, interval)
                reason = (
                    f"no recorded Binance {kind.value} {interval} klines for "
                    f"{', '.join(missing)} in {where} (it has {has}{others}); fetch them with "
                    f"`zerobeta data download --interval {interval}` or remove them"
                )
                errors.append((f"strategies.{strategy.name}.symbols", reason))
    return errors


def _replay_rules_errors(
    strategies: Sequence[Strategy], data_dir: Path | None, funding_venues: Sequence[str]
) -> list[tuple[str, str]]:
    """Instruments the strategies trade that have recorded data but no trading rules in
    their venue's ``instruments.csv`` (:mod:`venues.replay.instruments_file`), one error per
    strategy naming each instrument and file. Reads only the small rules files.

    Raises
    ------
    venues.replay.loader.DataFileError
        A malformed ``instruments.csv`` (the CLI exits 2 naming its line).
    """
    root = resolve_data_dir(data_dir)
    errors: list[tuple[str, str]] = []
    for strategy in strategies:
        ids = [
            i if i.venue == BINANCE else InstrumentId(i.venue, i.kind, i.symbol)
            for i in strategy.instruments()
            if i.venue == BINANCE or (i.venue in funding_venues and has_funding_file(root, i))
        ]
        missing = missing_rules(root, ids)
        if missing:
            named = "; ".join(f"{iid} (no row in {path})" for iid, path in missing)
            reason = (
                f"no trading rules for {named}: `zerobeta data download` writes them, or add "
                "the rows (format: venues/replay/instruments_file.py)"
            )
            errors.append((f"strategies.{strategy.name}.symbols", reason))
    return errors


def _other_intervals(data_dir: Path | None, kind: InstrumentKind, interval: str) -> str:
    """``"; other bar intervals: 1m"`` naming the kline files of other intervals, or ``""``."""
    others = [i for i in available_intervals(data_dir, kind) if i != interval]
    return f"; [market_data] bar_interval could be {', '.join(others)}" if others else ""


def _binance_symbol(symbol: str) -> str:
    """The Binance symbol a replayed instrument is priced from (``BTC`` → ``BTCUSDT``)."""
    return symbol if symbol.endswith("USDT") else symbol + "USDT"


def _replay_reference_errors(
    reference: InstrumentId, data_dir: Path | None, interval: str = "1h"
) -> list[tuple[str, str]]:
    """The replay prices only instruments with recorded Binance klines of their kind (and
    of the replay's bar ``interval``)."""
    recorded = available_symbols(data_dir, reference.kind, interval)
    if reference.venue == BINANCE and reference.symbol in recorded:
        return []
    reason = (
        f"the replay has no prices for {reference} (it has Binance {reference.kind.value} "
        f"{interval} klines of {', '.join(recorded) or 'no symbol'}); pick one of those or use "
        '[market_data] source = "live"'
    )
    return [("market_data.reference_instrument", reason)]


def _journal_data_notes(engine: Engine, notes: Sequence[DataNote]) -> None:
    """What the data guards changed or found (:mod:`venues.replay.guards`): one warning line
    and one journal alert (``kind`` the note's, e.g. ``settlement_without_bar``) each, at the
    data time it concerns. A resumed run journaled them already."""
    for note in notes:
        log.warning("data_guard", kind=note.kind, instrument=note.instrument, message=note.message)
        if engine.resumed_from_ms is None:
            alert = Alert(note.kind, note.message, {"instrument": note.instrument})
            engine.journal.record_alert(note.ts_ms, "", alert)
    if notes:
        engine.journal.flush()


def _utc(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _to_ms(value: datetime | None) -> int | None:
    """Epoch ms of a config datetime (already made timezone-aware UTC by ``agent.config``)."""
    return None if value is None else int(value.timestamp() * 1000)


def _price_sources(
    instruments: Mapping[InstrumentId, Instrument],
) -> dict[InstrumentId, InstrumentId]:
    """Bybit and Hyperliquid perps have no bundled prices: they follow the Binance perp."""
    sources: dict[InstrumentId, InstrumentId] = {}
    for iid, inst in instruments.items():
        if iid.venue == "binance" or iid.kind is not InstrumentKind.PERP:
            continue
        source = InstrumentId("binance", InstrumentKind.PERP, f"{inst.base}USDT")
        if source in instruments:
            sources[iid] = source
    return sources
