"""Guards against wrong but well-formed recorded data, applied when a replay loads its files.

A file can parse cleanly and still be wrong: one mistyped funding rate, one close off by a
factor of 100, a bar the recorder missed. Each of those silently changed a replay's P&L; these
guards refuse or repair them, and say so:

1. **Funding rate beyond the cap** (:func:`check_funding_cap`): a settlement whose absolute rate
   exceeds the instrument's cap — ``funding_cap_frac`` of its venue's ``instruments.csv``, else
   ``[market_data] funding_cap_default_frac`` — is refused: :class:`DataFileError` naming the
   file and line. No venue settles beyond its cap, so such a row is a recording error.
2. **Price jump** (:func:`price_jumps`): a close whose log return from the last accepted close
   exceeds ``price_jump_max_sigmas`` times the instrument's recent volatility — a robust
   estimate, ``1.4826 × median |log return|`` over the previous ``vol_window_bars`` bars (hours
   of the 1h files, minutes of 1m files; the median ignores the jump itself) — is flagged. By
   ``price_jump_policy`` the file is refused (``refuse``, the default: :class:`DataFileError`
   with file and line) or the bar is dropped and replayed as missing (``missing``: the previous
   close is carried, a settlement in that hour is kept by guard 3). Returns are taken from the
   last *accepted* close, so the bar after a one-hour spike, which returns to the old level, is
   not flagged too. On the bundled data the largest move is 48 such sigmas (2025-10-10); the
   default, 100, leaves real crashes alone and catches a 100× close (≈ 800 sigmas) or a
   decimal-point slip.
3. **Missing bar at a settlement hour** (:mod:`venues.replay.grid`): the settlement is kept,
   marked with the recorded mark price, else the last close before it, and a
   :class:`DataNote` (``settlement_without_bar``) says so — the replay journals it as an alert.
4. **Funding that starts after the prices** (:func:`funding_start_notes`): a funding file whose
   first settlement comes more than one interval after the perp's first price in the window
   (its Binance perp's first bar close: the window's first bar, or later for a symbol listed
   during it) leaves positions opened before it paying nothing; a :class:`DataNote`
   (``funding_starts_late``, at that first price) names the instrument, the first settlement
   and the hours without funding.

Errors: :class:`~venues.replay.loader.DataFileError` (the CLI exits 2 naming file and line).
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from venues.model import HOUR_MS, InstrumentId
from venues.replay.loader import DataFileError, FundingSeries, KlineSeries

MAD_TO_SIGMA: Final = 1.4826
"""Scales the median absolute deviation of a normal sample to its standard deviation."""
_MIN_VOL_BARS: Final = 24
"""Bars of history needed before a jump can be judged (earlier bars are not checked)."""
SIGMA_FLOOR: Final = 1e-4
"""Smallest hourly volatility assumed (log units): a series whose closes barely move (median
move 0) still lets through moves under ``price_jump_max_sigmas × 0.01 %``."""


@dataclass(frozen=True, slots=True)
class DataGuards:
    """The guards' settings (``[market_data]`` keys of the same names).

    Attributes
    ----------
    funding_cap_default_frac : float
        Cap on ``|funding rate|`` per interval where the rules file gives none, fraction.
    price_jump_max_sigmas : float
        Largest accepted move in units of recent volatility; 0 disables guard 2.
    price_jump_policy : {"refuse", "missing"}
        What a flagged bar does: refuse the file, or be replayed as a missing bar.
    vol_window_bars : int
        Bars of history the volatility is estimated over (hours for 1h files).
    """

    funding_cap_default_frac: float = 0.05
    price_jump_max_sigmas: float = 100.0
    price_jump_policy: Literal["refuse", "missing"] = "refuse"
    vol_window_bars: int = 168


@dataclass(frozen=True, slots=True)
class DataNote:
    """Something a guard changed or found in the data, for the journal (an alert row).

    ``ts_ms``: the data time it concerns, epoch ms UTC; ``kind``: ``settlement_without_bar``,
    ``funding_starts_late`` or ``price_jump_dropped``; ``instrument`` as ``venue:kind:SYMBOL``.
    """

    ts_ms: int
    kind: str
    instrument: str
    message: str


def check_funding_cap(path: Path, series: FundingSeries, cap_frac: float) -> None:
    """Guard 1: refuse a settlement beyond ``cap_frac`` (module docstring).

    Raises
    ------
    DataFileError
        At the first such row (line = row + 2: the header is line 1).
    """
    beyond = np.abs(series.rate) > cap_frac
    if beyond.any():
        row = int(np.argmax(beyond))
        rate = float(series.rate[row])
        reason = (
            f"funding_rate {rate} is beyond the instrument's cap of ±{cap_frac} per interval "
            "(instruments.csv funding_cap_frac, else [market_data] funding_cap_default_frac): "
            "no venue settles beyond its cap, so the row is a recording error"
        )
        raise DataFileError(path, row + 2, reason)


def robust_sigma(abs_log_moves: Iterable[float] | npt.NDArray[np.float64]) -> float:
    """An hourly volatility, log units, robust to the jump being judged: ``1.4826 × median``
    of the absolute log returns given, at least :data:`SIGMA_FLOOR` (shared by the replay's
    guard and the live one, :mod:`agent.live.input_guard`).

    Raises
    ------
    ValueError
        If no move is given.
    """
    moves = np.fromiter(abs_log_moves, dtype=np.float64)
    if moves.size == 0:
        raise ValueError("robust_sigma needs at least one move")
    return max(MAD_TO_SIGMA * float(np.median(moves)), SIGMA_FLOOR)


def price_jumps(series: KlineSeries, guards: DataGuards) -> list[int]:
    """Guard 2: the rows whose close jumps more than ``price_jump_max_sigmas`` times the
    recent robust volatility from the last accepted close (module docstring), oldest first."""
    k = guards.price_jump_max_sigmas
    n = len(series)
    if k <= 0 or n <= _MIN_VOL_BARS + 1:
        return []
    log_close = np.log(series.close)
    abs_ret = np.abs(np.diff(log_close))  # abs_ret[j] is the move into row j + 1
    window = guards.vol_window_bars
    # Only a move beyond k × the floor can be a jump: the local volatility (a median over the
    # window before the row) is computed for those rows alone.
    screen = np.flatnonzero(abs_ret > k * SIGMA_FLOOR) + 1
    screen = screen[screen > _MIN_VOL_BARS]  # too little history to judge before
    # Most of those moves are provably within k × sigma without the median (calm_rows); the
    # others' volatility is computed (NaN: not computed, see below).
    known = ~calm_rows(abs_ret, screen, window, k)
    sigmas = np.full(len(screen), np.nan)
    sigmas[known] = _window_sigmas(abs_ret, screen[known], window)
    # Judged from the previous close, a row's verdict is its own move against k × sigma (the
    # same subtraction and product as below): only those rows, and the row after each flagged
    # one (whose reference walks back past it), go through the rule one at a time.
    rows = screen.tolist()
    todo = np.flatnonzero(known & (abs_ret[screen - 1] > k * sigmas)).tolist()  # a heap
    flagged: list[int] = []
    judged = -1
    while todo:
        i = heapq.heappop(todo)
        if i <= judged:
            continue
        judged = i
        row = rows[i]
        ref = row - 1  # the last accepted close: a flagged bar is no reference
        while ref in flagged:
            ref -= 1
        if not known[i]:  # a calm move after a flagged bar: its volatility is needed now
            sigmas[i] = _window_sigmas(abs_ret, screen[i : i + 1], window)[0]
            known[i] = True
        if abs(float(log_close[row] - log_close[ref])) > k * float(sigmas[i]):
            flagged.append(row)
            if i + 1 < len(rows):
                heapq.heappush(todo, i + 1)
    return flagged


def calm_rows(
    abs_ret: npt.NDArray[np.float64], rows: npt.NDArray[np.intp], window: int, k: float
) -> npt.NDArray[np.bool_]:
    """Which of ``rows`` (each with a whole window of moves before it) have a move
    ``abs_ret[row - 1]`` provably not beyond ``k`` × the :func:`_window_sigmas` of its row,
    found without that median: where at least ``window // 2 + 1`` of the window's moves are
    ``>= t``, both middle values of the sorted window are, so its median is ``>= t`` (a NaN
    median compares false, as a calm move), and, float rounding being monotone, ``k ×
    max(1.4826 × median, floor) >= k × (1.4826 × t)``, the bound the move is held to. ``t``,
    the moves' first quartile, is only a choice: it keeps most windows above the count and
    the bound (~150 quartile moves) far above ordinary moves."""
    calm = np.zeros(len(rows), dtype=np.bool_)
    finite = abs_ret[~np.isnan(abs_ret)]
    if window <= 0 or finite.size == 0:
        return calm
    t = float(np.partition(finite, finite.size // 4)[finite.size // 4])
    if not t > 0:
        return calm
    at_least_t = np.concatenate(([0], np.cumsum(abs_ret >= t)))  # [j]: among abs_ret[:j]
    ends = rows - 1  # the window of a row: abs_ret[row - 1 - window : row - 1]
    count = at_least_t[ends] - at_least_t[np.maximum(ends - window, 0)]
    full = ends >= window
    calm[:] = full & (count >= window // 2 + 1) & (abs_ret[ends] <= k * (MAD_TO_SIGMA * t))
    return calm


_SIGMA_BLOCK_ROWS: Final = 512
"""Rows whose windows are gathered at once by :func:`_window_sigmas` (bounds its copy to
``512 × vol_window_bars`` floats: 0.7 MB at 168 bars; larger blocks are no faster and raised
the load's peak memory by ~7 MB)."""


def _window_sigmas(
    abs_ret: npt.NDArray[np.float64], rows: npt.NDArray[np.intp], window: int
) -> npt.NDArray[np.float64]:
    """:func:`robust_sigma` of the moves into the ``window`` rows before each of ``rows``
    (``abs_ret[max(0, row - 1 - window) : row - 1]``), the same numbers, computed per block of
    rows instead of one call per row (a file of synthetic or volatile series screens most of
    its rows): each block's windows are sorted in place and :func:`sorted_medians` takes
    their middles (sorting is ~4x faster than ``np.median``'s two-point partition)."""
    out = np.empty(len(rows), dtype=np.float64)
    full = (rows - 1 >= window) & (window > 0)  # a whole window of moves before the row
    partial = np.flatnonzero(~full)
    if window > 0:  # the moves since the file's first row: a prefix of abs_ret
        out[partial] = prefix_sigmas(abs_ret, (rows[partial] - 1).tolist())
    else:
        for i in partial.tolist():  # no move to judge by: robust_sigma raises
            row = int(rows[i])
            out[i] = robust_sigma(abs_ret[max(0, row - 1 - window) : row - 1])
    starts = rows[full] - 1 - window
    if len(starts):
        windows = np.lib.stride_tricks.sliding_window_view(abs_ret, window)
        medians = np.empty(len(starts), dtype=np.float64)
        for lo in range(0, len(starts), _SIGMA_BLOCK_ROWS):
            block = windows[starts[lo : lo + _SIGMA_BLOCK_ROWS]]  # a copy: sorted in place
            block.sort(axis=1)
            medians[lo : lo + len(block)] = sorted_medians(block)
        out[full] = np.maximum(MAD_TO_SIGMA * medians, SIGMA_FLOOR)
    return out


def prefix_sigmas(abs_ret: npt.NDArray[np.float64], lengths: Sequence[int]) -> list[float]:
    """``robust_sigma(abs_ret[:n])`` for each ``n`` of ``lengths`` (ascending, at least 1),
    the same floats: the moves are inserted one at a time into a sorted list, whose middle
    value (odd ``n``) or ``(a + b) / 2`` of the two middle values (even ``n``) is
    ``np.median``'s; a NaN among the moves makes the median NaN, as in ``np.median``.

    Raises
    ------
    ValueError
        If a length is 0 (as :func:`robust_sigma`) or smaller than the one before.
    """
    moves = abs_ret[: max(lengths, default=0)].tolist()
    ordered: list[float] = []
    saw_nan = False
    taken = 0
    sigmas: list[float] = []
    for n in lengths:
        if n <= 0:
            raise ValueError("robust_sigma needs at least one move")
        if n < taken:
            raise ValueError(f"prefix lengths must be ascending, got {n} after {taken}")
        for move in moves[taken:n]:
            if math.isnan(move):
                saw_nan = True  # sorts nowhere; the median is NaN from here on
            else:
                bisect.insort(ordered, move)
        taken = max(taken, n)
        half = n // 2
        if saw_nan:
            median = math.nan
        elif n % 2:
            median = ordered[half]
        else:
            median = (ordered[half - 1] + ordered[half]) / 2
        sigmas.append(max(MAD_TO_SIGMA * median, SIGMA_FLOOR))
    return sigmas


def sorted_medians(rows_sorted: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """``np.median(rows_sorted, axis=1)`` of rows already sorted ascending (NaNs last, as
    ``np.sort`` puts them), ``(m, w)`` -> ``(m,)``, with the same bits: the middle value of an
    odd ``w``, ``(a + b) / 2`` of the two middle values of an even ``w`` (``np.median``'s mean
    of the two), NaN for a row holding a NaN; ``w`` must be at least 1."""
    half = rows_sorted.shape[1] // 2
    if rows_sorted.shape[1] % 2:
        medians = rows_sorted[:, half].copy()
    else:
        medians = (rows_sorted[:, half - 1] + rows_sorted[:, half]) / 2
    medians[np.isnan(rows_sorted[:, -1])] = np.nan
    return medians


def drop_rows(series: KlineSeries, rows: Sequence[int]) -> KlineSeries:
    """``series`` without ``rows`` (their bars become missing on the replay grid)."""
    keep = np.ones(len(series), dtype=bool)
    keep[list(rows)] = False

    def cut(values: np.ndarray) -> np.ndarray:
        out = np.ascontiguousarray(values[keep])
        out.flags.writeable = False
        return out

    return replace(
        series,
        ts_open_ms=cut(series.ts_open_ms),
        open=cut(series.open),
        high=cut(series.high),
        low=cut(series.low),
        close=cut(series.close),
        volume=cut(series.volume),
    )


def guard_prices(
    path: Path,
    series: KlineSeries,
    iid: InstrumentId,
    guards: DataGuards,
    notes: list[DataNote],
    window_ms: tuple[int | None, int | None] = (None, None),
) -> KlineSeries:
    """Guard 2 on one kline file: refuse it, or drop the flagged bars (each noted). Only bars
    closing inside ``window_ms`` (inclusive bar close times, epoch ms; None: unbounded) are
    judged — a jump outside the replayed window does not refuse the file — though the
    volatility before them is read from the whole file.

    Raises
    ------
    DataFileError
        ``price_jump_policy = "refuse"`` and a bar was flagged (its line).
    """
    lo, hi = window_ms
    close_ms = series.ts_open_ms + series.interval_ms
    rows = [
        r
        for r in price_jumps(series, guards)
        if (lo is None or close_ms[r] >= lo) and (hi is None or close_ms[r] <= hi)
    ]
    if not rows:
        return series
    if guards.price_jump_policy == "refuse":
        row = rows[0]
        close = float(series.close[row])
        reason = (
            f"close {close} jumps more than {guards.price_jump_max_sigmas:g}× the recent "
            f"volatility from the previous close {float(series.close[row - 1])} "
            '([market_data] price_jump_max_sigmas; price_jump_policy = "missing" replays '
            "such a bar as missing)"
        )
        raise DataFileError(path, row + 2, reason)
    for row in rows:
        ts_close = int(series.ts_open_ms[row]) + series.interval_ms
        notes.append(
            DataNote(
                ts_close,
                "price_jump_dropped",
                str(iid),
                f"{path}:{row + 2}: close {float(series.close[row])} dropped as a price jump "
                "(replayed as a missing bar)",
            )
        )
    return drop_rows(series, rows)


def funding_start_notes(
    first_price_ms: Mapping[InstrumentId, int], series: dict[InstrumentId, FundingSeries]
) -> list[DataNote]:
    """Guard 4: a note per funding series whose first settlement comes more than one interval
    after its perp's first price in the window (``first_price_ms``, epoch ms; a perp without
    one has no position to pay on and no note), when positions held pay no funding."""
    notes = []
    for iid, fs in series.items():
        priced_ms = first_price_ms.get(iid)
        if priced_ms is None:
            continue
        first = int(fs.ts_funding_ms[0])
        interval_ms = int(fs.interval_s[0]) * 1000
        if first - priced_ms > interval_ms:
            hours = (first - priced_ms) // HOUR_MS
            when = datetime.fromtimestamp(first / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")
            notes.append(
                DataNote(
                    priced_ms,
                    "funding_starts_late",
                    str(iid),
                    f"{iid}: funding data starts {when}, {hours} h after its prices; a position "
                    "held before then pays and earns no funding in this replay",
                )
            )
    return notes
