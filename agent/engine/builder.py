"""Assembling an :class:`agent.engine.engine.Engine` from its parts: paper venues (or the live
clients), journal, ledger, market data, risk, execution, the funding desk, the strategy runner
and the live position check; a new run's journal meta, or a resumed run's checkpoint handed to
the parts that own each piece of it; and claiming the journal for the run
(:func:`claim_journal`: its lock, its path checked, an old journal moved aside).

A new paper run's cash follows ``[capital]``: each enabled venue's paper account gets
``initial_equity_usd × collateral_frac``; what is left is the ``reserve``. The paper venues'
fees come from ``[venues.<name>]`` in bps (× 0.0001 to a fraction); slippage stays in bps.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence, Set
from contextlib import AsyncExitStack
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from agent.clock import Clock, ReplayClock
from agent.config import AgentConfig, config_hash
from agent.engine.engine import Engine, EngineParts
from agent.engine.funding import FundingDesk
from agent.engine.liquidation import LiquidationWatch
from agent.engine.margin_watch import MarginWatch
from agent.engine.marketdata import MarketData
from agent.engine.resume import Resumed, funding_payments, load_resume, restore_paper_venues
from agent.engine.runner import StrategyRunner
from agent.engine.safety import SafetyGuard
from agent.engine.venue_health import VenueHealth
from agent.errors import JournalError
from agent.execution.executor import Executor
from agent.execution.unresolved import (
    UnresolvedOrder,
    cut_intent_reverses,
    settle_with_journal,
    unanswered_orders,
)
from agent.journal.files import check_run_path, journal_exists, move_aside
from agent.journal.journal import Journal
from agent.journal.lock import JournalLock
from agent.live.reconcile import PositionCheck
from agent.notify import DISCARD, AlertSink
from agent.portfolio.ledger import Portfolio
from agent.risk import RiskEngine
from strategies.base import Strategy
from strategies.flip_monitor import FundingFlipMonitor
from venues.base import MarketDataSource, OptionChainSource, Venue
from venues.model import (
    Instrument,
    InstrumentId,
    InstrumentKind,
    OrderRequest,
    VenueFees,
)
from venues.paper import PaperPairVenue, PaperVenue, PaperVenueConfig
from venues.paper.faults import LegFaults
from venues.registry import venue_spec

if TYPE_CHECKING:
    from agent.engine.live_options import LiveOptionChains
    from agent.engine.options import OptionMarket

log = structlog.get_logger("zerobeta.engine")

RESERVE = "reserve"
_BPS = Decimal("0.0001")


async def build_engine(
    cfg: AgentConfig,
    strategies: Sequence[Strategy[Any]],
    stack: AsyncExitStack,
    *,
    instruments: Mapping[InstrumentId, Instrument],
    first_ms: int,
    journal_lock: JournalLock,
    window_first_ms: int | None = None,
    price_source: Mapping[InstrumentId, InstrumentId] | None = None,
    live_venues: Mapping[str, Venue] | None = None,
    live_cash_usd: Mapping[str, Decimal] | None = None,
    alerts: AlertSink = DISCARD,
    wall_clock: Clock | None = None,
    option_sources: Mapping[str, MarketDataSource] | None = None,
) -> Engine:
    """An engine for ``instruments``, its clock starting at ``first_ms`` (epoch ms UTC).

    ``window_first_ms``: the first step traded, journaled as the run's window start
    (``run_meta.window_first_ms``; a replay warms up from ``first_ms`` before it); None means
    ``first_ms``.

    ``price_source`` maps an instrument to the one whose prices stand in for it (replay:
    Bybit/Hyperliquid perps follow the Binance perp); live runs price each on its own.

    ``live_venues`` (``mode = "live"``): the opened, authenticated venue clients orders go
    to instead of paper venues; funding then comes from each venue's payment history, and
    a new run's cash is ``live_cash_usd`` (quote-asset balances per venue, USD).

    A resumable run (live, or a replay with ``journal.overwrite = false``) whose journal holds
    a checkpoint continues from it. Paper venues and the journal are closed by ``stack``.

    ``journal_lock`` is :func:`claim_journal`'s, taken before anything was loaded; the journal
    is opened durable (intents, orders, fills and funding committed as recorded) when
    ``mode = "live"``.

    ``alerts`` (the supervisor's :class:`~agent.notify.AlertDispatcher`) is handed to every
    part that raises an alert a person must see.

    ``wall_clock`` (live data): what venue health times failures and stream silence by; the
    engine's clock when None (a replay, where nothing fails).

    ``option_sources`` (live data): the opened venue clients by name; the perpetuals that
    strategies reading option chains trade on a venue among them that lists options
    (:class:`~venues.base.OptionChainSource`: Deribit) get that venue's own chain each step
    (:class:`~agent.engine.live_options.LiveOptionChains`, within ``[option_chain]
    listing_days`` and ``strike_range_frac``), and the model chain is then not built.

    Raises
    ------
    agent.errors.JournalError
        If the journal cannot be opened, its lock is not held, or its checkpoint cannot be
        resumed.
    """
    clock = ReplayClock(first_ms)
    instruments = dict(instruments)
    if live_venues is None:
        paper = _paper_venues(cfg, instruments, clock)
        for venue in paper.values():
            await venue.open()
            stack.push_async_callback(venue.close)
        venues: Mapping[str, Venue] = dict(paper)
        live: Mapping[str, Venue] = {}
    else:
        paper = {}
        venues = live = dict(live_venues)
    journal = _open_journal(cfg, journal_lock)
    stack.callback(journal.close)
    resumable = cfg.market_data.source == "live" or not cfg.journal.overwrite
    resumed = load_resume(journal, config_hash(cfg)) if resumable else None
    if resumed is not None:
        portfolio = resumed.portfolio
    elif live_cash_usd is not None:
        portfolio = Portfolio({**live_cash_usd, RESERVE: Decimal(0)})
    else:
        portfolio = Portfolio(_initial_cash(cfg, paper))
    # the longest close history a snapshot asks for: the strategies' windows, the option
    # chain's realized-volatility window (agent.engine.options), 1 for the flip monitor
    keep_bars = max(
        [s.history_bars for s in strategies] + [cfg.option_chain.realized_window_bars + 1]
    )
    market = MarketData(instruments, cfg.market_data.stale_after_s * 1000, keep_bars)
    leverage = {n: float(v.perp_leverage) for n, v in cfg.venues.items()}
    risk = RiskEngine(cfg.risk, leverage, float(portfolio.initial_equity_usd))
    executor = Executor(
        venues,
        instruments,
        portfolio,
        journal,
        risk,
        cfg.execution,
        alerts,
        leg_risk={s.name: s.leg_risk for s in cfg.strategies.sections},
        reference_instrument=cfg.market_data.reference_instrument_id,
    )
    health = VenueHealth(cfg.risk.venue_unhealthy_after_s, (wall_clock or clock).now_ms)
    # Only a real venue's answers tell its health (a paper venue always answers); on paper the
    # live feed's reads and streams report it (the supervisor wires those).
    on_venue_result = None if live_venues is None else health.record
    executor.desk.on_venue_result = on_venue_result
    live_options = _live_option_chains(
        cfg, strategies, option_sources or {}, instruments, market, paper, portfolio, journal
    )
    options = None
    if cfg.option_chain.enabled and live_venues is None and live_options is None:
        options = _option_market(cfg, instruments, market, paper, portfolio, journal)
    runner = StrategyRunner(
        strategies,
        _flip_monitor(cfg),
        market=market,
        portfolio=portfolio,
        executor=executor,
        journal=journal,
        risk=risk,
        state_every_s=cfg.journal.state_every_s,
        alerts=alerts,
        options=options if live_options is None else live_options,
    )
    safety = SafetyGuard(
        cfg.risk,
        health=health,
        liquidation=LiquidationWatch(
            cfg.risk.liquidation_distance_frac, on_venue_result, perp_readers=paper
        ),
        pairs=runner.pairs,
        venues=venues,
        executor=executor,
        market=market,
        portfolio=portfolio,
        risk=risk,
        journal=journal,
        alerts=alerts,
    )
    parts = EngineParts(
        cfg=cfg,
        clock=clock,
        instruments=instruments,
        venues=venues,
        paper=paper,
        journal=journal,
        portfolio=portfolio,
        market=market,
        risk=risk,
        margin=MarginWatch(cfg.risk.margin_alert_frac, cfg.capital.quote_assets),
        executor=executor,
        funding=FundingDesk(
            instruments,
            market,
            portfolio,
            journal,
            paper=paper,
            live=live,
            first_ms=first_ms,
            alerts=alerts,
            gap_alert_bps=cfg.risk.funding_gap_alert_bps,
            gap_alert_floor_usd=cfg.risk.funding_gap_alert_floor_usd,
        ),
        runner=runner,
        positions=PositionCheck(
            live,
            instruments,
            portfolio,
            journal,
            risk,
            alerts,
            pending=lambda: (
                {o.request.instrument_id for o in executor.unresolved}
                | (live_options.awaiting_delivery() if live_options is not None else set())
            ),
        ),
        safety=safety,
        alerts=alerts,
        options=options,
        live_options=live_options,
    )
    if resumed is None:
        _write_meta(parts, first_ms if window_first_ms is None else window_first_ms)
    else:
        _resume(parts, resumed, rebuild_paper=live_venues is None)
    engine = Engine(
        parts,
        price_source=price_source or {},
        resumable=resumable,
        resumed_from_ms=None if resumed is None else resumed.last_step_ms,
    )
    if resumed is not None:
        engine.restore(resumed.checkpoint)
    # An operator's halt survives a restart: applied before the first step (journaled at the
    # resumed run's last step, the start of a new one).
    engine.kill_switch.poll(first_ms if resumed is None else resumed.last_step_ms)
    return engine


def _live_option_chains(
    cfg: AgentConfig,
    strategies: Sequence[Strategy[Any]],
    sources: Mapping[str, object],
    instruments: dict[InstrumentId, Instrument],
    market: MarketData,
    paper: Mapping[str, PaperVenue],
    portfolio: Portfolio,
    journal: Journal,
) -> LiveOptionChains | None:
    """The venues' option chains of a live-data run (``build_engine``'s ``option_sources``),
    or None when no strategy that reads chains trades a perpetual of a venue that lists
    options."""
    chains: dict[InstrumentId, OptionChainSource] = {}
    for strategy in strategies:
        if not getattr(strategy, "reads_option_chains", False):
            continue
        for iid in strategy.instruments():
            source = sources.get(iid.venue)
            if iid.kind is InstrumentKind.PERP and isinstance(source, OptionChainSource):
                chains[iid] = source
    if not chains:
        return None
    log.info("live_option_chains", underlyings=[str(i) for i in chains])
    # Imported here, where the feature is built: the options engine (and scipy under its pricing)
    # stays off the import path of runs without options.
    from agent.engine.live_options import LiveOptionChains

    return LiveOptionChains(
        chains,
        instruments=instruments,
        market=market,
        paper=paper,
        portfolio=portfolio,
        journal=journal,
        listing_days=cfg.option_chain.listing_days,
        strike_range_frac=cfg.option_chain.strike_range_frac,
        lot_step_coin=Decimal(repr(cfg.option_chain.lot_step_coin)),
        price_tick_usd=Decimal(repr(cfg.option_chain.price_tick_usd)),
    )


def _option_market(
    cfg: AgentConfig,
    instruments: dict[InstrumentId, Instrument],
    market: MarketData,
    paper: Mapping[str, PaperVenue],
    portfolio: Portfolio,
    journal: Journal,
) -> OptionMarket:
    """The simulated option market of ``[option_chain]`` on recorded data."""
    # Imported here, where the feature is built: the options engine (and scipy under its pricing)
    # stays off the import path of runs without options.
    from agent.engine.options import OptionMarket

    return OptionMarket(
        cfg.option_chain,
        instruments=instruments,
        market=market,
        paper=paper,
        portfolio=portfolio,
        journal=journal,
    )


def _resume(parts: EngineParts, resumed: Resumed, *, rebuild_paper: bool) -> None:
    """Hand each part its piece of the resumed journal (the ledger is ``resumed.portfolio``
    already): the options it traded listed again (``[option_chain]``; on live data with a
    venue's chain, those still held), paper venues rebuilt from the journaled events (a live
    venue holds its own positions: the start-up reconciliation compares them), the payments
    booked, the strategies, monitor and schedules, the risk engine, the unresolved orders, the
    venues the margin watch had alerted (a checkpoint written before it was kept: nothing
    alerted), the safety guard's unhealthy venues and low instruments (likewise: none), the
    working maker-first intents (re-adopted, their resting orders rested again on a paper
    venue); live, the trades booked (never booked twice when a venue's stream sends one
    again)."""
    path = parts.journal.path
    chains = parts.options if parts.options is not None else parts.live_options
    if chains is not None:  # options the journal traded are instruments again
        traded = (e[1].instrument_id for e in resumed.events if isinstance(e, tuple))
        options = [i for i in traded if i.kind is InstrumentKind.OPTION]
        try:
            chains.restore(options, resumed.last_step_ms)
        except ValueError as err:
            raise JournalError(f"cannot resume: {err}", path=path) from err
    if rebuild_paper:
        restore_paper_venues(parts.paper, parts.instruments, resumed, path)
    else:  # live: an account stream may send a trade the resumed run booked
        fills = (event[1] for event in resumed.events if isinstance(event, tuple))
        parts.executor.desk.booked_trades.remember(fills)
    parts.funding.remember(funding_payments(resumed))
    checkpoint = resumed.checkpoint
    parts.runner.restore(checkpoint, resumed.states, path)
    try:
        parts.risk.restore(checkpoint["risk"])
        parts.executor.unresolved.restore(checkpoint.get("unresolved_orders", []))
        parts.executor.standing.restore(checkpoint.get("standing_targets", {}))
        parts.margin.restore(checkpoint.get("margin_watch", {}))
        parts.safety.restore(checkpoint.get("safety", {}))
        adopted = parts.executor.restore_makers(
            checkpoint.get("maker_working", []), parts.instruments, parts.journal
        )
    except (KeyError, ValueError, TypeError) as err:
        raise JournalError(f"cannot resume: {err}", path=path) from err
    if rebuild_paper:
        _rest_again(parts, resumed, adopted)
    settle_with_journal(parts.executor.unresolved, parts.journal, parts.cfg.execution.max_attempts)
    _unanswered_orders(parts, resumed.last_step_ms, {r.client_order_id for r, _ in adopted})
    parts.funding.payments = int(checkpoint.get("funding_payments", 0))


def _rest_again(
    parts: EngineParts, resumed: Resumed, adopted: Sequence[tuple[OrderRequest, int]]
) -> None:
    """Rest the re-adopted post-only orders again on the rebuilt paper venues, each with its
    journaled fills (remembered as booked: the venue's answers repeat an order's fills)."""
    journaled = [event[1] for event in resumed.events if isinstance(event, tuple)]
    for request, placed_ms in adopted:
        fills = [f for f in journaled if f.client_order_id == request.client_order_id]
        parts.executor.desk.booked_trades.remember(fills)
        parts.paper[request.instrument_id.venue].restore_resting(request, placed_ms, fills)


def _unanswered_orders(parts: EngineParts, last_step_ms: int, adopted: Set[str]) -> None:
    """Orders the earlier run journaled (written ahead, durable) but never saw answered — it
    was killed between sending and booking, possibly between the two legs of a pair — join
    the unresolved orders, so the start looks them up before reconciling positions: a fill is
    booked, an order the venue never received is dropped; what it left is settled at the
    first step with a price (:func:`agent.execution.unresolved.unanswered_orders`: reversed
    for an opening intent, whose rest is abandoned by :func:`_abandon_cut_intents`; completed
    for any other). The checkpoint's own unresolved orders are kept as they are, and the
    post-only orders the maker desk re-adopted (``adopted``, client order
    ids) are its own to follow."""
    known = {o.client_order_id for o in parts.executor.unresolved} | adopted
    unanswered = unanswered_orders(parts.journal, known, last_step_ms)
    for order, status in unanswered:
        parts.executor.unresolved.add(order)
        log.warning(
            "unanswered_order_resumed",
            client_order_id=order.client_order_id,
            strategy=order.strategy,
            intent_id=order.intent_id,
            instrument=str(order.request.instrument_id),
            status=status,
            completes=order.completes,
            message="sent before the restart without a journaled answer; looked up now",
        )

    _abandon_cut_intents(parts, [o for o, _ in unanswered], known, last_step_ms)


def _abandon_cut_intents(
    parts: EngineParts, unanswered: Sequence[UnresolvedOrder], known: Set[str], last_step_ms: int
) -> None:
    """The opening intents the killed run was still sending are abandoned whole
    (:func:`agent.execution.unresolved.cut_intent_reverses`): what they hold is owed back as
    reverses among the unresolved orders."""
    for owed in cut_intent_reverses(
        unanswered, parts.journal, known, parts.instruments.keys(), last_step_ms
    ):
        parts.executor.unresolved.add(owed)
        log.warning(
            "cut_intent_abandoned",
            strategy=owed.strategy,
            intent_id=owed.intent_id,
            instrument=str(owed.request.instrument_id),
            reverse_qty=str(owed.reverse_qty),
            message="an opening intent cut by the restart: what it holds is unwound",
        )


def _write_meta(parts: EngineParts, first_ms: int) -> None:
    meta = {
        "mode": parts.cfg.mode,
        "source": parts.cfg.market_data.source,
        "config_hash": config_hash(parts.cfg),
        "initial_equity_usd": str(parts.portfolio.initial_equity_usd),
        "strategies": ",".join(parts.runner.names),
        "window_first_ms": str(first_ms),
        "initial_cash_json": json.dumps(
            {k: str(v) for k, v in sorted(parts.portfolio.initial_cash_usd.items())}
        ),
    }
    parts.journal.record_meta(meta)


def _flip_monitor(config: AgentConfig) -> FundingFlipMonitor | None:
    section = config.strategies.funding_flip_monitor
    if not section.enabled:
        return None
    cost_bps = {n: v.perp_taker_fee_bps + v.slippage_bps for n, v in config.venues.items()}
    return FundingFlipMonitor(section, cost_bps)


def _paper_venues(
    cfg: AgentConfig, instruments: Mapping[InstrumentId, Instrument], clock: ReplayClock
) -> dict[str, PaperVenue]:
    venues: dict[str, PaperVenue] = {}
    equity = Decimal(repr(cfg.capital.initial_equity_usd))
    for name, vcfg in sorted(cfg.venues.items()):
        if not vcfg.enabled:
            continue
        pcfg = PaperVenueConfig(
            name=name,
            initial_collateral_usd=equity * Decimal(repr(vcfg.collateral_frac)),
            perp_fees=VenueFees(
                Decimal(repr(vcfg.perp_maker_fee_bps)) * _BPS,
                Decimal(repr(vcfg.perp_taker_fee_bps)) * _BPS,
            ),
            spot_fees=VenueFees(
                Decimal(repr(vcfg.spot_maker_fee_bps)) * _BPS,
                Decimal(repr(vcfg.spot_taker_fee_bps)) * _BPS,
            ),
            slippage_bps=Decimal(repr(vcfg.slippage_bps)),
            perp_leverage=Decimal(repr(vcfg.perp_leverage)),
            maintenance_margin_frac=Decimal(repr(vcfg.maintenance_margin_frac)),
            maker_fill_volume_frac=Decimal(repr(vcfg.maker_fill_volume_frac)),
            faults=LegFaults(
                vcfg.fault_reject_frac,
                vcfg.fault_partial_frac,
                vcfg.fault_unknown_frac,
                vcfg.fault_seed,
            ),
        )
        own = {i: inst for i, inst in instruments.items() if i.venue == name}
        # A venue with native atomic pair orders (Purple Flea) gets a paper twin that fills
        # pairs atomically.
        kind = PaperPairVenue if venue_spec(name).native_pair_orders else PaperVenue
        venues[name] = kind(pcfg, own, clock.now_ms)
    return venues


def _initial_cash(cfg: AgentConfig, venues: Mapping[str, PaperVenue]) -> dict[str, Decimal]:
    equity = Decimal(repr(cfg.capital.initial_equity_usd))
    cash = {n: equity * Decimal(repr(cfg.venues[n].collateral_frac)) for n in venues}
    cash[RESERVE] = equity - sum(cash.values(), Decimal(0))
    return cash


def journal_path(cfg: AgentConfig) -> Path:
    """The journal file of ``cfg``."""
    return Path(cfg.journal.path)


def claim_journal(cfg: AgentConfig, stack: AsyncExitStack) -> JournalLock:
    """Claim ``cfg``'s journal for this run, before any data is loaded or venue opened: check
    its path (creating its directory) and that it is missing or holds a zerobeta journal, take
    its lock (held until ``stack`` closes), then — a replay with ``journal.overwrite`` — move an
    old journal aside. Returns the lock, for :func:`build_engine`.

    Raises
    ------
    agent.errors.JournalRefused
        If another process holds the journal, or its path is empty, a directory, under a file,
        not writable, or holds something that is not a zerobeta journal.
    """
    path = check_run_path(journal_path(cfg))
    journal_exists(path)  # refuse a foreign file before leaving a lock file beside it
    lock = stack.enter_context(JournalLock.acquire(path))
    if cfg.journal.overwrite and cfg.market_data.source == "replay":
        moved = move_aside(path)  # checks again, under the lock
        if moved is not None:
            log.info("journal_moved_aside", journal=str(path), moved_to=str(moved))
    return lock


def _open_journal(cfg: AgentConfig, lock: JournalLock) -> Journal:
    """The run's journal: durable in live trading, where an order leaves the process. Paper
    runs, on live data too, keep batching: their venues are rebuilt from the same journal, so
    rows lost with a killed process are lost on both sides alike and the run resumes from its
    last committed step."""
    path = journal_path(cfg)
    if not lock.held or lock.journal != path:
        raise JournalError("opened without its lock (claim_journal)", path=str(path))
    return Journal.open(path, durable=cfg.mode == "live")
