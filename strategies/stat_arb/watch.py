"""Per-bar health watch of the stat-arb pairs, for :meth:`StatArbStrategy.decide`.

Applies :mod:`strategies.stat_arb.health` to one cycle's market view: advances the Kalman
hedge-ratio filter of every open pair by the bars since its last step, runs the rolling
Engle–Granger test of all of them in one batch and reports each pair's health
(:func:`watch_open_pairs`); checks a candidate about to be entered (:func:`check_candidate`).
A pair without a watch record (entered by an older release) gets one started on the
current window. Pure; no state is modified here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace

import numpy as np

from strategies.base import FloatArray
from strategies.stat_arb.adf import half_life_bars
from strategies.stat_arb.config import StatArbConfig
from strategies.stat_arb.health import (
    HealthReport,
    PairWatch,
    health_report,
    rolling_engle_granger,
)
from strategies.stat_arb.kalman import start_filter
from strategies.stat_arb.market import MarketView
from strategies.stat_arb.signals import scan_pairs
from strategies.stat_arb.state import OpenPair, PairCandidate


def watch_open_pairs(
    config: StatArbConfig, opened: Mapping[str, OpenPair], view: MarketView, bar_h: int
) -> tuple[dict[str, OpenPair], dict[str, HealthReport]]:
    """Open pairs with their watch advanced to ``bar_h``, and the health of each.

    Pairs whose legs are not both usable in ``view`` are returned unchanged and get no
    report. ``bar_h`` is the current bar, hours since the epoch.
    """
    n = config.calibration_bars
    records = dict(opened)
    keys = [k for k, r in sorted(opened.items()) if r.a in view.prices and r.b in view.prices]
    if not keys:
        return records, {}
    windows = [_windows(view, records[key].a, records[key].b, n) for key in keys]
    for key, (log_a, log_b) in zip(keys, windows, strict=True):
        record = records[key]
        if record.watch is None:
            watch = _started_watch(config, record.hedge_ratio, log_a, log_b, bar_h)
        else:
            kalman = record.watch.kalman.advance(log_a, log_b, bar_h)
            watch = replace(record.watch, kalman=kalman)
        records[key] = replace(record, watch=watch)
    pairs = [records[k] for k in keys]
    # np.array of equal-length rows: the (n_pairs, n) copy np.stack makes, without its wrapper
    test = rolling_engle_granger(
        np.array([w[0] for w in windows]),
        np.array([w[1] for w in windows]),
        [_watch_of(r).lags for r in pairs],
        [r.hedge_ratio for r in pairs],
    )
    reports = {
        key: health_report(config, test, k, _watch_of(r), r.hedge_ratio)
        for k, (key, r) in enumerate(zip(keys, pairs, strict=True))
    }
    return records, reports


def check_candidate(
    config: StatArbConfig, cand: PairCandidate, view: MarketView, bar_h: int
) -> tuple[PairWatch, HealthReport]:
    """A candidate's watch, started on the current window, and its health now.

    The candidate's legs must be usable in ``view``.
    """
    log_a, log_b = _windows(view, cand.a, cand.b, config.calibration_bars)
    kalman = start_filter(log_a, log_b, cand.hedge_ratio, config.health_kalman_memory_bars, bar_h)
    watch = PairWatch(lags=max(cand.lags, 0), half_life_bars=cand.half_life_bars, kalman=kalman)
    test = rolling_engle_granger(log_a[None], log_b[None], [watch.lags], [cand.hedge_ratio])
    return watch, health_report(config, test, 0, watch, cand.hedge_ratio)


def _started_watch(
    config: StatArbConfig, gamma: float, log_a: FloatArray, log_b: FloatArray, bar_h: int
) -> PairWatch:
    """A watch for an open pair that has none: ADF lags chosen by AIC and the held spread's
    half-life on the current window (finite; ``half_life_max_bars`` if it does not revert)."""
    scan = scan_pairs(np.column_stack([log_a, log_b]))
    held = float(half_life_bars(log_a - gamma * log_b))
    half_life = held if math.isfinite(held) else config.half_life_max_bars
    kalman = start_filter(log_a, log_b, gamma, config.health_kalman_memory_bars, bar_h)
    return PairWatch(lags=max(int(scan.lags[0]), 0), half_life_bars=half_life, kalman=kalman)


def _windows(view: MarketView, a: str, b: str, n: int) -> tuple[FloatArray, FloatArray]:
    """The last ``n`` log closes of legs A and B."""
    return view.log_closes[a][-n:], view.log_closes[b][-n:]


def _watch_of(record: OpenPair) -> PairWatch:
    """The watch of a record that has one."""
    assert record.watch is not None
    return record.watch
