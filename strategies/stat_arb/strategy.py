"""Cointegration stat arb: Engle–Granger pairs on one venue's perps, holding the traded spread.

:meth:`StatArbStrategy.refit` (every ``retest_every_h`` hours, in a worker thread) scans every
pair of the configured symbols over the last ``calibration_bars`` hourly log closes
(:func:`~strategies.stat_arb.signals.scan_pairs`), keeps those that pass the filters
(``p < p_value_max``, ``half_life_min_bars < half-life < half_life_max_bars``), and stores the
best-ranked candidates (:func:`~strategies.stat_arb.signals.select_pairs`) that share no
symbol with an open pair. An open pair that no longer passes the filters (or whose data is
missing) is marked ``retire``; one that still passes stays open even if it ranks lower now.

:meth:`StatArbStrategy.decide` (hourly) computes the z-score of each open and candidate pair
with its fitted hedge ratio γ over the last ``calibration_bars`` closes, checks the health of
every open pair (:mod:`strategies.stat_arb.health`, when ``health_check``), then

1. exits an open pair, first matching reason wins, with ``d = +1`` for a long spread
   (long A / short B) and ``−1`` for a short spread: ``exit_stop_loss`` when
   ``−d·z > stop_z``; ``exit_mean_reverted`` when ``−d·z < exit_z`` (z is back inside the
   exit band, or beyond it on the other side); ``exit_max_holding`` after ``max_holding_h``;
   ``exit_retired`` when the last re-test dropped it; ``exit_health`` when its relationship
   broke since (rolling Engle–Granger p-value, half-life drift or Kalman hedge-ratio drift
   past the ``health_*`` thresholds; a ``stat_arb_pair_retired`` alert carries the numbers
   and the pair leaves the candidates until the next re-test);
2. re-emits the targets of every other open pair (``qty_a`` fixed at entry, ``qty_b``
   re-sized to hold the spread at the current prices once it has moved more than
   ``resize_band_frac``), so execution can correct drift;
3. enters candidates while fewer than ``max_pairs`` are open: ``z < −entry_z`` long spread,
   ``z > entry_z`` short spread, never beyond ``±stop_z``, never with a symbol that is in
   another pair (targets are absolute per instrument), never when a leg's beta is unknown or
   ``≤ beta_floor`` (an ``Alert`` says why), never when the candidate fails the health check
   (a ``stat_arb_candidate_retired`` alert; it leaves the candidates until the next re-test).

Leg sizing: the position is the spread the signal trades. The signal is the log spread
``S = log A − γ log B``; over one bar ``dS = dA/A − γ dB/B`` to first order (Itô/Taylor:
``d log P = dP/P − (dP/P)²/2 + …``). A position of ``q_A`` of A and ``−q_B`` of B (long
spread) earns ``q_A dA − q_B dB = N_A (dA/A) − N_B (dB/B)`` with ``N = q P`` the legs' dollar
notionals, which equals ``N_A dS`` exactly when ``N_B = γ N_A``. So::

    qty_a = N / P_A,        qty_b = γ · qty_a · P_A / P_B   (N_B = γ · N_A)

scaled down so the larger leg's notional is ``leg_notional_usd``, with ``qty_a`` fixed and
``qty_b`` re-sized as prices move (``resize_band_frac``). The P&L of a bar is then
``N_A,t (ΔS_t + ε_t)`` with ``ε_t = (e^{Δa} − 1 − Δa) − γ (e^{Δb} − 1 − Δb)``, ``|ε_t| ≤
(Δa² e^{|Δa|} + |γ| Δb² e^{|Δb|}) / 2``, ``Δa``/``Δb`` the bar's log returns: about
``10⁻⁴`` of the notional for a 1 % hourly move, against ``ΔS`` of order ``10⁻²``.

The earlier beta-neutral sizing (``N_B = (β_A/β_B) N_A``) held a different combination
``log A − (β_A/β_B) log B``: with γ = 1.45 and β_A/β_B = 2.13 the position carried
``0.68 N_A`` of un-spread exposure to B, and since only ``log A − γ log B`` is stationary (any
other combination of two I(1) prices with one cointegrating vector is I(1)), its P&L was not
the mean-reverting spread's. Computing the signal on the held beta-neutral combination instead
would trade a z-score of a series the Engle–Granger test never found stationary (and whose
weights move with hourly betas), so the sizing follows the test, not the other way round.

Market neutrality: a pair now carries a beta-to-market exposure of
``d · N_A · (β_A − γ β_B)`` (USD of market per unit move; ``beta_exposure_usd`` in the
diagnostics, at the entry betas). The strategy does not hedge it itself (a BTC leg would
collide with pairs that trade BTC, targets being absolute per instrument): the portfolio's
beta hedger (``[strategies.beta_hedger]``) nets every strategy's beta-to-BTC exposure into one
BTC-perp hedge whenever the portfolio's beta exceeds its ``rebalance_beta_frac``; the betas
still gate entries (``beta_floor``) so the residual is measurable.

The re-test lives in :mod:`strategies.stat_arb.fit`, the per-cycle market view (usable
prices, log closes, betas) in :mod:`strategies.stat_arb.market` and the health check in
:mod:`strategies.stat_arb.health` (its Kalman filter in :mod:`strategies.stat_arb.kalman`);
this module holds the strategy object and the trading rules of
:meth:`~StatArbStrategy.decide`. The state (:class:`~strategies.stat_arb.state.StatArbState`:
the last fit and the open pairs with their watch records) and its JSON layout are in
:mod:`strategies.stat_arb.state`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any, ClassVar, Self

import numpy as np
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
    LogClosePanel,
    short_qty_cap,
    snapshot_adv_usd,
    stressed_corr_scale,
)
from strategies.stat_arb.config import StatArbConfig
from strategies.stat_arb.fit import refit_state
from strategies.stat_arb.health import HealthReport
from strategies.stat_arb.market import MarketView, market_view
from strategies.stat_arb.signals import sample_std, spread_zscore
from strategies.stat_arb.state import OpenPair, PairCandidate, StatArbState
from strategies.stat_arb.watch import check_candidate, watch_open_pairs
from venues.model import HOUR_MS, HOUR_S, InstrumentId, InstrumentKind

__all__ = ["StatArbStrategy", "pair_key"]


@dataclass(frozen=True, slots=True)
class _Step:
    """Outcome for one pair in one cycle."""

    intent: PairIntent | None = None
    record: OpenPair | None = None
    alert: Alert | None = None
    retired: bool = False  # relationship broke: leaves the candidates until the re-test


_NO_VIEW = MarketView(
    prices=MappingProxyType({}), log_closes=MappingProxyType({}), betas=MappingProxyType({})
)
"""The view of a cycle with no open pair and no candidate: no price, close or beta is read
(the strategy's log-close panel, not updated that hour, rebuilds itself on the next view)."""


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
        self._view_bars = max(config.calibration_bars, config.beta_window_bars) + 1
        self.history_bars = max(self._view_bars, config.adv_window_h)
        self._ids = {s: InstrumentId(config.venue, InstrumentKind.PERP, s) for s in config.symbols}
        self._rank = {s: k for k, s in enumerate(self._ids)}  # configuration order
        # the view's log closes, kept between cycles (each hour logs only its new closes)
        self._log_panel = LogClosePanel(self._view_bars)

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
            Latest prices (sizing) and hourly closes (z-scores, betas, health); stale
            instruments are treated as missing.
        portfolio : PortfolioView
            Used only for the ``open_pairs_unfilled`` diagnostic.
        state : StatArbState
            State from :meth:`refit` / the previous decision.
        now_ms : int
            Decision time, epoch ms UTC; ``now_ms // HOUR_MS`` is the bar the health watch
            advances to.

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
        view_ids = self._view_ids(opened.values(), fit.pairs)
        if view_ids:
            view = market_view(snapshot, view_ids, self.config, self._view_bars, self._log_panel)
        else:  # nothing to watch, hold or enter (a quarter of the hours): the view goes unread
            view = _NO_VIEW
        health: dict[str, HealthReport] = {}
        if self.config.health_check:
            opened, health = watch_open_pairs(self.config, opened, view, now_ms // HOUR_MS)
        steps, zscores = self._manage_open(opened, view, now_ms, health)
        still_open = {k: s.record for k, s in steps.items() if s.record is not None}
        busy = {sym for r in opened.values() for sym in (r.a, r.b)}
        entries = self._enter(fit.pairs, view, now_ms, busy, len(still_open), zscores, snapshot)
        for k, step in entries.items():
            if step.record is not None:
                still_open[k] = step.record
        all_steps = [*dropped, *steps.values(), *entries.values()]
        retired = {k for k, s in [*steps.items(), *entries.items()] if s.retired}
        if retired:
            kept = tuple(p for p in fit.pairs if pair_key(p.a, p.b) not in retired)
            fit = replace(fit, pairs=kept)
        diagnostics: dict[str, float | int | str] = {
            "fitted": 1,
            "candidate_pairs": len(fit.pairs),
            "open_pairs": len(still_open),
            "open_pairs_unfilled": self._unfilled(still_open, portfolio),
            "beta_exposure_usd": round(self._beta_exposure_usd(still_open, view), 2),
            **{f"z:{k}": round(z, 6) for k, z in sorted(zscores.items())},
            **{f"p:{k}": round(h.p_value, 6) for k, h in sorted(health.items())},
        }
        return Decision(
            intents=tuple(s.intent for s in all_steps if s.intent is not None),
            state=StatArbState(fit=fit, open=still_open),
            alerts=tuple(s.alert for s in all_steps if s.alert is not None),
            diagnostics=diagnostics,
        )

    def _view_ids(
        self, opened: Iterable[OpenPair], candidates: Iterable[PairCandidate]
    ) -> dict[str, InstrumentId]:
        """The configured symbols a cycle reads (in configuration order): the legs of the open
        pairs and of the candidates, and ``market_symbol`` for their betas; none when there is
        no pair. A symbol's price, log closes and beta do not depend on which other symbols
        the view holds (the betas are column by column, the same floats; a test compares),
        so the others are left out: with N symbols the view costs a few columns, not N."""
        legs = {sym for pair in opened for sym in (pair.a, pair.b)}
        legs.update(sym for pair in candidates for sym in (pair.a, pair.b))
        if not legs:
            return {}
        legs.add(self.config.market_symbol)
        known = sorted((self._rank[sym], sym) for sym in legs if sym in self._rank)
        return {sym: self._ids[sym] for _, sym in known}

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
        self,
        opened: Mapping[str, OpenPair],
        view: MarketView,
        now_ms: int,
        health: Mapping[str, HealthReport],
    ) -> tuple[dict[str, _Step], dict[str, float]]:
        """Exit or hold every open pair; returns the steps and the z-scores computed."""
        steps: dict[str, _Step] = {}
        zscores: dict[str, float] = {}
        for key, record in sorted(opened.items()):
            z = self._zscore(record.a, record.b, record.hedge_ratio, view)
            if z is not None:
                zscores[key] = z
            step = self._manage_one(record, z, view, now_ms, health.get(key))
            report = health.get(key)
            if report is not None and report.breaches:
                message = (
                    f"pair {key}: cointegration broke before the re-test "
                    f"({', '.join(report.breaches)}); retired, closing"
                )
                alert = Alert("stat_arb_pair_retired", message, report.alert_fields(key))
                step = replace(step, alert=alert, retired=True)
            steps[key] = step
        return steps, zscores

    def _manage_one(
        self,
        record: OpenPair,
        z: float | None,
        view: MarketView,
        now_ms: int,
        report: HealthReport | None,
    ) -> _Step:
        """Exit intent, hold intent, or (data missing) keep the record without an intent."""
        a, b = record.a, record.b
        reason = self._exit_reason(record, z, now_ms, report)
        if reason is not None:
            legs = (TargetPosition(self._ids[a], 0.0), TargetPosition(self._ids[b], 0.0))
            return _Step(PairIntent(f"{a}-{b}-{now_ms}", legs, reason, opening=False))
        if z is None:
            message = f"open pair {a}-{b}: price or closes unusable; holding without targets"
            return _Step(record=record, alert=Alert("stat_arb_data_missing", message))
        # Hold the spread: N_B = γ N_A at the current prices (module docstring).
        qty_b = record.hedge_ratio * record.qty_a * view.prices[a] / view.prices[b]
        held_b = record.qty_b
        if abs(qty_b - held_b) <= self.config.resize_band_frac * abs(held_b):
            new_record = record  # within the band: B stays as held
        else:
            new_record = replace(record, qty_b=qty_b)
        drift = self._drift_class(record.a, record.b, record.hedge_ratio, view)[1]
        intent = self._pair_intent(new_record, now_ms, reason="hold", drift_frac=drift)
        return _Step(intent=intent, record=new_record)

    def _exit_reason(
        self, record: OpenPair, z: float | None, now_ms: int, report: HealthReport | None
    ) -> str | None:
        """First matching exit rule (stop, mean reversion, max holding, retired, health)."""
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
        if report is not None and report.breaches:
            return "exit_health"
        return None

    def _enter(
        self,
        candidates: Sequence[PairCandidate],
        view: MarketView,
        now_ms: int,
        busy: set[str],
        n_open: int,
        zscores: dict[str, float],
        snapshot: MarketSnapshot,
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
            step = self._entry_step(cand, z, view, now_ms, snapshot)
            steps[pair_key(a, b)] = step
            if step.record is not None:
                busy.update((a, b))
        return steps

    def _entry_step(
        self,
        cand: PairCandidate,
        z: float,
        view: MarketView,
        now_ms: int,
        snapshot: MarketSnapshot,
    ) -> _Step:
        """Enter when ``entry_z < |z| ≤ stop_z``, both betas are usable and (with
        ``health_check``) the candidate is healthy; sized by :meth:`_spread_legs`, then
        :meth:`_sizing` (stressed correlation, the short leg's ADV cap), the numbers in a
        ``stat_arb_entry_sizing`` alert."""
        c = self.config
        if not c.entry_z < abs(z) <= c.stop_z:
            return _Step()
        a, b = cand.a, cand.b
        if not self._betas_usable(a, b, view):
            return _Step(alert=self._beta_alert(a, b, view, "not entering"))
        watch = None
        if c.health_check:
            watch, report = check_candidate(c, cand, view, now_ms // HOUR_MS)
            if report.breaches:
                key = pair_key(a, b)
                message = (
                    f"candidate {key}: cointegration broke since the re-test "
                    f"({', '.join(report.breaches)}); not entering until the next re-test"
                )
                alert = Alert("stat_arb_candidate_retired", message, report.alert_fields(key))
                return _Step(alert=alert, retired=True)
        qty_a, qty_b = self._spread_legs(cand.hedge_ratio, view.prices[a], view.prices[b])
        direction = 1 if z < 0 else -1
        sizing = self._sizing(cand, direction, qty_a, qty_b, view, snapshot)
        qty_a, qty_b = qty_a * sizing.scale, qty_b * sizing.scale
        record = OpenPair(
            a=a,
            b=b,
            direction=direction,
            entry_z=z,
            entry_ms=int(now_ms),
            qty_a=qty_a,
            qty_b=qty_b,
            hedge_ratio=cand.hedge_ratio,
            intercept=cand.intercept,
            beta_a=view.betas[a],
            beta_b=view.betas[b],
            retire=False,
            watch=watch,
        )
        intent = self._pair_intent(record, now_ms, reason="enter", drift_frac=sizing.drift_frac)
        return _Step(intent=intent, record=record, alert=sizing.alert(pair_key(a, b)))

    def _sizing(
        self,
        cand: PairCandidate,
        direction: int,
        qty_a: float,
        qty_b: float,
        view: MarketView,
        snapshot: MarketSnapshot,
    ) -> EntrySizing:
        """The entry's scale: stressed correlation (``stressed_correlation``) times the ADV cap
        of the short leg (``max_short_adv_frac``), and the pair's drift class."""
        c = self.config
        a, b = cand.a, cand.b
        ra = np.diff(view.log_closes[a][-c.calibration_bars :])
        rb = np.diff(view.log_closes[b][-c.calibration_bars :])
        vol_a, vol_b = float(np.std(ra, ddof=1)), float(np.std(rb, ddof=1))
        corr = float(np.corrcoef(ra, rb)[0, 1]) if vol_a > 0 and vol_b > 0 else math.nan
        stress = 1.0
        if c.stress_sizing and math.isfinite(corr):
            weights = (direction * qty_a * view.prices[a], -direction * qty_b * view.prices[b])
            stress = stressed_corr_scale(weights, (vol_a, vol_b), corr, c.stressed_correlation)
        short_sym, short_qty = (b, abs(qty_b)) if direction == 1 else (a, abs(qty_a))
        price = view.prices[short_sym]
        adv = None
        if c.adv_window_h:
            adv = snapshot_adv_usd(snapshot, self._ids[short_sym], c.adv_window_h)
        adv_scale = 1.0
        if adv is not None and short_qty * stress > 0:
            cap = short_qty_cap(adv, price, c.max_short_adv_frac)
            adv_scale = min(1.0, cap / (short_qty * stress))
        spread_vol, drift = self._drift_class(a, b, cand.hedge_ratio, view)
        return EntrySizing(
            corr=corr,
            stressed_corr=c.stressed_correlation if c.stress_sizing else None,
            stress_scale=stress,
            short_symbol=short_sym,
            adv_usd=adv,
            adv_scale=adv_scale,
            max_short_adv_frac=c.max_short_adv_frac,
            spread_vol_h=spread_vol,
            drift_frac=drift,
            noisy=drift is not None and drift == c.drift_frac_noisy,
        )

    def _drift_class(
        self, a: str, b: str, gamma: float, view: MarketView
    ) -> tuple[float, float | None]:
        """(hourly volatility of the spread ``ΔS``, the pair's drift threshold): noisy pairs
        (spread volatility above ``drift_noisy_spread_vol_h_frac``) ``drift_frac_noisy``, stable
        ones ``drift_frac_stable``; None (the global ``[execution] drift_frac``) when the
        classification is off (threshold 0) or the data is missing."""
        c = self.config
        if a not in view.log_closes or b not in view.log_closes:
            return math.nan, None
        n = c.calibration_bars
        spread = view.log_closes[a][-n:] - gamma * view.log_closes[b][-n:]
        vol = sample_std(spread[1:] - spread[:-1])  # np.std(np.diff(spread), ddof=1)
        if c.drift_noisy_spread_vol_h_frac == 0 or not math.isfinite(vol):
            return vol, None
        noisy = vol > c.drift_noisy_spread_vol_h_frac
        return vol, c.drift_frac_noisy if noisy else c.drift_frac_stable

    def _spread_legs(self, gamma: float, price_a: float, price_b: float) -> tuple[float, float]:
        """Leg sizes holding the spread: ``N_B = γ N_A``, the larger notional capped at
        ``leg_notional_usd``; ``qty_b`` carries γ's sign (module docstring)."""
        notional = self.config.leg_notional_usd
        # The cap applies to the larger leg: with |γ| > 1 leg B is the larger one.
        notional_a = notional / max(1.0, abs(gamma))
        qty_a = notional_a / price_a
        return qty_a, gamma * notional_a / price_b

    def _betas_usable(self, a: str, b: str, view: MarketView) -> bool:
        """Both legs' betas known and above ``beta_floor`` (NaN compares False)."""
        floor = self.config.beta_floor
        return view.betas.get(a, math.nan) > floor and view.betas.get(b, math.nan) > floor

    def _beta_exposure_usd(self, still_open: Mapping[str, OpenPair], view: MarketView) -> float:
        """Σ over open pairs of ``d (β_A N_A − β_B N_B)`` at the entry betas and current
        prices, USD: the exposure the strategy leaves to the beta hedger."""
        total = 0.0
        for r in still_open.values():
            if r.a in view.prices and r.b in view.prices:
                notional_a = r.qty_a * view.prices[r.a]
                notional_b = r.qty_b * view.prices[r.b]
                total += r.direction * (r.beta_a * notional_a - r.beta_b * notional_b)
        return total

    def _beta_alert(self, a: str, b: str, view: MarketView, action: str) -> Alert:
        """Alert naming the unusable beta(s) of a pair."""
        fields = {f"beta_{s}": _fmt_beta(view.betas.get(s, math.nan)) for s in (a, b)}
        message = (
            f"{action} {a}-{b}: a leg beta to {self.config.market_symbol} is unknown "
            f"or <= {self.config.beta_floor}"
        )
        return Alert("stat_arb_beta_unusable", message, {**fields, "pair": pair_key(a, b)})

    def _pair_intent(
        self, record: OpenPair, now_ms: int, reason: str, drift_frac: float | None = None
    ) -> PairIntent:
        """Targets of a pair: A ``d·qty_a``, B ``−d·qty_b``; ``drift_frac`` the pair's own
        drift threshold (None: the global one)."""
        a, b, d = record.a, record.b, record.direction
        legs = (
            TargetPosition(self._ids[a], d * record.qty_a),
            TargetPosition(self._ids[b], -d * record.qty_b),
        )
        return PairIntent(f"{a}-{b}-{now_ms}", legs, reason, opening=True, drift_frac=drift_frac)

    def _unfilled(self, still_open: Mapping[str, OpenPair], portfolio: PortfolioView) -> int:
        """Open pairs whose A leg the portfolio does not hold (entry not filled yet)."""
        return sum(
            1 for r in still_open.values() if portfolio.positions.get(self._ids[r.a], 0.0) == 0.0
        )


@dataclass(frozen=True, slots=True)
class EntrySizing:
    """How an entry was sized beyond the spread rule, with the numbers behind it.

    ``scale`` (= ``stress_scale × adv_scale``, in ``(0, 1]``) multiplies both legs: the
    stressed-correlation scale ``σ(corr) / σ(stressed_corr)`` (1 when off or not riskier) and the
    ADV cap of the short leg (1 while its ADV is unknown). ``spread_vol_h`` is the spread's
    hourly volatility and ``drift_frac`` the pair's drift threshold (None: the global one).
    """

    corr: float
    stressed_corr: float | None
    stress_scale: float
    short_symbol: str
    adv_usd: float | None
    adv_scale: float
    max_short_adv_frac: float
    spread_vol_h: float
    drift_frac: float | None
    noisy: bool

    @property
    def scale(self) -> float:
        """Factor applied to both legs."""
        return self.stress_scale * self.adv_scale

    def alert(self, key: str) -> Alert:
        """The ``stat_arb_entry_sizing`` alert of pair ``key``."""
        fields: dict[str, float | str] = {
            "pair": key,
            "scale": round(self.scale, 6),
            "stress_scale": round(self.stress_scale, 6),
            "corr": "unknown" if math.isnan(self.corr) else round(self.corr, 6),
            "stressed_corr": "off" if self.stressed_corr is None else self.stressed_corr,
            "short_symbol": self.short_symbol,
            "adv_usd": "unknown" if self.adv_usd is None else round(self.adv_usd, 2),
            "adv_scale": round(self.adv_scale, 6),
            "max_short_adv_frac": self.max_short_adv_frac,
            "spread_vol_h": "unknown" if math.isnan(self.spread_vol_h) else self.spread_vol_h,
            "drift_class": (
                "global" if self.drift_frac is None else ("noisy" if self.noisy else "stable")
            ),
            "drift_frac": "global" if self.drift_frac is None else self.drift_frac,
        }
        capped = " (short leg ADV-capped)" if self.adv_scale < 1 else ""
        message = (
            f"pair {key}: entered at {self.scale:.1%} of the spread size{capped}; "
            f"stress {self.stress_scale:.3f}, ADV {self.adv_scale:.3f}, "
            f"drift {fields['drift_class']}"
        )
        return Alert("stat_arb_entry_sizing", message, fields)


def _fmt_beta(beta: float) -> str:
    """A beta for an alert field: ``"unknown"`` for NaN."""
    return "unknown" if math.isnan(beta) else f"{beta:.4f}"
