"""Parse and validate the recorded market-data files the replay source is built from.

Two file kinds, both CSV (optionally gzip-compressed, ``.csv.gz``), UTF-8, one header line:

- klines, header ``open_time_ms,open,high,low,close,volume``: bar **open** time in epoch ms
  UTC (a multiple of the bar interval: 3 600 000 for the bundled 1h files, 60 000 for 1m
  files; :mod:`venues.replay.intervals`), prices in quote units, volume in base units;
- funding settlements, header ``funding_time_ms,funding_rate`` (Bybit, Hyperliquid) or
  ``funding_time_ms,funding_rate,mark_price`` (Binance, ``mark_price`` may be empty): the
  settlement time as the venue stamped it (a few ms of jitter after the hour), the rate per
  funding interval as a fraction, the mark price at settlement in quote units.

The bundled files and their provenance are described in ``venues/replay/data/PROVENANCE.md``.

Parsing has two fast paths for clean files — the rows read as JSON arrays of numbers
(``msgspec``, correctly rounded like ``float()``), else ``numpy.loadtxt`` — and an exact
line-by-line pass that runs whenever the fast paths cannot vouch for a file; a bad file always
raises :class:`DataFileError` naming the file, the 1-based line (the header is line 1) and the
reason.
"""

from __future__ import annotations

import gzip
import math
import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from itertools import chain
from pathlib import Path
from typing import Any, Final, TypeVar

import msgspec
import numpy as np
import numpy.typing as npt

from venues.model import HOUR_MS

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
_T = TypeVar("_T", bound=np.generic)

KLINE_HEADER: Final = ("open_time_ms", "open", "high", "low", "close", "volume")
FUNDING_HEADER: Final = ("funding_time_ms", "funding_rate")
FUNDING_MARK_HEADER: Final = ("funding_time_ms", "funding_rate", "mark_price")

_HALF_HOUR_MS: Final = HOUR_MS // 2
# Any other character (letters of nan/inf, spaces, quotes ...) or an empty line sends a file
# to the exact pass, which accepts exactly the same numbers as the fast path.
_PLAIN_BYTES: Final = b"0123456789eE+-.,\n"
_INT_RE: Final = re.compile(r"[+-]?[0-9]+")
_FLOAT_RE: Final = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


class DataFileError(ValueError):
    """A recorded data file is malformed.

    Parameters
    ----------
    path : Path | str
        The offending file.
    line : int
        1-based line number (the header is line 1; 0 when the file as a whole is unreadable).
    reason : str
        What is wrong, with the offending value.

    The message is ``"<path>:<line>: <reason>"``; the three parts are also attributes.
    """

    def __init__(self, path: Path | str, line: int, reason: str) -> None:
        super().__init__(f"{path}:{line}: {reason}")
        self.path = Path(path)
        self.line = line
        self.reason = reason


@dataclass(frozen=True, slots=True, eq=False)
class KlineSeries:
    """OHLCV bars of one instrument, oldest first; every array has shape ``(n,)``, read-only.

    Attributes
    ----------
    ts_open_ms : IntArray
        Bar open time, epoch ms UTC, int64, strictly increasing multiples of ``interval_ms``;
        the bar covers ``[ts_open_ms, ts_open_ms + interval_ms)``.
    open, high, low, close : FloatArray
        Prices, quote units, float64, positive, ``low <= min(open, close)``,
        ``high >= max(open, close)``.
    volume : FloatArray
        Traded volume, base units, float64, non-negative.
    interval_ms : int
        Bar length, ms (3 600 000: hourly bars).
    """

    ts_open_ms: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray
    interval_ms: int = HOUR_MS

    def __len__(self) -> int:
        return int(self.ts_open_ms.shape[0])


@dataclass(frozen=True, slots=True, eq=False)
class FundingSeries:
    """Funding settlements of one perp on one venue, oldest first; arrays ``(n,)``, read-only.

    Attributes
    ----------
    venue : str
        Venue the file belongs to (``binance``, ``bybit``, ``hyperliquid``).
    ts_funding_ms : IntArray
        Settlement time rounded to the nearest hour, ``(t + 1_800_000) // 3_600_000 *
        3_600_000``, epoch ms UTC, int64, strictly increasing.
    rate : FloatArray
        Funding rate per interval, fraction, float64; positive: longs pay shorts.
    mark_price : FloatArray
        Mark price at settlement, quote units, float64; NaN where the file has none.
    interval_s : IntArray
        Funding interval of each settlement, seconds, int64: the time since the previous
        settlement (the first row uses the time to the next one). 3600, 14400 and 28800 occur.
    """

    venue: str
    ts_funding_ms: IntArray
    rate: FloatArray
    mark_price: FloatArray
    interval_s: IntArray

    def __len__(self) -> int:
        return int(self.ts_funding_ms.shape[0])


def bundled_data_dir() -> Path:
    """Directory of the data bundled with the package (``venues/replay/data``).

    Layout: ``binance/{perp,spot}/<SYM>USDT_1h.csv.gz``, ``binance/funding/<SYM>USDT.csv.gz``,
    ``bybit/funding/<SYM>USDT.csv.gz``, ``hyperliquid/funding/<COIN>.csv.gz``.
    """
    return Path(__file__).resolve().parent / "data"


def load_klines(path: Path | str, interval_ms: int = HOUR_MS) -> KlineSeries:
    """Load and validate a kline file of bars ``interval_ms`` long (default 1 h).

    Parameters
    ----------
    path : Path | str
        ``.csv`` or ``.csv.gz`` file with header ``open_time_ms,open,high,low,close,volume``.
    interval_ms : int
        Bar length, ms (``venues.replay.intervals.interval_ms("1m")`` = 60 000).

    Returns
    -------
    KlineSeries

    Raises
    ------
    DataFileError
        Wrong header, wrong column count, a non-numeric or non-finite field, no data rows,
        an open time that is not a multiple of ``interval_ms``, not strictly increasing or
        duplicated, a non-positive price, ``low > min(open, close)``, ``high < max(open,
        close)`` or a negative volume.
    OSError
        If the file cannot be read.
    """
    path = Path(path)
    _, body = _split_header(path, _read_text(path), (KLINE_HEADER,))
    ts, values = _parse_rows(path, body, KLINE_HEADER, optional_last=False)
    ts = _frozen(ts)
    columns = tuple(_frozen(values[:, i]) for i in range(5))  # contiguous: checked faster
    _validate_klines(path, ts, columns, interval_ms)
    o, h, lo, c, v = columns
    return KlineSeries(ts, o, h, lo, c, v, interval_ms)


def load_funding(path: Path | str, venue: str) -> FundingSeries:
    """Load and validate a funding-settlement file.

    Parameters
    ----------
    path : Path | str
        ``.csv`` or ``.csv.gz`` file with header ``funding_time_ms,funding_rate`` or
        ``funding_time_ms,funding_rate,mark_price`` (``mark_price`` may be empty).
    venue : str
        Venue the file belongs to; stored on the result.

    Returns
    -------
    FundingSeries
        Settlement times rounded to the hour; intervals derived from consecutive settlements
        (never assumed: 1h, 4h and 8h all occur and a symbol's interval can change).

    Raises
    ------
    DataFileError
        Wrong header, wrong column count, a non-numeric field, a non-finite rate, a
        non-positive mark price, fewer than two settlements (no interval can be derived),
        settlement times not strictly increasing, or two settlements in the same hour.
    OSError
        If the file cannot be read.
    """
    path = Path(path)
    header, body = _split_header(path, _read_text(path), (FUNDING_HEADER, FUNDING_MARK_HEADER))
    with_mark = header == FUNDING_MARK_HEADER
    ts, values = _parse_rows(path, body, header, optional_last=with_mark)
    rounded = (ts + _HALF_HOUR_MS) // HOUR_MS * HOUR_MS
    _validate_funding(path, ts, rounded, values)
    mark = values[:, 1] if with_mark else np.full(ts.shape[0], np.nan)
    return FundingSeries(
        venue=venue,
        ts_funding_ms=_frozen(rounded),
        rate=_frozen(values[:, 0]),
        mark_price=_frozen(mark),
        interval_s=_frozen(_intervals_s(rounded)),
    )


def klines_between(series: KlineSeries, lo_ms: int | None, hi_ms: int | None) -> KlineSeries:
    """The bars of ``series`` closing in ``[lo_ms, hi_ms]`` (epoch ms UTC; None: unbounded),
    as copies, so the rest of the file's arrays can be freed: a replay keeps only its window."""
    close_ms = series.ts_open_ms + series.interval_ms
    first = 0 if lo_ms is None else int(np.searchsorted(close_ms, lo_ms, side="left"))
    last = len(series) if hi_ms is None else int(np.searchsorted(close_ms, hi_ms, side="right"))
    if first == 0 and last == len(series):
        return series
    part = slice(first, last)
    return KlineSeries(
        _frozen(series.ts_open_ms[part].copy()),
        _frozen(series.open[part].copy()),
        _frozen(series.high[part].copy()),
        _frozen(series.low[part].copy()),
        _frozen(series.close[part].copy()),
        _frozen(series.volume[part].copy()),
        series.interval_ms,
    )


def funding_between(
    series: FundingSeries, lo_ms: int | None, hi_ms: int | None, margin_ms: int = 7 * 24 * HOUR_MS
) -> FundingSeries:
    """The settlements of ``series`` in ``[lo_ms - margin_ms, hi_ms + margin_ms]`` (epoch ms
    UTC; None: unbounded), as copies; the margin keeps the interval in force at the window's
    start and the settlement after its end (their times and intervals were derived from the
    whole file)."""
    ts = series.ts_funding_ms
    first = 0 if lo_ms is None else int(np.searchsorted(ts, lo_ms - margin_ms, side="left"))
    last = len(series) if hi_ms is None else int(np.searchsorted(ts, hi_ms + margin_ms, "right"))
    if first == 0 and last == len(series):
        return series
    part = slice(first, last)
    return FundingSeries(
        series.venue,
        _frozen(series.ts_funding_ms[part].copy()),
        _frozen(series.rate[part].copy()),
        _frozen(series.mark_price[part].copy()),
        _frozen(series.interval_s[part].copy()),
    )


def _intervals_s(rounded_ms: IntArray) -> IntArray:
    gaps_s = np.diff(rounded_ms) // 1000
    return np.concatenate((gaps_s[:1], gaps_s)).astype(np.int64)


def _frozen(array: npt.NDArray[_T]) -> npt.NDArray[_T]:
    out = np.ascontiguousarray(array)
    out.flags.writeable = False
    return out


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    if path.name.endswith(".gz"):
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise DataFileError(path, 0, f"not a valid gzip file ({e})") from e
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise DataFileError(path, line, "not UTF-8 text") from e
    # A one-character search first: a two-character one over this text (a "\n" every ~57
    # characters) costs ~0.5 ms per year of hourly bars, 20x the decode.
    return text.replace("\r\n", "\n") if "\r" in text else text


def _split_header(
    path: Path, text: str, headers: Sequence[tuple[str, ...]]
) -> tuple[tuple[str, ...], str]:
    head, _, body = text.partition("\n")
    columns = tuple(head.split(","))
    if columns not in headers:
        expected = " or ".join(repr(",".join(h)) for h in headers)
        raise DataFileError(path, 1, f"wrong header {head!r}, expected {expected}")
    if not body.lstrip("\n"):  # only newlines (lstrip copies nothing from a usual body)
        raise DataFileError(path, 1, "no data rows after the header")
    return columns, body


def _parse_rows(
    path: Path, body: str, names: tuple[str, ...], *, optional_last: bool
) -> tuple[IntArray, FloatArray]:
    """Parse data rows: column 0 as int64, the rest as float64 ``(n, len(names) - 1)``."""
    if not _is_plain(body):
        return _parse_exact(path, body, names, optional_last=optional_last)
    text = body if body.endswith("\n") else body + "\n"
    if optional_last and ",\n" in text:  # an empty last field: no JSON number
        text = text.replace(",\n", ",nan\n")
    else:
        parsed = _parse_json_rows(text, len(names))
        if parsed is not None:
            return parsed
    # The lines as a list, not an io.StringIO: that one holds the text as 4-byte characters
    # (~3.5 MB for a year of hourly bars) and parses at half the speed; the values are the
    # same. Only "\n" separates lines here (_is_plain), as splitlines() splits.
    lines = text.splitlines()
    if not all(lines):  # an empty line: loadtxt would skip it, the exact pass names it
        return _parse_exact(path, body, names, optional_last=optional_last)
    dtype = np.dtype([("ts", np.int64), *((n, np.float64) for n in names[1:])])
    try:
        rows = np.loadtxt(lines, delimiter=",", dtype=dtype, comments=None, ndmin=1)
    except ValueError:
        return _parse_exact(path, body, names, optional_last=optional_last)
    # Every field is 8 bytes: the rows seen as a (n, columns) float64 matrix, less the time
    # column, are the values (a view: the caller copies the columns it keeps).
    values = rows.view(np.float64).reshape(rows.shape[0], len(names))[:, 1:]
    return rows["ts"], values


def _parse_json_rows(text: str, columns: int) -> tuple[IntArray, FloatArray] | None:
    """The rows of ``text`` (plain, each line ending in "\\n") read as JSON arrays of
    ``columns`` numbers, the first an integer: the time column as int64 ``(n,)`` and the rest
    as float64 ``(n, columns - 1)``, the values ``numpy.loadtxt`` reads; None when a line is not
    such an array (an empty field or line, a number JSON does not write such as ``+1``,
    ``.5``, ``1.`` or ``01``, a time that is not an integer or not below 2**53 in magnitude,
    a value beyond the float range) or holds a field ``-0`` (read as 0.0, not -0.0): then
    the other paths decide. A year of hourly bars: ~7.7 ms against loadtxt's ~11."""
    if ",-0," in text or ",-0\n" in text:
        return None
    try:
        rows = _row_decoder(columns).decode("[[" + text[:-1].replace("\n", "],[") + "]]")
        # every value as a float64, the time's too: exact below 2**53, checked below
        flat = np.fromiter(chain.from_iterable(rows), np.float64, columns * len(rows))
    except (msgspec.DecodeError, OverflowError):
        return None
    table = flat.reshape(len(rows), columns)
    times = table[:, 0]
    if not (np.abs(times) < 2.0**53).all():
        return None
    return times.astype(np.int64), table[:, 1:]


@cache
def _row_decoder(columns: int) -> msgspec.json.Decoder[Any]:
    """Decoder of a JSON array of rows of ``columns`` numbers, the first an integer."""
    row: Any = tuple[(int, *(float,) * (columns - 1))]  # type: ignore[misc]
    return msgspec.json.Decoder(list[row])


def _is_plain(body: str) -> bool:
    """Whether ``body`` holds only the characters of :data:`_PLAIN_BYTES` (empty lines are
    looked for in the split lines: searching the text for "\n\n" costs ~0.5 ms a file)."""
    return body.isascii() and not body.encode("ascii").translate(None, _PLAIN_BYTES)


def _parse_exact(
    path: Path, body: str, names: tuple[str, ...], *, optional_last: bool
) -> tuple[IntArray, FloatArray]:
    lines = body.split("\n")
    if lines[-1] == "":
        lines.pop()
    ts: list[int] = []
    values: list[list[float]] = []
    for offset, line in enumerate(lines):
        lineno = offset + 2
        fields = line.split(",")
        if line == "":
            raise DataFileError(path, lineno, "empty line")
        if len(fields) != len(names):
            reason = f"expected {len(names)} columns ({','.join(names)}), got {len(fields)}"
            raise DataFileError(path, lineno, reason)
        ts.append(_parse_int(path, lineno, names[0], fields[0]))
        last = len(names) - 1
        values.append(
            [
                _parse_float(path, lineno, name, field, optional=optional_last and i == last)
                for i, (name, field) in enumerate(zip(names, fields, strict=True))
                if i > 0
            ]
        )
    return np.array(ts, dtype=np.int64), np.array(values, dtype=np.float64)


def _parse_int(path: Path, lineno: int, name: str, field: str) -> int:
    if not _INT_RE.fullmatch(field):
        raise DataFileError(path, lineno, f"{name} {field!r} is not an integer")
    return int(field)


def _parse_float(path: Path, lineno: int, name: str, field: str, *, optional: bool) -> float:
    if optional and field == "":
        return math.nan
    if not _FLOAT_RE.fullmatch(field):
        raise DataFileError(path, lineno, f"{name} {field!r} is not a number")
    return float(field)


Check = tuple[BoolArray, Callable[[int], str]]


def _raise_first(path: Path, checks: Sequence[Check]) -> None:
    """Raise for the earliest row failing any check (row ``i`` is line ``i + 2``)."""
    first: tuple[int, str] | None = None
    for mask, reason in checks:
        if mask.any():
            row = int(np.argmax(mask))
            if first is None or row < first[0]:
                first = (row, reason(row))
    if first is not None:
        raise DataFileError(path, first[0] + 2, first[1])


def _order_checks(name: str, ts: IntArray) -> list[Check]:
    step = np.diff(ts)
    same = np.concatenate(([False], step == 0))
    back = np.concatenate(([False], step < 0))
    return [
        (same, lambda i: f"duplicate {name} {ts[i]}"),
        (back, lambda i: f"{name} {ts[i]} is before the previous row's {ts[i - 1]}"),
    ]


def _validate_klines(
    path: Path, ts: IntArray, columns: tuple[FloatArray, ...], interval_ms: int
) -> None:
    """Check the bars; ``columns``: open, high, low, close, volume (each ``(n,)``)."""
    o, h, lo, c, v = columns
    low_bound = np.minimum(o, c)
    high_bound = np.maximum(o, c)
    # Column by column: the same rows as a row-wise all/any over a (n, 5) matrix, ~10x faster.
    bad_value = ~(np.isfinite(o) & np.isfinite(h) & np.isfinite(lo) & np.isfinite(c))
    bad_value |= ~np.isfinite(v)
    bad_price = (o <= 0) | (h <= 0) | (lo <= 0) | (c <= 0)

    def row(i: int, width: int = 5) -> list[float]:
        return [float(column[i]) for column in columns[:width]]

    checks: list[Check] = [
        (
            ts % interval_ms != 0,
            lambda i: f"open_time_ms {ts[i]} is not a multiple of {interval_ms}",
        ),
        *_order_checks("open_time_ms", ts),
        (bad_value, lambda i: f"non-finite value in row {row(i)}"),
        (bad_price, lambda i: f"non-positive price in {row(i, 4)}"),
        (lo > low_bound, lambda i: f"low {lo[i]} > min(open, close) {low_bound[i]}"),
        (h < high_bound, lambda i: f"high {h[i]} < max(open, close) {high_bound[i]}"),
        (v < 0, lambda i: f"negative volume {v[i]}"),
    ]
    _raise_first(path, checks)


def _validate_funding(path: Path, ts: IntArray, rounded: IntArray, values: FloatArray) -> None:
    if ts.shape[0] < 2:
        raise DataFileError(path, 2, "need at least two settlements to derive the interval")
    rate = values[:, 0]
    mark = values[:, 1] if values.shape[1] > 1 else np.full(ts.shape[0], np.nan)
    same_hour = np.concatenate(([False], np.diff(rounded) == 0))
    checks: list[Check] = [
        *_order_checks("funding_time_ms", ts),
        (same_hour, lambda i: f"funding_time_ms {ts[i]} is in the same hour as the previous row"),
        (~np.isfinite(rate), lambda i: f"non-finite funding_rate {rate[i]}"),
        (np.isinf(mark), lambda i: f"non-finite mark_price {mark[i]}"),
        (mark <= 0, lambda i: f"non-positive mark_price {mark[i]}"),
    ]
    _raise_first(path, checks)
