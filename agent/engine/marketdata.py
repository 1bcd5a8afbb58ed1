"""Latest market state and hourly close history, handed to strategies as immutable snapshots.

Fed by the replay driver (or live streams): bar closes, mark prices, funding settlements and,
live, the venues' predicted funding rates (kept apart from the settled ones).
History is kept in one growable float64 buffer, a row per instrument, so a step's closes are
appended by one numpy assignment whatever the number of instruments and a snapshot hands out
zero-copy views; with ``keep_bars`` (the longest window any consumer reads) only the last values
are kept, so memory does not grow with the length of the run.

Histories stay **hour-aligned**: strategies right-align close series by their tails (the last
``n`` closes of every instrument are taken to be the same ``n`` hours), so an hour in which an
instrument that already has history gets no close is forward-filled with its previous close
(:meth:`MarketData.carry_closes`). Its price timestamp does not move, so the instrument still
turns stale after ``stale_after_ms``.

Traded volume (base units) is kept the same way for the instruments whose bars carry one
(:meth:`MarketData.on_volume` adds a bar's volume to the hour, sub-hour replay bars included;
:meth:`MarketData.close_volumes` appends the hour's total, 0 for an hour without a bar, after
the hour's closes), aligned with the closes: hours before an instrument's first volume are NaN.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import repeat
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple, cast

import numpy as np
import numpy.typing as npt

from strategies.base import FloatArray, MarketSnapshot
from venues.model import FundingRate, Instrument, InstrumentId, OptionSpec, all_positive_floats

if TYPE_CHECKING:
    from strategies.options.chain import OptionChain

IntArray = npt.NDArray[np.int64]

_INITIAL_CAPACITY = 1024
"""Values a history buffer holds per row (bars) before it first grows."""
_NEVER_MS = -(2**62)
"""Price time of an instrument not priced yet (stale at any time)."""
_UNCLOSED_MS = 2**62
"""Close time of an instrument without a close yet (never carried)."""


class _Histories:
    """Append-only float64 histories, one per row of a 2-D buffer ``(rows, capacity)``, with
    amortized O(1) appends (one step's values of many rows in one numpy assignment) and view
    slicing; row ``r`` holds ``_n[r]`` values, oldest first, contiguous.

    ``_ro`` is a read-only view of the whole buffer (remade when the buffer is replaced): a
    slice of it is read-only too, so tails are handed out without setting flags on each. The
    buffer is replaced, never changed in place below a row's length, so views handed out keep
    their values. When an append finds a row full: with ``keep`` (values, > 0) and a capacity
    at least 5/4 of that, the buffer is replaced by one of the same size holding each row's last
    ``keep`` values (``_dropped`` counts a row's values dropped, so ``_dropped + _n`` is the
    number ever appended to it); else the capacity doubles. Each value is copied at most 4
    times on average, and the buffer (one for every instrument, replaced at once) stays under
    2.5 ``keep`` values a row (1024 a row for the 800 the default strategies keep).
    """

    __slots__ = ("_buf", "_dropped", "_flat", "_keep", "_longest", "_n", "_ro")

    def __init__(self, keep: int | None = None) -> None:
        self._set_buffer(np.empty((0, _INITIAL_CAPACITY), dtype=np.float64))
        self._n: IntArray = np.zeros(0, dtype=np.int64)
        self._dropped: IntArray = np.zeros(0, dtype=np.int64)
        self._keep = keep
        # at least the longest row's length (an append adds at most 1 to it): the rows are
        # looked at for a full one only when this reaches the capacity
        self._longest = 0

    def add_rows(self, count: int) -> int:
        """Add ``count`` empty rows; returns the index of the first. The buffer has room for
        more rows than it holds (doubled when full), so rows added one by one (listed
        options) copy it only now and then."""
        first = len(self._n)
        if first + count > self._buf.shape[0]:
            buf = np.empty((max(first + count, 2 * first), self._buf.shape[1]), dtype=np.float64)
            buf[:first] = self._buf[:first]
            self._set_buffer(buf)
        self._n = np.concatenate([self._n, np.zeros(count, dtype=np.int64)])
        self._dropped = np.concatenate([self._dropped, np.zeros(count, dtype=np.int64)])
        return first

    def append(self, rows: IntArray, values: FloatArray) -> None:
        """Append ``values[k]`` to row ``rows[k]`` for every k (``rows`` distinct)."""
        if self._longest >= self._buf.shape[1]:
            self._room_checked()
        ends = self._n[rows]
        # written through the flat view: the same cells as ``_buf[rows, ends]``, at a
        # third of the cost of a two-array index
        self._flat[rows * self._buf.shape[1] + ends] = values
        self._n[rows] = ends + 1
        self._longest += 1

    def append_one(self, row: int, value: float) -> None:
        """Append ``value`` to row ``row``."""
        if self._longest >= self._buf.shape[1]:
            self._room_checked()
        n = int(self._n[row])
        self._buf[row, n] = value
        self._n[row] = n + 1
        self._longest = max(self._longest, n + 1)

    def _room_checked(self) -> None:
        """Make room when a row is full; ``_longest`` the longest row's length again."""
        if len(self._n) and self._n.max() == self._buf.shape[1]:
            self._make_room()
        self._longest = int(self._n.max()) if len(self._n) else 0

    def _make_room(self) -> None:
        """Called when a row is full: a buffer of the same size holding each row's last
        ``keep`` values when the capacity is at least 5/4 of ``keep``, else one twice as
        wide holding them all."""
        buf, keep = self._buf, self._keep
        capacity = buf.shape[1]
        if keep is not None and 4 * capacity >= 5 * keep:
            new = np.empty(buf.shape, dtype=np.float64)
            ends: list[int] = self._n.tolist()
            for row, n in enumerate(ends):
                kept = min(n, keep)
                new[row, :kept] = buf[row, n - kept : n]
            self._dropped += self._n - np.minimum(self._n, keep)
            self._n = np.minimum(self._n, keep)
        else:
            new = np.empty((buf.shape[0], 2 * capacity), dtype=np.float64)
            new[: len(self._n), :capacity] = buf[: len(self._n)]
        self._set_buffer(new)

    def _set_buffer(self, buf: FloatArray) -> None:
        """Make ``buf`` (C-contiguous, as ``np.empty`` makes it) the buffer, with its read-only
        view and its flat view (the same memory, a row after another)."""
        if not buf.flags.c_contiguous:  # never: then reshape would copy, not view
            raise AssertionError("history buffer is not C-contiguous")
        self._buf, self._ro = buf, _read_only(buf)
        self._flat = buf.reshape(-1)

    def totals(self) -> IntArray:
        """How many values were ever appended to each row (some may be dropped)."""
        return self._dropped + self._n

    def last(self, rows: IntArray) -> FloatArray:
        """The newest value of each of ``rows`` (none empty)."""
        return self._buf[rows, self._n[rows] - 1]

    def ends(self) -> tuple[FloatArray, list[int]]:
        """The buffer (read-only view) and every row's length now: the tails as they stand."""
        return self._ro, self._n.tolist()


def _is_mapping(
    values: Mapping[InstrumentId, float] | Iterable[tuple[InstrumentId, float]],
) -> bool:
    """Whether ``values`` is a mapping; a dict or a step's read-only one is told by its type
    (an ABC check costs more than the rest of a small step's bookkeeping)."""
    return isinstance(values, (dict, MappingProxyType, Mapping))


def _read_only(buf: FloatArray) -> FloatArray:
    view = buf.view()
    view.flags.writeable = False
    return view


def _kept_rows(
    ids: tuple[InstrumentId, ...],
    row_of: Mapping[InstrumentId, int],
    kept: dict[tuple[InstrumentId, ...], IntArray],
) -> IntArray | None:
    """The rows ``row_of`` gives ``ids`` (int64 ``(n,)``, read-only), or None if one has no row
    or is named twice; kept in ``kept`` per tuple (at most :data:`_MAX_LAYOUTS` tuples, then it
    starts over): a row is never reassigned, so a kept one never goes stale."""
    rows = kept.get(ids)
    if rows is not None:
        return rows
    distinct = set(ids)
    if not row_of.keys() >= distinct or len(distinct) != len(ids):
        return None
    rows = np.array([row_of[i] for i in ids], dtype=np.int64)
    rows.flags.writeable = False
    if len(kept) >= _MAX_LAYOUTS:
        kept.clear()
    kept[ids] = rows
    return rows


class MarketData:
    """Latest prices, funding and close history per instrument.

    Parameters
    ----------
    instruments : Mapping[InstrumentId, Instrument]
        Every instrument the agent tracks.
    stale_after_ms : int
        A price older than this at snapshot time marks the instrument stale.
    keep_bars : int | None
        The longest close or volume history any snapshot will ask for (> 0): older values
        may be dropped (memory bounded by it, whatever the length of the run) and a
        snapshot asking for more raises ``ValueError``. None (default): everything is kept.

    Raises
    ------
    ValueError
        If ``keep_bars`` is not positive.
    """

    def __init__(
        self,
        instruments: Mapping[InstrumentId, Instrument],
        stale_after_ms: int,
        keep_bars: int | None = None,
    ) -> None:
        if keep_bars is not None and keep_bars <= 0:
            raise ValueError(f"keep_bars must be > 0 or None, got {keep_bars}")
        self._keep_bars = keep_bars
        self._instrument_map = dict(instruments)
        self._instruments = MappingProxyType(self._instrument_map)
        self._stale_after_ms = stale_after_ms
        self._prices: dict[InstrumentId, float] = {}
        self._funding: dict[InstrumentId, FundingRate] = {}
        self._funding_version = 0  # bumped whenever a rate is stored (a layout's funding dict)
        self._predicted: dict[InstrumentId, FundingRate] = {}
        # Per tracked instrument, a row (in the order tracked) of: its close history (one
        # buffer, appended once a step), its price time (_NEVER_MS before the first price), its
        # last close time (_UNCLOSED_MS before the first close) and the rank of its first
        # close among the instruments' first closes.
        self._closes = _Histories(keep_bars)
        self._close_row: dict[InstrumentId, int] = {}
        # A time every price time is (every tracked instrument priced then), or every close
        # time of the instruments with a close is, else None (then the arrays are looked at):
        # set by on_closes when it names them all (the usual step), None after any other
        # change of those times.
        self._all_priced_at_ms: int | None = None
        self._all_closed_at_ms: int | None = None
        self._row_ids: list[InstrumentId] = []
        self._price_ts_ms: IntArray = np.zeros(0, dtype=np.int64)
        self._close_ts_ms: IntArray = np.zeros(0, dtype=np.int64)
        self._first_close_rank: IntArray = np.zeros(0, dtype=np.int64)
        self._closed = 0  # instruments with a close (the next first close's rank)
        self._add_close_rows(list(self._instrument_map))
        # the rows of each tuple of ids on_closes or on_volumes was given (all tracked,
        # distinct): never stale, an instrument's row never changes once it is tracked
        self._rows_of_ids: dict[tuple[InstrumentId, ...], IntArray] = {}
        self._chains: dict[InstrumentId, OptionChain] = {}
        self._listed_options: dict[InstrumentId, list[Instrument]] = {}
        self._volume_pending: dict[InstrumentId, float] = {}  # the hour's volume so far
        # or, when the hour's only volumes came as columns of ids that all have a volume
        # history (on_volume_columns), the volume rows of those ids and their volumes: folded
        # into _volume_pending by any other volume of the hour
        self._volume_column: tuple[IntArray, FloatArray] | None = None
        # the volume rows of each tuple of ids on_volume_columns was given (all with a volume
        # history, distinct): never stale, an instrument's volume row never changes
        self._volume_rows_of_ids: dict[tuple[InstrumentId, ...], IntArray] = {}
        # the volume histories, a row each for the instruments whose bars carry a volume, their
        # ids in row order and the close row of each (close_volumes adds them, the only place
        # one is added)
        self._volumes = _Histories(keep_bars)
        self._volume_row: dict[InstrumentId, int] = {}
        self._volume_ids: list[InstrumentId] = []
        self._volume_close_rows: IntArray = np.zeros(0, dtype=np.int64)
        self._volume_rows: IntArray = np.zeros(0, dtype=np.int64)  # 0, 1, ... (every row)
        # After close_volumes every volume history is as long as its close history. What
        # appended closes since tells whether each is one longer now without looking: the
        # on_closes naming every instrument with a close, counted; any other append of a close
        # (on_close, on_closes naming fewer, carry_closes) noted; and whether every instrument
        # with a volume history had a close at the last close_volumes.
        self._full_closes = 0
        self._closes_irregular = False
        self._volume_rows_closed = True
        # snapshot()'s restriction per tuple of requested ids, valid while the version stands
        # (bumped when an instrument or a volume history is added)
        self._layouts: dict[tuple[InstrumentId, ...], tuple[int, _Layout]] = {}
        self._layout_version = 0
        # Bumped by every method that changes a history's length or a price time: the part of
        # a snapshot that does not depend on the requested ids (history lengths, stale
        # instruments) is built once per version and time and shared by the snapshots taken
        # until the next change (the strategies' cycles of one step). Funding, predictions and
        # chains are read afresh by every snapshot.
        self._version = 0
        self._shared: _Shared | None = None

    def _add_close_rows(self, ids: list[InstrumentId]) -> None:
        count = len(ids)
        first = self._closes.add_rows(count)
        self._close_row.update(zip(ids, range(first, first + count), strict=True))
        self._row_ids += ids
        self._all_priced_at_ms = None  # the new ones are not priced
        grow = np.concatenate
        self._price_ts_ms = grow([self._price_ts_ms, np.full(count, _NEVER_MS, dtype=np.int64)])
        self._close_ts_ms = grow([self._close_ts_ms, np.full(count, _UNCLOSED_MS, dtype=np.int64)])
        self._first_close_rank = grow([self._first_close_rank, np.zeros(count, dtype=np.int64)])

    @property
    def instruments(self) -> Mapping[InstrumentId, Instrument]:
        """Every tracked instrument."""
        return self._instruments

    def on_close(self, instrument_id: InstrumentId, close: float, ts_ms: int) -> None:
        """Record an hourly bar close (quote units) at ``ts_ms`` (bar close time, epoch ms).

        Raises
        ------
        ValueError
            If ``instrument_id`` is not tracked (nothing is recorded).
        """
        row = self._tracked_row(instrument_id)
        self._version += 1
        self._prices[instrument_id] = close
        self._price_ts_ms[row] = ts_ms
        self._all_priced_at_ms = self._all_closed_at_ms = None
        self._closes_irregular = True
        if self._close_ts_ms[row] == _UNCLOSED_MS:
            self._first_close_rank[row] = self._closed
            self._closed += 1
        self._close_ts_ms[row] = ts_ms
        self._closes.append_one(row, close)

    def on_closes(
        self,
        closes: Mapping[InstrumentId, float] | Iterable[tuple[InstrumentId, float]],
        ts_ms: int,
    ) -> None:
        """:meth:`on_close` of each (instrument, close) of ``closes`` (a mapping or pairs), in
        order (one step's closes, quote units, at ``ts_ms``).

        Raises
        ------
        ValueError
            At the first instrument that is not tracked (the closes before it are recorded).
        """
        if _is_mapping(closes):
            mapping = cast("Mapping[InstrumentId, float]", closes)
            ids: tuple[InstrumentId, ...] = tuple(mapping)
            values: list[float] = list(mapping.values())
        else:
            pairs = list(cast("Iterable[tuple[InstrumentId, float]]", closes))
            ids, values = tuple([p[0] for p in pairs]), [p[1] for p in pairs]
        self.on_close_columns(ids, values, ts_ms)

    def on_close_columns(
        self, ids: tuple[InstrumentId, ...], closes: Sequence[float], ts_ms: int
    ) -> None:
        """:meth:`on_closes` of the pairs ``zip(ids, closes)`` (``closes[k]`` the close of
        ``ids[k]``, quote units, at ``ts_ms``) given as two columns of the same length: the
        driver's per-bar path, which has them so (no pairs or mapping built for the call).

        Raises
        ------
        ValueError
            At the first instrument that is not tracked (the closes before it are recorded),
            or if the columns differ in length (nothing is recorded).
        """
        if len(ids) != len(closes):
            raise ValueError(f"on_close_columns: {len(ids)} ids but {len(closes)} closes")
        rows = self._rows_of(ids)
        if rows is None:  # an untracked instrument or one named twice: one by one
            for instrument_id, close in zip(ids, closes, strict=True):
                self.on_close(instrument_id, close, ts_ms)
            return
        self._version += 1
        self._prices.update(zip(ids, closes, strict=True))
        self._price_ts_ms[rows] = ts_ms
        close_ts_ms = self._close_ts_ms
        if self._closed < len(close_ts_ms):  # an instrument without a close yet: first ones?
            first = rows[close_ts_ms[rows] == _UNCLOSED_MS]
            self._first_close_rank[first] = np.arange(self._closed, self._closed + len(first))
            self._closed += len(first)
        close_ts_ms[rows] = ts_ms
        self._closes.append(rows, np.array(closes, dtype=np.float64))
        # rows distinct, each with a close now: as many as there are such (or tracked ones)
        # means all of them
        if len(rows) == self._closed:
            self._all_closed_at_ms = ts_ms
            self._full_closes += 1
        else:
            self._all_closed_at_ms = None
            self._closes_irregular = True
        self._all_priced_at_ms = ts_ms if len(rows) == len(self._row_ids) else None

    def _rows_of(self, ids: tuple[InstrumentId, ...]) -> IntArray | None:
        """The rows of ``ids``, or None if one is untracked or named twice; kept per tuple (a
        replay names the same instruments every step; an instrument keeps its row)."""
        return _kept_rows(ids, self._close_row, self._rows_of_ids)

    def carry_closes(self, ts_ms: int) -> list[InstrumentId]:
        """Forward-fill the hour ``ts_ms`` for every instrument that has history but no close
        at ``ts_ms``: its previous close is appended again, its price and price time are left
        alone (so it turns stale as usual). Instruments without any close yet are not touched.
        Call once all of the hour's closes are recorded; calling again for the same hour
        appends nothing.

        Returns
        -------
        list[InstrumentId]
            The instruments carried, in the order of their first close.
        """
        close_ts_ms = self._close_ts_ms  # _UNCLOSED_MS (never less) without a close yet
        closed_at_ms = self._all_closed_at_ms
        if (closed_at_ms is not None and closed_at_ms >= ts_ms) or (
            not len(close_ts_ms) or close_ts_ms.min() >= ts_ms
        ):
            return []  # every instrument with history has its close at ts_ms (the usual hour)
        rows = np.flatnonzero(close_ts_ms < ts_ms)
        rows = rows[np.argsort(self._first_close_rank[rows], kind="stable")]
        self._version += 1
        self._closes.append(rows, self._closes.last(rows))
        close_ts_ms[rows] = ts_ms  # (_all_closed_at_ms stays true: set, none was carried)
        self._closes_irregular = True
        row_ids = self._row_ids
        return [row_ids[row] for row in rows.tolist()]

    def on_volume(self, instrument_id: InstrumentId, volume: float) -> None:
        """Add a bar's traded volume (base units, finite, ≥ 0) to the current hour of
        ``instrument_id``; :meth:`close_volumes` closes the hour.

        Raises
        ------
        ValueError
            If ``instrument_id`` is not tracked or ``volume`` is negative or not finite
            (nothing is recorded).
        """
        self._tracked_row(instrument_id)
        if not (math.isfinite(volume) and volume >= 0):
            raise ValueError(f"volume of {instrument_id} must be finite and >= 0, got {volume!r}")
        if self._volume_column is not None:
            self._fold_volume_column()
        self._volume_pending[instrument_id] = self._volume_pending.get(instrument_id, 0.0) + volume

    def on_volumes(
        self, volumes: Mapping[InstrumentId, float] | Iterable[tuple[InstrumentId, float]]
    ) -> None:
        """:meth:`on_volume` of each (instrument, volume) of ``volumes`` (a mapping or pairs),
        in order.

        Raises
        ------
        ValueError
            At the first untracked instrument or bad volume (those before it are recorded).
        """
        if self._volume_column is not None:
            self._fold_volume_column()
        rows, pending, inf = self._close_row, self._volume_pending, math.inf
        if (
            not pending  # the hour's first volumes
            and isinstance(volumes, (dict, MappingProxyType))  # (a step's: copied fast)
            and rows.keys() >= volumes.keys()
        ):
            hour = volumes.copy()
            if all_positive_floats(hour.values()):  # 0.0 + volume (one by one) is volume
                self._volume_pending = hour
                return
        pairs = (
            cast("Mapping[InstrumentId, float]", volumes).items()
            if _is_mapping(volumes)
            else cast("Iterable[tuple[InstrumentId, float]]", volumes)
        )
        for instrument_id, volume in pairs:
            if instrument_id not in rows or not 0.0 <= volume < inf:  # NaN compares False
                self.on_volume(instrument_id, volume)  # raises
                continue
            pending[instrument_id] = pending.get(instrument_id, 0.0) + volume

    def on_volume_columns(self, ids: tuple[InstrumentId, ...], volumes: FloatArray) -> None:
        """:meth:`on_volumes` of the pairs ``zip(ids, volumes)`` (``volumes[k]`` the volume of
        ``ids[k]``, base units, float64 ``(n,)``) given as two columns: the replay's per-step
        path. The hour's first volumes, every one finite and > 0, of distinct ids that all have
        a volume history (the usual hour) are kept as they are, the column appended by
        :meth:`close_volumes` (what adding them to the hour one by one would give: 0.0 +
        volume is volume); any others are added pair by pair as :meth:`on_volumes` adds them.

        Raises
        ------
        ValueError
            As :meth:`on_volumes`, or if the columns differ in length (nothing is recorded).
        """
        if len(ids) != len(volumes):
            raise ValueError(f"on_volume_columns: {len(ids)} ids but {len(volumes)} volumes")
        if not self._volume_pending and self._volume_column is None:
            rows = self._volume_rows_of(ids)
            if rows is not None and bool(((volumes > 0.0) & (volumes < math.inf)).all()):
                self._volume_column = (rows, volumes)
                return
        self.on_volumes(zip(ids, volumes.tolist(), strict=True))

    def _volume_rows_of(self, ids: tuple[InstrumentId, ...]) -> IntArray | None:
        """The volume rows of ``ids``, or None if one has no volume history or is named twice;
        kept per tuple (a replay names the same ids every step; an instrument keeps its
        row)."""
        return _kept_rows(ids, self._volume_row, self._volume_rows_of_ids)

    def _fold_volume_column(self) -> None:
        """Turn the hour's volumes kept as a column into the pending pairs, in its order (as
        :meth:`on_volumes` would have kept them), before another volume is added."""
        assert self._volume_column is not None  # callers checked
        rows, volumes = self._volume_column
        self._volume_column = None
        volume_ids = self._volume_ids
        ids = [volume_ids[row] for row in rows.tolist()]
        self._volume_pending = dict(zip(ids, volumes.tolist(), strict=True))

    def close_volumes(self) -> None:
        """Append the hour's volume (the sum :meth:`on_volume` gathered, 0 without a bar) to the
        volume history of every instrument that has one, aligned with its close history (call
        after the hour's closes and :meth:`carry_closes`); a first volume is preceded by NaN
        for the hours before it."""
        self._version += 1
        # one close more for each volume history since the last call, known without looking
        one_more = self._volume_rows_closed and self._full_closes == 1
        one_more = one_more and not self._closes_irregular
        self._full_closes, self._closes_irregular = 0, False
        pending, volume_row = self._volume_pending, self._volume_row
        if not volume_row.keys() >= pending.keys():  # first volumes: a volume history each
            one_more = False
            new = [i for i in pending if i not in volume_row]
            first = self._volumes.add_rows(len(new))
            volume_row.update(zip(new, range(first, first + len(new)), strict=True))
            self._volume_ids += new
            close_row = self._close_row
            self._volume_close_rows = np.array(
                [close_row[i] for i in self._volume_ids], dtype=np.int64
            )
            self._volume_rows = np.arange(len(self._volume_ids), dtype=np.int64)
            self._layout_version += 1
        ids = self._volume_ids
        column, self._volume_column = self._volume_column, None
        if column is None:
            hour = np.fromiter(map(pending.get, ids, repeat(0.0)), np.float64, count=len(ids))
            pending.clear()
        else:  # (nothing pending: every one of the column's ids has a volume row)
            rows, values = column
            hour = np.zeros(len(ids), dtype=np.float64)
            hour[rows] = values
        close_rows = self._volume_close_rows
        if not len(close_rows):
            return
        volumes = self._volumes
        if one_more:  # the usual hour: one value each
            volumes.append(self._volume_rows, hour)
            return
        self._volume_rows_closed = bool((self._close_ts_ms[close_rows] != _UNCLOSED_MS).all())
        n_closes = self._closes.totals()[close_rows]
        totals = volumes.totals()
        if (n_closes - totals == 1).all():  # one value each
            volumes.append(self._volume_rows, hour)
            return
        pairs = zip(totals.tolist(), n_closes.tolist(), strict=True)
        for row, (total, n_close) in enumerate(pairs):
            for _ in range(n_close - 1 - total):
                volumes.append_one(row, math.nan)
            if max(total, n_close - 1) < n_close:
                volumes.append_one(row, float(hour[row]))

    def on_price(self, instrument_id: InstrumentId, price: float, ts_ms: int) -> None:
        """Record an intra-bar price (mark or trade), quote units; history is not touched.

        Raises
        ------
        ValueError
            If ``instrument_id`` is not tracked (nothing is recorded).
        """
        row = self._tracked_row(instrument_id)
        self._version += 1
        self._prices[instrument_id] = price
        self._price_ts_ms[row] = ts_ms
        self._all_priced_at_ms = None

    def _tracked_row(self, instrument_id: InstrumentId) -> int:
        row = self._close_row.get(instrument_id)
        if row is None:
            raise ValueError(
                f"price for untracked instrument {instrument_id}; MarketData tracks "
                f"{', '.join(sorted(map(str, self._instruments)))}"
            )
        return row

    def on_funding(self, funding: FundingRate) -> None:
        """Record a settled funding rate; keeps the newest per instrument
        (``MarketSnapshot.funding``)."""
        current = self._funding.get(funding.instrument_id)
        if current is None or funding.ts_funding_ms >= current.ts_funding_ms:
            self._funding[funding.instrument_id] = funding
            self._funding_version += 1

    def on_predicted_funding(self, funding: FundingRate) -> None:
        """Record a venue's predicted rate of a coming settlement (live streams; settlement
        ``ts_funding_ms`` usually in the future), kept apart from the settled rates: the newest
        per instrument, a later update of the same settlement replacing the earlier one
        (``MarketSnapshot.predicted_funding``). Nothing is settled or booked from it.

        Raises
        ------
        ValueError
            If ``funding.instrument_id`` is not tracked (nothing is recorded).
        """
        self._tracked_row(funding.instrument_id)
        current = self._predicted.get(funding.instrument_id)
        if current is None or funding.ts_funding_ms >= current.ts_funding_ms:
            self._predicted[funding.instrument_id] = funding

    # ---- options (``[option_chain]``, agent.engine.options; live: agent.engine.live_options) --

    def set_option_chain(self, chain: OptionChain) -> None:
        """The options listed on ``chain.underlying`` now (replaces the previous chain): handed
        to the strategies that read that underlying (``MarketSnapshot.option_chains``)."""
        self._chains[chain.underlying] = chain

    def drop_option_chain(self, underlying: InstrumentId) -> None:
        """Forget ``underlying``'s chain (a live chain that could not be read this step): the
        strategies see none rather than an old one. Nothing when it has none."""
        self._chains.pop(underlying, None)

    def list_option(self, underlying: InstrumentId, instrument: Instrument) -> None:
        """Track an option on ``underlying`` from now on (its prices via :meth:`on_price`; it has
        no close history). Its price appears in the snapshots of strategies that read the
        underlying until it expires. Listing it again does nothing."""
        if instrument.id in self._instrument_map:
            return
        self._version += 1
        self._instrument_map[instrument.id] = instrument
        self._add_close_rows([instrument.id])
        self._layout_version += 1
        self._listed_options.setdefault(underlying, []).append(instrument)

    def _with_options(self, ids: list[InstrumentId], ts_ms: int) -> list[InstrumentId]:
        """``ids`` plus the unexpired listed options of the underlyings among them."""
        extra = [
            inst.id
            for i in ids
            for inst in self._listed_options.get(i, ())
            if OptionSpec.parse(inst.id.symbol).expiry_ms > ts_ms
        ]
        return ids + [i for i in extra if i not in ids]

    def price(self, instrument_id: InstrumentId) -> float | None:
        """Latest price, quote units, or None before the first one."""
        return self._prices.get(instrument_id)

    def fresh_price(self, instrument_id: InstrumentId, ts_ms: int) -> float | None:
        """Latest price, quote units, or None before the first one and while it is stale at
        ``ts_ms`` (older than ``stale_after_ms``: what a snapshot at ``ts_ms`` lists in
        ``stale``), e.g. after the instrument's recorded data ended."""
        if instrument_id not in self._close_row or instrument_id in self._shared_at(ts_ms).stale:
            return None
        return self._prices.get(instrument_id)

    @property
    def prices(self) -> Mapping[InstrumentId, float]:
        """Latest prices (read-only view)."""
        return MappingProxyType(self._prices)

    def funding_of(self, instrument_id: InstrumentId) -> FundingRate | None:
        """Newest settled funding rate of ``instrument_id`` (what a snapshot holding it shows
        in ``MarketSnapshot.funding``), or None before the first."""
        return self._funding.get(instrument_id)

    def predicted_funding_of(self, instrument_id: InstrumentId) -> FundingRate | None:
        """Newest predicted funding rate of ``instrument_id`` (what a snapshot holding it shows
        in ``MarketSnapshot.predicted_funding``), or None when none was streamed."""
        return self._predicted.get(instrument_id)

    def snapshot(
        self, ts_ms: int, instrument_ids: Iterable[InstrumentId], history_bars: int
    ) -> MarketSnapshot:
        """Immutable view restricted to ``instrument_ids`` with ``history_bars`` closes each.

        Raises
        ------
        ValueError
            If ``history_bars`` is more than the ``keep_bars`` the data was made with.
        """
        if self._keep_bars is not None and history_bars > self._keep_bars:
            raise ValueError(
                f"a snapshot of {history_bars} bars asked of market data keeping {self._keep_bars}"
            )
        layout = self._layout_of(instrument_ids, ts_ms)
        shared = self._shared_at(ts_ms)
        stale = shared.stale
        ids = layout.ids
        prices = self._prices
        # closes and volumes: views made when read (strategies read few of them; a snapshot
        # that made them all spent most of its time on views nobody read)
        return MarketSnapshot(
            ts_ms=ts_ms,
            instruments=dict(layout.instruments),
            prices={i: prices[i] for i in layout.present_in(prices, _PRICED)},
            funding=dict(self._funding_of(layout)),  # a copy: each snapshot has its own dicts
            closes=_Tails(layout.close_rows, *shared.closes, history_bars),
            stale=stale & layout.id_set if stale else stale,
            predicted_funding=(
                {i: self._predicted[i] for i in ids if i in self._predicted}
                if self._predicted
                else {}
            ),
            option_chains=(
                {i: self._chains[i] for i in ids if i in self._chains} if self._chains else {}
            ),
            volumes=_Tails(layout.volume_rows, *shared.volumes, history_bars),
        )

    def _funding_of(self, layout: _Layout) -> dict[InstrumentId, FundingRate]:
        """The settled funding of ``layout``'s ids (in their order), kept in the layout until a
        rate is stored (``_funding_version``: settlements come every few hours)."""
        version, rates = layout.funding
        if version != self._funding_version:
            funding = self._funding
            rates = {i: funding[i] for i in layout.present_in(funding, _FUNDED)}
            layout.funding = (self._funding_version, rates)
        return rates

    def _shared_at(self, ts_ms: int) -> _Shared:
        """What every snapshot at ``ts_ms`` shares whatever ids it asks for: the stale
        instruments among all tracked ones, and the ends of the close and volume histories
        (the buffers and every row's length: the histories do not change meanwhile); kept
        until the data changes (``_version``) or a snapshot at another time is asked for."""
        shared = self._shared
        if shared is not None and shared.version == self._version and shared.ts_ms == ts_ms:
            return shared
        fresh_from_ms = ts_ms - self._stale_after_ms  # stale: price time before this
        price_ts_ms = self._price_ts_ms  # _NEVER_MS before the first price: stale
        priced_at_ms = self._all_priced_at_ms
        if (priced_at_ms is not None and priced_at_ms >= fresh_from_ms) or (
            not len(price_ts_ms) or price_ts_ms.min() >= fresh_from_ms
        ):
            stale: frozenset[InstrumentId] = frozenset()  # the usual step of a replay
        else:
            row_ids = self._row_ids
            stale_rows = np.flatnonzero(price_ts_ms < fresh_from_ms).tolist()
            stale = frozenset([row_ids[row] for row in stale_rows])
        shared = self._shared = _Shared(
            version=self._version,
            ts_ms=ts_ms,
            closes=self._closes.ends(),
            volumes=self._volumes.ends(),
            stale=stale,
        )
        return shared

    def _layout_of(self, instrument_ids: Iterable[InstrumentId], ts_ms: int) -> _Layout:
        """The tracked ids among ``instrument_ids`` (with the listed options of their
        underlyings), their instruments and the rows of their close and volume histories;
        kept per tuple of ids (a strategy asks for the same ones every cycle) until an
        instrument or a volume history is added."""
        key = instrument_ids if isinstance(instrument_ids, tuple) else None
        if key is not None and not self._listed_options:
            kept = self._layouts.get(key)
            if kept is not None and kept[0] == self._layout_version:
                return kept[1]
        instruments = self._instrument_map
        ids = [i for i in instrument_ids if i in instruments]
        if self._listed_options:
            ids = self._with_options(ids, ts_ms)
        close_row, volume_row = self._close_row, self._volume_row
        layout = _Layout(
            ids,
            {i: instruments[i] for i in ids},
            {i: close_row[i] for i in ids},
            {i: volume_row[i] for i in ids if i in volume_row},
        )
        if key is not None and not self._listed_options:
            if len(self._layouts) >= _MAX_LAYOUTS:
                self._layouts.clear()
            self._layouts[key] = (self._layout_version, layout)
        return layout


class _Tails(Mapping[InstrumentId, FloatArray]):
    """The last ``n`` values of each history of ``rows`` (instrument -> row of ``buffer``) as
    they stood when the snapshot was taken, a read-only view made when read: ``buffer`` is the
    histories' buffer (read-only view) and ``ends`` every row's length at snapshot time. Later
    appends do not show: a buffer is replaced, never changed below those lengths."""

    __slots__ = ("_buffer", "_ends", "_n", "_rows")

    def __init__(
        self, rows: Mapping[InstrumentId, int], buffer: FloatArray, ends: list[int], n: int
    ) -> None:
        self._rows = rows
        self._buffer = buffer
        self._ends = ends
        self._n = n

    def __getitem__(self, instrument_id: InstrumentId) -> FloatArray:
        row = self._rows[instrument_id]  # KeyError when not held
        end = self._ends[row]
        start = end - self._n
        return self._buffer[row, start if start > 0 else 0 : end]

    def get(self, instrument_id: InstrumentId, default: Any = None) -> Any:
        row = self._rows.get(instrument_id)
        if row is None:
            return default
        end = self._ends[row]
        start = end - self._n
        return self._buffer[row, start if start > 0 else 0 : end]

    def __contains__(self, instrument_id: object) -> bool:
        return instrument_id in self._rows

    def __iter__(self) -> Iterator[InstrumentId]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)


class _Shared(NamedTuple):
    """The part of the snapshots taken at ``ts_ms`` while the data stands at ``version`` that
    does not depend on the requested ids (:meth:`MarketData._shared_at`)."""

    version: int
    ts_ms: int
    closes: tuple[FloatArray, list[int]]
    """The close histories' buffer (read-only view) and every row's length."""
    volumes: tuple[FloatArray, list[int]]
    """The same of the volume histories."""
    stale: frozenset[InstrumentId]


_PRICED = 0
_FUNDED = 1


class _Layout:
    """What :meth:`MarketData.snapshot` restricts to, for one set of requested ids."""

    __slots__ = (
        "_present",
        "close_rows",
        "funding",
        "id_set",
        "ids",
        "instruments",
        "volume_rows",
    )

    def __init__(
        self,
        ids: list[InstrumentId],
        instruments: dict[InstrumentId, Instrument],
        close_rows: dict[InstrumentId, int],
        volume_rows: dict[InstrumentId, int],
    ) -> None:
        self.ids = ids
        self.id_set = frozenset(ids)
        self.instruments = instruments
        self.close_rows = close_rows
        """Each id's row in the close histories."""
        self.volume_rows = volume_rows
        """The row in the volume histories of each id that has one."""
        # per kind (_PRICED, _FUNDED): (key count of the mapping, the ids among its keys)
        self._present: list[tuple[int, list[InstrumentId]]] = [(-1, []), (-1, [])]
        self.funding: tuple[int, dict[InstrumentId, FundingRate]] = (-1, {})
        """``(funding version, rates)`` (:meth:`MarketData._funding_of`)."""

    def present_in(self, mapping: Mapping[InstrumentId, object], kind: int) -> list[InstrumentId]:
        """``ids`` that are keys of ``mapping`` (the prices for ``_PRICED``, the funding rates
        for ``_FUNDED``), in order. Those mappings only ever gain keys, so their key count
        names their key set: the ids are looked up again only when the count changed."""
        count, present = self._present[kind]
        if count != len(mapping):
            present = [i for i in self.ids if i in mapping]
            self._present[kind] = (len(mapping), present)
        return present


_MAX_LAYOUTS = 64
"""Layouts kept by :meth:`MarketData._layout_of` (one per strategy in practice), and tuples of
ids kept by :meth:`MarketData._rows_of`."""
