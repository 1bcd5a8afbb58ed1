"""Options delta hedger: hold a straddle or strangle, keep the book's delta in a band with the
perpetual, attribute its P&L to the greeks.

Each cycle (hourly by default), on the option chain of the hedge perpetual
(``MarketSnapshot.option_chains``; a replay's is model-priced, ``[option_chain]``):

1. **attribution** of the step just ended: the book held since the last cycle (each option's
   qty, price, forward, implied volatility and greeks, and the perpetual hedge, kept in the
   state) against this cycle's prices — ``ΔV ≈ Δ·dF + ½Γ·dF² + Θ·dt + ν·dσ`` per option
   (:func:`strategies.options.pnl_attribution.attribute_pnl`), the hedge's ``h·dF`` in the
   delta term, the rest the residual; summed into the state (journaled with it);
2. **structure**: with no option held, or once the held expiry is ``roll_before_expiry_h``
   away, the legs are (re)opened at the expiry nearest ``target_expiry_days`` and the strikes
   nearest the target moneyness (:mod:`strategies.options_hedger.structure`), long or short
   ``qty_coin`` each (rounded down to the options' lot);
3. **hedge**: the book's delta — Σ qty × Black-76 delta of the options it will hold
   (:mod:`strategies.options.black_scholes`, at the chain's implied volatility of the option's
   expiry; the options are valued in USD, so the plain Black delta is the USD delta, no
   premium adjustment: :mod:`strategies.options.inverse`) plus the perpetual held — is brought
   back to zero when outside ``±delta_band_coin``, in the perpetual's lots, and a trade below
   the minimum (the larger of ``min_hedge_qty_coin``, the perpetual's minimum quantity and its
   minimum notional) is skipped (:func:`strategies.options.delta_hedge.decide_hedge`).

The option legs and the hedge go in one intent (both or neither). The strategy holds its own
book: it hedges its options, not what other strategies hold.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, ClassVar, Self

from pydantic import BaseModel

from strategies.base import (
    Alert,
    Decision,
    MarketSnapshot,
    PairIntent,
    PortfolioView,
    StrategyContext,
)
from strategies.base import TargetPosition as Target
from strategies.options.black_scholes import (
    MS_PER_DAY,
    delta,
    gamma_per_usd,
    theta_usd_per_day,
    vega_usd_per_vol_point,
    years_to_expiry,
)
from strategies.options.chain import OptionChain
from strategies.options.delta_hedge import HedgeDecision, decide_hedge
from strategies.options.held_delta import chain_iv_frac
from strategies.options.pnl_attribution import Mark, StartGreeks, attribute_pnl
from strategies.options_hedger.config import OptionsHedgerConfig
from strategies.options_hedger.state import (
    ATTRIBUTION_KEYS,
    OptionMark,
    OptionsHedgerState,
    zero_attribution,
)
from strategies.options_hedger.structure import needs_roll, select_structure
from venues.model import Instrument, InstrumentId, InstrumentKind, OptionSpec

_DEFAULT_LOT = Decimal("0.001")


def option_mark(
    spec: OptionSpec, qty: float, price_usd: float, forward_usd: float, iv_frac: float, now_ms: int
) -> OptionMark:
    """An option's mark and Black-76 greeks per coin at ``now_ms`` (theta uncapped, the rate
    attribution needs). Raises ``ValueError`` for an expired option or a bad input."""
    t = float(years_to_expiry(now_ms, spec.expiry_ms))
    k = float(spec.strike_usd)
    return OptionMark(
        qty=qty,
        price_usd=price_usd,
        forward_usd=forward_usd,
        iv_frac=iv_frac,
        delta=float(delta(forward_usd, k, t, iv_frac, spec.is_call)),
        gamma_per_usd=float(gamma_per_usd(forward_usd, k, t, iv_frac)),
        theta_usd_per_day=float(
            theta_usd_per_day(forward_usd, k, t, iv_frac, spec.is_call, remaining_life_cap=False)
        ),
        vega_usd_per_vol_point=float(vega_usd_per_vol_point(forward_usd, k, t, iv_frac)),
    )


def book_delta_coin(marks: Mapping[str, OptionMark], hedge_qty: float) -> float:
    """Σ qty × delta over the options plus the perpetual hedge, coins."""
    return sum(m.qty * m.delta for m in marks.values()) + hedge_qty


class OptionsDeltaHedgerStrategy:
    """Straddle/strangle holder and delta hedger (see the module docstring); implements
    ``strategies.base.ConfigurableStrategy``.

    Parameters
    ----------
    config : OptionsHedgerConfig
    name : str
        Its section name (``[strategies.<name>]``).
    """

    config_model: ClassVar[type[BaseModel]] = OptionsHedgerConfig
    reads_option_chains: ClassVar[bool] = True
    """On live data the engine reads the venue's own option chain of the hedge perpetual when
    its venue lists options (Deribit; :mod:`agent.engine.live_options`)."""
    refit_every_s: int | None = None

    def __init__(self, config: OptionsHedgerConfig, name: str = "options_delta_hedger") -> None:
        self.name = name
        self.config = config
        self.cadence_s = config.cadence_s
        self.history_bars = config.history_bars
        self._perp = InstrumentId(config.venue, InstrumentKind.PERP, config.perp_symbol)
        self._sign = 1.0 if config.side == "long" else -1.0
        strangle = config.structure == "strangle"
        self._call_m = config.call_moneyness_frac if strangle else 1.0
        self._put_m = config.put_moneyness_frac if strangle else 1.0

    @classmethod
    def from_config(cls, name: str, config: OptionsHedgerConfig, context: StrategyContext) -> Self:
        """The hedger of section ``name`` (it needs nothing from ``context``)."""
        return cls(config, name=name)

    def instruments(self) -> Sequence[InstrumentId]:
        """The hedge perpetual (the options come with its chain)."""
        return [self._perp]

    def initial_state(self) -> OptionsHedgerState:
        """No book yet."""
        return OptionsHedgerState()

    def load_state(self, data: Mapping[str, Any]) -> OptionsHedgerState:
        """Decode a journaled state (:meth:`OptionsHedgerState.from_json`).

        Raises
        ------
        ValueError
            If ``data`` is malformed or of an unknown layout version.
        """
        return OptionsHedgerState.from_json(data)

    def refit(
        self, snapshot: MarketSnapshot, state: OptionsHedgerState, now_ms: int
    ) -> OptionsHedgerState:
        """No heavy fit."""
        return state

    def decide(
        self,
        snapshot: MarketSnapshot,
        portfolio: PortfolioView,
        state: OptionsHedgerState,
        now_ms: int,
    ) -> Decision[OptionsHedgerState]:
        """Attribution, structure and hedge for this cycle (module docstring)."""
        forward = snapshot.prices.get(self._perp)
        chain = snapshot.option_chains.get(self._perp)
        if forward is None or chain is None or self._perp in snapshot.stale:
            return Decision((), state, (), {"waiting_for": "perp price and option chain"})
        last = _attribute(state, snapshot, chain, forward, now_ms, self.config.venue)
        held = {
            iid: q
            for iid, q in portfolio.positions.items()
            if iid.kind is InstrumentKind.OPTION and q
        }
        hedge = portfolio.positions.get(self._perp, 0.0)
        targets, reason, alerts = self._option_targets(held, chain, now_ms)
        marks = {
            iid.symbol: self._mark(iid, q, chain, snapshot, forward, now_ms)
            for iid, q in targets.items()
            if q
        }
        before = book_delta_coin(marks, hedge)
        decision = self._hedge(before, snapshot, forward)
        legs = [Target(i, q) for i, q in sorted(targets.items()) if q != held.get(i, 0.0)]
        new_hedge = hedge
        if decision.reason == "hedge":
            new_hedge = float(Decimal(repr(hedge)) + decision.trade_qty)
            legs.append(Target(self._perp, new_hedge))
        label = reason or "delta_hedge"
        intents = (PairIntent(f"{label}-{now_ms}", tuple(legs), label),) if legs else ()
        total = {k: state.total[k] + last[k] for k in ATTRIBUTION_KEYS}
        new_state = OptionsHedgerState(
            marks, new_hedge, forward, now_ms, last, total, state.steps + 1
        )
        diagnostics: dict[str, float | int | str] = {
            "book_delta_before_coin": round(before, 6),
            "book_delta_after_coin": round(book_delta_coin(marks, new_hedge), 6),
            "hedge": decision.reason,
            "gamma_coin_per_usd": sum(m.qty * m.gamma_per_usd for m in marks.values()),
            "vega_usd_per_vol_point": sum(m.qty * m.vega_usd_per_vol_point for m in marks.values()),
            "theta_usd_per_day": sum(m.qty * m.theta_usd_per_day for m in marks.values()),
            **{f"pnl_{k}": round(v, 6) for k, v in last.items()},
        }
        return Decision(intents, new_state, alerts, diagnostics)

    # ---- parts -----------------------------------------------------------------------------

    def _option_targets(
        self, held: Mapping[InstrumentId, float], chain: OptionChain, now_ms: int
    ) -> tuple[dict[InstrumentId, float], str | None, tuple[Alert, ...]]:
        """Target option positions, the reason they change (None: they do not), alerts."""
        due = [i for i in held if needs_roll(_expiry(i), now_ms, self.config.roll_before_expiry_h)]
        if held and not due:
            return dict(held), None, ()
        selection = select_structure(
            chain,
            now_ms,
            target_expiry_days=self.config.target_expiry_days,
            roll_before_expiry_h=self.config.roll_before_expiry_h,
            call_moneyness_frac=self._call_m,
            put_moneyness_frac=self._put_m,
        )
        if selection is None:
            message = "no listed expiry beyond the roll threshold: structure not (re)opened"
            return dict(held), None, (Alert("options_no_expiry", message),)
        lot = Decimal(repr(chain.lot_step_coin))
        lots = (Decimal(repr(self.config.qty_coin)) / lot).to_integral_value(rounding=ROUND_FLOOR)
        if lots == 0:
            message = f"qty_coin {self.config.qty_coin} is below one option lot ({lot} coin)"
            return dict(held), None, (Alert("options_qty_below_lot", message),)
        qty = self._sign * float(lots * lot)
        targets = dict.fromkeys(held, 0.0)
        targets[chain.instrument_id(selection.call_index)] = qty
        targets[chain.instrument_id(selection.put_index)] = qty
        return targets, ("roll_structure" if held else "open_structure"), ()

    def _mark(
        self,
        iid: InstrumentId,
        qty: float,
        chain: OptionChain,
        snapshot: MarketSnapshot,
        forward: float,
        now_ms: int,
    ) -> OptionMark:
        spec = OptionSpec.parse(iid.symbol)
        k = chain.find(iid)
        price = snapshot.prices.get(iid)
        if price is None and k is not None:
            price = float(chain.price_usd[k])
        if price is None:
            raise ValueError(f"no price for held option {iid}")
        iv = chain_iv_frac(chain, spec, price, forward, now_ms)
        return option_mark(spec, qty, price, forward, iv, now_ms)

    def _hedge(self, book_delta: float, snapshot: MarketSnapshot, forward: float) -> HedgeDecision:
        lot, min_qty = _perp_minimums(snapshot.instruments.get(self._perp), forward)
        min_trade = max(Decimal(repr(self.config.min_hedge_qty_coin)), min_qty)
        return decide_hedge(
            book_delta,
            band_coin=self.config.delta_band_coin,
            lot_size=lot,
            min_trade_qty=min_trade,
        )


def _expiry(iid: InstrumentId) -> int:
    return OptionSpec.parse(iid.symbol).expiry_ms


def _perp_minimums(instrument: Instrument | None, forward: float) -> tuple[Decimal, Decimal]:
    """The perpetual's lot step and smallest tradable quantity (its minimum quantity, or the
    lots its minimum notional needs at ``forward``), coins."""
    if instrument is None:
        return _DEFAULT_LOT, _DEFAULT_LOT
    lot = instrument.lot_step
    by_notional = Decimal(0)
    if instrument.min_notional_usd > 0:
        lots = (instrument.min_notional_usd / Decimal(repr(forward)) / lot).to_integral_value(
            rounding=ROUND_CEILING
        )
        by_notional = lots * lot
    return lot, max(instrument.min_qty, by_notional)


def _attribute(
    state: OptionsHedgerState,
    snapshot: MarketSnapshot,
    chain: OptionChain,
    forward: float,
    now_ms: int,
    venue: str,
) -> dict[str, float]:
    """The last step's P&L of the book held since ``state.marked_ms``, by greek, USD."""
    result = zero_attribution()
    if state.marked_ms is None:
        return result
    elapsed_days = (now_ms - state.marked_ms) / MS_PER_DAY
    for symbol, m in state.marks.items():
        spec = OptionSpec.parse(symbol)
        iid = InstrumentId(venue, InstrumentKind.OPTION, symbol)
        if spec.expiry_ms <= now_ms:  # settled at intrinsic value this step
            end_price = float(spec.intrinsic_usd(Decimal(repr(forward))))
            end_iv = m.iv_frac
        else:
            end_price = snapshot.prices.get(iid, m.price_usd)
            end_iv = chain_iv_frac(chain, spec, end_price, forward, now_ms)
        greeks = StartGreeks(
            m.qty * m.delta,
            m.qty * m.gamma_per_usd,
            m.qty * m.theta_usd_per_day,
            m.qty * m.vega_usd_per_vol_point,
        )
        step = attribute_pnl(
            Mark(m.qty * m.price_usd, m.forward_usd, m.iv_frac),
            Mark(m.qty * end_price, forward, end_iv),
            greeks,
            elapsed_days,
        )
        for key in ATTRIBUTION_KEYS:
            result[key] += getattr(step, key)
    hedge_usd = state.hedge_qty * (forward - state.forward_usd)
    result["actual_usd"] += hedge_usd
    result["delta_usd"] += hedge_usd
    if not all(math.isfinite(v) for v in result.values()):
        raise ValueError(f"non-finite attribution at {now_ms}: {result}")
    return result


__all__ = ["OptionsDeltaHedgerStrategy", "book_delta_coin", "option_mark"]
