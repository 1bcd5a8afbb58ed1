"""Funding harvester: long spot + short perp of one asset on one venue, collecting funding.

Each cycle :meth:`FundingHarvesterStrategy.decide`

1. records every funding settlement it has not seen yet (``ts_funding_ms`` newer than the
   last one recorded), normalized per hour, keeping the last ``rate_lookback_settlements``;
   for an open position a negative settlement adds to its adverse count, a positive one
   resets it and a zero rate leaves it unchanged (no evidence either way);
2. closes positions on a funding flip (``flip_exit_settlements`` consecutive adverse
   settlements), a basis stop or the maximum holding period;
3. re-emits the holding targets of the other open positions, so execution can fix drift;
4. opens the best-ranked new symbols by net carry APR while slots remain.

The state (:class:`~strategies.funding_harvester.state.FundingHarvesterState`: rate histories
and open positions per symbol) and its JSON layout are in
:mod:`strategies.funding_harvester.state`.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_DOWN, Decimal
from typing import Any, ClassVar, Self

from pydantic import BaseModel

from strategies.base import (
    Alert,
    Decision,
    MarketSnapshot,
    PairIntent,
    PortfolioView,
    StrategyContext,
    TargetPosition,
)
from strategies.common import funding_is_stale
from strategies.funding_harvester import signals
from strategies.funding_harvester.config import FundingHarvesterConfig
from strategies.funding_harvester.state import (
    FundingHarvesterState,
    HarvestPosition,
    RateHistory,
)
from venues.model import (
    FundingRate,
    InstrumentId,
    InstrumentKind,
    base_asset,
    funding_apr,
    funding_rate_per_hour,
)

Rates = dict[str, RateHistory]
"""A cycle's working copy of the state's rate histories (replaced, never mutated, entries)."""
Positions = dict[str, HarvestPosition]
"""A cycle's working copy of the state's open positions."""


@dataclass(frozen=True, slots=True)
class _Market:
    """What one cycle knows about one symbol; prices ``None`` when missing or stale."""

    spot_id: InstrumentId
    perp_id: InstrumentId
    spot_price: float | None
    perp_price: float | None
    funding_fresh: bool

    @property
    def basis_frac(self) -> float | None:
        """Perp premium over spot, fraction, or ``None`` without both prices."""
        if self.spot_price is None or self.perp_price is None:
            return None
        return signals.basis_frac(self.perp_price, self.spot_price)


@dataclass(frozen=True, slots=True)
class _Estimate:
    """Carry estimate of one symbol this cycle."""

    symbol: str
    rate_per_hour: float
    latest_rate_per_hour: float
    net_apr_frac: float


def _usable_price(snapshot: MarketSnapshot, instrument_id: InstrumentId) -> float | None:
    price = snapshot.prices.get(instrument_id)
    if price is None or instrument_id in snapshot.stale:
        return None
    return price if math.isfinite(price) and price > 0 else None


def _is_opening(legs: Sequence[TargetPosition], held: Mapping[InstrumentId, float]) -> bool:
    """True unless every leg only reduces |exposure| without crossing zero."""
    for leg in legs:
        current = held.get(leg.instrument_id, 0.0)
        if abs(leg.target_qty) > abs(current) or leg.target_qty * current < 0:
            return True
    return False


class FundingHarvesterStrategy:
    """Cash-and-carry funding harvester implementing
    ``strategies.base.ConfigurableStrategy``.

    Parameters
    ----------
    config : FundingHarvesterConfig
        Strategy settings. With ``enabled=False`` no new position is opened; open ones are
        still held and exited.
    costs : LegCosts
        Taker fees and slippage of the venue, bps, used for the entry threshold.
    name : str
        Its section name (``[strategies.<name>]``).
    """

    config_model: ClassVar[type[BaseModel]] = FundingHarvesterConfig
    refit_every_s: int | None = None
    history_bars = 2

    def __init__(
        self,
        config: FundingHarvesterConfig,
        costs: signals.LegCosts,
        name: str = "funding_harvester",
    ) -> None:
        self.name = name
        self.config = config
        self.costs = costs
        self.cadence_s = config.cadence_s
        self._id_cache: dict[str, tuple[InstrumentId, InstrumentId]] = {}

    @classmethod
    def from_config(
        cls, name: str, config: FundingHarvesterConfig, context: StrategyContext
    ) -> Self:
        """The harvester of section ``name``, costed with its venue's spot and perp taker fees
        and slippage.

        Raises
        ------
        ValueError
            If ``config.venue`` is not an enabled venue (``context.costs``).
        """
        costs = context.costs.get(config.venue)
        if costs is None:
            raise ValueError(f"venue {config.venue!r} is not an enabled venue")
        leg_costs = signals.LegCosts(
            spot_taker_fee_bps=costs.spot_taker_fee_bps,
            perp_taker_fee_bps=costs.perp_taker_fee_bps,
            slippage_bps=costs.slippage_bps,
        )
        return cls(config, leg_costs, name=name)

    def _ids(self, symbol: str) -> tuple[InstrumentId, InstrumentId]:
        ids = self._id_cache.get(symbol)
        if ids is None:
            venue = self.config.venue
            ids = (
                InstrumentId(venue, InstrumentKind.SPOT, symbol),
                InstrumentId(venue, InstrumentKind.PERP, symbol),
            )
            self._id_cache[symbol] = ids
        return ids

    def instruments(self) -> Sequence[InstrumentId]:
        """Spot and perp of every configured symbol, in config order."""
        return [i for symbol in self.config.symbols for i in self._ids(symbol)]

    def initial_state(self) -> FundingHarvesterState:
        """No rate history and no open position."""
        return FundingHarvesterState()

    def load_state(self, data: Mapping[str, Any]) -> FundingHarvesterState:
        """Decode a journaled state (:meth:`FundingHarvesterState.from_json`).

        Raises
        ------
        ValueError
            If ``data`` is malformed or of an unknown layout version.
        """
        return FundingHarvesterState.from_json(data)

    def refit(
        self, snapshot: MarketSnapshot, state: FundingHarvesterState, now_ms: int
    ) -> FundingHarvesterState:
        """Nothing to fit: returns ``state`` unchanged."""
        return state

    def decide(
        self,
        snapshot: MarketSnapshot,
        portfolio: PortfolioView,
        state: FundingHarvesterState,
        now_ms: int,
    ) -> Decision[FundingHarvesterState]:
        """Targets for this cycle and the next state (see the module docstring).

        Parameters
        ----------
        snapshot : MarketSnapshot
            Prices of both legs and the latest funding of each perp (the last settled rate
            in replay).
        portfolio : PortfolioView
            This strategy's positions, base units (used only to flag holds as opening).
        state : FundingHarvesterState
            Previous state (``initial_state()`` on the first call).
        now_ms : int
            Decision time, epoch ms UTC.

        Returns
        -------
        Decision[FundingHarvesterState]
            One intent per symbol entered, exited or held; alerts for adverse funding and
            basis stops; diagnostics ``best_net_apr_frac``/``best_symbol`` (when any symbol
            has enough history), ``open_positions``, ``entries``, ``exits``, ``candidates``,
            ``settlements_recorded``.
        """
        rates: Rates = dict(state.rates)
        positions: Positions = dict(state.positions)
        markets = {s: self._market(snapshot, s, now_ms) for s in self.config.symbols}
        alerts: list[Alert] = []
        recorded = self._record_all(snapshot, rates, positions, alerts)
        self._drop_unfilled(positions, portfolio.positions, alerts, now_ms)
        exits = self._exits(markets, positions, alerts, now_ms)
        holds = self._holds(positions, portfolio.positions, now_ms)
        estimates = self._estimates(markets, rates)
        blocked = {s for s in self.config.symbols if base_asset(s) in portfolio.blocked_bases}
        candidates = self._candidates(markets, estimates, positions, exited={*exits, *blocked})
        entries = self._enter(snapshot, markets, candidates, positions, now_ms)
        diagnostics: dict[str, float | int | str] = {
            "open_positions": len(positions),
            "entries": len(entries),
            "exits": len(exits),
            "candidates": len(candidates),
            "settlements_recorded": recorded,
        }
        if estimates:
            best = max(estimates.values(), key=lambda e: (e.net_apr_frac, e.symbol))
            diagnostics["best_net_apr_frac"] = best.net_apr_frac
            diagnostics["best_symbol"] = best.symbol
        intents = (*exits.values(), *holds, *entries)
        new_state = FundingHarvesterState(rates=rates, positions=positions)
        return Decision(intents, new_state, tuple(alerts), diagnostics)

    # -- market view -------------------------------------------------------------------------

    def _market(self, snapshot: MarketSnapshot, symbol: str, now_ms: int) -> _Market:
        spot_id, perp_id = self._ids(symbol)
        funding = snapshot.funding.get(perp_id)
        fresh = (
            funding is not None
            and perp_id not in snapshot.stale
            and math.isfinite(funding.rate)
            and not funding_is_stale(funding.ts_funding_ms, funding.interval_s, now_ms)
        )
        return _Market(
            spot_id=spot_id,
            perp_id=perp_id,
            spot_price=_usable_price(snapshot, spot_id),
            perp_price=_usable_price(snapshot, perp_id),
            funding_fresh=fresh,
        )

    # -- settlements ---------------------------------------------------------------------------

    def _record_all(
        self, snapshot: MarketSnapshot, rates: Rates, positions: Positions, alerts: list[Alert]
    ) -> int:
        """Record each unseen settlement once; returns how many were recorded."""
        recorded = 0
        for symbol in self.config.symbols:
            funding = snapshot.funding.get(self._ids(symbol)[1])
            if funding is None or not math.isfinite(funding.rate):
                continue
            if self._record(symbol, funding, rates, positions, alerts):
                recorded += 1
        return recorded

    def _record(
        self,
        symbol: str,
        funding: FundingRate,
        rates: Rates,
        positions: Positions,
        alerts: list[Alert],
    ) -> bool:
        entry = rates.get(symbol)
        if entry is not None and funding.ts_funding_ms <= entry.last_funding_ms:
            return False
        rate_per_hour = funding_rate_per_hour(funding.rate, funding.interval_s)
        keep = self.config.rate_lookback_settlements
        history = () if entry is None else entry.rates_per_hour
        rates[symbol] = RateHistory(funding.ts_funding_ms, (*history, rate_per_hour)[-keep:])
        position = positions.get(symbol)
        if position is not None:
            positions[symbol] = self._count_adverse(symbol, funding, position, alerts)
        return True

    def _count_adverse(
        self, symbol: str, funding: FundingRate, position: HarvestPosition, alerts: list[Alert]
    ) -> HarvestPosition:
        """The position with its adverse count updated by one settlement: reset by a positive
        rate, unchanged by a zero rate, one more (and an alert) for a negative rate."""
        if funding.rate > 0:
            return replace(position, adverse_count=0)
        if funding.rate >= 0:
            return position
        position = replace(position, adverse_count=position.adverse_count + 1)
        policy_n = self.config.flip_exit_settlements
        closing = signals.flip_exit(position.adverse_count, policy_n)
        rate_per_hour = funding_rate_per_hour(funding.rate, funding.interval_s)
        apr = funding_apr(funding.rate, funding.interval_s)
        alerts.append(
            Alert(
                kind="funding_flip",
                message=(
                    f"{symbol}: funding {rate_per_hour:.3e}/h ({apr:.2%} APR) against the short "
                    f"perp, {position.adverse_count} of {policy_n} adverse settlements"
                    + ("; closing" if closing else "")
                ),
                fields={
                    "symbol": symbol,
                    "rate_per_hour": rate_per_hour,
                    "apr_frac": apr,
                    "adverse_count": position.adverse_count,
                    "flip_exit_settlements": policy_n,
                },
            )
        )
        return position

    # -- exits and holds -------------------------------------------------------------------

    def _exits(
        self,
        markets: Mapping[str, _Market],
        positions: Positions,
        alerts: list[Alert],
        now_ms: int,
    ) -> dict[str, PairIntent]:
        exits: dict[str, PairIntent] = {}
        for symbol, position in sorted(positions.items()):
            reason = self._exit_reason(symbol, position, markets.get(symbol), alerts, now_ms)
            if reason is None:
                continue
            spot_id, perp_id = self._ids(symbol)
            legs = (TargetPosition(spot_id, 0.0), TargetPosition(perp_id, 0.0))
            exits[symbol] = PairIntent(f"{symbol}-{now_ms}", legs, reason, opening=False)
        for symbol in exits:
            del positions[symbol]
        return exits

    def _exit_reason(
        self,
        symbol: str,
        position: HarvestPosition,
        market: _Market | None,
        alerts: list[Alert],
        now_ms: int,
    ) -> str | None:
        cfg = self.config
        if signals.flip_exit(position.adverse_count, cfg.flip_exit_settlements):
            return "exit_funding_flip"
        basis = None if market is None else market.basis_frac
        if basis is not None:
            entry_basis = position.entry_basis_frac
            level = signals.basis_stop_level(
                entry_basis, cfg.basis_stop_mult, cfg.basis_stop_floor_bps
            )
            if basis > level:
                alerts.append(_basis_alert(symbol, entry_basis, basis, level))
                return "exit_basis_stop"
        if signals.max_holding_exit(position.entry_ms, now_ms, cfg.max_holding_h):
            return "exit_max_holding"
        return None

    def _drop_unfilled(
        self,
        positions: Positions,
        held: Mapping[InstrumentId, float],
        alerts: list[Alert],
        now_ms: int,
    ) -> None:
        """Forget positions entered in an earlier cycle whose legs the portfolio does not hold
        (risk or the venue refused the entry), so the entry is not re-sent every cycle."""
        for symbol, position in sorted(positions.items()):
            spot_id, perp_id = self._ids(symbol)
            if position.entry_ms < now_ms and not (held.get(spot_id) or held.get(perp_id)):
                del positions[symbol]
                message = (
                    f"{symbol}: position not held (entry refused, or closed by the funding-flip "
                    "monitor); dropped"
                )
                alerts.append(
                    Alert("funding_harvester_entry_unfilled", message, {"symbol": symbol})
                )

    def _holds(
        self, positions: Positions, held: Mapping[InstrumentId, float], now_ms: int
    ) -> list[PairIntent]:
        holds: list[PairIntent] = []
        for symbol, position in sorted(positions.items()):
            legs = self._legs(symbol, position.qty)
            holds.append(PairIntent(f"{symbol}-{now_ms}", legs, "hold", _is_opening(legs, held)))
        return holds

    def _legs(self, symbol: str, qty: float) -> tuple[TargetPosition, TargetPosition]:
        """Equal base quantity on both legs: spot ``+qty``, perp ``−qty`` (delta-neutral)."""
        spot_id, perp_id = self._ids(symbol)
        return (TargetPosition(spot_id, qty), TargetPosition(perp_id, -qty))

    # -- entries -----------------------------------------------------------------------------

    def _estimates(
        self, markets: Mapping[str, _Market], rates: Mapping[str, RateHistory]
    ) -> dict[str, _Estimate]:
        """Carry estimates of symbols with a full lookback of settled rates."""
        estimates: dict[str, _Estimate] = {}
        lookback = self.config.rate_lookback_settlements
        for symbol in markets:
            entry = rates.get(symbol)
            history = () if entry is None else entry.rates_per_hour
            if len(history) < lookback:
                continue
            mean = signals.mean_rate_per_hour(history[-lookback:])
            net_apr = signals.net_carry_apr(mean, self.config.holding_horizon_h, self.costs)
            estimates[symbol] = _Estimate(symbol, mean, history[-1], net_apr)
        return estimates

    def _candidates(
        self,
        markets: Mapping[str, _Market],
        estimates: Mapping[str, _Estimate],
        positions: Positions,
        exited: Collection[str],
    ) -> list[_Estimate]:
        """Symbols worth entering now, best net APR first (ties by symbol); ``exited`` are
        symbols not to enter this cycle (just exited, or blocked by the flip monitor)."""
        chosen: list[_Estimate] = []
        for symbol, estimate in estimates.items():
            market = markets[symbol]
            if symbol in positions or symbol in exited or market.basis_frac is None:
                continue
            if not market.funding_fresh:
                continue
            if signals.should_enter(
                estimate.latest_rate_per_hour, estimate.net_apr_frac, self.config.min_net_apr_frac
            ):
                chosen.append(estimate)
        return sorted(chosen, key=lambda e: (-e.net_apr_frac, e.symbol))

    def _enter(
        self,
        snapshot: MarketSnapshot,
        markets: Mapping[str, _Market],
        candidates: Sequence[_Estimate],
        positions: Positions,
        now_ms: int,
    ) -> list[PairIntent]:
        if not self.config.enabled:
            return []
        entries: list[PairIntent] = []
        for estimate in candidates:
            if len(positions) >= self.config.max_positions:
                break
            market = markets[estimate.symbol]
            spot_price, basis = market.spot_price, market.basis_frac
            if spot_price is None or basis is None:  # candidates have both; for the type checker
                continue
            qty = _common_lot_qty(snapshot, market, self.config.position_notional_usd / spot_price)
            if qty <= 0:
                continue
            positions[estimate.symbol] = HarvestPosition(
                entry_ms=now_ms,
                entry_basis_frac=basis,
                qty=qty,
                entry_net_apr_frac=estimate.net_apr_frac,
                adverse_count=0,
            )
            legs = self._legs(estimate.symbol, qty)
            entries.append(PairIntent(f"{estimate.symbol}-{now_ms}", legs, "enter", opening=True))
        return entries


def _common_lot_qty(snapshot: MarketSnapshot, market: _Market, raw_qty: float) -> float:
    """Round ``raw_qty`` down to the coarser lot step of the two legs, so both legs trade the
    same base quantity after execution rounds each to its own step (steps are powers of ten
    on the venues we trade, so the coarser one is a multiple of the finer)."""
    steps = [
        snapshot.instruments[i].lot_step
        for i in (market.spot_id, market.perp_id)
        if i in snapshot.instruments
    ]
    step = max(steps, default=Decimal(0))
    if step <= 0:
        return raw_qty
    lots = (Decimal(repr(raw_qty)) / step).to_integral_value(rounding=ROUND_DOWN)
    return float(lots * step)


def _basis_alert(symbol: str, entry_basis: float, basis: float, level: float) -> Alert:
    return Alert(
        kind="basis_stop",
        message=(
            f"{symbol}: basis {basis:.4%} beyond stop {level:.4%} (entry {entry_basis:.4%}); "
            "closing"
        ),
        fields={
            "symbol": symbol,
            "basis_frac": basis,
            "entry_basis_frac": entry_basis,
            "threshold_frac": level,
        },
    )
