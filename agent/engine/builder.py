"""Wiring an :class:`agent.engine.engine.Engine`: paper venues (or the live clients), journal,
ledger,
market data, risk, execution and the strategies, a new run's journal meta or a resumed run's
checkpoint; and the journal's path.

A new paper run's cash follows ``[capital]``: each enabled venue's paper account gets
``initial_equity_usd × collateral_frac``; what is left is the ``reserve``. The paper venues'
fees come from ``[venues.<name>]`` in bps (× 0.0001 to a fraction); slippage stays in bps.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from contextlib import AsyncExitStack
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from agent.clock import ReplayClock
from agent.config import AgentConfig, config_hash
from agent.engine.funding_schedule import FundingScheduleRegistry
from agent.engine.margin_watch import MarginWatch
from agent.engine.marketdata import MarketData
from agent.engine.resume import apply_checkpoint, load_resume
from agent.engine.runner import _StrategySlot
from agent.execution.executor import Executor
from agent.journal.journal import Journal
from agent.portfolio.ledger import Portfolio
from agent.risk import RiskEngine
from strategies.base import Strategy
from strategies.flip_monitor import FlipMonitorState, FundingFlipMonitor
from venues.base import Venue
from venues.model import Instrument, InstrumentId, VenueFees
from venues.paper import PaperPairVenue, PaperVenue, PaperVenueConfig

if TYPE_CHECKING:
    from agent.engine.engine import Engine

RESERVE = "reserve"
_BPS = Decimal("0.0001")


async def wire(
    engine: Engine,
    cfg: AgentConfig,
    strategies: Sequence[Strategy],
    stack: AsyncExitStack,
    *,
    instruments: Mapping[InstrumentId, Instrument],
    first_ms: int,
    price_source: Mapping[InstrumentId, InstrumentId] | None = None,
    progress: TextIO | None = None,
    live_venues: Mapping[str, Venue] | None = None,
    live_cash_usd: Mapping[str, Decimal] | None = None,
) -> None:
    """Wire every component of ``engine`` (see :meth:`agent.engine.engine.Engine.create`); paper
    venues and the journal are closed by ``stack``."""
    engine.cfg = cfg
    engine.progress = progress
    engine.clock = ReplayClock(first_ms)
    engine.instruments = dict(instruments)
    engine.price_source = dict(price_source or {})
    engine.funding_schedule = FundingScheduleRegistry()
    for inst in engine.instruments.values():
        if inst.is_perp:
            engine.funding_schedule.register(inst, first_ms)
    if live_venues is None:
        engine.paper = _paper_venues(cfg, engine.instruments, engine.clock)
        for venue in engine.paper.values():
            await venue.open()
            stack.push_async_callback(venue.close)
        engine.venues = dict(engine.paper)
    else:
        engine.paper = {}
        engine.venues = dict(live_venues)
    engine.journal = Journal.open(_prepare_journal_path(cfg))
    stack.callback(engine.journal.close)
    engine.resumable = cfg.market_data.source == "live" or not cfg.journal.overwrite
    resumed = load_resume(engine.journal, config_hash(cfg)) if engine.resumable else None
    engine.resumed_from_ms = None if resumed is None else resumed.last_step_ms
    if resumed is not None:
        engine.portfolio = resumed.portfolio
    elif live_cash_usd is not None:
        engine.portfolio = Portfolio({**live_cash_usd, RESERVE: Decimal(0)})
    else:
        engine.portfolio = Portfolio(_initial_cash(cfg, engine.paper))
    engine.market = MarketData(engine.instruments, cfg.market_data.stale_after_s * 1000)
    leverage = {n: float(v.perp_leverage) for n, v in cfg.venues.items()}
    engine.risk = RiskEngine(cfg.risk, leverage, float(engine.portfolio.initial_equity_usd))
    engine.margin = MarginWatch(cfg.risk.margin_alert_frac, cfg.capital.quote_assets)
    engine.executor = Executor(
        engine.venues,
        engine.instruments,
        engine.portfolio,
        engine.journal,
        engine.risk,
        cfg.execution,
    )
    engine.slots = [
        _StrategySlot(s, s.initial_state(), instruments=tuple(s.instruments())) for s in strategies
    ]
    engine.monitor = _flip_monitor(cfg)
    engine.monitor_state = engine.monitor.initial_state() if engine.monitor else FlipMonitorState()
    engine.blocked = {}
    if resumed is None:
        _write_meta(engine, first_ms)
    else:
        apply_checkpoint(engine, resumed)


def _write_meta(engine: Engine, first_ms: int) -> None:
    meta = {
        "mode": engine.cfg.mode,
        "source": engine.cfg.market_data.source,
        "config_hash": config_hash(engine.cfg),
        "initial_equity_usd": str(engine.portfolio.initial_equity_usd),
        "strategies": ",".join(s.strategy.name for s in engine.slots),
        "window_first_ms": str(first_ms),
        "initial_cash_json": json.dumps(
            {k: str(v) for k, v in sorted(engine.portfolio.initial_cash_usd.items())}
        ),
    }
    engine.journal.record_meta(meta)


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
        )
        own = {i: inst for i, inst in instruments.items() if i.venue == name}
        # Purple Flea has native atomic pair orders: its paper twin fills pairs atomically.
        kind = PaperPairVenue if cfg.venue_spec(name).native_pair_orders else PaperVenue
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


def _prepare_journal_path(cfg: AgentConfig) -> Path:
    """Create the journal's directory; a replay with ``journal.overwrite`` starts from an empty
    file, anything else appends to the existing journal."""
    path = journal_path(cfg)
    path.parent.mkdir(parents=True, exist_ok=True)
    if cfg.journal.overwrite and cfg.market_data.source == "replay":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path
