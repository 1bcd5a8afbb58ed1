"""A float64 price matrix stored as int32 scaled decimals where that is exact.

Recorded prices are short decimals (``"61234.5"``, ``"0.0001234"``), so a column of them is
held exactly by int32 integers ``n`` and one power of ten per column: the value is
``n / 10**k``. Division of two integers that float64 represents exactly (``|n| < 2**31``,
``10**k <= 10**9``) is correctly rounded, so it gives back the very float the file's text
parsed to — and the encoder checks that, bit for bit, for every value before it keeps the
integers. Half the memory of float64 (the N = 200 full-window frame: 4 matrices of 12 299 x 395
prices, 155 MB -> 78 MB).

:class:`PriceMatrix` reads like the float64 matrix it replaces for the index patterns the
replay uses (rows ``m[row]``, ``m[start:stop]``; columns ``m[:, cols]``; ``m[rows, col]``):
each read decodes only the cells it selects and returns a new float64 array, NaN where the
matrix had NaN.
"""

from __future__ import annotations

from typing import Any, Final, TypeAlias

import numpy as np
import numpy.typing as npt

FloatArray: TypeAlias = npt.NDArray[np.float64]
Int32Array: TypeAlias = npt.NDArray[np.int32]

NAN_CODE: Final = np.iinfo(np.int32).min
"""The int32 that stands for NaN (no bar); never a scaled price (those are ``> -2**31``)."""

MAX_DECIMALS: Final = 9
"""The largest power of ten tried: ``10**9`` < 2**53, so every scale is an exact float64."""

_INT32_MAX: Final = float(np.iinfo(np.int32).max)
_COLUMNS_PER_PASS: Final = 64  # columns encoded at once: bounds the temporaries of the encoder
_SAMPLE_EVERY: Final = 16  # rows of the sample that gives each column's first k to try


class PriceMatrix:
    """A ``(n_rows, n_cols)`` float64 matrix, held as int32 scaled decimals (one power of ten
    per column) when every value reads back bit for bit, else as the float64 matrix itself.

    Build with :meth:`encode` (the constructor takes either ``codes`` and their per-column
    ``scale``, or ``floats``; ``ValueError`` otherwise); read with ``m[key]`` (any numpy index
    of a 2-d array; the result is a float64 array, a new one when the integers are kept) or
    ``np.asarray(m)`` (the whole matrix decoded).

    Attributes
    ----------
    shape : tuple[int, int]
        ``(n_rows, n_cols)``.
    """

    __slots__ = ("_codes", "_floats", "_scale", "shape")

    def __init__(
        self,
        shape: tuple[int, int],
        *,
        codes: Int32Array | None = None,
        scale: FloatArray | None = None,
        floats: FloatArray | None = None,
    ) -> None:
        if floats is None:
            if codes is None or scale is None or codes.shape != shape or len(scale) != shape[1]:
                raise ValueError(f"a {shape} PriceMatrix needs {shape} codes and a scale a column")
        elif codes is not None or scale is not None or floats.shape != shape:
            raise ValueError(f"a {shape} PriceMatrix holds {shape} floats, or codes, not both")
        self.shape = shape
        self._codes = codes
        self._scale = scale
        self._floats = floats

    @classmethod
    def encode(cls, values: FloatArray) -> PriceMatrix:
        """``values`` (2-d float64) as scaled int32 when every column has a ``k`` in
        ``0 .. MAX_DECIMALS`` that holds each of its values exactly (NaN kept as
        :data:`NAN_CODE`; -0.0, infinities and other NaN bit patterns do not read back, so
        they keep the float64); else ``values`` itself, not copied.

        The encoder works :data:`_COLUMNS_PER_PASS` columns at a time, so its temporaries stay
        small beside the matrix."""
        if values.ndim != 2 or values.dtype != np.float64:
            raise ValueError(f"a 2-d float64 matrix is encoded, got {values.dtype} {values.shape}")
        n_rows, n_cols = values.shape
        shape = (int(n_rows), int(n_cols))
        codes = np.empty(shape, np.int32)
        scale = np.empty(n_cols, np.float64)
        for lo in range(0, n_cols, _COLUMNS_PER_PASS):
            hi = min(lo + _COLUMNS_PER_PASS, n_cols)
            found = _encode_block(values[:, lo:hi])
            if found is None:
                return cls(shape, floats=values)
            codes[:, lo:hi], scale[lo:hi] = found
        return cls(shape, codes=codes, scale=scale)

    @property
    def is_scaled(self) -> bool:
        """True when the matrix is held as scaled int32, False when as float64."""
        return self._codes is not None

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays held."""
        if self._codes is not None and self._scale is not None:
            return int(self._codes.nbytes + self._scale.nbytes)
        assert self._floats is not None
        return int(self._floats.nbytes)

    def __getitem__(self, key: Any) -> FloatArray:
        if self._codes is None or self._scale is None:
            assert self._floats is not None
            floats: FloatArray = self._floats[key]
            return floats
        return _decode(self._codes[key], np.broadcast_to(self._scale, self.shape)[key])

    def present(self) -> npt.NDArray[np.bool_]:
        """Where the matrix is not NaN, ``(n_rows, n_cols)`` bool (``~np.isnan`` of it,
        without decoding it)."""
        if self._codes is not None:
            held: npt.NDArray[np.bool_] = self._codes != NAN_CODE
            return held
        assert self._floats is not None
        return ~np.isnan(self._floats)

    def __array__(self, dtype: Any = None, copy: Any = None) -> FloatArray:
        whole = self[:, :]
        return whole if dtype is None else whole.astype(dtype)

    def __len__(self) -> int:
        return self.shape[0]


class PriceMatrixBuilder:
    """Builds the :class:`PriceMatrix` of a float64 matrix written a column at a time, without
    ever holding that float64 matrix: each column is encoded as it is written (its own scale,
    found as :meth:`PriceMatrix.encode` finds it), so :meth:`build` gives, to the bit, the
    matrix :meth:`PriceMatrix.encode` makes of the float64 matrix the same writes would fill —
    int32 codes while every column written has an exact scale, else (from the first column
    without one) the float64 values themselves.

    The matrix starts ``(0, n_cols)``; :meth:`widen` grows it (NaN in the new rows); a column
    must be written once (:meth:`put`); a column never written is all NaN (scale ``1.0``, the
    scale :meth:`PriceMatrix.encode` gives such a column).
    """

    __slots__ = ("_codes", "_floats", "_scale")

    def __init__(self, n_cols: int) -> None:
        self._codes: Int32Array | None = np.full((0, n_cols), NAN_CODE, np.int32)
        self._scale = np.ones(n_cols, np.float64)
        self._floats: FloatArray | None = None

    @property
    def n_rows(self) -> int:
        """Rows of the matrix so far."""
        held = self._codes if self._codes is not None else self._floats
        assert held is not None
        return int(held.shape[0])

    def widen(self, n_rows: int, shift: int) -> None:
        """Grow to ``n_rows`` rows, the current rows moved down by ``shift`` (NaN elsewhere);
        ``shift + current rows <= n_rows``."""
        if self._codes is not None:
            codes = np.full((n_rows, self._codes.shape[1]), NAN_CODE, np.int32)
            codes[shift : shift + self._codes.shape[0]] = self._codes
            self._codes = codes
        else:
            assert self._floats is not None
            floats = np.full((n_rows, self._floats.shape[1]), np.nan)
            floats[shift : shift + self._floats.shape[0]] = self._floats
            self._floats = floats

    def put(self, rows: npt.NDArray[np.int64] | slice, col: int, values: FloatArray) -> None:
        """Write ``values`` (float64, ``(m,)``) into column ``col`` at ``rows`` (``m`` rows of
        the matrix, or a slice of ``m`` rows); the column's other cells stay NaN."""
        if self._codes is not None:
            found = _encode_block(values[:, np.newaxis])
            if found is not None:
                codes, scale = found
                self._codes[rows, col] = codes[:, 0]
                self._scale[col] = scale[0]
                return
            self._to_floats()  # this column has no exact scale: the whole matrix stays float64
        assert self._floats is not None
        self._floats[rows, col] = values

    def build(self) -> PriceMatrix:
        """The matrix written (hands its arrays over: the builder is not to be used after)."""
        if self._codes is not None:
            codes = self._codes
            return PriceMatrix(
                (int(codes.shape[0]), int(codes.shape[1])), codes=codes, scale=self._scale
            )
        assert self._floats is not None
        floats = self._floats
        return PriceMatrix((int(floats.shape[0]), int(floats.shape[1])), floats=floats)

    def _to_floats(self) -> None:
        """Hold the float64 values from now on: the codes written read back bit for bit."""
        assert self._codes is not None
        self._floats = _decode(self._codes, np.broadcast_to(self._scale, self._codes.shape))
        self._codes = None


def _decode(codes: Int32Array, scale: FloatArray) -> FloatArray:
    """``codes / scale``, NaN where a code is :data:`NAN_CODE` (same shapes)."""
    out: FloatArray = np.divide(codes, scale, dtype=np.float64)
    if out.ndim:
        out[codes == NAN_CODE] = np.nan
        return out
    return np.asarray(np.nan if codes == NAN_CODE else out, dtype=np.float64)


def _encode_block(values: FloatArray) -> tuple[Int32Array, FloatArray] | None:
    """The codes and per-column scales of ``values`` ``(n, b)``, or None when a column has no
    exact scale. Each column takes the smallest ``k`` whose codes fit int32 and decode to the
    same bits (checked once more on the final codes, so what is kept reads back exactly).

    The search runs on every :data:`_SAMPLE_EVERY`-th row first: a subset needs no more places
    than the whole column, so the whole column is searched from the sample's ``k`` up (one
    pass over it, mostly)."""
    nan = np.isnan(values)
    with np.errstate(over="ignore", invalid="ignore"):  # huge values and NaN fail the test
        rows = slice(None, None, _SAMPLE_EVERY)
        at_least = _smallest_places(values[rows], nan[rows], np.zeros(values.shape[1], np.int64))
        places = None if at_least is None else _smallest_places(values, nan, at_least)
        if places is None:
            return None
        scale: FloatArray = (10.0**places).astype(np.float64)
        codes = np.where(nan, 0.0, np.rint(values * scale)).astype(np.int32)
    codes[nan] = NAN_CODE
    decoded = _decode(codes, np.broadcast_to(scale, values.shape))
    if not np.array_equal(decoded.view(np.int64), values.view(np.int64)):
        return None  # -0.0, an infinity or a NaN with another bit pattern
    return codes, scale


def _smallest_places(
    values: FloatArray, nan: npt.NDArray[np.bool_], start: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64] | None:
    """Per column of ``values``, the smallest ``k >= start`` (up to :data:`MAX_DECIMALS`) with
    every non-NaN ``x`` equal to ``rint(x * 10**k) / 10**k`` and that integer within int32;
    None when a column has none."""
    places = start.copy()
    open_cols = np.arange(values.shape[1])
    while open_cols.size:
        if int(places[open_cols].max()) > MAX_DECIMALS:
            return None
        power = 10.0 ** places[open_cols]
        block = values[:, open_cols]
        scaled = np.rint(block * power)
        exact = (scaled / power == block) & (np.abs(scaled) <= _INT32_MAX)
        ok = np.all(exact | nan[:, open_cols], axis=0)
        open_cols = open_cols[~ok]
        places[open_cols] += 1
    return places
