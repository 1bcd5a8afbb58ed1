"""The replay's price-jump guard (venues/replay/guards.py ``price_jumps``) computes the local
volatility of every screened row in blocks (sliding windows sorted, their middles taken)
instead of one ``robust_sigma`` call per row: its verdicts must be those of the rule written
out row by row — here a reference loop over the same definition, on a real bundled file (every
row of a volatile stretch screened, with a tight limit) and on the same file with injected 100x
closes."""

from __future__ import annotations

import math
from dataclasses import replace
from itertools import pairwise

import numpy as np

from venues.replay.guards import MAD_TO_SIGMA, SIGMA_FLOOR, DataGuards, price_jumps
from venues.replay.loader import KlineSeries, bundled_data_dir, load_klines

MIN_VOL_BARS = 24  # venues.replay.guards: bars of history needed before a jump is judged


def reference(series: KlineSeries, guards: DataGuards) -> list[int]:
    """The rule of the module docstring, one row at a time, in plain Python."""
    k, window = guards.price_jump_max_sigmas, guards.vol_window_bars
    log_close = [math.log(c) for c in series.close.tolist()]
    moves = [abs(b - a) for a, b in pairwise(log_close)]
    flagged: list[int] = []
    for row in range(MIN_VOL_BARS + 1, len(log_close)):
        if moves[row - 1] <= k * SIGMA_FLOOR:
            continue
        before = sorted(moves[max(0, row - 1 - window) : row - 1])
        half = len(before) // 2
        median = before[half] if len(before) % 2 else (before[half - 1] + before[half]) / 2
        sigma = max(MAD_TO_SIGMA * median, SIGMA_FLOOR)
        ref = row - 1
        while ref in flagged:
            ref -= 1
        if abs(log_close[row] - log_close[ref]) > k * sigma:
            flagged.append(row)
    return flagged


def sol() -> KlineSeries:
    return load_klines(bundled_data_dir() / "binance" / "perp" / "SOLUSDT_1h.csv.gz")


def test_verdicts_equal_the_row_by_row_rule_on_a_real_file() -> None:
    series = sol()
    for k in (3.0, 5.0, 8.0):  # tight limits: hundreds of rows screened and judged
        guards = DataGuards(price_jump_max_sigmas=k)
        flagged = price_jumps(series, guards)
        assert flagged == reference(series, guards)
        assert len(flagged) > 10  # real moves beyond k sigmas exist at these limits
    assert price_jumps(series, DataGuards()) == []  # the default (100) passes the real file


def test_injected_100x_closes_are_flagged_like_the_row_by_row_rule() -> None:
    series = sol()
    close = series.close.copy()
    rows = [30, 500, 12_000]  # early (a window shorter than vol_window_bars), mid, late
    close[rows] *= 100
    spiked = replace(series, close=close, high=np.maximum(series.high, close))
    guards = DataGuards()
    assert price_jumps(spiked, guards) == reference(spiked, guards) == rows
