"""The recorded bars and funding settlements laid on the replay's step grid.

:class:`Frame`: the grid of bar close times (epoch ms UTC, one step per bar interval — hourly
for the bundled 1h files, every minute for 1m files — from the first to the last close of the
loaded klines, restricted to the requested window) and one ``(n_steps, k)`` matrix per OHLCV
field, NaN where a series has no bar; a bar opening at ``t`` sits on the row of its close
``t + interval``. The four price matrices are :class:`~venues.replay.scaled.PriceMatrix` (int32
scaled decimals where that reads back bit for bit, else float64), the volumes float64.

:class:`FundingTable`: the settlements inside the window as flat arrays sorted by (step,
series), with per-step offsets, so the replay loop only walks them. A settlement sits on the step
whose time equals its rounded settlement time (rounded by :mod:`venues.replay.loader`); it is
skipped before the first close, after the last, or where the Binance perp of its base asset has
no bar. Its ``mark_price`` is the recorded one where the file has it, else that perp's close;
its ``ts_next_funding_ms`` the next settlement in the file (``ts + interval`` for the last).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from venues.model import HOUR_MS, Bar, FundingRate, InstrumentId
from venues.replay.catalog import BINANCE, binance_perp_of
from venues.replay.guards import DataNote
from venues.replay.loader import BoolArray, FloatArray, FundingSeries, IntArray, KlineSeries
from venues.replay.scaled import PriceMatrix, PriceMatrixBuilder

_T = TypeVar("_T", bound=np.generic)
IndexArray = npt.NDArray[np.int32] | npt.NDArray[np.int64]
"""Integers of the funding table: int32 when every value fits, else int64."""


@dataclass(frozen=True, slots=True, eq=False)
class Frame:
    """Recorded bars on the close grid (a step every ``interval_ms``); matrices
    ``(n_steps, k)``, NaN = no bar: prices as :class:`PriceMatrix` (a read gives float64),
    volumes float64; ``present`` where the close is not NaN."""

    ids: tuple[InstrumentId, ...]
    ts_close_ms: IntArray
    open: PriceMatrix
    high: PriceMatrix
    low: PriceMatrix
    close: PriceMatrix
    volume: FloatArray
    present: BoolArray
    interval_ms: int = HOUR_MS

    def bars_at(self, row: int) -> tuple[Bar, ...]:
        ts_close = int(self.ts_close_ms[row])
        ts_open = ts_close - self.interval_ms
        cols = zip(
            self.ids,
            self.present[row].tolist(),
            self.open[row].tolist(),
            self.high[row].tolist(),
            self.low[row].tolist(),
            self.close[row].tolist(),
            self.volume[row].tolist(),
            strict=True,
        )
        return tuple(
            Bar(iid, ts_open, ts_close, o, h, lo, c, v) for iid, ok, o, h, lo, c, v in cols if ok
        )


STEPS_PER_BLOCK = 256
"""Steps whose closes and settlements are turned into Python values at once while a replay
iterates (:meth:`FundingTable.per_step`, ``ReplayDataset.steps``): bounds that memory
whatever the window and the number of symbols. A value costs ~32 bytes as a Python float in a
list: at 200 symbols (800 series, ~250 settlements a step) a block of 256 steps holds ~15 MB
(1024 steps held ~60 MB, most of the run's peak above its steady state); the per-block numpy
calls are the same work in more, smaller pieces."""


@dataclass(frozen=True, slots=True, eq=False)
class FundingTable:
    """Settlements inside the window, sorted by (step, instrument); arrays ``(m,)``
    (``series`` int32; ``interval_s`` and ``to_next_ms``, the time from the settlement's
    step to the next settlement in its file, int32 when every value fits, else int64)."""

    ids: tuple[InstrumentId, ...]
    series: IndexArray
    rate: FloatArray
    interval_s: IndexArray
    to_next_ms: IndexArray
    mark_price: FloatArray
    offsets: IntArray
    notes: tuple[DataNote, ...] = ()

    def per_step(self, ts_close_ms: list[int]) -> Iterator[tuple[FundingRate, ...]]:
        """Each step's settlements as :class:`FundingRate` values (settlement time the
        step's close ``ts_close_ms[row]``), step after step; the columns are turned into
        Python values :data:`STEPS_PER_BLOCK` steps at a time, not for the whole window."""
        offsets: list[int] = self.offsets.tolist()
        counts = np.diff(self.offsets).tolist()
        if len(counts) != len(ts_close_ms):
            raise ValueError(f"{len(ts_close_ms)} step times for {len(counts)} steps")
        ids = self.ids
        for start in range(0, len(ts_close_ms), STEPS_PER_BLOCK):
            stop = min(start + STEPS_PER_BLOCK, len(ts_close_ms))
            lo, hi = offsets[start], offsets[stop]
            rows = zip(
                [ids[s] for s in self.series[lo:hi].tolist()],
                self.rate[lo:hi].tolist(),
                self.interval_s[lo:hi].tolist(),
                self.to_next_ms[lo:hi].tolist(),
                self.mark_price[lo:hi].tolist(),
                strict=True,
            )
            for ts, count in zip(ts_close_ms[start:stop], counts[start:stop], strict=True):
                # a list comprehension over the step's rows (islice), then a tuple: no
                # generator resumed per rate (a fifth fewer instructions than a generator's)
                yield tuple(
                    [
                        FundingRate(iid, rate, interval, ts, ts + to_next, mark)
                        for iid, rate, interval, to_next, mark in islice(rows, count)
                    ]
                )


def build_frame(
    klines: Mapping[InstrumentId, KlineSeries],
    start_ms: int | None,
    end_ms: int | None,
    interval_ms: int = HOUR_MS,
) -> Frame:
    """The close grid of ``klines`` (bars ``interval_ms`` long) inside ``[start_ms, end_ms]``.

    Raises ``ValueError`` when nothing is requested or no bar closes in the window."""
    builder = FrameBuilder(tuple(klines), start_ms, end_ms, interval_ms)
    for iid, series in klines.items():
        builder.add(iid, series)
    return builder.build()


class FrameBuilder:
    """Builds a :class:`Frame` one series at a time, so a caller can load a file, write it into
    the frame and free it before the next: the load holds the frame plus one series, never
    every series at once.

    The matrices span the close grid of the series added so far (from the first to the last
    close of any of them, clipped to ``[start_ms, end_ms]``); a series reaching beyond it
    widens them, one matrix at a time. :meth:`build` gives the same frame as laying every
    series on the final grid at once.

    Parameters
    ----------
    ids : tuple[InstrumentId, ...]
        The frame's columns, in order; each must be added once.
    start_ms, end_ms : int | None
        Inclusive bounds on the bar close time, epoch ms UTC; None: unbounded.
    interval_ms : int
        Bar length and grid step, ms.
    """

    def __init__(
        self,
        ids: tuple[InstrumentId, ...],
        start_ms: int | None,
        end_ms: int | None,
        interval_ms: int = HOUR_MS,
    ) -> None:
        self._ids = ids
        self._column = {iid: j for j, iid in enumerate(ids)}
        self._added: set[InstrumentId] = set()
        self._step = interval_ms
        self._start_ms, self._end_ms = start_ms, end_ms
        self._span_ms: tuple[int, int] | None = None  # first, last close of any series, unclipped
        self._lo_ms = 0  # close time of row 0 of the matrices
        # open, high, low, close: encoded a column at a time (never a float64 matrix of them)
        self._prices = [PriceMatrixBuilder(len(ids)) for _ in range(4)]
        self._volume: FloatArray = np.full((0, len(ids)), np.nan)
        self._built = False

    def add(self, iid: InstrumentId, series: KlineSeries) -> None:
        """Write ``series``' bars into column ``iid`` (widening the grid if they reach beyond).

        Raises ``KeyError`` for an id not among the columns, ``ValueError`` for one added twice.
        """
        col = self._column[iid]
        if iid in self._added:
            raise ValueError(f"{iid} added twice to the frame")
        self._added.add(iid)
        if not len(series):
            return
        step = self._step
        first, last = int(series.ts_open_ms[0]) + step, int(series.ts_open_ms[-1]) + step
        if self._span_ms is not None:
            first, last = min(self._span_ms[0], first), max(self._span_ms[1], last)
        self._span_ms = (first, last)
        lo, hi = self._bounds_ms(self._span_ms)
        self._widen(lo, hi)
        close_ms = series.ts_open_ms + step
        keep = (close_ms >= lo) & (close_ms <= hi)
        rows = (close_ms[keep] - self._lo_ms) // step
        at: IntArray | slice = rows
        if rows.shape[0] and bool((np.diff(rows) == 1).all()):  # no gap: a slice writes faster
            at = slice(int(rows[0]), int(rows[-1]) + 1)
        prices = (series.open, series.high, series.low, series.close)
        for matrix, values in zip(self._prices, prices, strict=True):
            matrix.put(at, col, values[keep])
        self._volume[at, col] = series.volume[keep]

    def build(self) -> Frame:
        """The frame of every series added; call it once. The matrices are handed over, not
        copied (the prices were encoded a column at a time as they were added:
        :class:`~venues.replay.scaled.PriceMatrixBuilder`, the matrices
        :meth:`PriceMatrix.encode` makes of the float64 ones).

        Raises ``ValueError`` when there are no columns, a column was never added, no bar
        closes in the window, or the frame was built already."""
        if self._built:
            raise ValueError("the frame was built already")
        if not self._ids:
            raise ValueError("nothing to replay: no perp or spot symbols requested")
        missing = [str(i) for i in self._ids if i not in self._added]
        if missing:
            raise ValueError(f"series never added to the frame: {', '.join(missing)}")
        window = f"[{self._start_ms}, {self._end_ms}]"
        if self._span_ms is None:  # every file was cut to the window, none has a bar
            raise ValueError(f"no bar closes in the window {window}")
        lo, hi = self._bounds_ms(self._span_ms)
        if lo > hi:
            raise ValueError(f"no bar closes in the window {window}")
        step = self._step
        grid = np.arange(lo, hi + step, step, dtype=np.int64)
        self._built = True
        o, h, low, c = (matrix.build() for matrix in self._prices)
        volume, self._volume = self._volume, np.zeros((0, 0))
        self._prices = []
        return Frame(self._ids, grid, o, h, low, c, volume, c.present(), step)

    def _bounds_ms(self, span_ms: tuple[int, int]) -> tuple[int, int]:
        """The grid's first and last close for the series' ``span_ms`` (``lo > hi``: empty)."""
        step, (lo, hi) = self._step, span_ms
        if self._start_ms is not None:
            lo = max(lo, -(-self._start_ms // step) * step)
        if self._end_ms is not None:
            hi = min(hi, self._end_ms // step * step)
        return lo, hi

    def _widen(self, lo_ms: int, hi_ms: int) -> None:
        """Grow the matrices to rows ``lo_ms .. hi_ms`` (the grid only ever widens)."""
        step = self._step
        n_rows = max(0, (hi_ms - lo_ms) // step + 1)
        old_rows = self._volume.shape[0]
        if n_rows == old_rows and (lo_ms == self._lo_ms or n_rows == 0):
            return
        shift = (self._lo_ms - lo_ms) // step if old_rows else 0
        for matrix in self._prices:  # one matrix at a time: one extra copy at most
            matrix.widen(n_rows, shift)
        volume = np.full((n_rows, len(self._ids)), np.nan)
        volume[shift : shift + old_rows] = self._volume
        self._volume = volume
        self._lo_ms = lo_ms


def build_funding_table(
    frame: Frame, series: Mapping[InstrumentId, FundingSeries], *, emit_binance: bool
) -> FundingTable:
    """The settlements of ``series`` inside ``frame``'s window (module docstring).

    Built one column at a time: each series keeps only its step rows, the mask of the
    settlements kept and their marks; then each field is gathered, sorted by (step, series)
    and stored before the next, so at most one field's unsorted and sorted copies coexist."""
    ids = tuple(i for i in series if emit_binance or i.venue != BINANCE)
    column = {iid: j for j, iid in enumerate(frame.ids)}
    notes: list[DataNote] = []
    parts = [
        _window_settlements(frame, iid, series[iid], column[binance_perp_of(iid)], notes)
        for iid in ids
    ]
    n_steps = frame.ts_close_ms.shape[0]
    if not parts:
        empty_i32, empty_f = np.zeros(0, np.int32), np.zeros(0)
        offsets = np.zeros(n_steps + 1, np.int64)
        return FundingTable(ids, empty_i32, empty_f, empty_i32, empty_i32, empty_f, offsets)
    row = np.concatenate([p.row for p in parts])
    counts = [p.row.shape[0] for p in parts]
    ser = np.repeat(np.arange(len(ids), dtype=np.int32), counts)
    order = np.lexsort((ser, row))
    offsets = np.searchsorted(row[order], np.arange(n_steps + 1)).astype(np.int64)
    del row
    fs_of = [series[iid] for iid in ids]

    def gathered(values: Callable[[int], npt.NDArray[_T]]) -> npt.NDArray[_T]:
        return np.concatenate([values(k) for k in range(len(parts))])[order]

    rate = gathered(lambda k: fs_of[k].rate[parts[k].keep])
    interval_s = _narrowed(gathered(lambda k: fs_of[k].interval_s[parts[k].keep]))
    step_ms = frame.ts_close_ms
    to_next_ms = _narrowed(
        gathered(lambda k: _next_settlement_ms(fs_of[k])[parts[k].keep] - step_ms[parts[k].row])
    )
    mark = gathered(lambda k: parts[k].mark)
    return FundingTable(ids, ser[order], rate, interval_s, to_next_ms, mark, offsets, tuple(notes))


def _narrowed(values: IntArray) -> IndexArray:
    """``values`` as int32 when each fits (same integers), else as they are."""
    info = np.iinfo(np.int32)
    if values.size and (int(values.min()) < info.min or int(values.max()) > info.max):
        return values
    return values.astype(np.int32)


@dataclass(frozen=True, slots=True, eq=False)
class _Settlements:
    """One series' settlements inside the window: their step rows, the mask of those kept
    over the file's settlements ``(n,)`` and their marks (quote units)."""

    row: IntArray
    keep: BoolArray
    mark: FloatArray


def _next_settlement_ms(fs: FundingSeries) -> IntArray:
    """Each settlement's next one in the file, epoch ms UTC (``ts + interval`` for the last)."""
    ts = fs.ts_funding_ms
    return np.append(ts[1:], ts[-1] + fs.interval_s[-1] * 1000)


def _last_close(frame: Frame, col: int) -> FloatArray:
    """Column ``col``'s close carried forward over missing bars (NaN before its first bar),
    shape ``(n_steps,)``."""
    present = frame.present[:, col]
    idx = np.where(present, np.arange(present.shape[0]), -1)
    np.maximum.accumulate(idx, out=idx)
    filled = frame.close[np.maximum(idx, 0), col]
    out: FloatArray = np.where(idx >= 0, filled, np.nan)
    return out


def _window_settlements(
    frame: Frame,
    iid: InstrumentId,
    fs: FundingSeries,
    perp_col: int,
    notes: list[DataNote],
) -> _Settlements:
    """Settlements inside the window; one at an hour without a Binance perp bar is kept with
    the recorded mark or the last close (noted); skipped only when neither exists (no close
    before it yet)."""
    ts = fs.ts_funding_ms
    lo = int(frame.ts_close_ms[0])
    n_steps = frame.ts_close_ms.shape[0]
    row = (ts - lo) // frame.interval_ms  # settlements fall on the hour, a step of every grid
    inside = (ts >= lo) & (row < n_steps)
    row = np.where(inside, row, 0)
    present = frame.present[row, perp_col]
    recorded = ~np.isnan(fs.mark_price)
    mark = np.where(recorded, fs.mark_price, np.where(present, frame.close[row, perp_col], np.nan))
    carried = inside & ~recorded & ~present  # the only rows that need the last close
    if carried.any():
        mark[carried] = _last_close(frame, perp_col)[row[carried]]
    keep = inside & ~np.isnan(mark)
    for i in np.flatnonzero(keep & ~present).tolist():
        source = "the recorded mark price" if recorded[i] else "the last close before it"
        notes.append(
            DataNote(
                int(ts[i]),
                "settlement_without_bar",
                str(iid),
                f"{iid}: settlement at an hour without a {frame.ids[perp_col]} bar kept, "
                f"marked {float(mark[i])} ({source})",
            )
        )
    return _Settlements(row[keep], keep, mark[keep])
