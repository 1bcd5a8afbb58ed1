# Reference copy of strategies/factor_neutral/strategy.py at HEAD f6fff63, before the per-cycle
# fast paths of issue 14: tests/unit/test_factor_neutral_incremental.py checks that the current
# strategy decides exactly as this one. Do not edit (other than to follow an intended
# change of the strategy's decisions).
"""Factor-neutral long/short book over one venue's perps, re-optimized every rebalance period.

:meth:`FactorNeutralStrategy.refit` (every ``rebalance_every_h`` hours, in a worker thread)
builds the cross-section of usable perps, computes per asset

- the alpha (``alpha_signal``): funding carry ``z(−funding/h)``, skip-momentum
  ``z(log P[t−s] − log P[t−s−L])``, or their ``blend``;
- the beta to ``market_symbol`` over ``beta_window_bars`` hourly log returns (at least
  ``beta_min_obs``, else unknown and the asset is excluded — never a silent 1.0);
- the z-scored exposures of ``neutral_factors`` (momentum, volatility; no size factor: the
  snapshot has no volumes),

and solves :func:`~strategies.factor_neutral.optimizer.solve_factor_neutral` for weights
``w`` (fractions of ``capital_usd``): max ``α·w`` with ``w·β = 0``, ``Σw = 0``,
``|w·F_f| ≤ factor_tol``, ``Σ|w| = gross_leverage``, ``|w_i| ≤ max_weight_frac``. The book
is stored in the state. If the problem is infeasible (or HiGHS fails) the book is cleared, the
strategy trades nothing until the next refit, and the next :meth:`decide` raises an ``Alert``
saying why (``factor_neutral_infeasible`` / ``factor_neutral_solver_failed``).

:meth:`FactorNeutralStrategy.decide` (every ``cadence_s``) turns the book into target
quantities ``w_i · capital_usd / P_i`` at the prices of the first cycle after the refit (held
until the next refit) and re-emits them as one
:class:`~strategies.base.PairIntent` (``rebalance-<now_ms>``) with every leg, plus a flat
target for any held perp that left the book. Sizing caps each short at ``max_short_adv_frac``
of its average daily volume over ``adv_window_h`` by scaling the whole book alike (so it stays
beta-, dollar- and factor-neutral; a ``short_adv_cap`` alert names the binding short; no cap
while a volume is unknown). With ``delta_rebalance_frac`` > 0, a held book whose net delta
(long notional + short notional at the current prices) exceeds that fraction of the position
value (half the gross notional: :func:`strategies.common.net_delta_frac` of the long and the
short side) is re-sized at the current prices (reason ``rebalance_delta``, a
``delta_rebalance`` alert with the numbers; SEEDS: rebalance when |delta| > 5 %). Execution
trades only the legs past its drift threshold. The intent is ``opening`` unless every leg only
shrinks toward flat (so a drawdown breaker, which blocks opening intents, still lets a pure
reduction through). A book leg
without a usable price blocks the whole intent (a partial book would not be neutral).

An asset is excluded from a refit (listed in ``state.excluded`` with the reason) when it is
stale, has no positive price, no funding rate or a stale one (funding alphas; a settled rate
older than two of its intervals), or an unknown beta, momentum or volatility (missing or
non-positive closes in the window). Until ``market_symbol`` has ``history_bars`` closes the
strategy is warming up: no book, no alert.

The state (:class:`~strategies.factor_neutral.state.FactorNeutralState`: the book, its sizing,
the exclusions and the refit's pending alerts) and its JSON layout are in
:mod:`strategies.factor_neutral.state`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel

from strategies.base import (
    Alert,
    Decision,
    FloatArray,
    MarketSnapshot,
    PairIntent,
    PortfolioView,
    StrategyContext,
    TargetPosition,
)
from strategies.common import (
    adv_capped_short_qty,
    delta_rebalance_alert,
    funding_is_stale,
    net_delta_frac,
)
from strategies.factor_neutral.config import FactorNeutralConfig
from strategies.factor_neutral.optimizer import (
    InfeasibleError,
    SolverError,
    min_assets_for,
    solve_factor_neutral,
)
from strategies.factor_neutral.signals import (
    blend_alpha,
    funding_carry_alpha,
    log_momentum,
    market_betas,
    realized_vol,
    zscore,
)
from strategies.factor_neutral.state import Book, FactorNeutralState, SizedBook
from venues.model import HOUR_S, InstrumentId, InstrumentKind, funding_rate_per_hour

IntArray = npt.NDArray[np.intp]


@dataclass(frozen=True, slots=True)
class _CrossSection:
    """Usable assets of one refit, in config order, with their raw per-asset inputs."""

    symbols: list[str]
    log_closes: FloatArray  # (history_bars, k), NaN where a close is missing or unusable
    rates_per_hour: FloatArray  # (k,), NaN where no usable funding rate
    excluded: dict[str, str]


class FactorNeutralStrategy:
    """Factor-neutral long/short perps book implementing
    ``strategies.base.ConfigurableStrategy``.

    Parameters
    ----------
    config : FactorNeutralConfig
        The ``[strategies.factor_neutral]`` section.
    name : str
        Its section name (``[strategies.<name>]``).
    """

    config_model: ClassVar[type[BaseModel]] = FactorNeutralConfig

    def __init__(self, config: FactorNeutralConfig, name: str = "factor_neutral") -> None:
        self.name = name
        self.config = config
        self.cadence_s = config.cadence_s
        self.refit_every_s: int | None = config.rebalance_every_h * HOUR_S
        self.history_bars = (
            max(
                config.momentum_bars + config.skip_bars,
                config.beta_window_bars,
                config.vol_window_bars,
            )
            + 1
        )
        self.history_bars = max(self.history_bars, config.adv_window_h)
        self._ids = {s: InstrumentId(config.venue, InstrumentKind.PERP, s) for s in config.symbols}
        self._id_set = frozenset(self._ids.values())

    @classmethod
    def from_config(cls, name: str, config: FactorNeutralConfig, context: StrategyContext) -> Self:
        """The book of section ``name`` (it needs nothing from ``context``)."""
        return cls(config, name=name)

    def instruments(self) -> Sequence[InstrumentId]:
        """The perp of every configured symbol on the configured venue."""
        return list(self._ids.values())

    def initial_state(self) -> FactorNeutralState:
        """No book, nothing excluded, no pending alert."""
        return FactorNeutralState()

    def load_state(self, data: Mapping[str, Any]) -> FactorNeutralState:
        """Decode a journaled state (:meth:`FactorNeutralState.from_json`).

        Raises
        ------
        ValueError
            If ``data`` is malformed or of an unknown layout version.
        """
        return FactorNeutralState.from_json(data)

    # ------------------------------------------------------------------ refit

    def refit(
        self, snapshot: MarketSnapshot, state: FactorNeutralState, now_ms: int
    ) -> FactorNeutralState:
        """Re-optimize the book from the snapshot; pure (see the module docstring).

        Parameters
        ----------
        snapshot : MarketSnapshot
            Hourly closes (``history_bars``), prices and last settled funding rates.
        state : FactorNeutralState
            Current state; only its pending alerts are carried over.
        now_ms : int
            Time of the fit, epoch ms UTC.

        Returns
        -------
        FactorNeutralState
            With the new book (not sized yet), or ``book=None`` and a pending alert when
            infeasible.
        """
        pending = list(state.pending_alerts)
        market = snapshot.closes.get(self._ids[self.config.market_symbol])
        if market is None or len(market) < self.history_bars:
            return FactorNeutralState(book=None, excluded={}, pending_alerts=tuple(pending))
        cs = self._cross_section(snapshot, now_ms)
        kept, betas, excluded = self._known_betas(cs)
        if excluded:
            pending.append(_excluded_alert(excluded))
        try:
            book = self._optimize(cs, kept, betas, now_ms)
        except InfeasibleError as e:
            pending.append(Alert("factor_neutral_infeasible", str(e), {"n": e.n_assets}))
            book = None
        except SolverError as e:
            pending.append(Alert("factor_neutral_solver_failed", str(e), {}))
            book = None
        return FactorNeutralState(book=book, excluded=excluded, pending_alerts=tuple(pending))

    def _cross_section(self, snapshot: MarketSnapshot, now_ms: int) -> _CrossSection:
        """Usable symbols (fresh, priced, with funding when the alpha needs it) and inputs."""
        symbols: list[str] = []
        columns: list[FloatArray] = []
        rates: list[float] = []
        excluded: dict[str, str] = {}
        for sym, iid in self._ids.items():
            reason = self._price_problem(snapshot, iid)
            rate = self._rate_per_hour(snapshot, iid, now_ms)
            if reason is None and self.config.uses_funding_alpha and isinstance(rate, str):
                reason = rate
            if reason is not None:
                excluded[sym] = reason
                continue
            symbols.append(sym)
            columns.append(_log_window(snapshot.closes.get(iid), self.history_bars))
            rates.append(rate if isinstance(rate, float) else math.nan)
        panel = np.column_stack(columns) if columns else np.empty((self.history_bars, 0))
        return _CrossSection(symbols, panel, np.asarray(rates, dtype=np.float64), excluded)

    @staticmethod
    def _price_problem(snapshot: MarketSnapshot, iid: InstrumentId) -> str | None:
        """Why an instrument cannot be priced now (``stale``, ``no_price``), or None."""
        if iid in snapshot.stale:
            return "stale"
        price = snapshot.prices.get(iid)
        if price is None or not (math.isfinite(price) and price > 0):
            return "no_price"
        return None

    @staticmethod
    def _rate_per_hour(snapshot: MarketSnapshot, iid: InstrumentId, now_ms: int) -> float | str:
        """Last settled funding rate per hour, or why there is none usable."""
        funding = snapshot.funding.get(iid)
        if funding is None or not math.isfinite(funding.rate) or funding.interval_s <= 0:
            return "no_funding"
        if funding_is_stale(funding.ts_funding_ms, funding.interval_s, now_ms):
            return "funding_stale"
        return funding_rate_per_hour(funding.rate, funding.interval_s)

    def _known_betas(self, cs: _CrossSection) -> tuple[IntArray, FloatArray, dict[str, str]]:
        """Indices (into ``cs.symbols``) of assets whose beta and exposures are known, their
        betas, and the exclusion reasons of all assets (earlier ones included)."""
        c = self.config
        excluded = dict(cs.excluded)
        if c.market_symbol not in cs.symbols:
            reason = excluded.get(c.market_symbol, "unusable")
            for sym in cs.symbols:
                excluded[sym] = f"market_{reason}"
            return np.empty(0, dtype=np.intp), np.empty(0), excluded
        market_col = cs.symbols.index(c.market_symbol)
        betas = market_betas(cs.log_closes, market_col, c.beta_window_bars, c.beta_min_obs)
        problems = {"beta_unknown": ~np.isfinite(betas)}
        if c.uses_momentum_alpha or "momentum" in c.neutral_factors:
            problems["momentum_unknown"] = ~np.isfinite(self._momentum(cs.log_closes))
        if "volatility" in c.neutral_factors:
            problems["volatility_unknown"] = ~np.isfinite(self._volatility(cs.log_closes))
        keep = np.ones(len(cs.symbols), dtype=bool)
        for reason, bad in problems.items():
            for k in np.flatnonzero(bad & keep):
                excluded[cs.symbols[k]] = reason
            keep &= ~bad
        kept = np.flatnonzero(keep)
        return kept, betas[kept], excluded

    def _momentum(self, log_closes: FloatArray) -> FloatArray:
        return log_momentum(log_closes, self.config.momentum_bars, self.config.skip_bars)

    def _volatility(self, log_closes: FloatArray) -> FloatArray:
        c = self.config
        return realized_vol(log_closes, c.vol_window_bars, min_obs=c.beta_min_obs)

    def _alpha(self, log_closes: FloatArray, rates_per_hour: FloatArray) -> FloatArray:
        """Alpha of ``alpha_signal`` over the kept cross-section, shape ``(k,)``."""
        c = self.config
        if c.alpha_signal == "funding_carry":
            return funding_carry_alpha(rates_per_hour)
        momentum = zscore(self._momentum(log_closes))
        if c.alpha_signal == "momentum":
            return momentum
        carry = funding_carry_alpha(rates_per_hour)
        return blend_alpha(carry, momentum, c.blend_carry_weight_frac)

    def _factors(self, log_closes: FloatArray) -> FloatArray:
        """z-scored exposures of ``neutral_factors``, shape ``(k, n_factors)``."""
        columns = [
            zscore(self._momentum(log_closes) if f == "momentum" else self._volatility(log_closes))
            for f in self.config.neutral_factors
        ]
        return np.column_stack(columns) if columns else np.empty((log_closes.shape[1], 0))

    def _optimize(self, cs: _CrossSection, kept: IntArray, betas: FloatArray, now_ms: int) -> Book:
        """Solve for the kept assets and return the book.

        Raises
        ------
        InfeasibleError
            As :func:`~strategies.factor_neutral.optimizer.solve_factor_neutral`.
        """
        c = self.config
        if kept.size < min_assets_for(c.gross_leverage, c.max_weight_frac):
            raise InfeasibleError(
                f"only {kept.size} usable assets, at least "
                f"{min_assets_for(c.gross_leverage, c.max_weight_frac)} needed",
                n_assets=int(kept.size),
                gross=c.gross_leverage,
                max_weight=c.max_weight_frac,
                factor_tol=c.factor_tol,
                n_factors=len(c.neutral_factors),
            )
        panel = cs.log_closes[:, kept]
        alpha = self._alpha(panel, cs.rates_per_hour[kept])
        solution = solve_factor_neutral(
            alpha,
            betas,
            self._factors(panel),
            gross=c.gross_leverage,
            max_weight=c.max_weight_frac,
            factor_tol=c.factor_tol,
        )
        symbols = [cs.symbols[k] for k in kept]
        return Book(
            fitted_at_ms=int(now_ms),
            weights=dict(zip(symbols, solution.weights.tolist(), strict=True)),
            betas=dict(zip(symbols, betas.tolist(), strict=True)),
            expected_alpha=solution.expected_alpha,
            method=solution.method,
            proven_optimal=solution.proven_optimal,
        )

    # ----------------------------------------------------------------- decide

    def decide(
        self,
        snapshot: MarketSnapshot,
        portfolio: PortfolioView,
        state: FactorNeutralState,
        now_ms: int,
    ) -> Decision[FactorNeutralState]:
        """Target quantities of the stored book at the current prices; pure.

        Parameters
        ----------
        snapshot : MarketSnapshot
            Current prices (sizing) and funding (the carry diagnostic).
        portfolio : PortfolioView
            This strategy's positions: held perps that left the book get a flat target.
        state : FactorNeutralState
            State from :meth:`refit`.
        now_ms : int
            Decision time, epoch ms UTC.

        Returns
        -------
        Decision[FactorNeutralState]
            One ``rebalance`` intent with every leg, or none (no book, or a leg unpriced);
            the refit's pending alerts, emitted once.
        """
        alerts = list(state.pending_alerts)
        new_state = replace(state, pending_alerts=())
        book = state.book
        if book is None:
            return Decision((), new_state, tuple(alerts), {"fitted": 0})
        held = {i.symbol: q for i, q in portfolio.positions.items() if i in self._id_set and q}
        weights = {s: w for s, w in book.weights.items() if w != 0.0}
        legs_syms = sorted(set(weights) | set(held))
        unpriced = sorted(s for s in legs_syms if self._price_problem(snapshot, self._ids[s]))
        if unpriced:
            message = f"no usable price for {unpriced}; book not re-emitted this cycle"
            alerts.append(
                Alert("factor_neutral_price_missing", message, {"symbols": ",".join(unpriced)})
            )
            return Decision((), new_state, tuple(alerts), {"fitted": 1, "unpriced": len(unpriced)})
        prices = {s: float(snapshot.prices[self._ids[s]]) for s in legs_syms}
        sized = state.sized
        reason = "rebalance"
        if sized is None or sized.fitted_at_ms != book.fitted_at_ms:
            # Size the book once per refit, at the prices of its first cycle; re-sizing every
            # hour to constant notional traded every price move past the drift threshold.
            sized = self._size(book, weights, prices, snapshot, alerts)
            new_state = replace(new_state, sized=sized)
        elif self._delta_breached(held, prices, alerts):
            sized = self._size(book, weights, prices, snapshot, alerts)
            new_state = replace(new_state, sized=sized)
            reason = "rebalance_delta"
        targets = {s: sized.qty.get(s, 0.0) for s in legs_syms}
        legs = tuple(TargetPosition(self._ids[s], q) for s, q in targets.items())
        opening = any(_grows(held.get(s, 0.0), q) for s, q in targets.items())
        intent = PairIntent(f"rebalance-{now_ms}", legs, reason, opening=opening)
        diagnostics = self._diagnostics(book, targets, held, prices, snapshot)
        return Decision((intent,), new_state, tuple(alerts), diagnostics)

    def _size(
        self,
        book: Book,
        weights: Mapping[str, float],
        prices: Mapping[str, float],
        snapshot: MarketSnapshot,
        alerts: list[Alert],
    ) -> SizedBook:
        """``w_i · capital_usd / P_i`` per symbol, the whole book scaled by the most binding
        short's ADV cap (cap / qty, alerted) so it stays neutral; unscaled while no cap binds."""
        cfg = self.config
        qty = {s: weights[s] * cfg.capital_usd / prices[s] for s in weights}
        scale, binding = 1.0, None
        for sym, q in sorted(qty.items()):
            if q >= 0:
                continue
            capped, alert = adv_capped_short_qty(
                snapshot, self._ids[sym], -q, prices[sym], cfg.max_short_adv_frac, cfg.adv_window_h
            )
            if alert is not None and capped / -q < scale:
                scale, binding = capped / -q, alert
        if binding is not None:
            alerts.append(binding)
            qty = {s: q * scale for s, q in qty.items()}
        return SizedBook(fitted_at_ms=book.fitted_at_ms, qty=qty)

    def _delta_breached(
        self, held: Mapping[str, float], prices: Mapping[str, float], alerts: list[Alert]
    ) -> bool:
        """Whether the held book's net delta is beyond ``delta_rebalance_frac`` (alerted);
        False when the rule is off (0) or nothing is held."""
        band = self.config.delta_rebalance_frac
        if band == 0 or not held:
            return False
        notional = [q * prices[s] for s, q in held.items()]
        long_usd = math.fsum(v for v in notional if v > 0)
        short_usd = math.fsum(v for v in notional if v < 0)
        delta, frac = net_delta_frac(((long_usd, 1.0), (short_usd, 1.0)))
        if frac <= band:
            return False
        alerts.append(delta_rebalance_alert(self.name, delta, frac, band))
        return True

    def _diagnostics(
        self,
        book: Book,
        targets: Mapping[str, float],
        held: Mapping[str, float],
        prices: Mapping[str, float],
        snapshot: MarketSnapshot,
    ) -> dict[str, float | int | str]:
        """Expected alpha, target gross / net / beta exposure, held gross, funding carry."""
        capital = self.config.capital_usd
        notional = {s: q * prices[s] for s, q in targets.items()}
        betas = book.betas
        diagnostics: dict[str, float | int | str] = {
            "fitted": 1,
            "fitted_at_ms": book.fitted_at_ms,
            "method": book.method,
            "expected_alpha": _round(float(book.expected_alpha), 9),
            "n_long": sum(1 for v in notional.values() if v > 0),
            "n_short": sum(1 for v in notional.values() if v < 0),
            "target_gross_frac": _round(sum(abs(v) for v in notional.values()) / capital, 9),
            "target_net_usd": _round(math.fsum(notional.values()), 6),
            "target_beta_usd": _round(
                math.fsum(v * betas.get(s, 0.0) for s, v in notional.items()), 6
            ),
            "held_gross_frac": _round(
                sum(abs(q * prices[s]) for s, q in held.items()) / capital, 9
            ),
        }
        carry = self._funding_usd_per_h(notional, snapshot)
        if carry is not None:
            diagnostics["target_funding_usd_per_h"] = _round(carry, 6)
        return diagnostics

    def _funding_usd_per_h(
        self, notional: Mapping[str, float], snapshot: MarketSnapshot
    ) -> float | None:
        """Funding the target book would receive per hour at the last settled rates, USD/h
        (``−Σ notional · r/h``); None when a leg has no funding rate."""
        total = 0.0
        for sym, value in notional.items():
            funding = snapshot.funding.get(self._ids[sym])
            if funding is None or funding.interval_s <= 0:
                return None
            total -= value * funding_rate_per_hour(funding.rate, funding.interval_s)
        return total


def _log_window(closes: FloatArray | None, n: int) -> FloatArray:
    """Last ``n`` log closes, NaN-padded at the front and NaN where not finite and > 0."""
    out = np.full(n, np.nan)
    if closes is None:
        return out
    tail = np.asarray(closes, dtype=np.float64)[-n:]
    good = np.isfinite(tail) & (tail > 0)
    out[n - tail.shape[0] :] = np.log(np.where(good, tail, 1.0))
    out[n - tail.shape[0] :][~good] = np.nan
    return out


def _grows(held_qty: float, target_qty: float) -> bool:
    """Whether moving from ``held_qty`` to ``target_qty`` adds exposure (grows or flips)."""
    return abs(target_qty) > abs(held_qty) or held_qty * target_qty < 0


def _round(value: float, digits: int) -> float:
    """``round`` without a negative zero (``-0.0`` reads as a sign in a log line)."""
    return round(value, digits) + 0.0


def _excluded_alert(excluded: Mapping[str, str]) -> Alert:
    listing = ", ".join(f"{s}: {r}" for s, r in sorted(excluded.items()))
    return Alert(
        "factor_neutral_excluded",
        f"assets left out of the factor-neutral book: {listing}",
        {"n_excluded": len(excluded)},
    )
