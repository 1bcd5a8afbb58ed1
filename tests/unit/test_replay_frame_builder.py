"""Loading the replay one series at a time (``venues.replay.grid.FrameBuilder``) and building
the funding table one field at a time give, to the bit, the frame and table of the way it was
done before (every series laid on the final grid at once, a whole-matrix carried-forward close;
both kept here), on random inputs; the bundled data read back through the dataset are the
file's floats."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from venues.model import HOUR_MS, InstrumentId, InstrumentKind
from venues.replay.catalog import kline_path
from venues.replay.grid import (
    Frame,
    FrameBuilder,
    FundingTable,
    build_frame,
    build_funding_table,
)
from venues.replay.guards import DataNote
from venues.replay.loader import (
    FloatArray,
    FundingSeries,
    IntArray,
    KlineSeries,
    bundled_data_dir,
    load_funding,
    load_klines,
)
from venues.replay.scaled import PriceMatrix
from venues.replay.source import ReplayDataset

T0_MS = 1_700_000_000_000 // HOUR_MS * HOUR_MS


def reference_frame(
    klines: Mapping[InstrumentId, KlineSeries], start_ms: int | None, end_ms: int | None
) -> Frame:
    """``build_frame`` as it was: the grid from every series first, then each laid on it."""
    nonempty = [k for k in klines.values() if len(k)]
    if not nonempty:
        raise ValueError("no bar")
    step = HOUR_MS
    lo = min(int(k.ts_open_ms[0]) for k in nonempty) + step
    hi = max(int(k.ts_open_ms[-1]) for k in nonempty) + step
    if start_ms is not None:
        lo = max(lo, -(-start_ms // step) * step)
    if end_ms is not None:
        hi = min(hi, end_ms // step * step)
    if lo > hi:
        raise ValueError("no bar")
    grid = np.arange(lo, hi + step, step, dtype=np.int64)
    mats = [np.full((grid.shape[0], len(klines)), np.nan) for _ in range(5)]
    for col, series in enumerate(klines.values()):
        close_ms = series.ts_open_ms + step
        keep = (close_ms >= lo) & (close_ms <= hi)
        rows = (close_ms[keep] - lo) // step
        fields = (series.open, series.high, series.low, series.close, series.volume)
        for mat, values in zip(mats, fields, strict=True):
            mat[rows, col] = values[keep]
    o, h, low, c, v = mats
    prices = (PriceMatrix(m.shape, floats=m) for m in (o, h, low, c))  # float64 as they were
    return Frame(tuple(klines), grid, *prices, v, ~np.isnan(c), step)


def random_series(rng: np.random.Generator) -> KlineSeries:
    """Bars over a random span (possibly empty) with random gaps; prices random floats or
    (mostly) random decimals of 0 to 9 places as a file's text parses to (so the frame holds
    both int32 scaled and float64 price matrices)."""
    start_h = int(rng.integers(0, 60))
    hours = np.arange(start_h, start_h + int(rng.integers(0, 80)))
    hours = hours[rng.random(hours.shape[0]) < 0.8]
    n = hours.shape[0]
    if rng.random() < 0.3:
        close = rng.lognormal(size=n)
        opens, highs, lows = rng.lognormal(size=n), close * 1.1, close * 0.9
    else:
        places = int(rng.integers(0, 10))
        opens, highs, lows, close = (
            rng.integers(-(10**8), 10**9, size=n) / 10**places for _ in range(4)
        )
    return KlineSeries(
        T0_MS + hours.astype(np.int64) * HOUR_MS,
        opens,
        highs,
        lows,
        close,
        rng.exponential(size=n),
    )


def random_klines(rng: np.random.Generator, k: int) -> dict[InstrumentId, KlineSeries]:
    kinds = (InstrumentKind.PERP, InstrumentKind.SPOT)
    return {
        InstrumentId("binance", kinds[j % 2], f"S{j // 2}USDT"): random_series(rng)
        for j in range(k)
    }


def random_window(rng: np.random.Generator) -> tuple[int | None, int | None]:
    start = None if rng.random() < 0.4 else T0_MS + int(rng.integers(-5, 100)) * HOUR_MS // 3
    end = None if rng.random() < 0.4 else T0_MS + int(rng.integers(20, 160)) * HOUR_MS - 7
    return start, end


def frame_bits(frame: Frame) -> list[object]:
    mats = (frame.open, frame.high, frame.low, frame.close, frame.volume)
    return [
        frame.ids,
        frame.ts_close_ms.tolist(),
        frame.present.tolist(),
        frame.interval_ms,
        *([[float(x).hex() for x in row] for row in np.asarray(m).tolist()] for m in mats),
    ]


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), k=st.integers(1, 6))
def test_frame_built_a_series_at_a_time_is_the_frame_of_all_series_at_once(
    seed: int, k: int
) -> None:
    rng = np.random.default_rng(seed)
    klines = random_klines(rng, k)
    start_ms, end_ms = random_window(rng)
    try:
        expected = reference_frame(klines, start_ms, end_ms)
    except ValueError:
        with pytest.raises(ValueError, match="no bar closes in the window"):
            build_frame(klines, start_ms, end_ms)
        return
    # Series added in a random order: the grid widens both ways as they come.
    builder = FrameBuilder(tuple(klines), start_ms, end_ms)
    for j in rng.permutation(k).tolist():
        iid = list(klines)[j]
        builder.add(iid, klines[iid])
    assert frame_bits(builder.build()) == frame_bits(expected)
    assert frame_bits(build_frame(klines, start_ms, end_ms)) == frame_bits(expected)


def held_arrays(matrix: PriceMatrix) -> list[object]:
    """What a price matrix holds, to the bit: its kind, codes and scales, or its floats."""
    if matrix.is_scaled:
        codes, scale = matrix._codes, matrix._scale
        assert codes is not None
        assert scale is not None
        return ["scaled", codes.tolist(), scale.view(np.int64).tolist()]
    return ["float64", np.asarray(matrix).view(np.int64).tolist()]


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), k=st.integers(1, 6), gapless=st.booleans())
def test_the_price_matrices_built_are_those_encoded_from_the_float_matrices(
    seed: int, k: int, gapless: bool
) -> None:
    """The builder encodes each price column as it is added (never holding the float64
    matrices); the result holds what ``PriceMatrix.encode`` makes of the float64 matrices laid
    at once — int32 codes and scales where they were int32, the floats where not — whether a
    series has gaps (written by index) or none (written as a slice)."""
    rng = np.random.default_rng(seed)
    klines = random_klines(rng, k)
    if gapless:
        klines = {iid: no_gaps(s) for iid, s in klines.items()}
    start_ms, end_ms = random_window(rng)
    try:
        expected = reference_frame(klines, start_ms, end_ms)
    except ValueError:
        return
    builder = FrameBuilder(tuple(klines), start_ms, end_ms)
    for j in rng.permutation(k).tolist():
        iid = list(klines)[j]
        builder.add(iid, klines[iid])
    frame = builder.build()
    for got, floats in zip(
        (frame.open, frame.high, frame.low, frame.close),
        (expected.open, expected.high, expected.low, expected.close),
        strict=True,
    ):
        assert held_arrays(got) == held_arrays(PriceMatrix.encode(np.asarray(floats)))
    assert frame.present.tolist() == expected.present.tolist()
    assert frame.volume.view(np.int64).tolist() == expected.volume.view(np.int64).tolist()


def no_gaps(series: KlineSeries) -> KlineSeries:
    """``series`` with its bars moved onto consecutive hours from its first."""
    if not len(series):
        return series
    first = int(series.ts_open_ms[0])
    ts = first + np.arange(len(series), dtype=np.int64) * HOUR_MS
    return KlineSeries(ts, series.open, series.high, series.low, series.close, series.volume)


def test_the_grid_widens_before_and_after_the_first_series() -> None:
    ids = tuple(InstrumentId("binance", InstrumentKind.PERP, f"S{j}USDT") for j in range(3))

    def bars(first_h: int, n: int, price: float) -> KlineSeries:
        ts = T0_MS + np.arange(first_h, first_h + n, dtype=np.int64) * HOUR_MS
        p = np.full(n, price)
        return KlineSeries(ts, p, p, p, p, p)

    builder = FrameBuilder(ids, None, None)
    builder.add(ids[0], bars(10, 3, 1.0))  # closes at hours 11..13
    builder.add(ids[1], bars(5, 2, 2.0))  # 6..7: widens before
    builder.add(ids[2], bars(20, 1, 3.0))  # 21: widens after
    frame = builder.build()
    assert frame.ts_close_ms.tolist() == [T0_MS + h * HOUR_MS for h in range(6, 22)]
    expected = np.full((16, 3), np.nan)
    expected[5:8, 0], expected[0:2, 1], expected[15, 2] = 1.0, 2.0, 3.0
    np.testing.assert_array_equal(frame.close, expected)
    np.testing.assert_array_equal(frame.volume, expected)


def test_builder_refuses_a_column_added_twice_unknown_or_missing() -> None:
    iid = InstrumentId("binance", InstrumentKind.PERP, "BTCUSDT")
    other = InstrumentId("binance", InstrumentKind.SPOT, "BTCUSDT")
    price = np.array([1.0])
    one = KlineSeries(np.array([T0_MS]), price, price, price, price, price)
    builder = FrameBuilder((iid, other), None, None)
    builder.add(iid, one)
    with pytest.raises(ValueError, match="added twice"):
        builder.add(iid, one)
    with pytest.raises(KeyError):
        builder.add(InstrumentId("binance", InstrumentKind.PERP, "ETHUSDT"), one)
    with pytest.raises(ValueError, match="never added") as raised:
        builder.build()
    assert str(other) in str(raised.value)
    with pytest.raises(ValueError, match="nothing to replay"):
        FrameBuilder((), None, None).build()
    builder.add(other, one)
    builder.build()
    with pytest.raises(ValueError, match="built already"):  # the matrices were handed over
        builder.build()


# ---- the funding table -------------------------------------------------------------------


def reference_last_close(frame: Frame) -> FloatArray:
    n = frame.close.shape[0]
    idx = np.where(frame.present, np.arange(n)[:, None], -1)
    np.maximum.accumulate(idx, axis=0, out=idx)
    filled = np.take_along_axis(np.asarray(frame.close), np.maximum(idx, 0), axis=0)
    out: FloatArray = np.where(idx >= 0, filled, np.nan)
    return out


def reference_table(
    frame: Frame, series: Mapping[InstrumentId, FundingSeries]
) -> tuple[FundingTable, list[DataNote]]:
    """``build_funding_table`` (emit_binance=True) as it was: whole-matrix last close, every
    field of every series concatenated at once."""
    ids = tuple(series)
    column = {iid: j for j, iid in enumerate(frame.ids)}
    last_close = reference_last_close(frame)
    notes: list[DataNote] = []
    parts = []
    for k, iid in enumerate(ids):
        fs = series[iid]
        col = column[InstrumentId("binance", InstrumentKind.PERP, iid.symbol)]
        ts = fs.ts_funding_ms
        ts_next = np.append(ts[1:], ts[-1] + fs.interval_s[-1] * 1000)
        lo = int(frame.ts_close_ms[0])
        n_steps = frame.ts_close_ms.shape[0]
        row = (ts - lo) // frame.interval_ms
        inside = (ts >= lo) & (row < n_steps)
        row = np.where(inside, row, 0)
        present = frame.present[row, col]
        recorded = ~np.isnan(fs.mark_price)
        mark = np.where(
            recorded,
            fs.mark_price,
            np.where(present, frame.close[row, col], last_close[row, col]),
        )
        keep = inside & ~np.isnan(mark)
        for i in np.flatnonzero(keep & ~present).tolist():
            source = "the recorded mark price" if recorded[i] else "the last close before it"
            notes.append(
                DataNote(
                    int(ts[i]),
                    "settlement_without_bar",
                    str(iid),
                    f"{iid}: settlement at an hour without a {frame.ids[col]} bar kept, "
                    f"marked {float(mark[i])} ({source})",
                )
            )
        ser = np.full(int(keep.sum()), k, dtype=np.int32)  # int32 now, as interval_s below
        parts.append(
            (row[keep], ser, fs.rate[keep], fs.interval_s[keep], ts_next[keep], mark[keep])
        )
    row, ser, rate, interval, ts_next, mark = (
        np.concatenate([p[f] for p in parts]) for f in range(6)
    )
    order = np.lexsort((ser, row))
    offsets = np.searchsorted(row[order], np.arange(frame.close.shape[0] + 1)).astype(np.int64)
    table = FundingTable(
        ids,
        ser[order],
        rate[order],
        interval[order].astype(np.int32),
        (ts_next - frame.ts_close_ms[row])[order].astype(np.int32),  # now from the step, int32
        mark[order],
        offsets,
    )
    return table, notes


def random_funding(rng: np.random.Generator) -> FundingSeries:
    hours = np.sort(rng.choice(np.arange(-10, 180), size=int(rng.integers(2, 40)), replace=False))
    ts: IntArray = T0_MS + hours.astype(np.int64) * HOUR_MS
    gaps_s = np.diff(ts) // 1000
    n = int(ts.shape[0])
    mark: FloatArray = rng.lognormal(size=n)
    mark[rng.random(n) < 0.6] = np.nan
    rate: FloatArray = rng.normal(scale=1e-4, size=n)
    return FundingSeries(
        "bybit",
        ts,
        rate,
        mark,
        np.concatenate((gaps_s[:1], gaps_s)).astype(np.int64),
    )


def table_bits(table: FundingTable, frame: Frame) -> list[object]:
    step_ms = np.repeat(frame.ts_close_ms, np.diff(table.offsets))
    return [
        table.ids,
        table.series.tolist(),
        [x.hex() for x in table.rate.tolist()],
        table.interval_s.tolist(),
        (step_ms + table.to_next_ms).tolist(),  # the next settlement's time
        [x.hex() for x in table.mark_price.tolist()],
        table.offsets.tolist(),
        table.series.dtype,
        table.rate.dtype,
        table.interval_s.dtype,
        table.to_next_ms.dtype,
        table.offsets.dtype,
    ]


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), k=st.integers(1, 4))
def test_funding_table_built_a_field_at_a_time_is_the_table_built_at_once(
    seed: int, k: int
) -> None:
    rng = np.random.default_rng(seed)
    perps = {
        InstrumentId("binance", InstrumentKind.PERP, f"S{j}USDT"): random_series(rng)
        for j in range(k)
    }
    try:
        frame = build_frame(perps, None, None)
    except ValueError:  # no bar at all
        return
    series = {
        InstrumentId("bybit", InstrumentKind.PERP, f"S{j}USDT"): random_funding(rng)
        for j in range(k)
        if rng.random() < 0.9
    }
    if not series:
        return
    expected, notes = reference_table(frame, series)
    table = build_funding_table(frame, series, emit_binance=True)
    assert table_bits(table, frame) == table_bits(expected, frame)
    assert list(table.notes) == notes


def test_an_interval_beyond_int32_keeps_the_intervals_int64() -> None:
    perp = InstrumentId("binance", InstrumentKind.PERP, "S0USDT")
    price = np.array([1.5, 2.5])
    bars = KlineSeries(T0_MS + np.arange(2, dtype=np.int64) * HOUR_MS, *([price] * 5))
    frame = build_frame({perp: bars}, None, None)
    ts = T0_MS + np.array([1, 2], dtype=np.int64) * HOUR_MS
    huge_s = 2**31  # one more than int32 holds
    for last_s, dtype in ((3600, np.int32), (huge_s, np.int64)):
        fs = FundingSeries(
            "bybit", ts, np.array([1e-4, 2e-4]), np.full(2, np.nan), np.array([3600, last_s])
        )
        table = build_funding_table(
            frame, {InstrumentId("bybit", InstrumentKind.PERP, "S0USDT"): fs}, emit_binance=True
        )
        assert table.interval_s.dtype == dtype
        assert table.interval_s.tolist() == [3600, last_s]
        assert table.series.dtype == np.int32
        assert table.to_next_ms.tolist() == [HOUR_MS, last_s * 1000]  # from each's step


def test_bundled_bars_read_back_are_the_files_floats() -> None:
    """The frame written one file at a time holds each file's own floats, bar for bar."""
    data = bundled_data_dir()
    dataset = ReplayDataset.load(perp_symbols=["BTC", "TIA"], spot_symbols=["ETH"])
    for symbol, kind in (
        ("BTCUSDT", InstrumentKind.PERP),
        ("TIAUSDT", InstrumentKind.PERP),
        ("ETHUSDT", InstrumentKind.SPOT),
    ):
        recorded = load_klines(kline_path(data, symbol, kind.value))
        read = dataset.kline_series(InstrumentId("binance", kind, symbol))
        assert read.ts_open_ms.tolist() == recorded.ts_open_ms.tolist()
        for field in ("open", "high", "low", "close", "volume"):
            got = [x.hex() for x in getattr(read, field).tolist()]
            assert got == [x.hex() for x in getattr(recorded, field).tolist()], field


def test_funding_series_is_the_file_cut_to_the_window_read_again() -> None:
    """The dataset keeps no funding file's settlements after the load; ``funding_series``
    reads the file again and cuts it as the load did (the window and a week's margin)."""
    data = bundled_data_dir()
    start_ms, end_ms = 1_759_276_800_000, 1_761_955_200_000  # October 2025
    dataset = ReplayDataset.load(
        perp_symbols=["BTC"], spot_symbols=[], start_ms=start_ms, end_ms=end_ms
    )
    for venue, symbol in (("binance", "BTCUSDT"), ("bybit", "BTCUSDT"), ("hyperliquid", "BTC")):
        whole = load_funding(data / venue / "funding" / f"{symbol}.csv.gz", venue)
        week_ms = 7 * 24 * HOUR_MS
        keep = (whole.ts_funding_ms >= start_ms - week_ms) & (
            whole.ts_funding_ms <= end_ms + week_ms
        )
        got = dataset.funding_series(InstrumentId(venue, InstrumentKind.PERP, symbol))
        assert 0 < len(got) < len(whole)
        assert got.ts_funding_ms.tolist() == whole.ts_funding_ms[keep].tolist()
        assert got.interval_s.tolist() == whole.interval_s[keep].tolist()
        assert [x.hex() for x in got.rate.tolist()] == [x.hex() for x in whole.rate[keep].tolist()]
        marks = [x.hex() for x in whole.mark_price[keep].tolist()]
        assert [x.hex() for x in got.mark_price.tolist()] == marks
    with pytest.raises(KeyError, match="no funding loaded"):
        dataset.funding_series(InstrumentId("bybit", InstrumentKind.PERP, "ETHUSDT"))
