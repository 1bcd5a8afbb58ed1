"""Cointegration stat arb: Engle–Granger pairs on one venue's perps, beta-neutral legs.

:meth:`StatArbStrategy.refit` (every ``retest_every_h`` hours, in a worker thread) scans every
pair of the configured symbols over the last ``calibration_bars`` hourly log closes
(:func:`~strategies.stat_arb.signals.scan_pairs`), keeps those that pass the filters
(``p < p_value_max``, ``half_life_min_bars < half-life < half_life_max_bars``), and stores the
best-ranked candidates (:func:`~strategies.stat_arb.signals.select_pairs`) that share no
symbol with an open pair. An open pair that no longer passes the filters (or whose data is
missing) is marked ``retire``; one that still passes stays open even if it ranks lower now.

:meth:`StatArbStrategy.decide` (hourly) computes the z-score of each open and candidate pair
with its fitted hedge ratio γ over the last ``calibration_bars`` closes, then

1. exits an open pair, first matching reason wins, with ``d = +1`` for a long spread
   (long A / short B) and ``−1`` for a short spread: ``exit_stop_loss`` when
   ``−d·z > stop_z``; ``exit_mean_reverted`` when ``−d·z < exit_z`` (z is back inside the
   exit band, or beyond it on the other side); ``exit_max_holding`` after ``max_holding_h``;
   ``exit_retired`` when the last re-test dropped it;
2. re-emits the targets of every other open pair (``qty_a`` fixed at entry, ``qty_b``
   re-sized to the current prices at the entry betas once it has moved more than
   ``resize_band_frac``), so execution can correct drift;
3. enters candidates while fewer than ``max_pairs`` are open: ``z < −entry_z`` long spread,
   ``z > entry_z`` short spread, never beyond ``±stop_z``, never with a symbol that is in
   another pair (targets are absolute per instrument), never when a leg's beta is unknown or
   ``≤ beta_floor`` (an ``Alert`` says why).

Leg sizing is beta-neutral (SEEDS.md, "Pair sizing"): ``qty_a = notional / P_A`` and
``qty_b = qty_a · (β_A P_A) / (β_B P_B)``, both scaled down so that the larger leg's notional
is ``leg_notional_usd``, so
``Σ signed qty · P · β = 0``; betas to ``market_symbol`` from the last ``beta_window_bars``
hourly log returns.

The re-test lives in :mod:`strategies.stat_arb.fit` and the per-cycle market view (usable
prices, log closes, betas) in :mod:`strategies.stat_arb.market`; this module holds the
strategy object and the trading rules of :meth:`~StatArbStrategy.decide`. The state
(:class:`~strategies.stat_arb.state.StatArbState`: the last fit and the open pairs) and its
JSON layout are in :mod:`strategies.stat_arb.state`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
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
from strategies.stat_arb.config import StatArbConfig
from strategies.stat_arb.fit import refit_state
from strategies.stat_arb.market import MarketView, market_view
from strategies.stat_arb.signals import spread_zscore
from strategies.stat_arb.state import OpenPair, PairCandidate, StatArbState
from venues.model import HOUR_MS, HOUR_S, InstrumentId, InstrumentKind

__all__ = ["StatArbStrategy", "pair_key"]


@dataclass(frozen=True, slots=True)
class _Step:
    """Outcome for one pair in one cycle."""

    intent: PairIntent | None = None
    record: OpenPair | None = None
    alert: Alert | None = None


def pair_key(a: str, b: str) -> str:
    """Key of the pair (A, B) in the strategy state: ``"A-B"``."""
    return f"{a}-{b}"


class StatArbStrategy:
    """Engle–Granger pairs strategy implementing ``strategies.base.ConfigurableStrategy``.

    Parameters
    ----------
    config : StatArbConfig
        The ``[strategies.stat_arb]`` section.
    name : str
        Its section name (``[strategies.<name>]``).
    """

    config_model: ClassVar[type[BaseModel]] = StatArbConfig

    def __init__(self, config: StatArbConfig, name: str = "stat_arb") -> None:
        self.name = name
        self.config = config
        self.cadence_s = config.cadence_s
        self.refit_every_s: int | None = config.retest_every_h * HOUR_S
        self.history_bars = max(config.calibration_bars, config.beta_window_bars) + 1
        self._ids = {s: InstrumentId(config.venue, InstrumentKind.PERP, s) for s in config.symbols}

    @classmethod
    def from_config(cls, name: str, config: StatArbConfig, context: StrategyContext) -> Self:
        """The strategy of section ``name`` (it needs nothing from ``context``)."""
        return cls(config, name=name)

    def instruments(self) -> Sequence[InstrumentId]:
        """The perp of every configured symbol on the configured venue."""
        return list(self._ids.values())

    def initial_state(self) -> StatArbState:
        """No fit yet, no open pair."""
        return StatArbState()

    def load_state(self, data: Mapping[str, Any]) -> StatArbState:
        """Decode a journaled state (:meth:`StatArbState.from_json`).

        Raises
        ------
        ValueError
            If ``data`` is malformed or of an unknown layout version.
        """
        return StatArbState.from_json(data)

    # ------------------------------------------------------------------ refit

    def refit(self, snapshot: MarketSnapshot, state: StatArbState, now_ms: int) -> StatArbState:
        """Re-test cointegration of every pair and store the candidates; pure.

        Parameters
        ----------
        snapshot : MarketSnapshot
            Needs ``calibration_bars`` hourly closes per symbol; symbols with fewer, with a
            non-positive or non-finite close, or with a constant window are left out
            (listed under ``fit.excluded``).
        state : StatArbState
            Current state; its open pairs get their ``retire`` flag updated.
        now_ms : int
            Time of the fit, epoch ms UTC.

        Returns
        -------
        StatArbState
            The new state (see the module docstring). When fewer than two symbols are
            usable (e.g. history still warming up) nothing can be tested: the state is
            returned unchanged, so ``fit`` stays None (no trading) or keeps the previous fit,
            and open pairs are not retired on missing data alone.
        """
        return refit_state(self.config, self._ids, snapshot, state, now_ms)

    # ----------------------------------------------------------------- decide

    def decide(
        self,
        snapshot: MarketSnapshot,
        portfolio: PortfolioView,
        state: StatArbState,
        now_ms: int,
    ) -> Decision[StatArbState]:
        """Exits, holds and entries for this cycle; pure (see the module docstring).

        Parameters
        ----------
        snapshot : MarketSnapshot
            Latest prices (sizing) and hourly closes (z-scores, betas); stale instruments are
            treated as missing.
        portfolio : PortfolioView
            Used only for the ``open_pairs_unfilled`` diagnostic.
        state : StatArbState
            State from :meth:`refit` / the previous decision.
        now_ms : int
            Decision time, epoch ms UTC.

        Returns
        -------
        Decision[StatArbState]
            No intents until :meth:`refit` has stored a fit.
        """
        fit = state.fit
        opened, dropped = self._drop_unfilled(state.open, portfolio, now_ms)
        if fit is None:
            new_state = StatArbState(fit=None, open=opened)
            return Decision(intents=(), state=new_state, diagnostics={"fitted": 0})
        view = market_view(snapshot, self._ids, self.config, self.history_bars)
        steps, zscores = self._manage_open(opened, view, now_ms)
        still_open = {k: s.record for k, s in steps.items() if s.record is not None}
        busy = {sym for r in opened.values() for sym in (r.a, r.b)}
        entries = self._enter(fit.pairs, view, now_ms, busy, len(still_open), zscores)
        for k, step in entries.items():
            if step.record is not None:
                still_open[k] = step.record
        all_steps = [*dropped, *steps.values(), *entries.values()]
        diagnostics: dict[str, float | int | str] = {
            "fitted": 1,
            "candidate_pairs": len(fit.pairs),
            "open_pairs": len(still_open),
            "open_pairs_unfilled": self._unfilled(still_open, portfolio),
            **{f"z:{k}": round(z, 6) for k, z in sorted(zscores.items())},
        }
        return Decision(
            intents=tuple(s.intent for s in all_steps if s.intent is not None),
            state=StatArbState(fit=fit, open=still_open),
            alerts=tuple(s.alert for s in all_steps if s.alert is not None),
            diagnostics=diagnostics,
        )

    def _drop_unfilled(
        self, opened: Mapping[str, OpenPair], portfolio: PortfolioView, now_ms: int
    ) -> tuple[dict[str, OpenPair], list[_Step]]:
        """Forget pairs entered in an earlier cycle whose legs the portfolio does not hold
        (the entry was refused by risk or the venue), so they are not re-sent every cycle."""
        kept: dict[str, OpenPair] = {}
        dropped: list[_Step] = []
        for key, record in opened.items():
            held = (portfolio.positions.get(self._ids[s], 0.0) for s in (record.a, record.b))
            if record.entry_ms < now_ms and not any(held):
                message = f"pair {key}: legs not held (entry refused by risk or the venue); dropped"
                dropped.append(
                    _Step(alert=Alert("stat_arb_entry_unfilled", message, {"pair": key}))
                )
            else:
                kept[key] = record
        return kept, dropped

    def _zscore(self, a: str, b: str, hedge_ratio: float, view: MarketView) -> float | None:
        """Spread z-score over ``calibration_bars`` closes; None when a leg's data is unusable."""
        if a not in view.prices or b not in view.prices:
            return None
        n = self.config.calibration_bars
        return spread_zscore(view.log_closes[a], view.log_closes[b], hedge_ratio, window=n)

    def _manage_open(
        self, opened: Mapping[str, OpenPair], view: MarketView, now_ms: int
    ) -> tuple[dict[str, _Step], dict[str, float]]:
        """Exit or hold every open pair; returns the steps and the z-scores computed."""
        steps: dict[str, _Step] = {}
        zscores: dict[str, float] = {}
        for key, record in sorted(opened.items()):
            z = self._zscore(record.a, record.b, record.hedge_ratio, view)
            if z is not None:
                zscores[key] = z
            steps[key] = self._manage_one(record, z, view, now_ms)
        return steps, zscores

    def _manage_one(
        self, record: OpenPair, z: float | None, view: MarketView, now_ms: int
    ) -> _Step:
        """Exit intent, hold intent, or (data missing) keep the record without an intent."""
        a, b = record.a, record.b
        reason = self._exit_reason(record, z, now_ms)
        if reason is not None:
            legs = (TargetPosition(self._ids[a], 0.0), TargetPosition(self._ids[b], 0.0))
            return _Step(PairIntent(f"{a}-{b}-{now_ms}", legs, reason, opening=False))
        if z is None:
            message = f"open pair {a}-{b}: price or closes unusable; holding without targets"
            return _Step(record=record, alert=Alert("stat_arb_data_missing", message))
        # Hold at the entry betas: re-estimating hourly betas would move leg B on noise.
        qty_b = (
            record.qty_a * record.beta_a * view.prices[a]
            / (record.beta_b * view.prices[b])
        )  # fmt: skip
        held_b = record.qty_b
        if abs(qty_b - held_b) <= self.config.resize_band_frac * abs(held_b):
            qty_b = held_b
        new_record = replace(record, qty_b=qty_b)
        intent = self._pair_intent(new_record, now_ms, reason="hold")
        return _Step(intent=intent, record=new_record)

    def _exit_reason(self, record: OpenPair, z: float | None, now_ms: int) -> str | None:
        """First matching exit rule (stop, mean reversion, max holding, retired) or None."""
        c = self.config
        adverse = None if z is None else -record.direction * z
        if adverse is not None and adverse > c.stop_z:
            return "exit_stop_loss"
        if adverse is not None and adverse < c.exit_z:
            return "exit_mean_reverted"
        if now_ms - record.entry_ms >= c.max_holding_h * HOUR_MS:
            return "exit_max_holding"
        if record.retire:
            return "exit_retired"
        return None

    def _enter(
        self,
        candidates: Sequence[PairCandidate],
        view: MarketView,
        now_ms: int,
        busy: set[str],
        n_open: int,
        zscores: dict[str, float],
    ) -> dict[str, _Step]:
        """Entry steps for candidates, best-ranked first, while slots and symbols are free."""
        steps: dict[str, _Step] = {}
        for cand in candidates:
            a, b = cand.a, cand.b
            if n_open + sum(s.record is not None for s in steps.values()) >= self.config.max_pairs:
                break
            if a in busy or b in busy:
                continue
            z = self._zscore(a, b, cand.hedge_ratio, view)
            if z is None:
                continue
            zscores[pair_key(a, b)] = z
            step = self._entry_step(cand, z, view, now_ms)
            steps[pair_key(a, b)] = step
            if step.record is not None:
                busy.update((a, b))
        return steps

    def _entry_step(self, cand: PairCandidate, z: float, view: MarketView, now_ms: int) -> _Step:
        """Enter when ``entry_z < |z| ≤ stop_z`` and both betas are usable."""
        c = self.config
        if not c.entry_z < abs(z) <= c.stop_z:
            return _Step()
        a, b = cand.a, cand.b
        qty_a = c.leg_notional_usd / view.prices[a]
        qty_b = self._leg_b_qty(qty_a, a, b, view)
        if qty_b is None:
            return _Step(alert=self._beta_alert(a, b, view, "not entering"))
        # leg_notional_usd caps the larger leg: a low-beta B leg would otherwise be several
        # times A's notional and break the order and position limits.
        scale = min(1.0, c.leg_notional_usd / (qty_b * view.prices[b]))
        qty_a, qty_b = qty_a * scale, qty_b * scale
        record = OpenPair(
            a=a,
            b=b,
            direction=1 if z < 0 else -1,
            entry_z=z,
            entry_ms=int(now_ms),
            qty_a=qty_a,
            qty_b=qty_b,
            hedge_ratio=cand.hedge_ratio,
            intercept=cand.intercept,
            beta_a=view.betas[a],
            beta_b=view.betas[b],
            retire=False,
        )
        return _Step(intent=self._pair_intent(record, now_ms, reason="enter"), record=record)

    def _leg_b_qty(self, qty_a: float, a: str, b: str, view: MarketView) -> float | None:
        """Beta-neutral leg B size ``qty_a β_A P_A / (β_B P_B)``; None if a beta is unusable."""
        beta_a = view.betas.get(a, math.nan)
        beta_b = view.betas.get(b, math.nan)
        floor = self.config.beta_floor
        if not (beta_a > floor and beta_b > floor):  # NaN compares False: unknown beta
            return None
        return float(qty_a) * beta_a * view.prices[a] / (beta_b * view.prices[b])

    def _beta_alert(self, a: str, b: str, view: MarketView, action: str) -> Alert:
        """Alert naming the unusable beta(s) of a pair."""
        fields = {f"beta_{s}": _fmt_beta(view.betas.get(s, math.nan)) for s in (a, b)}
        message = (
            f"{action} {a}-{b}: a leg beta to {self.config.market_symbol} is unknown "
            f"or <= {self.config.beta_floor}"
        )
        return Alert("stat_arb_beta_unusable", message, {**fields, "pair": pair_key(a, b)})

    def _pair_intent(self, record: OpenPair, now_ms: int, reason: str) -> PairIntent:
        """Targets of a pair: A ``d·qty_a``, B ``−d·qty_b``."""
        a, b, d = record.a, record.b, record.direction
        legs = (
            TargetPosition(self._ids[a], d * record.qty_a),
            TargetPosition(self._ids[b], -d * record.qty_b),
        )
        return PairIntent(f"{a}-{b}-{now_ms}", legs, reason, opening=True)

    def _unfilled(self, still_open: Mapping[str, OpenPair], portfolio: PortfolioView) -> int:
        """Open pairs whose A leg the portfolio does not hold (entry not filled yet)."""
        return sum(
            1 for r in still_open.values() if portfolio.positions.get(self._ids[r.a], 0.0) == 0.0
        )


def _fmt_beta(beta: float) -> str:
    """A beta for an alert field: ``"unknown"`` for NaN."""
    return "unknown" if math.isnan(beta) else f"{beta:.4f}"
