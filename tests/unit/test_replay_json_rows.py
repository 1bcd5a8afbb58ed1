"""The replay loader's first fast path (issue 14): a clean file's rows read as JSON arrays of
numbers by msgspec (``venues.replay.loader._parse_json_rows``, ~1.45x ``numpy.loadtxt``'s
speed). Whatever it accepts must have the bits of Python's ``int``/``float`` of each field (what
the exact pass computes, and ``numpy.loadtxt``, the path it went through before); what it cannot
vouch for it must hand on (None) to the other paths. Its two guards are tested on purpose: a
``-0`` field (msgspec reads the integer ``-0`` as 0.0, not -0.0) and a time of 2**53 or more
(not exact as the float64 the rows are gathered in). The bundled files against the former
``loadtxt`` parse are in ``test_replay_parse_lines.py``."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from venues.replay.loader import (
    FUNDING_HEADER,
    KLINE_HEADER,
    _parse_json_rows,
    _parse_rows,
)

PATH = Path("test.csv")

_DIGITS = st.text("0123456789", min_size=1, max_size=25)


@st.composite
def _json_number(draw: st.DrawFn) -> str:
    """A number as JSON writes it: no leading zero, no bare dot, an optional exponent; long
    digit strings too (integers beyond 2**64, decimals beyond 17 digits)."""
    whole = draw(_DIGITS).lstrip("0") or "0"
    text = whole
    if draw(st.booleans()):
        text += "." + draw(_DIGITS)
    if draw(st.booleans()):
        exp_sign = draw(st.sampled_from(["", "+", "-"]))
        text += draw(st.sampled_from("eE")) + exp_sign + str(draw(st.integers(0, 330)))
    return draw(st.sampled_from(["", "-"])) + text


_FIELD = st.one_of(
    _json_number(),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["0", "-0", "-0.0", "0.0", "-0e5", "5e-324", "1e-400", "9007199254740993"]),
)


def _bits(values: list[float]) -> bytes:
    return np.array(values, dtype=np.float64).tobytes()


@settings(max_examples=400, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.integers(-(2**53) + 1, 2**53 - 1), st.lists(_FIELD, min_size=5, max_size=5)),
        min_size=1,
        max_size=20,
    )
)
def test_the_json_rows_have_the_bits_of_python_int_and_float_of_each_field(
    rows: list[tuple[int, list[str]]],
) -> None:
    text = "".join(f"{ts},{','.join(fields)}\n" for ts, fields in rows)
    expected_values = [float(f) for _, fields in rows for f in fields]
    if not all(math.isfinite(x) for x in expected_values):
        return  # beyond the float range: the fast path hands it on (tested below)
    ts, values = _parse_rows(PATH, text, KLINE_HEADER, optional_last=False)
    assert ts.dtype == np.int64
    assert ts.tolist() == [t for t, _ in rows]
    assert values.shape == (len(rows), 5)
    assert np.ascontiguousarray(values).tobytes() == _bits(expected_values)
    parsed = _parse_json_rows(text, 6)
    has_minus_zero = any(f == "-0" for _, fields in rows for f in fields)
    assert (parsed is None) == has_minus_zero  # the fast path took every other file
    if parsed is not None:
        assert parsed[0].tolist() == ts.tolist()
        assert np.ascontiguousarray(parsed[1]).tobytes() == _bits(expected_values)


@pytest.mark.parametrize(
    "line",
    [
        "1,-0,1,1,1,1",  # msgspec: 0.0 (the guard)
        "1,1,1,1,1,-0",  # the same in the last column
        "1,+1,1,1,1,1",
        "1,.5,1,1,1,1",
        "1,1.,1,1,1,1",
        "1,01,1,1,1,1",
        "1,,1,1,1,1",
        "1,1,1,1,1",  # a column short
        "1,1,1,1,1,1,1",  # a column more
        "1.0,1,1,1,1,1",  # a time that is not an integer
        "1e3,1,1,1,1,1",
        "1,1e400,1,1,1,1",  # beyond the float range
        f"{2**53},1,1,1,1,1",  # a time not exact as a float64 (the guard)
        f"-{2**53},1,1,1,1,1",
        f"{2**64 + 1},1,1,1,1,1",
        "",  # an empty line
    ],
)
def test_what_json_rows_cannot_vouch_for_is_handed_on(line: str) -> None:
    text = f"1,2,3,1,2,10\n{line}\n"
    assert _parse_json_rows(text, 6) is None


def test_a_minus_zero_field_is_negative_zero() -> None:
    """The guard's case end to end: ``-0`` is -0.0, as ``float("-0")``."""
    _, values = _parse_rows(PATH, "1,-0,1\n2,1,-0\n", (*FUNDING_HEADER, "x"), optional_last=False)
    assert np.ascontiguousarray(values).tobytes() == _bits([-0.0, 1.0, 1.0, -0.0])


def test_a_time_at_2_pow_53_keeps_its_integer() -> None:
    """The guard's case end to end: 2**53 + 1 is not a float64; the time is read as int64."""
    ts, _ = _parse_rows(PATH, f"{2**53 + 1},0.5\n", FUNDING_HEADER, optional_last=False)
    assert ts.tolist() == [2**53 + 1]


def test_an_empty_mark_price_goes_to_loadtxt_as_nan() -> None:
    names = ("funding_time_ms", "funding_rate", "mark_price")
    ts, values = _parse_rows(PATH, "1,0.5,\n2,0.25,100.5\n", names, optional_last=True)
    assert ts.tolist() == [1, 2]
    assert np.ascontiguousarray(values).tobytes() == _bits([0.5, math.nan, 0.25, 100.5])
