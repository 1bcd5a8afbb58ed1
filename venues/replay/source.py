"""The replay source: recorded real market history served as hourly steps.

A :class:`ReplayDataset` loads Binance USD-M perp and Binance spot 1h klines plus funding
settlements of Binance, Bybit and Hyperliquid (files described in ``data/PROVENANCE.md``) and
serves them as one :class:`ReplayStep` per hour: the bars that **close** at the step's time and
the funding settlements stamped at that time, for every venue.

Instruments::

    InstrumentId("binance", PERP, "BTCUSDT")      recorded perp klines + Binance funding
    InstrumentId("binance", SPOT, "BTCUSDT")      recorded spot klines
    InstrumentId("bybit", PERP, "BTCUSDT")        Bybit funding only
    InstrumentId("hyperliquid", PERP, "BTC")      Hyperliquid funding only (coin names)

**Bybit and Hyperliquid perps have no recorded prices**: they are priced with the Binance perp of
the same base asset (:meth:`ReplayDataset.price_source`), both for their funding mark price and
in :meth:`ReplayDataset.closes_matrix` / :meth:`ReplayDataset.kline_series`. ``ReplayStep``
carries only the recorded series; the consumer maps the others through ``price_source``.

A funding settlement is emitted at the step whose time equals its rounded settlement time.
Settlements before the first bar close, after the last one, or at a time with no Binance perp
bar close (so no mark price fallback) are skipped. Iteration order is fixed (time, then
instrument order of :meth:`ReplayDataset.instruments`), so two replays are identical.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Final

import numpy as np

from venues.model import HOUR_MS, Bar, FundingRate, Instrument, InstrumentId, InstrumentKind
from venues.replay.loader import (
    BoolArray,
    FloatArray,
    FundingSeries,
    IntArray,
    KlineSeries,
    bundled_data_dir,
    load_funding,
    load_klines,
)
from venues.replay.rules import (
    BINANCE_PERP_RULES,
    BINANCE_SPOT_RULES,
    BYBIT_LINEAR_RULES,
    HYPERLIQUID_SZ_DECIMALS,
    LotRules,
    hyperliquid_rules,
)

BINANCE: Final = "binance"
BYBIT: Final = "bybit"
HYPERLIQUID: Final = "hyperliquid"
FUNDING_VENUES: Final = (BINANCE, BYBIT, HYPERLIQUID)
_QUOTE: Final = {BINANCE: "USDT", BYBIT: "USDT", HYPERLIQUID: "USDC"}
_USDT: Final = "USDT"


def available_symbols(
    data_dir: Path | str | None = None, kind: InstrumentKind = InstrumentKind.PERP
) -> tuple[str, ...]:
    """Binance symbols with recorded 1h klines of ``kind`` in ``data_dir`` (default: bundled).

    Returns
    -------
    tuple[str, ...]
        Sorted symbols, e.g. ``("ADAUSDT", "AVAXUSDT", ...)``.
    """
    folder = _data_dir(data_dir) / BINANCE / kind.value
    names = {p.name.split("_1h.csv")[0] for p in folder.glob("*_1h.csv*")}
    return tuple(sorted(names))


@dataclass(frozen=True, slots=True, eq=False)
class _Frame:
    """Recorded bars on the hourly close grid; matrices ``(n_steps, k)`` float64, NaN = no bar."""

    ids: tuple[InstrumentId, ...]
    ts_close_ms: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray
    present: BoolArray

    def bars_at(self, row: int) -> tuple[Bar, ...]:
        ts_close = int(self.ts_close_ms[row])
        ts_open = ts_close - HOUR_MS
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


@dataclass(frozen=True, slots=True, eq=False)
class _FundingTable:
    """Settlements inside the window, sorted by (step, instrument); arrays ``(m,)``."""

    ids: tuple[InstrumentId, ...]
    series: IntArray
    rate: FloatArray
    interval_s: IntArray
    ts_next_ms: IntArray
    mark_price: FloatArray
    offsets: IntArray

    def per_step(self, ts_close_ms: list[int]) -> Iterator[tuple[FundingRate, ...]]:
        rows = zip(
            [self.ids[s] for s in self.series.tolist()],
            self.rate.tolist(),
            self.interval_s.tolist(),
            self.ts_next_ms.tolist(),
            self.mark_price.tolist(),
            strict=True,
        )
        offsets = np.diff(self.offsets).tolist()
        for ts, count in zip(ts_close_ms, offsets, strict=True):
            yield tuple(
                FundingRate(iid, rate, interval, ts, ts_next, mark)
                for iid, rate, interval, ts_next, mark in (next(rows) for _ in range(count))
            )


@dataclass(frozen=True, slots=True)
class ReplayStep:
    """One hour of replay: everything that became known at ``ts_ms``.

    Attributes
    ----------
    ts_ms : int
        Epoch ms UTC; the close time of this step's bars (they opened at ``ts_ms - 3_600_000``)
        and the settlement time of its funding.
    closes : Mapping[InstrumentId, float]
        Close of every recorded bar (Binance perp and spot) closing at ``ts_ms``, quote units;
        an instrument with no bar this hour is absent. Read-only.
    funding : tuple[FundingRate, ...]
        Settlements at ``ts_ms`` on every loaded venue: ``rate`` per ``interval_s`` (the time
        since the previous settlement in the file), ``ts_next_funding_ms`` the next settlement
        in the file (or ``ts_ms + interval`` for the last), ``mark_price`` Binance's recorded
        mark price where the file has one, else the Binance perp close at ``ts_ms``.
    """

    ts_ms: int
    closes: Mapping[InstrumentId, float] = field(repr=False)
    funding: tuple[FundingRate, ...] = field(repr=False)
    _frame: _Frame = field(repr=False, compare=False)
    _row: int = field(repr=False, compare=False)

    @property
    def bars(self) -> tuple[Bar, ...]:
        """The recorded bars closing at ``ts_ms``, in instrument order.

        Built on each access (cheap, but keep the result if you need it twice).
        """
        return self._frame.bars_at(self._row)


class ReplayDataset:
    """Recorded klines and funding of chosen symbols over a window, ready to replay.

    Build with :meth:`load`. The window is the hourly grid of bar close times from the first to
    the last close of the loaded klines, restricted to ``[start_ms, end_ms]``.
    """

    def __init__(
        self,
        frame: _Frame,
        funding: _FundingTable,
        instruments: Mapping[InstrumentId, Instrument],
        funding_series: Mapping[InstrumentId, FundingSeries],
    ) -> None:
        self._frame = frame
        self._funding = funding
        self._instruments = MappingProxyType(dict(instruments))
        self._funding_series = MappingProxyType(dict(funding_series))
        self._column = {iid: j for j, iid in enumerate(frame.ids)}

    @classmethod
    def load(
        cls,
        data_dir: Path | str | None = None,
        *,
        perp_symbols: Sequence[str],
        spot_symbols: Sequence[str],
        funding_venues: Sequence[str] = FUNDING_VENUES,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> ReplayDataset:
        """Load what is asked from ``data_dir`` (default: the bundled data).

        Parameters
        ----------
        data_dir : Path | str | None
            Root of the ``binance/``, ``bybit/``, ``hyperliquid/`` folders.
        perp_symbols : Sequence[str]
            Binance USD-M symbols (``"BTCUSDT"``); a bare base asset or Hyperliquid coin
            (``"BTC"``) means ``"BTCUSDT"``. Duplicates are merged. Each gets its Binance perp
            klines and, for every venue in ``funding_venues`` that has a file for it, that
            venue's perp and funding (Bybit ``BTCUSDT``, Hyperliquid ``BTC``).
        spot_symbols : Sequence[str]
            Binance spot symbols, same convention.
        funding_venues : Sequence[str]
            Subset of ``("binance", "bybit", "hyperliquid")``. Binance perps exist whatever
            this says; their settlements are emitted only if ``"binance"`` is listed.
        start_ms, end_ms : int | None
            Inclusive bounds on the bar close time, epoch ms UTC.

        Raises
        ------
        ValueError
            Unknown venue or symbol (the message lists what exists), an empty window, or no
            trading rules for a symbol in ``venues.replay.rules``.
        venues.replay.loader.DataFileError
            A malformed data file.
        """
        root = _data_dir(data_dir)
        venues = _check_venues(funding_venues)
        perps = _resolve(root, perp_symbols, InstrumentKind.PERP)
        spots = _resolve(root, spot_symbols, InstrumentKind.SPOT)
        klines = {
            **{_binance_id(s, InstrumentKind.PERP): _klines(root, s, "perp") for s in perps},
            **{_binance_id(s, InstrumentKind.SPOT): _klines(root, s, "spot") for s in spots},
        }
        frame = _build_frame(klines, start_ms, end_ms)
        series = _load_funding_files(root, perps, venues)
        table = _build_funding_table(frame, series, emit_binance=BINANCE in venues)
        return cls(frame, table, _instruments(frame, series), series)

    def instruments(self) -> Mapping[InstrumentId, Instrument]:
        """Trading rules of every loaded instrument (tables in ``venues.replay.rules``).

        Perps carry ``funding_interval_s`` = the interval of the first settlement at or after
        the first bar close (the interval in force when the window starts). Order: Binance
        perps, Binance spot, then Bybit and Hyperliquid perps in ``funding_venues`` order.
        """
        return self._instruments

    def price_source(self, instrument_id: InstrumentId) -> InstrumentId:
        """The recorded series that prices ``instrument_id``.

        Itself for Binance perp/spot; the Binance perp of the same base asset for Bybit and
        Hyperliquid perps (which have no recorded prices).

        Raises
        ------
        KeyError
            If the instrument is not in this dataset.
        """
        inst = self._instrument(instrument_id)
        if instrument_id.venue == BINANCE:
            return instrument_id
        return _binance_id(inst.base + _USDT, InstrumentKind.PERP)

    def window_ms(self) -> tuple[int, int]:
        """``(first_bar_close_ms, last_bar_close_ms)``, epoch ms UTC, both inclusive."""
        ts = self._frame.ts_close_ms
        return int(ts[0]), int(ts[-1])

    def step_count(self) -> int:
        """Number of hourly steps :meth:`steps` yields (12 299 for the full bundled window)."""
        return int(self._frame.ts_close_ms.shape[0])

    def step_times_ms(self) -> IntArray:
        """Close time of every step, epoch ms UTC, int64, shape ``(n_steps,)``, hourly."""
        return self._frame.ts_close_ms.copy()

    def steps(self) -> Iterator[ReplayStep]:
        """Yield one :class:`ReplayStep` per hour of the window, oldest first.

        The full bundled window (12 299 steps, 25 series, ~85 000 settlements) iterates in well
        under a second; ``ReplayStep.bars`` is built only when accessed.
        """
        frame = self._frame
        ts_list: list[int] = frame.ts_close_ms.tolist()
        closes = frame.close.tolist()
        present = frame.present.tolist()
        complete: list[bool] = np.all(frame.present, axis=1).tolist()
        funding = self._funding.per_step(ts_list)
        for row, ts in enumerate(ts_list):
            if complete[row]:
                row_closes = dict(zip(frame.ids, closes[row], strict=True))
            else:
                row_closes = _present_only(frame.ids, closes[row], present[row])
            yield ReplayStep(ts, MappingProxyType(row_closes), next(funding), frame, row)

    def closes_matrix(self, ids: Sequence[InstrumentId]) -> FloatArray:
        """Close prices of ``ids`` on the step grid, resolved through :meth:`price_source`.

        Returns
        -------
        FloatArray
            Shape ``(n_steps, len(ids))``, float64, quote units; NaN where a series has no bar.

        Raises
        ------
        KeyError
            If an id is not in this dataset.
        """
        cols = [self._column[self.price_source(iid)] for iid in ids]
        return self._frame.close[:, cols]

    def kline_series(self, instrument_id: InstrumentId) -> KlineSeries:
        """The bars of ``instrument_id`` inside the window (via :meth:`price_source`).

        Raises
        ------
        KeyError
            If the instrument is not in this dataset.
        """
        f = self._frame
        col = self._column[self.price_source(instrument_id)]
        rows = f.present[:, col]
        ts_open = f.ts_close_ms[rows] - HOUR_MS
        mats = (f.open, f.high, f.low, f.close, f.volume)
        return KlineSeries(ts_open, *(m[rows, col] for m in mats))

    def funding_series(self, instrument_id: InstrumentId) -> FundingSeries:
        """Every settlement of the perp's funding file, untrimmed by the window.

        Raises
        ------
        KeyError
            If no funding was loaded for the instrument.
        """
        try:
            return self._funding_series[instrument_id]
        except KeyError:
            raise KeyError(f"no funding loaded for {instrument_id}") from None

    def _instrument(self, instrument_id: InstrumentId) -> Instrument:
        try:
            return self._instruments[instrument_id]
        except KeyError:
            known = ", ".join(str(i) for i in self._instruments)
            raise KeyError(f"{instrument_id} is not in this replay dataset ({known})") from None


def _present_only(
    ids: Sequence[InstrumentId], closes: list[float], present: list[bool]
) -> dict[InstrumentId, float]:
    return {iid: c for iid, c, ok in zip(ids, closes, present, strict=True) if ok}


def _data_dir(data_dir: Path | str | None) -> Path:
    return bundled_data_dir() if data_dir is None else Path(data_dir)


def _binance_id(symbol: str, kind: InstrumentKind) -> InstrumentId:
    return InstrumentId(BINANCE, kind, symbol)


def _find_file(folder: Path, stem: str) -> Path | None:
    for suffix in (".csv.gz", ".csv"):
        path = folder / (stem + suffix)
        if path.is_file():
            return path
    return None


def _check_venues(funding_venues: Sequence[str]) -> tuple[str, ...]:
    unknown = sorted(set(funding_venues) - set(FUNDING_VENUES))
    if unknown:
        raise ValueError(f"no replay funding data for venue(s) {unknown}; have {FUNDING_VENUES}")
    return tuple(v for v in FUNDING_VENUES if v in funding_venues)


def _resolve(root: Path, symbols: Sequence[str], kind: InstrumentKind) -> tuple[str, ...]:
    available = available_symbols(root, kind)
    out: dict[str, None] = {}
    for raw in symbols:
        symbol = raw if raw.endswith(_USDT) else raw + _USDT
        if symbol not in available:
            raise ValueError(
                f"no Binance {kind.value} klines for {raw!r} in {root}; have {list(available)}"
            )
        out[symbol] = None
    return tuple(out)


def _klines(root: Path, symbol: str, market: str) -> KlineSeries:
    path = _find_file(root / BINANCE / market, f"{symbol}_1h")
    assert path is not None  # checked by _resolve
    return load_klines(path)


def _build_frame(
    klines: Mapping[InstrumentId, KlineSeries], start_ms: int | None, end_ms: int | None
) -> _Frame:
    if not klines:
        raise ValueError("nothing to replay: no perp or spot symbols requested")
    lo = min(int(k.ts_open_ms[0]) for k in klines.values()) + HOUR_MS
    hi = max(int(k.ts_open_ms[-1]) for k in klines.values()) + HOUR_MS
    if start_ms is not None:
        lo = max(lo, -(-start_ms // HOUR_MS) * HOUR_MS)
    if end_ms is not None:
        hi = min(hi, end_ms // HOUR_MS * HOUR_MS)
    if lo > hi:
        raise ValueError(f"no bar closes in the window [{start_ms}, {end_ms}]")
    grid = np.arange(lo, hi + HOUR_MS, HOUR_MS, dtype=np.int64)
    shape = (grid.shape[0], len(klines))
    mats = [np.full(shape, np.nan) for _ in range(5)]
    for col, series in enumerate(klines.values()):
        close_ms = series.ts_open_ms + HOUR_MS
        keep = (close_ms >= lo) & (close_ms <= hi)
        rows = (close_ms[keep] - lo) // HOUR_MS
        fields = (series.open, series.high, series.low, series.close, series.volume)
        for mat, values in zip(mats, fields, strict=True):
            mat[rows, col] = values[keep]
    o, h, low, c, v = mats
    return _Frame(tuple(klines), grid, o, h, low, c, v, ~np.isnan(c))


def _load_funding_files(
    root: Path, perps: Sequence[str], venues: Sequence[str]
) -> dict[InstrumentId, FundingSeries]:
    """Binance funding of every perp (always, for its interval) and Bybit/Hyperliquid files."""
    out: dict[InstrumentId, FundingSeries] = {}
    for venue in (BINANCE, *(v for v in venues if v != BINANCE)):
        for symbol in perps:
            iid = _venue_perp_id(venue, symbol)
            path = _find_file(root / venue / "funding", iid.symbol)
            if path is not None:
                out[iid] = load_funding(path, venue)
    return out


def _venue_perp_id(venue: str, binance_symbol: str) -> InstrumentId:
    symbol = binance_symbol.removesuffix(_USDT) if venue == HYPERLIQUID else binance_symbol
    return InstrumentId(venue, InstrumentKind.PERP, symbol)


def _base(iid: InstrumentId) -> str:
    return iid.symbol.removesuffix(_USDT)


def _build_funding_table(
    frame: _Frame, series: Mapping[InstrumentId, FundingSeries], *, emit_binance: bool
) -> _FundingTable:
    ids = tuple(i for i in series if emit_binance or i.venue != BINANCE)
    column = {iid: j for j, iid in enumerate(frame.ids)}
    parts = [
        _window_settlements(frame, series[iid], column[_perp_of(iid)], k)
        for k, iid in enumerate(ids)
    ]
    merged = [np.concatenate([p[f] for p in parts]) for f in range(6)] if parts else None
    n_steps = frame.ts_close_ms.shape[0]
    if merged is None:
        empty_i, empty_f = np.zeros(0, np.int64), np.zeros(0)
        offsets = np.zeros(n_steps + 1, np.int64)
        return _FundingTable(ids, empty_i, empty_f, empty_i, empty_i, empty_f, offsets)
    row, ser, rate, interval, ts_next, mark = merged
    order = np.lexsort((ser, row))
    offsets = np.searchsorted(row[order], np.arange(n_steps + 1)).astype(np.int64)
    return _FundingTable(
        ids, ser[order], rate[order], interval[order], ts_next[order], mark[order], offsets
    )


def _perp_of(iid: InstrumentId) -> InstrumentId:
    return _binance_id(_base(iid) + _USDT, InstrumentKind.PERP)


def _window_settlements(
    frame: _Frame, fs: FundingSeries, perp_col: int, series_idx: int
) -> tuple[IntArray, IntArray, FloatArray, IntArray, IntArray, FloatArray]:
    """Settlements at a step with a Binance perp bar: (row, series, rate, interval, next, mark)."""
    ts = fs.ts_funding_ms
    ts_next = np.append(ts[1:], ts[-1] + fs.interval_s[-1] * 1000)
    lo = int(frame.ts_close_ms[0])
    n_steps = frame.ts_close_ms.shape[0]
    row = (ts - lo) // HOUR_MS
    inside = (ts >= lo) & (row < n_steps)
    row = np.where(inside, row, 0)
    keep = inside & frame.present[row, perp_col]
    mark = np.where(np.isnan(fs.mark_price), frame.close[row, perp_col], fs.mark_price)
    series = np.full(int(keep.sum()), series_idx, dtype=np.int64)
    return row[keep], series, fs.rate[keep], fs.interval_s[keep], ts_next[keep], mark[keep]


def _instruments(
    frame: _Frame, series: Mapping[InstrumentId, FundingSeries]
) -> dict[InstrumentId, Instrument]:
    start_ms = int(frame.ts_close_ms[0])
    out: dict[InstrumentId, Instrument] = {}
    for iid in frame.ids:
        table = BINANCE_PERP_RULES if iid.kind is InstrumentKind.PERP else BINANCE_SPOT_RULES
        interval = _interval_at(series.get(iid), start_ms)
        out[iid] = _instrument(iid, _rules(table, iid), interval)
    for iid, fs in series.items():
        if iid.venue != BINANCE:
            rules = _foreign_rules(frame, iid)
            out[iid] = _instrument(iid, rules, _interval_at(fs, start_ms))
    return out


def _interval_at(fs: FundingSeries | None, start_ms: int) -> int | None:
    if fs is None:
        return None
    idx = min(int(np.searchsorted(fs.ts_funding_ms, start_ms)), len(fs) - 1)
    return int(fs.interval_s[idx])


def _rules(table: Mapping[str, LotRules], iid: InstrumentId) -> LotRules:
    try:
        return table[iid.symbol]
    except KeyError:
        raise ValueError(f"no trading rules for {iid} in venues.replay.rules") from None


def _foreign_rules(frame: _Frame, iid: InstrumentId) -> LotRules:
    if iid.venue == BYBIT:
        return _rules(BYBIT_LINEAR_RULES, iid)
    sz_decimals = HYPERLIQUID_SZ_DECIMALS.get(iid.symbol)
    if sz_decimals is None:
        raise ValueError(f"no szDecimals for {iid} in venues.replay.rules")
    closes = frame.close[:, frame.ids.index(_perp_of(iid))]
    first = closes[~np.isnan(closes)]
    ref_price = float(first[0]) if first.size else 1.0
    return hyperliquid_rules(sz_decimals, ref_price)


def _instrument(iid: InstrumentId, rules: LotRules, interval_s: int | None) -> Instrument:
    return Instrument(
        id=iid,
        base=_base(iid),
        quote=_QUOTE[iid.venue],
        tick_size=rules.tick_size,
        lot_step=rules.lot_step,
        min_qty=rules.min_qty,
        min_notional_usd=rules.min_notional_usd,
        funding_interval_s=interval_s if iid.kind is InstrumentKind.PERP else None,
    )
