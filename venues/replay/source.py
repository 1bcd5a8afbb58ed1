"""The replay source: recorded real market history served as steps, one per bar.

A :class:`ReplayDataset` loads Binance USD-M perp and Binance spot klines of one bar interval
(``1h`` by default, the bundled files; ``1m``, ``5m`` ... from ``<SYMBOL>_<interval>.csv.gz``
files, :mod:`venues.replay.intervals`) plus funding settlements of Binance, Bybit and
Hyperliquid (files described in ``data/PROVENANCE.md``) and serves them as one
:class:`ReplayStep` per bar interval: the bars that **close** at the step's time and the funding
settlements stamped at that time, for every venue (settlements fall on the hour, so on a
sub-hour grid only the steps on the hour carry funding).

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
Settlements before the first bar close or after the last one are skipped; one at an hour with
no Binance perp bar is kept, marked with the recorded mark price or else the last close before
it (a :class:`~venues.replay.guards.DataNote` says so). The data guards of
:mod:`venues.replay.guards` run as the files load (:attr:`ReplayDataset.notes`). Iteration
order is fixed (time, then instrument order of :meth:`ReplayDataset.instruments`), so two
replays are identical.

Layout: :mod:`venues.replay.catalog` (venue names, data files, instrument ids and trading
rules), :mod:`venues.replay.grid` (bars and settlements on the step grid); this module
holds :class:`ReplayStep` and :class:`ReplayDataset`, the API the rest of the agent uses.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import compress
from pathlib import Path
from types import MappingProxyType

import numpy as np

from venues.model import Bar, FundingRate, Instrument, InstrumentId, InstrumentKind
from venues.replay.catalog import (
    BINANCE,
    BYBIT,
    FUNDING_VENUES,
    HYPERLIQUID,
    USDT,
    available_symbols,
    binance_id,
    binance_perp_of,
    build_instruments,
    check_venues,
    funding_cap_frac,
    kline_path,
    load_funding_files,
    resolve_data_dir,
    resolve_symbols,
)
from venues.replay.grid import (
    STEPS_PER_BLOCK,
    Frame,
    FrameBuilder,
    FundingTable,
    build_funding_table,
)
from venues.replay.guards import (
    DataGuards,
    DataNote,
    check_funding_cap,
    funding_start_notes,
    guard_prices,
)
from venues.replay.instruments_file import instruments_path, read_rules
from venues.replay.intervals import DEFAULT_INTERVAL, REPLAY_INTERVALS, interval_ms
from venues.replay.loader import (
    FloatArray,
    FundingSeries,
    IntArray,
    KlineSeries,
    funding_between,
    klines_between,
    load_funding,
    load_klines,
)

__all__ = [
    "BINANCE",
    "BYBIT",
    "FUNDING_VENUES",
    "HYPERLIQUID",
    "ReplayDataset",
    "ReplayStep",
    "available_symbols",
]


@dataclass(frozen=True, slots=True)
class ReplayStep:
    """One bar interval of replay (an hour by default): everything that became known at
    ``ts_ms``.

    Attributes
    ----------
    ts_ms : int
        Epoch ms UTC; the close time of this step's bars (they opened one bar interval before)
        and the settlement time of its funding.
    closes : Mapping[InstrumentId, float]
        Close of every recorded bar (Binance perp and spot) closing at ``ts_ms``, quote units;
        an instrument with no bar this step is absent. Read-only.
    funding : tuple[FundingRate, ...]
        Settlements at ``ts_ms`` on every loaded venue: ``rate`` per ``interval_s`` (the time
        since the previous settlement in the file), ``ts_next_funding_ms`` the next settlement
        in the file (or ``ts_ms + interval`` for the last), ``mark_price`` Binance's recorded
        mark price where the file has one, else the Binance perp close at ``ts_ms``.
    """

    ts_ms: int
    closes: Mapping[InstrumentId, float] = field(repr=False)
    funding: tuple[FundingRate, ...] = field(repr=False)
    _frame: Frame = field(repr=False, compare=False)
    _row: int = field(repr=False, compare=False)
    _present_row: list[bool] | None = field(repr=False, compare=False)  # None: every column

    @property
    def volumes(self) -> Mapping[InstrumentId, float]:
        """Traded volume of each recorded bar closing at ``ts_ms`` (the klines' ``volume``
        column), base units; an instrument with no bar this step is absent. Read-only; built
        on each access."""
        frame, present = self._frame, self._present_row
        values = frame.volume[self._row].tolist()
        if present is None:
            return MappingProxyType(dict(zip(frame.ids, values, strict=True)))
        return MappingProxyType(_present_only(frame.ids, values, present))

    def volume_columns(self) -> tuple[tuple[InstrumentId, ...], FloatArray]:
        """:attr:`volumes` as two columns, the same pairs in the same order: the ids and their
        volumes (base units, float64 ``(n,)``, read-only). A step with every bar hands out the
        frame's ids and a view of its row (the same tuple every such step: nothing built)."""
        frame, present = self._frame, self._present_row
        ids, values = frame.ids, frame.volume[self._row]  # a view of the row
        if present is not None:
            ids, values = tuple(compress(ids, present)), values[np.array(present, dtype=np.bool_)]
        values.flags.writeable = False
        return ids, values

    @property
    def bars(self) -> tuple[Bar, ...]:
        """The recorded bars closing at ``ts_ms``, in instrument order.

        Built on each access (cheap, but keep the result if you need it twice).
        """
        return self._frame.bars_at(self._row)


class ReplayDataset:
    """Recorded klines and funding of chosen symbols over a window, ready to replay.

    Build with :meth:`load`. The window is the grid of bar close times (one per bar interval)
    from the first to the last close of the loaded klines, restricted to ``[start_ms, end_ms]``.
    """

    def __init__(
        self,
        frame: Frame,
        funding: FundingTable,
        instruments: Mapping[InstrumentId, Instrument],
        funding_files: Mapping[InstrumentId, Path],
        window_ms: tuple[int | None, int | None],
    ) -> None:
        self._frame = frame
        self._funding = funding
        self.build_instruments = MappingProxyType(dict(instruments))
        # The funding files' settlements are not kept (the table holds what the replay reads);
        # funding_series reads a file again.
        self._funding_files = MappingProxyType(dict(funding_files))
        self._window_ms = window_ms
        self._column = {iid: j for j, iid in enumerate(frame.ids)}
        self.notes: tuple[DataNote, ...] = ()
        """What the data guards changed or found (:mod:`venues.replay.guards`), by time."""

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
        guards: DataGuards | None = None,
        bar_interval: str = DEFAULT_INTERVAL,
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
        guards : DataGuards | None
            The data guards' settings (:mod:`venues.replay.guards`); None = their defaults.
        bar_interval : str
            Bar interval of the kline files read and of the step grid, one of
            :data:`~venues.replay.intervals.REPLAY_INTERVALS` (``"1h"``: the bundled
            ``<SYMBOL>_1h`` files; ``"1m"``: ``<SYMBOL>_1m`` files, a step per minute).

        Raises
        ------
        ValueError
            Unknown venue, symbol or bar interval (the message lists what exists), a symbol
            without klines of ``bar_interval``, an empty window, or no trading rules for a
            symbol in its venue's ``instruments.csv``.
        venues.replay.loader.DataFileError
            A malformed data file, a funding rate beyond its cap, or (``price_jump_policy =
            "refuse"``) a price jump — naming the file and line.
        """
        root = resolve_data_dir(data_dir)
        guards = guards or DataGuards()
        venues = check_venues(funding_venues)
        if bar_interval not in REPLAY_INTERVALS:
            raise ValueError(
                f"a replay steps at a bar interval that divides the hour, one of "
                f"{', '.join(REPLAY_INTERVALS)}; got {bar_interval!r}"
            )
        bar_ms = interval_ms(bar_interval)
        perps = resolve_symbols(root, perp_symbols, InstrumentKind.PERP, bar_interval)
        spots = resolve_symbols(root, spot_symbols, InstrumentKind.SPOT, bar_interval)
        notes: list[DataNote] = []
        kinds = ((InstrumentKind.PERP, perps), (InstrumentKind.SPOT, spots))
        kline_files = [(binance_id(sym, kind), sym, kind) for kind, syms in kinds for sym in syms]
        builder = FrameBuilder(tuple(iid for iid, _, _ in kline_files), start_ms, end_ms, bar_ms)
        for iid, symbol, kind in kline_files:  # one series in memory at a time, then the frame
            path = kline_path(root, symbol, kind.value, bar_interval)
            loaded = load_klines(path, bar_ms)
            guarded = guard_prices(path, loaded, iid, guards, notes, (start_ms, end_ms))
            builder.add(iid, klines_between(guarded, start_ms, end_ms))  # the window only
            del loaded, guarded
        frame = builder.build()
        del builder
        files = load_funding_files(root, perps, venues)
        rules = {v: read_rules(instruments_path(root, v)) for v in {i.venue for i in files}}
        for iid, (path, fs) in files.items():  # each venue's instruments.csv read once
            cap = funding_cap_frac(rules[iid.venue], iid, guards.funding_cap_default_frac)
            check_funding_cap(path, fs, cap)
        series = {}
        paths: dict[InstrumentId, Path] = {}
        for iid, (path, fs) in files.items():
            cut = funding_between(fs, start_ms, end_ms)  # the window (and a margin) only
            if len(cut):
                series[iid], paths[iid] = cut, path
            else:
                message = f"{iid}: {path} has no settlement near the window; it pays no funding"
                notes.append(
                    DataNote(int(frame.ts_close_ms[0]), "funding_starts_late", str(iid), message)
                )
        del files  # the whole files: only their cuts are used from here
        notes += funding_start_notes(_first_price_ms(frame, series), series)
        table = build_funding_table(frame, series, emit_binance=BINANCE in venues)
        notes += table.notes
        instruments = build_instruments(root, frame, series)
        dataset = cls(frame, table, instruments, paths, (start_ms, end_ms))
        dataset.notes = tuple(sorted(notes, key=lambda n: (n.ts_ms, n.instrument, n.kind)))
        return dataset

    def instruments(self) -> Mapping[InstrumentId, Instrument]:
        """Trading rules of every loaded instrument (tables in ``venues.replay.rules``).

        Perps carry ``funding_interval_s`` = the interval of the first settlement at or after
        the first bar close (the interval in force when the window starts). Order: Binance
        perps, Binance spot, then Bybit and Hyperliquid perps in ``funding_venues`` order.
        """
        return self.build_instruments

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
        return binance_id(inst.base + USDT, InstrumentKind.PERP)

    @property
    def bar_interval_ms(self) -> int:
        """Spacing of the steps (the bar length), ms: 3 600 000 for the 1h files."""
        return self._frame.interval_ms

    def window_ms(self) -> tuple[int, int]:
        """``(first_bar_close_ms, last_bar_close_ms)``, epoch ms UTC, both inclusive."""
        ts = self._frame.ts_close_ms
        return int(ts[0]), int(ts[-1])

    def step_count(self) -> int:
        """Number of steps :meth:`steps` yields (12 299 hourly ones for the full bundled
        window)."""
        return int(self._frame.ts_close_ms.shape[0])

    def step_times_ms(self) -> IntArray:
        """Close time of every step, epoch ms UTC, int64, shape ``(n_steps,)``, one per bar
        interval."""
        return self._frame.ts_close_ms.copy()

    def steps(self) -> Iterator[ReplayStep]:
        """Yield one :class:`ReplayStep` per bar interval of the window, oldest first.

        The full bundled window (12 299 steps, 25 series, ~85 000 settlements) iterates in well
        under a second; ``ReplayStep.bars`` is built only when accessed.
        """
        frame = self._frame
        ts_list: list[int] = frame.ts_close_ms.tolist()
        complete: list[bool] = np.all(frame.present, axis=1).tolist()
        funding = self._funding.per_step(ts_list)
        # Python floats made a block of rows at a time: the whole matrix as lists would hold
        # 32 bytes per cell for the whole replay (hundreds of MB with hundreds of symbols).
        for start in range(0, len(ts_list), STEPS_PER_BLOCK):
            stop = start + STEPS_PER_BLOCK
            closes = frame.close[start:stop].tolist()
            present = frame.present[start:stop].tolist()
            for offset, ts in enumerate(ts_list[start:stop]):
                row = start + offset
                present_row: list[bool] | None = None
                if complete[row]:
                    row_closes = dict(zip(frame.ids, closes[offset], strict=True))
                else:
                    present_row = present[offset]
                    row_closes = _present_only(frame.ids, closes[offset], present_row)
                yield ReplayStep(
                    ts,
                    MappingProxyType(row_closes),
                    next(funding),
                    frame,
                    row,
                    present_row,
                )

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
        ts_open = f.ts_close_ms[rows] - f.interval_ms
        mats = (f.open, f.high, f.low, f.close, f.volume)
        o, h, low, c, v = (m[rows, col] for m in mats)
        return KlineSeries(ts_open, o, h, low, c, v, f.interval_ms)

    def funding_series(self, instrument_id: InstrumentId) -> FundingSeries:
        """The settlements of the perp's funding file inside the window and a week either
        side of it (:func:`~venues.replay.loader.funding_between`), as loaded; read from the
        file again on each call (the dataset keeps only the settlements it replays).

        Raises
        ------
        KeyError
            If no funding was loaded for the instrument.
        venues.replay.loader.DataFileError
            If the file no longer parses.
        """
        try:
            path = self._funding_files[instrument_id]
        except KeyError:
            raise KeyError(f"no funding loaded for {instrument_id}") from None
        return funding_between(load_funding(path, instrument_id.venue), *self._window_ms)

    def _instrument(self, instrument_id: InstrumentId) -> Instrument:
        try:
            return self.build_instruments[instrument_id]
        except KeyError:
            known = ", ".join(str(i) for i in self.build_instruments)
            raise KeyError(f"{instrument_id} is not in this replay dataset ({known})") from None


def _present_only(
    ids: Sequence[InstrumentId], values: list[float], present: list[bool]
) -> dict[InstrumentId, float]:
    return {iid: v for iid, v, ok in zip(ids, values, present, strict=True) if ok}


def _first_price_ms(frame: Frame, perps: Iterable[InstrumentId]) -> dict[InstrumentId, int]:
    """Each perp's first price in ``frame``: its Binance perp's first bar close (epoch ms);
    perps never priced in the window are left out."""
    column = {iid: j for j, iid in enumerate(frame.ids)}
    first: dict[InstrumentId, int] = {}
    for iid in perps:
        j = column.get(binance_perp_of(iid))
        if j is None:
            continue
        priced = np.flatnonzero(frame.present[:, j])
        if priced.size:
            first[iid] = int(frame.ts_close_ms[priced[0]])
    return first
