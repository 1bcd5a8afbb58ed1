"""Funding harvester: long spot + short perp of one asset on one venue, collecting funding.

Each cycle :meth:`FundingHarvesterStrategy.decide`

1. records every funding settlement it has not seen yet (``ts_funding_ms`` newer than the
   last one recorded), normalized per hour, keeping the last ``max(rate_lookback_settlements,
   funding_median_settlements)``; for an open position a negative settlement adds to its
   adverse count, a positive one resets it and a zero rate leaves it unchanged (no evidence
   either way);
2. closes positions, first matching reason wins:

   - ``exit_funding_flip``: ``flip_exit_settlements`` consecutive adverse settlements **and**
     the adverse funding expected over ``flip_exit_horizon_h`` at the latest rate costs more
     than closing both legs (:func:`strategies.common.flip_close_check`, the funding-flip
     monitor's rule); decided once per settlement, a ``funding_flip_close`` or
     ``funding_flip_hold`` alert carrying the numbers;
   - ``exit_basis_stop``: the basis widened beyond ``basis_stop_mult`` × entry;
   - ``exit_basis_converged``: a position entered at a positive basis whose basis fell to
     ``basis_take_frac`` × entry or below, the compression ``entry − now`` exceeding the
     round-trip cost (:func:`~strategies.funding_harvester.signals.basis_converged`);
   - ``exit_funding_normalized``: a high-funding entry (latest rate above
     ``high_funding_8h_frac`` per 8h at entry) whose carry estimate fell to
     ``funding_normal_mult`` × the trailing median rate recorded at entry;
   - ``exit_max_holding`` after ``max_holding_h``;

3. re-emits the holding targets of the other open positions with ``drift_frac =
   delta_rebalance_frac`` (a leg may drift that much), and as ``rebalance_delta`` (traded back
   at the global drift threshold, a ``delta_rebalance`` alert) when the held legs' net delta
   exceeds ``delta_rebalance_frac`` of the position value (SEEDS: rebalance when |delta| > 5 %);
4. opens the best-ranked new symbols by net carry APR while slots remain, the short perp capped
   at ``max_short_adv_frac`` of its average daily volume over ``adv_window_h`` (a
   ``short_adv_cap`` alert when it binds).

The state (:class:`~strategies.funding_harvester.state.FundingHarvesterState`: rate histories
and open positions per symbol) and its JSON layout are in
:mod:`strategies.funding_harvester.state`.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_DOWN, Decimal
from typing import Any, ClassVar, NamedTuple, Self

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
from strategies.common import (
    adv_capped_short_qty,
    delta_rebalance_alert,
    flip_close_check,
    funding_is_stale,
    net_delta_frac,
)
from strategies.funding_harvester import signals
from strategies.funding_harvester.config import FundingHarvesterConfig
from strategies.funding_harvester.state import (
    FundingHarvesterState,
    HarvestPosition,
    RateHistory,
)
from strategies.state_text import WindowTexts
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


class _Market(NamedTuple):
    """What one cycle knows about one symbol's prices; ``None`` when missing or stale (a
    NamedTuple: built for many symbols every cycle, cheaper than a frozen dataclass)."""

    spot_id: InstrumentId
    perp_id: InstrumentId
    spot_price: float | None
    perp_price: float | None

    @property
    def basis_frac(self) -> float | None:
        """Perp premium over spot, fraction, or ``None`` without both prices."""
        if self.spot_price is None or self.perp_price is None:
            return None
        return signals.basis_frac(self.perp_price, self.spot_price)


class _MarketViews:
    """This cycle's :class:`_Market` of each configured symbol, built on first use and kept for
    the cycle (a cycle reads the views of its open positions and of the symbols it enters
    only, so most symbols never need one), whether a symbol can be entered and whether a
    perp's funding is fresh. ``get`` returns None for an unconfigured symbol."""

    __slots__ = ("_ids", "_now_ms", "_snapshot", "_views")

    def __init__(
        self,
        snapshot: MarketSnapshot,
        now_ms: int,
        ids: Mapping[str, tuple[InstrumentId, InstrumentId]],
    ) -> None:
        self._snapshot = snapshot
        self._now_ms = now_ms
        self._ids = ids  # configured symbol -> (spot id, perp id)
        self._views: dict[str, _Market] = {}

    def get(self, symbol: str) -> _Market | None:
        """The view of ``symbol`` this cycle, or None when it is not configured."""
        view = self._views.get(symbol)
        if view is None:
            ids = self._ids.get(symbol)
            if ids is None:
                return None
            snapshot, (spot_id, perp_id) = self._snapshot, ids
            view = _Market(
                spot_id=spot_id,
                perp_id=perp_id,
                spot_price=_usable_price(snapshot, spot_id),
                perp_price=_usable_price(snapshot, perp_id),
            )
            self._views[symbol] = view
        return view

    def enterable(self, symbol: str) -> bool:
        """Whether ``symbol`` can be entered now: configured, both prices usable (a basis) and
        its perp's funding fresh (:meth:`funding_fresh`); what :meth:`get`'s view would say,
        without building a view for each symbol tried (most are not entered)."""
        ids = self._ids.get(symbol)
        if ids is None:
            return False
        snapshot, (spot_id, perp_id) = self._snapshot, ids
        return (
            _usable_price(snapshot, spot_id) is not None
            and _usable_price(snapshot, perp_id) is not None
            and self.funding_fresh(perp_id)
        )

    def funding_fresh(self, perp_id: InstrumentId) -> bool:
        """Whether ``perp_id`` has fresh funding now: present, not stale, finite and not older
        than two intervals (:func:`strategies.common.funding_is_stale`)."""
        snapshot = self._snapshot
        funding = snapshot.funding.get(perp_id)
        return (
            funding is not None
            and perp_id not in snapshot.stale
            and math.isfinite(funding.rate)
            and not funding_is_stale(funding.ts_funding_ms, funding.interval_s, self._now_ms)
        )


@dataclass(frozen=True, slots=True)
class _Cycle:
    """What one ``decide`` call works with: market views, the rate histories after recording,
    the symbols that recorded a settlement this cycle, the alerts raised and the time."""

    markets: _MarketViews
    rates: Mapping[str, RateHistory]
    recorded: frozenset[str]
    alerts: list[Alert]
    now_ms: int


class _Estimate(NamedTuple):
    """Carry estimate of one symbol this cycle (a NamedTuple: one per symbol at every
    settlement, cheaper than a frozen dataclass)."""

    symbol: str
    rate_per_hour: float
    latest_rate_per_hour: float
    net_apr_frac: float
    worth_entering: bool
    """:func:`signals.should_enter` of this estimate at the configured ``min_net_apr_frac``."""


@dataclass(frozen=True, slots=True)
class _Estimates:
    """Carry estimates of the symbols with a full lookback: the best one by (net APR, symbol)
    (None without any), and those worth entering ranked best net APR first (ties by symbol):
    the order candidates are tried in, computed once per estimates (they change only with the
    rate histories) instead of sorting the candidates every cycle."""

    best: _Estimate | None
    worth_ranked: tuple[_Estimate, ...]


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

    def __init__(
        self,
        config: FundingHarvesterConfig,
        costs: signals.LegCosts,
        name: str = "funding_harvester",
    ) -> None:
        self.name = name
        self.config = config
        self._costs = costs
        self._round_trip_cost_frac = signals.round_trip_cost_frac(costs)
        self.cadence_s = config.cadence_s
        self.history_bars = max(2, config.adv_window_h)
        self._id_cache: dict[str, tuple[InstrumentId, InstrumentId]] = {
            symbol: (
                InstrumentId(config.venue, InstrumentKind.SPOT, symbol),
                InstrumentId(config.venue, InstrumentKind.PERP, symbol),
            )
            for symbol in config.symbols
        }
        self._configured_ids = dict(self._id_cache)  # configured symbols only
        self._base_of = {symbol: base_asset(symbol) for symbol in config.symbols}
        # Caches, none part of the state (nothing to journal). A rate history (and the rates
        # mapping holding them) is replaced, never mutated, on a new settlement, so between
        # settlements the hourly cycles reuse what was computed from the same objects:
        # - per symbol, the history an estimate was computed from and that estimate;
        self._estimate_memo: dict[str, tuple[tuple[float, ...], _Estimate]] = {}
        # - the rates mapping the last estimates were computed from and those estimates;
        self._estimates_memo: tuple[Mapping[str, RateHistory], _Estimates] | None = None
        # - per symbol, the entry basis of its last basis-stop level and that level;
        self._stop_level_memo: dict[str, tuple[float, float]] = {}
        # - per symbol, the quantity of its last holding legs and those legs (immutable);
        self._legs_memo: dict[str, tuple[float, tuple[TargetPosition, TargetPosition]]] = {}
        # - the perps' settled rates (in config order) of the last cycle and the histories it
        #   returned after recording them: the same rates into the same histories record
        #   nothing again (every one was recorded or skipped then).
        self._perp_ids = tuple(perp_id for _, perp_id in self._configured_ids.values())
        self._recorded_memo: tuple[tuple[FundingRate | None, ...], Mapping[str, RateHistory]]
        self._recorded_memo = ((), {})
        # The journal texts of the rate rows, shared by every state decided here (issue 14).
        self._state_texts = WindowTexts()

    @property
    def costs(self) -> signals.LegCosts:
        """The venue's fees and slippage (read-only: the cost figures and the estimates derived
        from them are kept for the strategy's life)."""
        return self._costs

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
        positions: Positions = dict(state.positions)
        markets = _MarketViews(snapshot, now_ms, self._configured_ids)
        alerts: list[Alert] = []
        rates, recorded = self._record_all(snapshot, state.rates, positions, alerts)
        self._drop_unfilled(positions, portfolio.positions, alerts, now_ms)
        cycle = _Cycle(markets, rates, recorded, alerts, now_ms)
        exits = self._exits(cycle, positions)
        holds = self._holds(positions, portfolio.positions, markets, alerts, now_ms)
        estimates = self._estimates(rates)
        blocked_bases = portfolio.blocked_bases
        blocked = (
            {s for s, base in self._base_of.items() if base in blocked_bases}
            if blocked_bases
            else set()
        )
        candidates = self._candidates(
            markets, estimates.worth_ranked, positions, exited={*exits, *blocked}
        )
        entries = self._enter(snapshot, cycle, candidates, positions)
        diagnostics: dict[str, float | int | str] = {
            "open_positions": len(positions),
            "entries": len(entries),
            "exits": len(exits),
            "candidates": len(candidates),
            "settlements_recorded": len(recorded),
        }
        best = estimates.best
        if best is not None:
            diagnostics["best_net_apr_frac"] = best.net_apr_frac
            diagnostics["best_symbol"] = best.symbol
        intents = (*exits.values(), *holds, *entries)
        new_state = FundingHarvesterState(rates=rates, positions=positions, texts=self._state_texts)
        return Decision(intents, new_state, tuple(alerts), diagnostics)

    # -- settlements ---------------------------------------------------------------------------

    def _record_all(
        self,
        snapshot: MarketSnapshot,
        rates: Mapping[str, RateHistory],
        positions: Positions,
        alerts: list[Alert],
    ) -> tuple[Mapping[str, RateHistory], frozenset[str]]:
        """Record each unseen settlement once; returns the rate histories after recording and
        the symbols that recorded one. The histories are ``rates`` itself when nothing was
        recorded (the usual hourly cycle between settlements), else a new mapping: ``rates``
        is never mutated."""
        funding_by_id = snapshot.funding
        settled = tuple(map(funding_by_id.get, self._perp_ids))
        seen, recorded_into = self._recorded_memo
        if rates is recorded_into and settled == seen:
            return rates, frozenset()
        recorded: list[str] = []
        updated: Rates | None = None  # the copy of ``rates``, made on the first record
        for symbol, (_, perp_id) in self._configured_ids.items():  # symbols are unique
            funding = funding_by_id.get(perp_id)
            if funding is None:
                continue
            entry = rates.get(symbol)
            if entry is not None and funding.ts_funding_ms <= entry.last_funding_ms:
                continue  # seen already
            if not math.isfinite(funding.rate):
                continue
            if updated is None:
                updated = dict(rates)
            self._record(symbol, funding, entry, updated, positions, alerts)
            recorded.append(symbol)
        after = rates if updated is None else updated
        self._recorded_memo = (settled, after)
        return after, frozenset(recorded)

    def _record(
        self,
        symbol: str,
        funding: FundingRate,
        entry: RateHistory | None,
        rates: Rates,
        positions: Positions,
        alerts: list[Alert],
    ) -> None:
        """Record ``funding``, newer than ``entry`` (the symbol's history, None before its first
        settlement), into ``rates``, and count it against an open position."""
        rate_per_hour = funding_rate_per_hour(funding.rate, funding.interval_s)
        keep = max(self.config.rate_lookback_settlements, self.config.funding_median_settlements)
        history = () if entry is None else entry.rates_per_hour
        # The last ``keep`` of history + (rate,), copied once: its last keep − 1 and the rate.
        kept = history[max(0, len(history) - keep + 1) :]
        rates[symbol] = RateHistory(funding.ts_funding_ms, (*kept, rate_per_hour))
        position = positions.get(symbol)
        if position is not None:
            positions[symbol] = self._count_adverse(symbol, funding, position, alerts)

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
        weighing = signals.flip_exit(position.adverse_count, policy_n)
        rate_per_hour = funding_rate_per_hour(funding.rate, funding.interval_s)
        apr = funding_apr(funding.rate, funding.interval_s)
        alerts.append(
            Alert(
                kind="funding_flip",
                message=(
                    f"{symbol}: funding {rate_per_hour:.3e}/h ({apr:.2%} APR) against the short "
                    f"perp, {position.adverse_count} of {policy_n} adverse settlements"
                    + ("; weighing a close against its cost" if weighing else "")
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

    def _exits(self, cycle: _Cycle, positions: Positions) -> dict[str, PairIntent]:
        exits: dict[str, PairIntent] = {}
        for symbol, position in sorted(positions.items()):
            reason = self._exit_reason(symbol, position, cycle)
            if reason is None:
                continue
            spot_id, perp_id = self._ids(symbol)
            legs = (TargetPosition(spot_id, 0.0), TargetPosition(perp_id, 0.0))
            exits[symbol] = PairIntent(f"{symbol}-{cycle.now_ms}", legs, reason, opening=False)
        for symbol in exits:
            del positions[symbol]
        return exits

    def _exit_reason(self, symbol: str, position: HarvestPosition, cycle: _Cycle) -> str | None:
        cfg = self.config
        market = cycle.markets.get(symbol)
        if self._flip_exit(symbol, position, market, cycle):
            return "exit_funding_flip"
        basis = None if market is None else market.basis_frac
        if basis is not None:
            entry_basis = position.entry_basis_frac
            level = self._basis_stop_level(symbol, entry_basis)
            if basis > level:
                cycle.alerts.append(_basis_alert(symbol, entry_basis, basis, level))
                return "exit_basis_stop"
            if cfg.basis_take_enabled:
                cost = self._round_trip_cost_frac
                if signals.basis_converged(entry_basis, basis, cfg.basis_take_frac, cost):
                    cycle.alerts.append(
                        _converged_alert(symbol, entry_basis, basis, cfg.basis_take_frac, cost)
                    )
                    return "exit_basis_converged"
        if self._funding_normalized(symbol, position, cycle):
            return "exit_funding_normalized"
        if signals.max_holding_exit(position.entry_ms, cycle.now_ms, cfg.max_holding_h):
            return "exit_max_holding"
        return None

    def _basis_stop_level(self, symbol: str, entry_basis_frac: float) -> float:
        """:func:`signals.basis_stop_level` of a position of ``symbol`` entered at
        ``entry_basis_frac``; the level of the symbol's last call again for the same entry."""
        kept = self._stop_level_memo.get(symbol)
        if kept is not None and kept[0] == entry_basis_frac:
            return kept[1]
        cfg = self.config
        level = signals.basis_stop_level(
            entry_basis_frac, cfg.basis_stop_mult, cfg.basis_stop_floor_bps
        )
        self._stop_level_memo[symbol] = (entry_basis_frac, level)
        return level

    def _flip_exit(
        self, symbol: str, position: HarvestPosition, market: _Market | None, cycle: _Cycle
    ) -> bool:
        """The fee-aware flip exit: after ``flip_exit_settlements`` consecutive adverse
        settlements, close when the adverse funding expected over ``flip_exit_horizon_h`` at
        the latest rate costs more than closing both legs; decided once per settlement (the
        cycle that recorded it) and alerted with the numbers either way."""
        cfg = self.config
        if not signals.flip_exit(position.adverse_count, cfg.flip_exit_settlements):
            return False
        history = cycle.rates.get(symbol)
        if symbol not in cycle.recorded or history is None or not history.rates_per_hour:
            return False
        if market is None or market.spot_price is None or market.perp_price is None:
            return False  # cannot cost the close; the next settlement decides
        rate_per_hour = history.rates_per_hour[-1]
        spot_notional = position.qty * market.spot_price
        perp_notional = position.qty * market.perp_price
        costs = self.costs
        check = flip_close_check(
            adverse=((rate_per_hour, perp_notional),),
            horizon_h=cfg.flip_exit_horizon_h,
            close_legs=(
                (spot_notional, costs.spot_taker_fee_bps + costs.slippage_bps),
                (perp_notional, costs.perp_taker_fee_bps + costs.slippage_bps),
            ),
        )
        fields: dict[str, float | str] = {
            "symbol": symbol,
            "policy": "consecutive_adverse_settlements",
            "adverse_count": position.adverse_count,
            "rate_per_hour": rate_per_hour,
            "expected_adverse_usd": round(check.expected_adverse_usd, 6),
            "close_cost_usd": round(check.close_cost_usd, 6),
            "horizon_h": cfg.flip_exit_horizon_h,
        }
        if check.close:
            message = f"{symbol}: funding turned against the short perp; closing"
            cycle.alerts.append(Alert("funding_flip_close", message, fields))
        else:
            message = f"{symbol}: funding against the short perp, but closing costs more; holding"
            cycle.alerts.append(Alert("funding_flip_hold", message, fields))
        return check.close

    def _funding_normalized(self, symbol: str, position: HarvestPosition, cycle: _Cycle) -> bool:
        """A high-funding entry whose carry estimate (mean of the last
        ``rate_lookback_settlements`` rates) fell to ``funding_normal_mult`` × the trailing
        median at entry; alerted with the numbers."""
        cfg = self.config
        normal = position.normal_rate_per_hour
        if normal is None or cfg.funding_normal_mult <= 0:
            return False
        history = cycle.rates.get(symbol)
        if history is None or len(history.rates_per_hour) < cfg.rate_lookback_settlements:
            return False
        carry = signals.mean_rate_per_hour(history.rates_per_hour[-cfg.rate_lookback_settlements :])
        level = signals.normalized_rate_level(normal, cfg.funding_normal_mult)
        if carry > level:
            return False
        entry_rate = position.entry_rate_per_hour
        message = (
            f"{symbol}: funding normalized, carry {carry:.3e}/h <= {level:.3e}/h "
            f"({cfg.funding_normal_mult} x trailing median {normal:.3e}/h at entry; "
            f"entered at {entry_rate if entry_rate is not None else math.nan:.3e}/h); closing"
        )
        fields: dict[str, float | str] = {
            "symbol": symbol,
            "carry_rate_per_hour": carry,
            "threshold_rate_per_hour": level,
            "normal_rate_per_hour": normal,
            "funding_normal_mult": cfg.funding_normal_mult,
        }
        if entry_rate is not None:
            fields["entry_rate_per_hour"] = entry_rate
        cycle.alerts.append(Alert("funding_normalized", message, fields))
        return True

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
        self,
        positions: Positions,
        held: Mapping[InstrumentId, float],
        markets: _MarketViews,
        alerts: list[Alert],
        now_ms: int,
    ) -> list[PairIntent]:
        """Holding targets of the open positions: ``drift_frac = delta_rebalance_frac`` while
        the held legs' net delta is within it, ``rebalance_delta`` (global drift) beyond."""
        holds: list[PairIntent] = []
        band = self.config.delta_rebalance_frac
        for symbol, position in sorted(positions.items()):
            legs = self._legs(symbol, position.qty)
            opening = _is_opening(legs, held)
            delta = self._held_delta(symbol, held, markets.get(symbol))
            intent_id = f"{symbol}-{now_ms}"
            if delta is not None and delta[1] > band:
                alerts.append(delta_rebalance_alert(symbol, delta[0], delta[1], band))
                holds.append(PairIntent(intent_id, legs, "rebalance_delta", opening))
            else:
                holds.append(PairIntent(intent_id, legs, "hold", opening, drift_frac=band))
        return holds

    def _held_delta(
        self, symbol: str, held: Mapping[InstrumentId, float], market: _Market | None
    ) -> tuple[float, float] | None:
        """(net delta USD, |delta| / position value) of the legs held, None without prices or
        without a held leg."""
        if market is None or market.spot_price is None or market.perp_price is None:
            return None
        spot_id, perp_id = self._ids(symbol)
        spot_qty, perp_qty = held.get(spot_id, 0.0), held.get(perp_id, 0.0)
        if not (spot_qty or perp_qty):
            return None
        return net_delta_frac(((spot_qty, market.spot_price), (perp_qty, market.perp_price)))

    def _legs(self, symbol: str, qty: float) -> tuple[TargetPosition, TargetPosition]:
        """Equal base quantity on both legs: spot ``+qty``, perp ``−qty`` (delta-neutral); the
        (immutable) legs of the symbol's last call again while ``qty`` is the same."""
        kept = self._legs_memo.get(symbol)
        if kept is not None and kept[0] == qty:
            return kept[1]
        spot_id, perp_id = self._ids(symbol)
        legs = (TargetPosition(spot_id, qty), TargetPosition(perp_id, -qty))
        self._legs_memo[symbol] = (qty, legs)
        return legs

    # -- entries -----------------------------------------------------------------------------

    def _estimates(self, rates: Mapping[str, RateHistory]) -> _Estimates:
        """Carry estimates of the configured symbols with a full lookback of settled rates;
        those of the last call again when ``rates`` is the same (never mutated) mapping."""
        kept = self._estimates_memo
        if kept is not None and kept[0] is rates:
            return kept[1]
        estimates: dict[str, _Estimate] = {}
        cfg = self.config
        lookback = cfg.rate_lookback_settlements
        memo = self._estimate_memo
        for symbol in cfg.symbols:
            entry = rates.get(symbol)
            history = () if entry is None else entry.rates_per_hour
            if len(history) < lookback:
                continue
            cached = memo.get(symbol)
            if cached is not None and cached[0] is history:
                estimates[symbol] = cached[1]
                continue
            mean = signals.mean_rate_per_hour(history[-lookback:])
            net_apr = signals.net_carry_apr(mean, cfg.holding_horizon_h, self.costs)
            latest = history[-1]
            worth = signals.should_enter(latest, net_apr, cfg.min_net_apr_frac)
            estimate = _Estimate(symbol, mean, latest, net_apr, worth)
            estimates[symbol] = estimate
            memo[symbol] = (history, estimate)
        best = max(estimates.values(), key=lambda e: (e.net_apr_frac, e.symbol), default=None)
        worth_entering = [e for e in estimates.values() if e.worth_entering]
        ranked = tuple(sorted(worth_entering, key=lambda e: (-e.net_apr_frac, e.symbol)))
        result = _Estimates(best, ranked)
        self._estimates_memo = (rates, result)
        return result

    def _candidates(
        self,
        markets: _MarketViews,
        worth_ranked: Sequence[_Estimate],
        positions: Positions,
        exited: Collection[str],
    ) -> list[_Estimate]:
        """Symbols worth entering now, best net APR first (ties by symbol): those of
        ``worth_ranked`` (the estimates worth entering, in that order) not held, not in
        ``exited`` (just exited, or blocked by the flip monitor) and with both prices usable
        and fresh funding."""
        chosen: list[_Estimate] = []
        for estimate in worth_ranked:
            symbol = estimate.symbol
            if symbol in positions or symbol in exited:
                continue
            if markets.enterable(symbol):
                chosen.append(estimate)
        return chosen

    def _enter(
        self,
        snapshot: MarketSnapshot,
        cycle: _Cycle,
        candidates: Sequence[_Estimate],
        positions: Positions,
    ) -> list[PairIntent]:
        if not self.config.enabled:
            return []
        entries: list[PairIntent] = []
        now_ms = cycle.now_ms
        for estimate in candidates:
            if len(positions) >= self.config.max_positions:
                break
            market = cycle.markets.get(estimate.symbol)
            if market is None:  # for the type checker: candidates are configured symbols
                continue
            spot_price, perp_price, basis = market.spot_price, market.perp_price, market.basis_frac
            if spot_price is None or perp_price is None or basis is None:  # for the type checker
                continue
            raw_qty = self.config.position_notional_usd / spot_price
            raw_qty = self._adv_capped(snapshot, estimate.symbol, raw_qty, perp_price, cycle)
            qty = _common_lot_qty(snapshot, market, raw_qty)
            if qty <= 0:
                continue
            entry_rate, normal = self._high_funding(estimate, cycle.rates.get(estimate.symbol))
            positions[estimate.symbol] = HarvestPosition(
                entry_ms=now_ms,
                entry_basis_frac=basis,
                qty=qty,
                entry_net_apr_frac=estimate.net_apr_frac,
                adverse_count=0,
                entry_rate_per_hour=entry_rate,
                normal_rate_per_hour=normal,
            )
            legs = self._legs(estimate.symbol, qty)
            entries.append(PairIntent(f"{estimate.symbol}-{now_ms}", legs, "enter", opening=True))
        return entries

    def _adv_capped(
        self, snapshot: MarketSnapshot, symbol: str, qty: float, perp_price: float, cycle: _Cycle
    ) -> float:
        """``qty`` capped at ``max_short_adv_frac`` of the perp's ADV (alerted when it binds);
        unchanged while the ADV is unknown or the cap is off (``adv_window_h = 0``)."""
        perp_id = self._ids(symbol)[1]
        cfg = self.config
        capped, alert = adv_capped_short_qty(
            snapshot, perp_id, qty, perp_price, cfg.max_short_adv_frac, cfg.adv_window_h
        )
        if alert is not None:
            cycle.alerts.append(alert)
        return capped

    def _high_funding(
        self, estimate: _Estimate, history: RateHistory | None
    ) -> tuple[float | None, float | None]:
        """(entry rate, trailing median) per hour for a high-funding entry — latest rate above
        ``high_funding_8h_frac`` per 8h and the carry estimate above ``funding_normal_mult`` ×
        the median of the last ``funding_median_settlements`` rates recorded (fewer early in a
        run: every one recorded), so the rate is unusual against its own history and the exit
        does not fire at once — else (None, None)."""
        cfg = self.config
        latest = estimate.latest_rate_per_hour
        window = cfg.funding_median_settlements
        if history is None or len(history.rates_per_hour) < cfg.rate_lookback_settlements:
            return None, None
        if latest <= funding_rate_per_hour(cfg.high_funding_8h_frac, 8 * 3600):
            return None, None
        median = statistics.median(history.rates_per_hour[-window:])
        if estimate.rate_per_hour <= signals.normalized_rate_level(median, cfg.funding_normal_mult):
            return None, None  # not unusual against its own trailing median (e.g. no history)
        return latest, median


def _common_lot_qty(snapshot: MarketSnapshot, market: _Market, raw_qty: float) -> float:
    """Round ``raw_qty`` down to the coarser lot step of the two legs, so both legs trade the
    same base quantity after execution rounds each to its own step (steps are powers of ten
    on the venues we trade, so the coarser one is a multiple of the finer)."""
    instruments = snapshot.instruments
    step = Decimal(0)  # the coarser step of the legs listed, 0 (no rounding) without one
    for instrument_id in (market.spot_id, market.perp_id):
        instrument = instruments.get(instrument_id)
        if instrument is not None and instrument.lot_step > step:
            step = instrument.lot_step
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


def _converged_alert(
    symbol: str, entry_basis: float, basis: float, take_frac: float, cost: float
) -> Alert:
    return Alert(
        kind="basis_converged",
        message=(
            f"{symbol}: basis {basis:.4%} converged from entry {entry_basis:.4%} "
            f"(<= {take_frac} x entry; compression {entry_basis - basis:.4%} > round-trip "
            f"cost {cost:.4%}); taking it"
        ),
        fields={
            "symbol": symbol,
            "basis_frac": basis,
            "entry_basis_frac": entry_basis,
            "basis_take_frac": take_frac,
            "round_trip_cost_frac": cost,
        },
    )
