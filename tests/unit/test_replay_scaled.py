"""The replay's price matrices held as int32 scaled decimals (``venues.replay.scaled``) read
back, bit for bit, the float64 matrix they were built from — through every index pattern the
replay uses — and are kept as integers exactly when every column has a scale that holds each of
its values (decided here independently, from each float's shortest decimal text)."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from venues.model import HOUR_MS, InstrumentId, InstrumentKind
from venues.replay.catalog import available_symbols, kline_path
from venues.replay.grid import build_frame
from venues.replay.loader import bundled_data_dir, load_klines
from venues.replay.scaled import MAX_DECIMALS, PriceMatrix, PriceMatrixBuilder

INT32_MAX = 2**31 - 1


def bits(values: object) -> list[str]:
    return [float(x).hex() for x in np.asarray(values, dtype=np.float64).ravel().tolist()]


def column_places(column: list[float]) -> int | None:
    """The decimal places of the column's longest shortest-text value when that many places
    hold every value in int32, else None (-0.0 never: it would read back as +0.0)."""
    texts = [Decimal(repr(x)).normalize() for x in column if not np.isnan(x)]
    if any(x == 0.0 and np.signbit(x) for x in column) or any(not t.is_finite() for t in texts):
        return None
    exponents = [t.as_tuple().exponent for t in texts]
    places = max([0, *(-e for e in exponents if isinstance(e, int))])
    if places > MAX_DECIMALS or any(abs(t.scaleb(places)) > INT32_MAX for t in texts):
        return None
    return places


def expected_scaled(values: np.ndarray) -> bool:
    return all(column_places(values[:, j].tolist()) is not None for j in range(values.shape[1]))


@st.composite
def matrices(draw: st.DrawFn) -> np.ndarray:
    """Columns of decimals of 0..9 places as parsed from text (positive and negative), with
    NaN; sometimes a value that no int32 scale holds (too many digits, too large, a random
    float, -0.0, an infinity)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n_rows, n_cols = draw(st.integers(1, 40)), draw(st.integers(1, 9))
    out = np.empty((n_rows, n_cols))
    for j in range(n_cols):
        places = int(rng.integers(0, MAX_DECIMALS + 1))
        digits = int(rng.integers(1, 10))
        ints = rng.integers(-(10**digits), 10**digits, size=n_rows)
        out[:, j] = [float(f"{n / 10**places:.{places}f}") for n in ints.tolist()]
    out[rng.random(out.shape) < 0.2] = np.nan
    if draw(st.booleans()):
        spoiler = draw(
            st.sampled_from(
                [1e-10, 2147483648.0, -2147483649.0, 0.1 + 0.2, -0.0, np.inf, 3e9, 1 / 3]
            )
        )
        out[int(rng.integers(0, n_rows)), int(rng.integers(0, n_cols))] = spoiler
    return out


@settings(max_examples=300, deadline=None)
@given(values=matrices(), seed=st.integers(0, 2**32 - 1))
def test_every_read_is_the_float_matrix_bit_for_bit(values: np.ndarray, seed: int) -> None:
    matrix = PriceMatrix.encode(values.copy())
    assert matrix.is_scaled == expected_scaled(values)
    assert matrix.shape == values.shape
    assert bits(matrix) == bits(values)  # np.asarray: the whole matrix
    rng = np.random.default_rng(seed)
    n_rows, n_cols = values.shape
    row, col = int(rng.integers(0, n_rows)), int(rng.integers(0, n_cols))
    lo = int(rng.integers(0, n_rows))
    hi = int(rng.integers(lo, n_rows + 1))
    cols = rng.integers(0, n_cols, size=int(rng.integers(0, 5))).tolist()
    rows = rng.integers(0, n_rows, size=int(rng.integers(0, 20)))
    mask = rng.random(n_rows) < 0.5
    keys: list[object] = [
        row,  # a step's bars
        slice(lo, hi),  # a block of steps
        (slice(None), cols),  # columns
        (slice(None), col),
        (rows, col),  # settlement rows of one perp
        (mask, col),  # the bars of one series
        (row, col),
    ]
    for key in keys:
        got = matrix[key]
        assert got.dtype == np.float64
        assert got.shape == values[key].shape
        assert bits(got) == bits(values[key]), key


def test_scaled_columns_hold_half_the_bytes_and_nan() -> None:
    values = np.array([[61234.5, 0.00001234, -1.5], [np.nan, 0.00001235, 2.0]])
    matrix = PriceMatrix.encode(values)
    assert matrix.is_scaled
    assert matrix.nbytes == values.size * 4 + 3 * 8  # int32 codes + one float64 scale a column
    assert np.isnan(matrix[1, 0])
    assert matrix[1].tolist()[1:] == [0.00001235, 2.0]


@pytest.mark.parametrize("spoiler", [0.1 + 0.2, 1e-10, 3e9, -0.0, np.inf])
def test_one_value_without_an_exact_scale_keeps_the_whole_matrix_float64(spoiler: float) -> None:
    values = np.array([[1.5, 2.25], [3.0, spoiler]])
    matrix = PriceMatrix.encode(values)
    assert not matrix.is_scaled
    assert matrix.nbytes == values.nbytes
    assert bits(matrix) == bits(values)


def test_a_nan_of_another_bit_pattern_keeps_float64() -> None:
    other_nan = np.array([0x7FF8000000000001], dtype=np.int64).view(np.float64)[0]
    values = np.array([[1.5, other_nan]])
    matrix = PriceMatrix.encode(values)
    assert not matrix.is_scaled
    assert np.asarray(matrix).view(np.int64).tolist() == values.view(np.int64).tolist()


def test_the_constructor_refuses_a_matrix_held_twice_or_of_another_shape() -> None:
    codes, scale, floats = np.zeros((2, 3), np.int32), np.ones(3), np.zeros((2, 3))
    assert PriceMatrix((2, 3), codes=codes, scale=scale).is_scaled
    assert not PriceMatrix((2, 3), floats=floats).is_scaled
    for kwargs in (
        {"codes": codes, "scale": scale, "floats": floats},
        {"codes": codes},
        {"codes": codes, "scale": np.ones(2)},
        {"floats": np.zeros((3, 2))},
        {},
    ):
        with pytest.raises(ValueError, match="PriceMatrix"):
            PriceMatrix((2, 3), **kwargs)  # type: ignore[arg-type]


def test_encode_refuses_what_is_not_a_float64_matrix() -> None:
    with pytest.raises(ValueError, match="2-d float64"):
        PriceMatrix.encode(np.zeros(3))
    with pytest.raises(ValueError, match="2-d float64"):
        PriceMatrix.encode(np.zeros((2, 2), np.float32))


def test_bundled_prices_are_held_scaled_and_read_back_as_the_files_floats() -> None:
    """Every bundled price file's decimals fit: the default replay's frame is int32, and each
    bar reads back as the file's float."""
    data = bundled_data_dir()
    klines = {
        InstrumentId("binance", kind, symbol): load_klines(kline_path(data, symbol, kind.value))
        for kind in (InstrumentKind.PERP, InstrumentKind.SPOT)
        for symbol in available_symbols(data, kind)
    }
    frame = build_frame(klines, None, None)
    assert all(m.is_scaled for m in (frame.open, frame.high, frame.low, frame.close))
    for col, series in enumerate(klines.values()):
        rows = (series.ts_open_ms + HOUR_MS - frame.ts_close_ms[0]) // HOUR_MS
        for name in ("open", "high", "low", "close"):
            assert bits(getattr(frame, name)[rows, col]) == bits(getattr(series, name)), name


# ---- built a column at a time (venues.replay.scaled.PriceMatrixBuilder) --------------------


def held_arrays(matrix: PriceMatrix) -> list[object]:
    """What the matrix holds, to the bit: its kind, codes and scales, or its floats."""
    if matrix.is_scaled:
        return ["scaled", matrix._codes.tolist(), bits(matrix._scale)]  # type: ignore[union-attr]
    return ["float64", np.asarray(matrix._floats).view(np.int64).tolist()]


@settings(max_examples=300, deadline=None)
@given(values=matrices(), seed=st.integers(0, 2**32 - 1))
def test_a_matrix_built_a_column_at_a_time_holds_what_encode_makes_of_the_floats(
    values: np.ndarray, seed: int
) -> None:
    """Columns written in a random order, each over a random run of the final rows (a slice)
    or a random subset of them (an index array), the matrix widened before and after its rows
    between writes, some columns never written: the builder holds exactly what
    ``PriceMatrix.encode`` makes of the float64 matrix the same writes fill (int32 codes and
    scales, or, from a column without an exact scale on, the floats)."""
    rng = np.random.default_rng(seed)
    n_rows, n_cols = values.shape
    reference = np.full((n_rows, n_cols), np.nan)
    builder = PriceMatrixBuilder(n_cols)
    lo = hi = int(rng.integers(0, n_rows + 1))  # the final rows the builder spans: [lo, hi)
    for col in rng.permutation(n_cols)[: int(rng.integers(0, n_cols + 1))].tolist():
        first = int(rng.integers(0, n_rows))
        last = int(rng.integers(first, n_rows))
        new_lo, new_hi = min(lo, first), max(hi, last + 1)
        if (new_lo, new_hi) != (lo, hi):
            builder.widen(new_hi - new_lo, lo - new_lo)
            lo, hi = new_lo, new_hi
        assert builder.n_rows == hi - lo
        final_rows = np.arange(first, last + 1)
        if rng.random() < 0.5:
            at: object = slice(first - lo, last + 1 - lo)
        else:
            final_rows = final_rows[rng.random(final_rows.shape[0]) < 0.7]
            at = final_rows - lo
        builder.put(at, col, values[final_rows, col])  # type: ignore[arg-type]
        reference[final_rows, col] = values[final_rows, col]
    builder.widen(n_rows, lo)
    built = builder.build()
    expected = PriceMatrix.encode(reference)
    assert built.shape == expected.shape
    assert held_arrays(built) == held_arrays(expected)
    assert built.present().tolist() == (~np.isnan(reference)).tolist()


def test_a_column_without_an_exact_scale_turns_the_built_matrix_float64_from_then_on() -> None:
    builder = PriceMatrixBuilder(3)
    builder.widen(2, 0)
    builder.put(slice(0, 2), 0, np.array([1.5, 2.25]))
    builder.put(np.array([1]), 1, np.array([0.1 + 0.2]))  # no k <= 9 holds it
    builder.put(slice(0, 1), 2, np.array([7.0]))
    built = builder.build()
    assert not built.is_scaled
    expected = [[1.5, np.nan, 7.0], [2.25, 0.1 + 0.2, np.nan]]
    assert bits(built) == bits(np.array(expected))
    assert built.present().tolist() == [[True, False, True], [True, True, False]]
