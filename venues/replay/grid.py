"""The recorded bars and funding settlements laid on the replay's step grid.

:class:`_Frame`: the grid of bar close times (epoch ms UTC, one step per bar interval — hourly
for the bundled 1h files, every minute for 1m files — from the first to the last close of the
loaded klines, restricted to the requested window) and one ``(n_steps, k)`` float64 matrix per
OHLCV field, NaN where a series has no bar; a bar opening at ``t`` sits on the row of its close
``t + interval``.

:class:`_FundingTable`: the settlements inside the window as flat arrays sorted by (step,
series), with per-step offsets, so the replay loop only walks them. A settlement sits on the step
whose time equals its rounded settlement time (rounded by :mod:`venues.replay.loader`); it is
skipped before the first close, after the last, or where the Binance perp of its base asset has
no bar. Its ``mark_price`` is the recorded one where the file has it, else that perp's close;
its ``ts_next_funding_ms`` the next settlement in the file (``ts + interval`` for the last).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from venues.model import HOUR_MS, Bar, FundingRate, InstrumentId
from venues.replay.catalog import BINANCE, binance_perp_of
from venues.replay.guards import DataNote
from venues.replay.loader import BoolArray, FloatArray, FundingSeries, IntArray, KlineSeries


@dataclass(frozen=True, slots=True, eq=False)
class Frame:
    """Recorded bars on the close grid (a step every ``interval_ms``); matrices
    ``(n_steps, k)`` float64, NaN = no bar."""

    ids: tuple[InstrumentId, ...]
    ts_close_ms: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
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


STEPS_PER_BLOCK = 1024
"""Steps whose closes and settlements are turned into Python values at once while a replay
iterates (:meth:`FundingTable.per_step`, ``ReplayDataset.steps``): bounds that memory
whatever the window and the number of symbols."""


@dataclass(frozen=True, slots=True, eq=False)
class FundingTable:
    """Settlements inside the window, sorted by (step, instrument); arrays ``(m,)``."""

    ids: tuple[InstrumentId, ...]
    series: IntArray
    rate: FloatArray
    interval_s: IntArray
    ts_next_ms: IntArray
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
                self.ts_next_ms[lo:hi].tolist(),
                self.mark_price[lo:hi].tolist(),
                strict=True,
            )
            for ts, count in zip(ts_close_ms[start:stop], counts[start:stop], strict=True):
                yield tuple(
                    FundingRate(iid, rate, interval, ts, ts_next, mark)
                    for iid, rate, interval, ts_next, mark in (next(rows) for _ in range(count))
                )


def build_frame(
    klines: Mapping[InstrumentId, KlineSeries],
    start_ms: int | None,
    end_ms: int | None,
    interval_ms: int = HOUR_MS,
) -> Frame:
    """The close grid of ``klines`` (bars ``interval_ms`` long) inside ``[start_ms, end_ms]``.

    Raises ``ValueError`` when nothing is requested or no bar closes in the window."""
    if not klines:
        raise ValueError("nothing to replay: no perp or spot symbols requested")
    nonempty = [k for k in klines.values() if len(k)]
    if not nonempty:  # every file was cut to the window and none has a bar in it
        raise ValueError(f"no bar closes in the window [{start_ms}, {end_ms}]")
    step = interval_ms
    lo = min(int(k.ts_open_ms[0]) for k in nonempty) + step
    hi = max(int(k.ts_open_ms[-1]) for k in nonempty) + step
    if start_ms is not None:
        lo = max(lo, -(-start_ms // step) * step)
    if end_ms is not None:
        hi = min(hi, end_ms // step * step)
    if lo > hi:
        raise ValueError(f"no bar closes in the window [{start_ms}, {end_ms}]")
    grid = np.arange(lo, hi + step, step, dtype=np.int64)
    shape = (grid.shape[0], len(klines))
    mats = [np.full(shape, np.nan) for _ in range(5)]
    for col, series in enumerate(klines.values()):
        close_ms = series.ts_open_ms + step
        keep = (close_ms >= lo) & (close_ms <= hi)
        rows = (close_ms[keep] - lo) // step
        fields = (series.open, series.high, series.low, series.close, series.volume)
        for mat, values in zip(mats, fields, strict=True):
            mat[rows, col] = values[keep]
    o, h, low, c, v = mats
    return Frame(tuple(klines), grid, o, h, low, c, v, ~np.isnan(c), step)


def build_funding_table(
    frame: Frame, series: Mapping[InstrumentId, FundingSeries], *, emit_binance: bool
) -> FundingTable:
    ids = tuple(i for i in series if emit_binance or i.venue != BINANCE)
    column = {iid: j for j, iid in enumerate(frame.ids)}
    last_close = _last_close(frame)
    notes: list[DataNote] = []
    parts = [
        _window_settlements(
            frame, last_close, iid, series[iid], column[binance_perp_of(iid)], k, notes
        )
        for k, iid in enumerate(ids)
    ]
    merged = [np.concatenate([p[f] for p in parts]) for f in range(6)] if parts else None
    n_steps = frame.ts_close_ms.shape[0]
    if merged is None:
        empty_i, empty_f = np.zeros(0, np.int64), np.zeros(0)
        offsets = np.zeros(n_steps + 1, np.int64)
        return FundingTable(ids, empty_i, empty_f, empty_i, empty_i, empty_f, offsets)
    row, ser, rate, interval, ts_next, mark = merged
    order = np.lexsort((ser, row))
    offsets = np.searchsorted(row[order], np.arange(n_steps + 1)).astype(np.int64)
    return FundingTable(
        ids,
        ser[order],
        rate[order],
        interval[order],
        ts_next[order],
        mark[order],
        offsets,
        tuple(notes),
    )


def _last_close(frame: Frame) -> FloatArray:
    """Each column's close carried forward over missing bars (NaN before its first bar)."""
    n = frame.close.shape[0]
    idx = np.where(frame.present, np.arange(n)[:, None], -1)
    np.maximum.accumulate(idx, axis=0, out=idx)
    filled = np.take_along_axis(frame.close, np.maximum(idx, 0), axis=0)
    out: FloatArray = np.where(idx >= 0, filled, np.nan)
    return out


def _window_settlements(
    frame: Frame,
    last_close: FloatArray,
    iid: InstrumentId,
    fs: FundingSeries,
    perp_col: int,
    series_idx: int,
    notes: list[DataNote],
) -> tuple[IntArray, IntArray, FloatArray, IntArray, IntArray, FloatArray]:
    """Settlements inside the window: (row, series, rate, interval, next, mark); one at an
    hour without a Binance perp bar is kept with the recorded mark or the last close (noted);
    skipped only when neither exists (no close before it yet)."""
    ts = fs.ts_funding_ms
    ts_next = np.append(ts[1:], ts[-1] + fs.interval_s[-1] * 1000)
    lo = int(frame.ts_close_ms[0])
    n_steps = frame.ts_close_ms.shape[0]
    row = (ts - lo) // frame.interval_ms  # settlements fall on the hour, a step of every grid
    inside = (ts >= lo) & (row < n_steps)
    row = np.where(inside, row, 0)
    present = frame.present[row, perp_col]
    recorded = ~np.isnan(fs.mark_price)
    mark = np.where(
        recorded,
        fs.mark_price,
        np.where(present, frame.close[row, perp_col], last_close[row, perp_col]),
    )
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
    series = np.full(int(keep.sum()), series_idx, dtype=np.int64)
    return row[keep], series, fs.rate[keep], fs.interval_s[keep], ts_next[keep], mark[keep]
