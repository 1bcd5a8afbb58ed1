"""Cross-venue funding arbitrage: the same asset's perp long on the venue with the lowest
funding and short on the venue with the highest, equal base quantity.

Each cycle :meth:`CrossVenueArbStrategy.decide`

1. records every funding settlement it has not seen yet (keyed by ``ts_funding_ms``), per
   perp, normalized per hour, keeping the last ``rate_lookback_h`` hours (:mod:`.rates`);
2. forgets positions entered in an earlier cycle of which the portfolio holds neither leg
   (the entry never filled), with an alert; such a symbol is not re-entered this cycle;
3. closes positions whose long leg's latest rate is above the short leg's
   (``exit_spread_flipped``), whose mean spread fell below ``exit_spread_8h_frac``
   (``exit_spread_collapsed``) or that were held ``max_holding_h`` (``exit_max_holding``);
4. re-emits the holding targets of the other open positions with ``drift_frac =
   delta_rebalance_frac`` (a leg may drift that much), and as ``rebalance_delta`` (traded back
   at the global drift threshold, a ``delta_rebalance`` alert) when the held legs' net delta
   (:func:`strategies.common.net_delta_frac` at each leg's own price) exceeds
   ``delta_rebalance_frac`` of the position value (SEEDS: rebalance when |delta| > 5 %);
5. opens new positions, widest mean spread first, while slots remain; the common quantity is
   capped at ``max_short_adv_frac`` of the short leg's average daily volume over
   ``adv_window_h`` (:func:`strategies.common.adv_capped_short_qty`, a ``short_adv_cap``
   alert when it binds; no cap while that perp's volume is unknown — a replay carries the
   volume of Binance klines only, so a short on another venue is not capped there).

**Entry rule.** For each symbol without a position (and not exited or dropped this cycle:
no exit and re-entry in one cycle) the long leg
is the venue with the lowest mean rate and the short leg the one with the highest (mean =
interval-weighted average of the last ``rate_lookback_h`` hours of settlements, each
normalized per hour; both legs need fresh funding, a full lookback and a price). It is
entered when all of these hold:

a. mean spread ``(short − long) × 8`` > ``entry_spread_8h_frac``;
b. not already flipped: the long leg's latest rate ≤ the short leg's;
c. settlement-aware carry covers costs: with ``F`` = expected funding of the pair over
   ``(now, now + holding_horizon_h]`` counted settlement by settlement — each leg's next
   settlement (its ``ts_next_funding_ms``) at its latest rate, every later one (each
   interval after) at its mean rate, the short leg receiving and the long leg paying — and
   ``C`` = round-trip taker fees and slippage of both legs,
   ``(F − C) × 8760 / holding_horizon_h ≥ min_net_apr_frac``.

The latest rate is the venue's predicted rate live and the last settled rate in replay
(persistence). Rule (c) refuses, for instance, an entry just before a large adverse
settlement of one leg: that settlement is booked in full however briefly the position holds
it. Rule (b) alone does not catch it when the intervals differ — an 8 h long leg about to
settle at 0.3 %/8 h against an hourly short leg whose latest hour printed the same per-hour
rate: the long pays eight hours of the spike at once, the short receives one, and if that
costs more than the carry expected afterwards before the exit, ``F`` falls below ``C``. The
diagnostic
``refused_settlement`` counts symbols that (a), (b) and the naive carry (mean spread × horizon)
would have entered but (c) refused.

The state (:class:`~strategies.cross_venue_arb.state.CrossVenueArbState`: the rate book of
:mod:`.rates` and the open positions) and its JSON layout are in
:mod:`strategies.cross_venue_arb.state`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
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
from strategies.common import adv_capped_short_qty, delta_rebalance_alert, net_delta_frac
from strategies.cross_venue_arb import rates, signals
from strategies.cross_venue_arb.config import CrossVenueArbConfig
from strategies.cross_venue_arb.legs import LegBoard
from strategies.cross_venue_arb.market import (
    BINANCE,
    Candidate,
    LegView,
    common_lot_qty,
    perp_id,
    usable_price,
)
from strategies.cross_venue_arb.state import ArbPosition, CrossVenueArbState
from venues.model import HOUR_MS, InstrumentId

Positions = dict[str, ArbPosition]
"""A cycle's working copy of the state's open positions, keyed by base asset."""
PositionViews = Mapping[str, tuple[LegView | None, LegView | None]]
"""The views of each open position's (long, short) legs this cycle, keyed by base asset."""


def _is_opening(legs: Sequence[TargetPosition], held: Mapping[InstrumentId, float]) -> bool:
    """True unless every leg only reduces |exposure| without crossing zero."""
    for leg in legs:
        current = held.get(leg.instrument_id, 0.0)
        if abs(leg.target_qty) > abs(current) or leg.target_qty * current < 0:
            return True
    return False


class CrossVenueArbStrategy:
    """Cross-venue funding arbitrage implementing ``strategies.base.ConfigurableStrategy``.

    Parameters
    ----------
    config : CrossVenueArbConfig
        Strategy settings. With ``enabled=False`` no new position is opened; open ones are
        still held and exited.
    costs : Mapping[str, VenueCosts]
        Perp taker fee and slippage per venue, bps, for the entry rule.
    name : str
        Its section name (``[strategies.<name>]``).

    Raises
    ------
    ValueError
        If ``costs`` lacks a venue of ``config.venues``.
    """

    config_model: ClassVar[type[BaseModel]] = CrossVenueArbConfig
    refit_every_s: int | None = None
    history_bars = 1

    def __init__(
        self,
        config: CrossVenueArbConfig,
        costs: Mapping[str, signals.VenueCosts],
        name: str = "cross_venue_arb",
    ) -> None:
        missing = [v for v in config.venues if v not in costs]
        if missing:
            raise ValueError(f"no trading costs given for venue(s) {missing!r}")
        self.name = name
        self.config = config
        self.costs = dict(costs)
        self.cadence_s = config.cadence_s
        self._lookback_ms = rates.lookback_ms(config.rate_lookback_h)
        self.history_bars = max(1, config.adv_window_h)  # the ADV window's closes and volumes
        # Every leg's view across cycles, updated where an input changed (issue 14).
        self._legs = LegBoard(
            config.symbols, config.venues, self._lookback_ms, config.entry_spread_8h_frac
        )

    @classmethod
    def from_config(cls, name: str, config: CrossVenueArbConfig, context: StrategyContext) -> Self:
        """The arbitrage of section ``name`` over the listed venues that can trade
        (``context.trading_venues``; a disabled one is skipped), in the listed order, each
        costed with its perp taker fee and slippage.

        Raises
        ------
        ValueError
            If fewer than two of the listed venues can trade.
        """
        usable = [v for v in config.venues if v in context.trading_venues]
        if len(usable) < 2:
            raise ValueError(f"needs at least 2 enabled venues with collateral, has {usable}")
        costs = {
            v: signals.VenueCosts(
                taker_fee_bps=context.costs[v].perp_taker_fee_bps,
                slippage_bps=context.costs[v].slippage_bps,
            )
            for v in usable
        }
        return cls(config.model_copy(update={"venues": usable}), costs, name=name)

    def instruments(self) -> Sequence[InstrumentId]:
        """Per symbol, its Binance perp (the sizing price) then its perp on every venue."""
        out: dict[InstrumentId, None] = {}
        for base in self.config.symbols:
            out[perp_id(BINANCE, base)] = None
            out.update((perp_id(venue, base), None) for venue in self.config.venues)
        return list(out)

    def initial_state(self) -> CrossVenueArbState:
        """No rate history and no open position."""
        return CrossVenueArbState()

    def load_state(self, data: Mapping[str, Any]) -> CrossVenueArbState:
        """Decode a journaled state (:meth:`CrossVenueArbState.from_json`).

        Raises
        ------
        ValueError
            If ``data`` is malformed or of an unknown layout version.
        """
        return CrossVenueArbState.from_json(data)

    def refit(
        self, snapshot: MarketSnapshot, state: CrossVenueArbState, now_ms: int
    ) -> CrossVenueArbState:
        """Nothing to fit: returns ``state`` unchanged."""
        return state

    def decide(
        self,
        snapshot: MarketSnapshot,
        portfolio: PortfolioView,
        state: CrossVenueArbState,
        now_ms: int,
    ) -> Decision[CrossVenueArbState]:
        """Targets for this cycle and the next state (see the module docstring).

        Parameters
        ----------
        snapshot : MarketSnapshot
            Prices and the latest funding of every perp in :meth:`instruments`.
        portfolio : PortfolioView
            This strategy's positions, base units (unfilled entries, opening flags).
        state : CrossVenueArbState
            Previous state (``initial_state()`` on the first call).
        now_ms : int
            Decision time, epoch ms UTC.

        Returns
        -------
        Decision[CrossVenueArbState]
            One intent per symbol exited, held or entered; alerts for flips and unfilled
            entries; diagnostics ``open_positions``, ``entries``, ``exits``, ``candidates``,
            ``refused_settlement``, ``settlements_recorded`` and, when any symbol has two
            ready legs, ``best_spread_8h_frac``/``best_symbol``.
        """
        book: rates.Book = dict(state.rates)
        positions: Positions = dict(state.positions)
        recorded = self._legs.advance(snapshot, state.rates, book, now_ms)
        alerts: list[Alert] = []
        dropped = self._drop_unfilled(positions, portfolio.positions, alerts, now_ms)
        views = {base: self._position_legs(snapshot, base, p) for base, p in positions.items()}
        exits = self._exits(views, positions, alerts, now_ms)
        holds = self._holds(views, positions, portfolio.positions, alerts, now_ms)
        skip = {*exits, *dropped, *portfolio.blocked_bases}  # blocked: flip-monitor cooldown
        pairs = self._pairs(snapshot, positions, skip, now_ms)
        chosen = [c for c in pairs if self._passes(c)]
        entries = self._enter(snapshot, chosen, positions, alerts, now_ms)
        diagnostics: dict[str, float | int | str] = {
            "open_positions": len(positions),
            "entries": len(entries),
            "exits": len(exits),
            "candidates": len(chosen),
            "refused_settlement": sum(1 for c in pairs if self._refused_by_settlement(c)),
            "settlements_recorded": recorded,
        }
        best = self._legs.best_spread()
        if best is not None:
            diagnostics.update(best_spread_8h_frac=best[0], best_symbol=best[1])
        intents = (*exits.values(), *holds, *entries)
        new_state = CrossVenueArbState(rates=book, positions=positions)
        return Decision(intents, new_state, tuple(alerts), diagnostics)

    # -- exits and holds -----------------------------------------------------------------------

    def _drop_unfilled(
        self,
        positions: Positions,
        held: Mapping[InstrumentId, float],
        alerts: list[Alert],
        now_ms: int,
    ) -> list[str]:
        """Forget positions entered in an earlier cycle of which the portfolio holds neither
        leg (risk or a venue refused the entry); returns the symbols dropped, which are not
        re-entered in the same cycle, so a refused entry is re-tried at most every other
        cycle."""
        dropped: list[str] = []
        for base, position in sorted(positions.items()):
            long_id, short_id = _position_ids(base, position)
            if position.entry_ms < now_ms and not (held.get(long_id) or held.get(short_id)):
                del positions[base]
                dropped.append(base)
                message = (
                    f"{base}: legs not held (entry refused by risk or a venue, or closed by "
                    "the funding-flip monitor); dropped"
                )
                fields: dict[str, float | str] = {
                    "symbol": base,
                    "long_venue": position.long,
                    "short_venue": position.short,
                }
                alerts.append(Alert("cross_venue_arb_entry_unfilled", message, fields))
        return dropped

    def _position_legs(
        self, snapshot: MarketSnapshot, base: str, position: ArbPosition
    ) -> tuple[LegView | None, LegView | None]:
        """The views of a position's legs this cycle; ``None`` for a venue or symbol no longer
        configured."""
        return (
            self._legs.view(snapshot, base, position.long),
            self._legs.view(snapshot, base, position.short),
        )

    def _exits(
        self, views: PositionViews, positions: Positions, alerts: list[Alert], now_ms: int
    ) -> dict[str, PairIntent]:
        exits: dict[str, PairIntent] = {}
        for base, position in sorted(positions.items()):
            long, short = views[base]
            long_rate = None if long is None else long.latest_rate_per_hour
            short_rate = None if short is None else short.latest_rate_per_hour
            held_h = (now_ms - position.entry_ms) / HOUR_MS
            reason = signals.exit_reason(
                long_rate,
                short_rate,
                _mean_spread(long, short),
                self.config.exit_spread_8h_frac,
                held_h,
                self.config.max_holding_h,
            )
            if reason is None:
                continue
            flipped = reason == signals.EXIT_SPREAD_FLIPPED
            if flipped and long_rate is not None and short_rate is not None:
                alerts.append(_flip_alert(base, position, long_rate, short_rate))
            ids = _position_ids(base, position)
            zero = tuple(TargetPosition(i, 0.0) for i in ids)
            exits[base] = PairIntent(f"{base}-{now_ms}", zero, reason, opening=False)
        for base in exits:
            del positions[base]
        return exits

    def _holds(
        self,
        views: PositionViews,
        positions: Positions,
        held: Mapping[InstrumentId, float],
        alerts: list[Alert],
        now_ms: int,
    ) -> list[PairIntent]:
        """Holding targets of the open positions: ``drift_frac = delta_rebalance_frac`` while
        the held legs' net delta is within it, ``rebalance_delta`` (global drift) beyond."""
        holds: list[PairIntent] = []
        band = self.config.delta_rebalance_frac
        for base, position in sorted(positions.items()):
            long_id, short_id = _position_ids(base, position)
            legs = _target_legs(long_id, short_id, position.qty)
            opening = _is_opening(legs, held)
            delta = _held_delta(held, views[base])
            intent_id = f"{base}-{now_ms}"
            if delta is not None and delta[1] > band:
                alerts.append(delta_rebalance_alert(base, delta[0], delta[1], band))
                holds.append(PairIntent(intent_id, legs, "rebalance_delta", opening))
            else:
                holds.append(PairIntent(intent_id, legs, "hold", opening, drift_frac=band))
        return holds

    # -- entries -------------------------------------------------------------------------------

    def _pairs(
        self, snapshot: MarketSnapshot, positions: Positions, skip: Collection[str], now_ms: int
    ) -> list[Candidate]:
        """The extreme pair of every symbol not held and not in ``skip`` (exited or dropped
        this cycle: no exit and re-entry in one cycle) whose mean spread passes rule (a),
        widest first (ties by symbol).

        A pair at or below ``entry_spread_8h_frac`` is neither entered nor counted as refused
        by the settlement rule (both need rule (a)), so its carry is not computed (every
        symbol, every cycle): the board lists the symbols above it."""
        pairs: list[Candidate] = []
        for base in self._legs.wide_symbols():
            if base in positions or base in skip:
                continue
            pair = self._legs.extreme_pair(snapshot, base)
            if pair is None:  # a wide symbol has an extreme pair
                raise ValueError(f"{base}: listed above the entry spread without a pair")
            spread, long, short = pair
            pairs.append(self._candidate(base, long, short, spread, now_ms))
        return sorted(pairs, key=lambda c: (-c.spread_8h_frac, c.symbol))

    def _candidate(
        self, base: str, long: LegView, short: LegView, spread: float, now_ms: int
    ) -> Candidate:
        """The candidate of a pair of ready legs whose mean spread (8 h) is ``spread``."""
        if long.forecast is None or short.forecast is None:  # extreme_legs returns ready legs
            raise ValueError(f"{base}: a candidate leg has no funding forecast")
        horizon_h = self.config.holding_horizon_h
        funding = signals.expected_pair_funding_frac(
            long.forecast, short.forecast, now_ms, horizon_h
        )
        cost = signals.round_trip_cost_frac(self.costs[long.venue], self.costs[short.venue])
        naive = spread / signals.HOURS_PER_8H * horizon_h
        net_apr = signals.net_apr_frac(funding, cost, horizon_h)
        return Candidate(base, long, short, spread, funding, naive, cost, net_apr)

    def _pre_checks(self, c: Candidate) -> bool:
        """Rules (a) and (b) of the module docstring, plus a price on every leg."""
        if c.spread_8h_frac <= self.config.entry_spread_8h_frac:
            return False
        if c.long.latest_rate_per_hour is None or c.short.latest_rate_per_hour is None:
            return False
        if signals.is_flipped(c.long.latest_rate_per_hour, c.short.latest_rate_per_hour):
            return False
        return c.long.price is not None and c.short.price is not None

    def _passes(self, c: Candidate) -> bool:
        """All entry rules, (c) included."""
        return self._pre_checks(c) and c.net_apr_frac >= self.config.min_net_apr_frac

    def _refused_by_settlement(self, c: Candidate) -> bool:
        """(a), (b) and the naive carry would enter; the settlement-aware carry (c) refuses."""
        horizon_h = self.config.holding_horizon_h
        naive_apr = signals.net_apr_frac(c.naive_funding_frac, c.cost_frac, horizon_h)
        naive_ok = naive_apr >= self.config.min_net_apr_frac
        return self._pre_checks(c) and naive_ok and not self._passes(c)

    def _enter(
        self,
        snapshot: MarketSnapshot,
        chosen: Sequence[Candidate],
        positions: Positions,
        alerts: list[Alert],
        now_ms: int,
    ) -> list[PairIntent]:
        if not self.config.enabled:
            return []
        entries: list[PairIntent] = []
        for c in chosen:
            if len(positions) >= self.config.max_positions:
                break
            price = usable_price(snapshot, perp_id(BINANCE, c.symbol))
            if price is None:
                continue
            ids = (c.long.instrument_id, c.short.instrument_id)
            qty = self._adv_capped(snapshot, c, self.config.position_notional_usd / price, alerts)
            qty = common_lot_qty(snapshot, ids, qty)
            if qty <= 0:
                continue
            positions[c.symbol] = ArbPosition(
                long=c.long.venue,
                short=c.short.venue,
                entry_ms=now_ms,
                qty=qty,
                entry_spread_8h_frac=c.spread_8h_frac,
                entry_net_apr_frac=c.net_apr_frac,
            )
            legs = _target_legs(*ids, qty)
            entries.append(PairIntent(f"{c.symbol}-{now_ms}", legs, "enter", opening=True))
        return entries

    def _adv_capped(
        self, snapshot: MarketSnapshot, c: Candidate, qty: float, alerts: list[Alert]
    ) -> float:
        """``qty`` capped at ``max_short_adv_frac`` of the short perp's ADV (both legs alike:
        equal base quantity), alerted when it binds; unchanged while that ADV is unknown or
        the cap is off (``adv_window_h = 0``)."""
        if c.short.price is None:  # _pre_checks requires it
            return qty
        cfg = self.config
        capped, alert = adv_capped_short_qty(
            snapshot,
            c.short.instrument_id,
            qty,
            c.short.price,
            cfg.max_short_adv_frac,
            cfg.adv_window_h,
        )
        if alert is not None:
            alerts.append(alert)
        return capped


def _held_delta(
    held: Mapping[InstrumentId, float], views: tuple[LegView | None, LegView | None]
) -> tuple[float, float] | None:
    """(net delta USD, |delta| / position value) of a position's held legs at their own
    prices, None without a price or without a held leg."""
    legs: list[tuple[float, float]] = []
    for view in views:
        if view is None or view.price is None:
            return None
        legs.append((held.get(view.instrument_id, 0.0), view.price))
    if not any(q for q, _ in legs):
        return None
    return net_delta_frac(legs)


def _position_ids(base: str, position: ArbPosition) -> tuple[InstrumentId, InstrumentId]:
    return perp_id(position.long, base), perp_id(position.short, base)


def _mean_spread(long: LegView | None, short: LegView | None) -> float | None:
    if long is None or short is None:
        return None
    long_mean, short_mean = long.mean_rate_per_hour, short.mean_rate_per_hour
    if long_mean is None or short_mean is None:
        return None
    return signals.spread_8h_frac(short_mean, long_mean)


def _target_legs(
    long_id: InstrumentId, short_id: InstrumentId, qty: float
) -> tuple[TargetPosition, TargetPosition]:
    """Equal base quantity: ``+qty`` on the long venue's perp, ``−qty`` on the short one's."""
    return TargetPosition(long_id, qty), TargetPosition(short_id, -qty)


def _flip_alert(
    base: str, position: ArbPosition, long_rate_ph: float, short_rate_ph: float
) -> Alert:
    long_8h = long_rate_ph * signals.HOURS_PER_8H
    short_8h = short_rate_ph * signals.HOURS_PER_8H
    return Alert(
        kind="cross_venue_spread_flip",
        message=(
            f"{base}: long leg {position.long} funding {long_8h:.4%}/8h now above short leg "
            f"{position.short} {short_8h:.4%}/8h; closing"
        ),
        fields={
            "symbol": base,
            "long_venue": position.long,
            "short_venue": position.short,
            "long_rate_8h_frac": long_8h,
            "short_rate_8h_frac": short_8h,
        },
    )
