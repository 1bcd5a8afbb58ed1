"""Fast paths of the replay's data load (issue 14), each against the straightforward computation
on random inputs:

- the price-jump guard's volatility (venues/replay/guards.py): full windows sorted in blocks and
  their middles taken (``sorted_medians``) must give ``np.median``'s bits; the windows shorter
  than ``vol_window_bars`` at a file's start come from one sorted list grown a move at a time
  (``prefix_sigmas``) and must give ``robust_sigma``'s bits (the guard's verdicts against the
  row-by-row rule are in ``test_replay_fast_paths.py``, beside the rule written out once);
- the loader's parse (venues/replay/loader.py), which now skips the CRLF rewrite when a file has
  no carriage return and finds empty lines in the split lines: every value must have the bits of
  Python's ``int``/``float`` of its text (what the exact pass computes), whatever the number's
  spelling, line endings or compression, and an empty line anywhere is still refused at its line.
"""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from venues.model import HOUR_MS
from venues.replay.guards import (
    DataGuards,
    calm_rows,
    prefix_sigmas,
    price_jumps,
    robust_sigma,
    sorted_medians,
)
from venues.replay.loader import DataFileError, bundled_data_dir, load_funding, load_klines

KLINE_FILES = sorted(bundled_data_dir().glob("binance/*/*_1h.csv.gz"))

# ------------------------------------------------------------------ volatility of the guard


def _same_float(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or float(a).hex() == float(b).hex()


# Moves as the guard sees them (absolute log returns), with the values that test a median:
# zeros, ties, infinities and NaN gaps.
_MOVE = st.one_of(
    st.floats(min_value=0.0, max_value=0.5, allow_nan=False),
    st.sampled_from([0.0, 1e-4, 0.01, 0.01, 0.3, math.inf, math.nan]),
)


@settings(max_examples=300, deadline=None)
@given(
    rows=st.integers(1, 6),
    width=st.integers(1, 40),
    data=st.data(),
)
def test_sorted_medians_have_the_bits_of_np_median(
    rows: int, width: int, data: st.DataObject
) -> None:
    values = np.array(
        data.draw(st.lists(_MOVE, min_size=rows * width, max_size=rows * width)), dtype=np.float64
    ).reshape(rows, width)
    expected = np.median(values, axis=1)
    got = sorted_medians(np.sort(values, axis=1))
    assert got.shape == expected.shape
    assert all(_same_float(g, e) for g, e in zip(got.tolist(), expected.tolist(), strict=True))


@pytest.mark.parametrize("path", KLINE_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_the_guard_volatility_of_every_bundled_row_has_the_bits_of_robust_sigma(
    path: Path,
) -> None:
    """Every row of every bundled file, as the replay loads them: the 168-bar windows through
    ``sorted_medians``, the shorter ones at the start through ``prefix_sigmas``."""
    abs_ret = np.abs(np.diff(np.log(load_klines(path).close)))
    windows = np.lib.stride_tricks.sliding_window_view(abs_ret, 168)
    expected = np.median(windows, axis=1)
    assert sorted_medians(np.sort(windows, axis=1)).tobytes() == expected.tobytes()
    got = prefix_sigmas(abs_ret, list(range(1, 168)))
    assert got == [robust_sigma(abs_ret[:n]) for n in range(1, 168)]


@settings(max_examples=300, deadline=None)
@given(moves=st.lists(_MOVE, min_size=1, max_size=200), data=st.data())
def test_prefix_sigmas_have_the_bits_of_robust_sigma(
    moves: list[float], data: st.DataObject
) -> None:
    abs_ret = np.array(moves, dtype=np.float64)
    lengths = sorted(
        data.draw(st.lists(st.integers(1, len(moves)), min_size=1, max_size=len(moves)))
    )  # ascending, repeats allowed
    got = prefix_sigmas(abs_ret, lengths)
    expected = [robust_sigma(abs_ret[:n]) for n in lengths]
    assert all(_same_float(g, e) for g, e in zip(got, expected, strict=True))


def test_prefix_sigmas_refuse_an_empty_prefix_and_lengths_out_of_order() -> None:
    with pytest.raises(ValueError, match="at least one move"):
        robust_sigma(np.empty(0))
    with pytest.raises(ValueError, match="at least one move"):
        prefix_sigmas(np.ones(3), [0, 2])
    with pytest.raises(ValueError, match="ascending"):
        prefix_sigmas(np.ones(3), [2, 1])


# ----------------------------------------------------------------------- loader parse

T0 = 1_729_670_400_000


@st.composite
def _number_text(draw: st.DrawFn, *, positive: bool) -> str:
    """A decimal as a recorder might spell it: any of the forms the exact pass accepts."""
    digits = st.text("0123456789", min_size=1, max_size=9)
    whole = draw(digits)
    if positive and not whole.strip("0"):
        whole += "1"
    form = draw(st.sampled_from(["int", "frac", "dot_end", "dot_start", "exp", "repr"]))
    if form == "int":
        text = whole
    elif form == "frac":
        text = f"{whole}.{draw(digits)}"
    elif form == "dot_end":
        text = f"{whole}."
    elif form == "dot_start":
        frac = draw(digits)
        text = f".{frac if not positive or frac.strip('0') else frac + '3'}"
    elif form == "exp":
        text = f"{whole}{draw(st.sampled_from('eE'))}{draw(st.sampled_from(['', '+', '-']))}"
        text += str(draw(st.integers(0, 30)))
    else:
        text = repr(draw(st.floats(min_value=1e-8, max_value=1e12)))
    sign = draw(st.sampled_from(["", "+"] if positive else ["", "+", "-"]))
    return sign + text


def _write(tmp_path: Path, name: str, lines: list[str], crlf: bool, final: bool, gz: bool) -> Path:
    text = ("\r\n" if crlf else "\n").join(lines) + (("\r\n" if crlf else "\n") if final else "")
    path = tmp_path / (name + (".csv.gz" if gz else ".csv"))
    path.write_bytes(gzip.compress(text.encode()) if gz else text.encode())
    return path


def _bits(values: list[float]) -> bytes:
    return np.array(values, dtype=np.float64).tobytes()


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    prices=st.lists(
        st.lists(_number_text(positive=True), min_size=4, max_size=4), min_size=1, max_size=30
    ),
    volumes=st.lists(st.one_of(_number_text(positive=True), st.sampled_from(["0", "-0", "-0.0"]))),
    ts_spelling=st.sampled_from(["{}", "+{}", "000{}"]),
    crlf=st.booleans(),
    final=st.booleans(),
    gz=st.booleans(),
)
def test_klines_load_to_the_bits_of_python_float_of_each_field(
    tmp_path: Path,
    prices: list[list[str]],
    volumes: list[str],
    ts_spelling: str,
    crlf: bool,
    final: bool,
    gz: bool,
) -> None:
    lines = ["open_time_ms,open,high,low,close,volume"]
    expected: list[tuple[int, float, float, float, float, float]] = []
    for i, four in enumerate(prices):
        by_value = sorted(four, key=float)  # low, open, close, high: a valid bar
        lo, o, c, h = by_value
        v = volumes[i % len(volumes)] if volumes else "1"
        ts = T0 + i * HOUR_MS
        lines.append(",".join([ts_spelling.format(ts), o, h, lo, c, v]))
        expected.append((ts, float(o), float(h), float(lo), float(c), float(v)))
    if any(not math.isfinite(x) for row in expected for x in row[1:]):
        return  # 1e30-style overflows are refused (test_replay_loader); not this test's case
    series = load_klines(_write(tmp_path, "k_1h", lines, crlf, final, gz))
    ts, o, h, lo, c, v = zip(*expected, strict=True)
    assert series.ts_open_ms.tolist() == list(ts)
    assert series.open.tobytes() == _bits(list(o))
    assert series.high.tobytes() == _bits(list(h))
    assert series.low.tobytes() == _bits(list(lo))
    assert series.close.tobytes() == _bits(list(c))
    assert series.volume.tobytes() == _bits(list(v))


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rates=st.lists(_number_text(positive=False), min_size=2, max_size=30),
    marks=st.one_of(st.none(), st.lists(st.one_of(st.just(""), _number_text(positive=True)))),
    jitter_ms=st.lists(st.integers(0, 1_799_999)),
    crlf=st.booleans(),
    final=st.booleans(),
    gz=st.booleans(),
)
def test_funding_loads_to_the_bits_of_python_float_of_each_field(
    tmp_path: Path,
    rates: list[str],
    marks: list[str] | None,
    jitter_ms: list[int],
    crlf: bool,
    final: bool,
    gz: bool,
) -> None:
    with_mark = marks is not None
    lines = ["funding_time_ms,funding_rate" + (",mark_price" if with_mark else "")]
    expected_ts, expected_rate, expected_mark = [], [], []
    for i, rate in enumerate(rates):
        ts = T0 + i * 8 * HOUR_MS + (jitter_ms[i % len(jitter_ms)] if jitter_ms else 0)
        mark = marks[i % len(marks)] if marks else ""
        lines.append(f"{ts},{rate}" + (f",{mark}" if with_mark else ""))
        expected_ts.append((ts + HOUR_MS // 2) // HOUR_MS * HOUR_MS)
        expected_rate.append(float(rate))
        expected_mark.append(float(mark) if mark else math.nan)
    if not all(math.isfinite(x) for x in expected_rate + expected_mark if x == x):
        return  # overflows are refused (test_replay_loader); not this test's case
    series = load_funding(_write(tmp_path, "f", lines, crlf, final, gz), "binance")
    assert series.ts_funding_ms.tolist() == expected_ts
    assert series.rate.tobytes() == _bits(expected_rate)
    if with_mark:
        assert series.mark_price.tobytes() == _bits(expected_mark)
    else:
        assert np.isnan(series.mark_price).all()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.integers(1, 12), at=st.integers(0, 12), crlf=st.booleans(), final=st.booleans())
def test_an_empty_line_anywhere_is_refused_at_its_line(
    tmp_path: Path, rows: int, at: int, crlf: bool, final: bool
) -> None:
    """Before the first row, between rows or after the last one (``\\n\\n`` at the end):
    numpy.loadtxt would skip it; the loader names it."""
    lines = [f"{T0 + i * HOUR_MS},10,12,9,11,100" for i in range(rows)]
    at = min(at, rows)
    if at == rows and not final:
        final = True  # an empty last line needs the line break after it to be a line
    lines.insert(at, "")
    path = _write(
        tmp_path, "k_1h", ["open_time_ms,open,high,low,close,volume", *lines], crlf, final, False
    )
    with pytest.raises(DataFileError) as info:
        load_klines(path)
    assert (info.value.line, info.value.reason) == (at + 2, "empty line")


# ------------------------------------------------- moves the guard proves calm without a median


@settings(max_examples=300, deadline=None)
@given(
    moves=st.lists(_MOVE, min_size=2, max_size=260),
    window=st.sampled_from([1, 2, 3, 7, 24, 168]),
    k=st.sampled_from([1.0, 2.0, 5.0, 100.0]),
)
def test_a_move_proved_calm_is_within_k_sigmas_of_its_window(
    moves: list[float], window: int, k: float
) -> None:
    """``calm_rows`` never calls a move calm that the median rule would flag: for each row it
    marks, ``move > k x robust_sigma(window)`` is false (NaN medians included)."""
    abs_ret = np.array(moves, dtype=np.float64)
    rows = np.arange(1, abs_ret.shape[0] + 1)
    calm = calm_rows(abs_ret, rows, window, k)
    for row in rows[calm].tolist():
        sigma = robust_sigma(abs_ret[row - 1 - window : row - 1])
        assert not abs_ret[row - 1] > k * sigma, (row, sigma)


def test_most_screened_bundled_moves_are_proved_calm() -> None:
    """What the proof is for: on the bundled files nearly every move the guard screens (over
    1 %) needs no median."""
    screened = proved = 0
    for path in KLINE_FILES:
        abs_ret = np.abs(np.diff(np.log(load_klines(path).close)))
        rows = np.flatnonzero(abs_ret > 100 * 1e-4) + 1
        rows = rows[rows > 168]
        screened += rows.shape[0]
        proved += int(calm_rows(abs_ret, rows, 168, 100.0).sum())
    assert screened > 10_000
    assert proved > 0.95 * screened


def test_a_calm_move_after_a_spike_is_judged_with_its_own_volatility() -> None:
    """The bar after a flagged one is judged from the close before the spike, so a move that
    was proved calm from its previous close needs its volatility after all: a 3-bar 100x
    spike in a volatile series whose middle bars move over 1 % between themselves (screened,
    proved calm) is flagged on every bar, as by the row-by-row rule."""
    rng = np.random.default_rng(7)
    close = np.exp(np.cumsum(rng.normal(0.0, 0.02, 400))) * 100.0
    close[300:303] *= 100.0
    close[301] = close[300] * 1.05  # a 5 % move inside the spike
    close[302] = close[301] * 1.05
    abs_ret = np.abs(np.diff(np.log(close)))
    assert calm_rows(abs_ret, np.array([301, 302]), 168, 100.0).tolist() == [True, True]
    assert price_jumps(_Series(close), DataGuards()) == [300, 301, 302]  # type: ignore[arg-type]


class _Series:
    """The part of a ``KlineSeries`` the guard reads: its closes and length."""

    def __init__(self, close: np.ndarray) -> None:
        self.close = close

    def __len__(self) -> int:
        return len(self.close)


@pytest.mark.parametrize("window", [1, 2, 7, 168])
def test_the_calm_bound_is_the_rules_own_product_at_its_edge(window: int) -> None:
    """A window of equal moves t (its median, and the moves' first quartile, is t): a move of
    exactly ``k x (1.4826 x t)`` is calm (the rule does not flag it), the next float up is
    not (the rule flags it)."""
    t, k = 0.001, 100.0
    edge = k * (1.4826 * t)
    for move, calm in ((edge, True), (float(np.nextafter(edge, np.inf)), False)):
        abs_ret = np.array([t] * window + [move])
        row = window + 1
        assert calm_rows(abs_ret, np.array([row]), window, k).tolist() == [calm]
        assert (move > k * robust_sigma(abs_ret[:window])) is not calm


# ------------------------------------------------- kline checks made column by column


def _reference_bar_error(values: np.ndarray) -> tuple[int, str] | None:
    """The first (line, reason) of the non-finite / non-positive checks as written before,
    row-wise over the ``(n, 5)`` matrix (other checks cannot fail on the rows drawn below)."""
    bad_value = ~np.isfinite(values).all(axis=1)
    bad_price = (values[:, :4] <= 0).any(axis=1)
    found = []
    if bad_value.any():
        i = int(np.argmax(bad_value))
        found.append((i, f"non-finite value in row {values[i].tolist()}"))
    if bad_price.any():
        i = int(np.argmax(bad_price))
        found.append((i, f"non-positive price in {values[i, :4].tolist()}"))
    if not found:
        return None
    row, reason = min(found, key=lambda f: f[0])  # stable: the non-finite check wins a tie
    return row + 2, reason


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    cells=st.lists(
        st.tuples(
            st.sampled_from(["5", "1e999", "-1e999", "0", "-2", "0.0"]),
            st.sampled_from(["5", "1e999", "-1e999", "0"]),  # never a finite negative volume
        ),
        min_size=1,
        max_size=12,
    ),
)
def test_non_finite_and_non_positive_bars_are_named_as_by_the_row_wise_checks(
    tmp_path: Path, cells: list[tuple[str, str]]
) -> None:
    """Bars of equal open, high, low and close (so only these two checks can fail), some
    cells infinite, zero or negative, in any column and row: the error's line and reason are
    those of the row-wise checks over the whole matrix, the first failing row winning."""
    rows = [[price] * 4 + [volume] for price, volume in cells]  # o = h = l = c
    lines = ["open_time_ms,open,high,low,close,volume"] + [
        f"{T0 + i * HOUR_MS}," + ",".join(r) for i, r in enumerate(rows)
    ]
    path = _write(tmp_path, "bars_1h", lines, crlf=False, final=True, gz=False)
    expected = _reference_bar_error(np.array([[float(x) for x in r] for r in rows]))
    if expected is None:
        load_klines(path)
        return
    with pytest.raises(DataFileError) as info:
        load_klines(path)
    assert (info.value.line, info.value.reason) == expected
