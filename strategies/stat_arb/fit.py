"""The periodic cointegration re-test of the stat-arb strategy (:meth:`StatArbStrategy.refit`).

Every ``retest_every_h`` hours, from the last ``calibration_bars`` hourly closes of the usable
symbols (the others are listed with the reason they were left out): the Engle–Granger scan of
every pair (:func:`~strategies.stat_arb.signals.scan_pairs`), the filters and ranking
(:func:`~strategies.stat_arb.signals.select_pairs`), the candidates stored as the state's
:class:`~strategies.stat_arb.state.PairFit` and the ``retire`` flag of every open pair. The
state types are in :mod:`strategies.stat_arb.state`. Pure; no state is modified here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np

from strategies.base import FloatArray, MarketSnapshot
from strategies.stat_arb.config import StatArbConfig
from strategies.stat_arb.signals import PairScan, refit_exact, scan_pairs, select_pairs
from strategies.stat_arb.state import PairCandidate, PairFit, StatArbState
from venues.model import InstrumentId


def refit_state(
    config: StatArbConfig,
    ids: Mapping[str, InstrumentId],
    snapshot: MarketSnapshot,
    state: StatArbState,
    now_ms: int,
) -> StatArbState:
    """New state after re-testing every pair: :meth:`StatArbStrategy.refit` (see there)."""
    symbols, panel, excluded = _calibration_panel(config, ids, snapshot)
    if len(symbols) < 2:
        return state
    log_panel = np.log(panel)
    scan = scan_pairs(log_panel)
    qualified = _qualified(config, scan, symbols)
    new_open = {k: replace(r, retire=(r.a, r.b) not in qualified) for k, r in state.open.items()}
    busy = {s for r in new_open.values() if not r.retire for s in (r.a, r.b)}
    fit = PairFit(
        fitted_at_ms=int(now_ms),
        n_tested=len(scan),
        n_qualified=len(qualified),
        excluded=excluded,
        pairs=_candidates(config, scan, symbols, busy, log_panel),
    )
    return StatArbState(fit=fit, open=new_open)


def _calibration_panel(
    config: StatArbConfig, ids: Mapping[str, InstrumentId], snapshot: MarketSnapshot
) -> tuple[list[str], FloatArray, dict[str, str]]:
    """Closes of the usable symbols, shape ``(calibration_bars, n_usable)``, and why others
    were left out."""
    n = config.calibration_bars
    symbols: list[str] = []
    columns: list[FloatArray] = []
    excluded: dict[str, str] = {}
    for sym, iid in ids.items():
        closes = snapshot.closes.get(iid)
        window = None if closes is None else np.asarray(closes, dtype=np.float64)[-n:]
        reason = _window_problem(window, n)
        if reason is not None:
            excluded[sym] = reason
            continue
        assert window is not None
        symbols.append(sym)
        columns.append(window)
    panel = np.column_stack(columns) if columns else np.empty((n, 0))
    return symbols, panel, excluded


def _qualified(config: StatArbConfig, scan: PairScan, symbols: list[str]) -> set[tuple[str, str]]:
    """Symbol pairs passing the cointegration and half-life filters."""
    passing = _select(config, scan, max_pairs=len(scan), one_per_asset=False)
    return {(symbols[i], symbols[j]) for i, j in zip(passing.i, passing.j, strict=True)}


def _candidates(
    config: StatArbConfig,
    scan: PairScan,
    symbols: list[str],
    busy: set[str],
    log_panel: FloatArray,
) -> tuple[PairCandidate, ...]:
    """Best-ranked qualifying pairs that avoid symbols of open pairs, as state records (their
    statistics recomputed by QR, :func:`refit_exact`, so stored values are reproducible)."""
    # the pairs, in scan order, with neither symbol busy (one look-up per symbol, not per pair)
    busy_column = np.array([sym in busy for sym in symbols], dtype=bool)
    free = np.flatnonzero(~(busy_column[scan.i] | busy_column[scan.j])).astype(np.intp)
    chosen = _select(
        config,
        scan.take(free),
        max_pairs=config.max_pairs,
        one_per_asset=config.one_pair_per_asset,
    )
    chosen = refit_exact(log_panel, chosen)
    return tuple(_pair_record(chosen, k, symbols) for k in range(len(chosen)))


def _select(config: StatArbConfig, scan: PairScan, max_pairs: int, one_per_asset: bool) -> PairScan:
    """:func:`select_pairs` with this configuration's filters."""
    return select_pairs(
        scan,
        p_max=config.p_value_max,
        half_life_min=config.half_life_min_bars,
        half_life_max=config.half_life_max_bars,
        max_pairs=max_pairs,
        one_pair_per_asset=one_per_asset,
    )


def _window_problem(window: FloatArray | None, n: int, check_constant: bool = True) -> str | None:
    """Why a close history cannot be used for a ``n``-bar fit, or None when it can."""
    if window is None:
        return "missing"
    if window.shape[0] < n:
        return "short_history"
    tail = window[-n:]
    if not np.all(np.isfinite(tail) & (tail > 0)):
        return "non_positive_or_non_finite"
    if check_constant and float(np.ptp(tail)) == 0.0:
        return "constant"
    return None


def _pair_record(scan: PairScan, k: int, symbols: Sequence[str]) -> PairCandidate:
    """State record of pair ``k`` of a scan."""
    return PairCandidate(
        a=symbols[int(scan.i[k])],
        b=symbols[int(scan.j[k])],
        hedge_ratio=float(scan.hedge_ratio[k]),
        intercept=float(scan.intercept[k]),
        adf_stat=float(scan.adf_stat[k]),
        p_value=float(scan.p_value[k]),
        half_life_bars=float(scan.half_life_bars[k]),
        lags=int(scan.lags[k]),
    )
