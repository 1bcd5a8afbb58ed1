"""Latest market state and hourly close history, handed to strategies as immutable snapshots.

Fed by the replay driver (or live streams): bar closes, mark prices, funding settlements and,
live, the venues' predicted funding rates (kept apart from the settled ones).
History is kept in growable float64 buffers so a snapshot hands out zero-copy views; with
``keep_bars`` (the longest window any consumer reads) only the last values are kept, so
memory does not grow with the length of the run.

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
from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from strategies.base import FloatArray, MarketSnapshot
from venues.model import FundingRate, Instrument, InstrumentId, OptionSpec

if TYPE_CHECKING:
    from strategies.options.chain import OptionChain

_INITIAL_CAPACITY = 1024


class _History:
    """Append-only float64 buffer with amortized O(1) appends and view slicing.

    ``_ro`` is a read-only view of the whole buffer (remade when the buffer is replaced): a
    slice of it is read-only too, so :meth:`tail` hands out views without setting flags on
    each. The buffer is replaced, never changed in place below ``_n``, so views handed out
    keep their values. With ``keep`` (values, > 0) only the last ``keep`` values are sure to
    be kept: a full buffer at least twice that long is replaced by one of the same size
    holding the last ``keep`` values (``_dropped`` counts the values dropped, so
    ``_dropped + _n`` is the number ever appended); without it the buffer doubles.
    """

    __slots__ = ("_buf", "_dropped", "_keep", "_n", "_ro")

    def __init__(self, keep: int | None = None) -> None:
        self._buf = np.empty(_INITIAL_CAPACITY, dtype=np.float64)
        self._n = 0
        self._ro = _read_only(self._buf)
        self._keep = keep
        self._dropped = 0

    def append(self, value: float) -> None:
        if self._n == self._buf.shape[0]:
            self._make_room()
        n = self._n
        self._buf[n] = value
        self._n = n + 1

    def _make_room(self) -> None:
        """Called on a full buffer: a new one holding the last ``keep`` values when the
        buffer is at least twice that long, else one twice as long holding them all."""
        buf, n, keep = self._buf, self._n, self._keep
        if keep is not None and n >= 2 * keep:
            self._buf = np.empty_like(buf)
            self._buf[:keep] = buf[n - keep : n]
            self._dropped += n - keep
            self._n = keep
        else:
            self._buf = np.concatenate([buf, np.empty_like(buf)])
        self._ro = _read_only(self._buf)

    def __len__(self) -> int:
        return self._n

    @property
    def total(self) -> int:
        """How many values were ever appended (some may be dropped, see ``keep``)."""
        return self._dropped + self._n

    def last(self) -> float:
        """The newest value (the history is not empty)."""
        return float(self._buf[self._n - 1])

    def tail(self, n: int) -> FloatArray:
        """The last ``n`` values (all when fewer), oldest first: a read-only view."""
        end = self._n
        return self._ro[max(0, end - n) : end]


def _read_only(buf: FloatArray) -> FloatArray:
    view = buf.view()
    view.flags.writeable = False
    return view


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
        self._price_ts_ms: dict[InstrumentId, int] = {}
        self._close_ts_ms: dict[InstrumentId, int] = {}
        self._funding: dict[InstrumentId, FundingRate] = {}
        self._funding_version = 0  # bumped whenever a rate is stored (a layout's funding dict)
        self._predicted: dict[InstrumentId, FundingRate] = {}
        self._history: dict[InstrumentId, _History] = {i: _History(keep_bars) for i in instruments}
        self._chains: dict[InstrumentId, OptionChain] = {}
        self._listed_options: dict[InstrumentId, list[Instrument]] = {}
        self._volume_pending: dict[InstrumentId, float] = {}
        self._volumes: dict[InstrumentId, _History] = {}
        # (instrument, volume history, close history) of each volume history, in order: made
        # again whenever close_volumes adds a volume history (the only place one is added)
        self._volume_pairs: list[tuple[InstrumentId, _History, _History]] = []
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
        history = self._tracked_history(instrument_id)
        self._version += 1
        self._prices[instrument_id] = close
        self._price_ts_ms[instrument_id] = ts_ms
        self._close_ts_ms[instrument_id] = ts_ms
        history.append(close)

    def on_closes(self, closes: Iterable[tuple[InstrumentId, float]], ts_ms: int) -> None:
        """:meth:`on_close` of each (instrument, close) of ``closes``, in order (one step's
        closes, quote units, at ``ts_ms``).

        Raises
        ------
        ValueError
            At the first instrument that is not tracked (the closes before it are recorded).
        """
        histories, prices = self._history, self._prices
        price_ts_ms, close_ts_ms = self._price_ts_ms, self._close_ts_ms
        self._version += 1
        for instrument_id, close in closes:
            history = histories.get(instrument_id)
            if history is None:
                history = self._tracked_history(instrument_id)  # raises
            prices[instrument_id] = close
            price_ts_ms[instrument_id] = ts_ms
            close_ts_ms[instrument_id] = ts_ms
            # _History.append inlined: this loop runs for every close of every step
            if history._n == history._buf.shape[0]:
                history._make_room()
            n = history._n
            history._buf[n] = close
            history._n = n + 1

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
        close_ts = self._close_ts_ms
        if not close_ts or min(close_ts.values()) >= ts_ms:
            return []  # every instrument with history has its close at ts_ms (the usual hour)
        carried = [i for i, close_ts_ms in close_ts.items() if close_ts_ms < ts_ms]
        if carried:
            self._version += 1
            for instrument_id in carried:
                history = self._history[instrument_id]
                history.append(history.last())
                self._close_ts_ms[instrument_id] = ts_ms
        return carried

    def on_volume(self, instrument_id: InstrumentId, volume: float) -> None:
        """Add a bar's traded volume (base units, finite, ≥ 0) to the current hour of
        ``instrument_id``; :meth:`close_volumes` closes the hour.

        Raises
        ------
        ValueError
            If ``instrument_id`` is not tracked or ``volume`` is negative or not finite
            (nothing is recorded).
        """
        self._tracked_history(instrument_id)
        if not (math.isfinite(volume) and volume >= 0):
            raise ValueError(f"volume of {instrument_id} must be finite and >= 0, got {volume!r}")
        self._volume_pending[instrument_id] = self._volume_pending.get(instrument_id, 0.0) + volume

    def on_volumes(self, volumes: Iterable[tuple[InstrumentId, float]]) -> None:
        """:meth:`on_volume` of each (instrument, volume) of ``volumes``, in order.

        Raises
        ------
        ValueError
            At the first untracked instrument or bad volume (those before it are recorded).
        """
        histories, pending, inf = self._history, self._volume_pending, math.inf
        for instrument_id, volume in volumes:
            if instrument_id not in histories or not 0.0 <= volume < inf:  # NaN compares False
                self.on_volume(instrument_id, volume)  # raises
                continue
            pending[instrument_id] = pending.get(instrument_id, 0.0) + volume

    def close_volumes(self) -> None:
        """Append the hour's volume (the sum :meth:`on_volume` gathered, 0 without a bar) to the
        volume history of every instrument that has one, aligned with its close history (call
        after the hour's closes and :meth:`carry_closes`); a first volume is preceded by NaN
        for the hours before it."""
        self._version += 1
        pending = self._volume_pending
        if not self._volumes.keys() >= pending.keys():
            for instrument_id in pending.keys() - self._volumes.keys():
                self._volumes[instrument_id] = _History(self._keep_bars)
                self._layout_version += 1
            closes = self._history
            self._volume_pairs = [
                (instrument_id, history, closes[instrument_id])
                for instrument_id, history in self._volumes.items()
            ]
        for instrument_id, history, close_history in self._volume_pairs:
            n = history._n
            n_closes = close_history._dropped + close_history._n
            if history._dropped + n == n_closes - 1 and n < history._buf.shape[0]:
                history._buf[n] = pending.get(instrument_id, 0.0)  # the usual hour, inlined
                history._n = n + 1
                continue
            while history.total < n_closes - 1:
                history.append(math.nan)
            if history.total < n_closes:
                history.append(pending.get(instrument_id, 0.0))
        pending.clear()

    def on_price(self, instrument_id: InstrumentId, price: float, ts_ms: int) -> None:
        """Record an intra-bar price (mark or trade), quote units; history is not touched.

        Raises
        ------
        ValueError
            If ``instrument_id`` is not tracked (nothing is recorded).
        """
        self._tracked_history(instrument_id)
        self._version += 1
        self._prices[instrument_id] = price
        self._price_ts_ms[instrument_id] = ts_ms

    def _tracked_history(self, instrument_id: InstrumentId) -> _History:
        history = self._history.get(instrument_id)
        if history is None:
            raise ValueError(
                f"price for untracked instrument {instrument_id}; MarketData tracks "
                f"{', '.join(sorted(map(str, self._instruments)))}"
            )
        return history

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
        self._tracked_history(funding.instrument_id)
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
        self._history[instrument.id] = _History(self._keep_bars)
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
        if layout.captured_in is not shared:  # its histories' ends, once per version and time
            close_ends, volume_ends = shared.close_ends, shared.volume_ends
            for i, history in layout.histories.items():
                close_ends[i] = (history._ro, history._n)
            for i, history in layout.volumes.items():
                volume_ends[i] = (history._ro, history._n)
            layout.captured_in = shared
        all_prices = self._prices
        priced = layout.present_in(all_prices, _PRICED)
        stale = shared.stale
        ids = layout.ids
        # closes and volumes: views made when read (strategies read few of them; a snapshot
        # that made them all spent most of its time on views nobody read)
        return MarketSnapshot(
            ts_ms=ts_ms,
            instruments=dict(layout.instruments),
            prices={i: all_prices[i] for i in priced},
            funding=dict(self._funding_of(layout)),  # a copy: each snapshot has its own dicts
            closes=_Tails(layout.histories, shared.close_ends, history_bars),
            stale=stale & layout.id_set if stale else stale,
            predicted_funding=(
                {i: self._predicted[i] for i in ids if i in self._predicted}
                if self._predicted
                else {}
            ),
            option_chains=(
                {i: self._chains[i] for i in ids if i in self._chains} if self._chains else {}
            ),
            volumes=_Tails(layout.volumes, shared.volume_ends, history_bars),
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
        instruments among all tracked ones, and the ends of the histories the snapshots read
        (filled by :meth:`snapshot` for each layout, the first time it is asked for under this
        version and time: the histories do not change meanwhile); kept until the data changes
        (``_version``) or a snapshot at another time is asked for."""
        shared = self._shared
        if shared is not None and shared.version == self._version and shared.ts_ms == ts_ms:
            return shared
        fresh_from_ms = ts_ms - self._stale_after_ms  # stale: price time before this
        price_ts_ms = self._price_ts_ms
        if len(price_ts_ms) == len(self._instrument_map) and (
            not price_ts_ms or min(price_ts_ms.values()) >= fresh_from_ms
        ):
            # every tracked instrument is priced (the keys of price_ts_ms are tracked ones), none
            # before fresh_from_ms: none is stale (the usual step of a replay)
            stale: frozenset[InstrumentId] = frozenset()
        else:
            never = -(2**62)
            stale = frozenset(
                [i for i in self._instrument_map if price_ts_ms.get(i, never) < fresh_from_ms]
            )
        shared = self._shared = _Shared(
            version=self._version,
            ts_ms=ts_ms,
            close_ends={},
            volume_ends={},
            stale=stale,
        )
        return shared

    def _layout_of(self, instrument_ids: Iterable[InstrumentId], ts_ms: int) -> _Layout:
        """The tracked ids among ``instrument_ids`` (with the listed options of their
        underlyings), their instruments and their close and volume histories; kept per tuple
        of ids (a strategy asks for the same ones every cycle) until an instrument or a volume
        history is added."""
        key = instrument_ids if isinstance(instrument_ids, tuple) else None
        if key is not None and not self._listed_options:
            kept = self._layouts.get(key)
            if kept is not None and kept[0] == self._layout_version:
                return kept[1]
        instruments = self._instrument_map
        ids = [i for i in instrument_ids if i in instruments]
        if self._listed_options:
            ids = self._with_options(ids, ts_ms)
        histories, volumes = self._history, self._volumes
        layout = _Layout(
            ids,
            {i: instruments[i] for i in ids},
            {i: histories[i] for i in ids},
            {i: volumes[i] for i in ids if i in volumes},
        )
        if key is not None and not self._listed_options:
            if len(self._layouts) >= _MAX_LAYOUTS:
                self._layouts.clear()
            self._layouts[key] = (self._layout_version, layout)
        return layout


class _Tails(Mapping[InstrumentId, FloatArray]):
    """The last ``n`` values of each of ``histories`` as they stood when the snapshot was
    taken, a read-only view made when read: ``ends`` holds each history's buffer (read-only
    view) and length at snapshot time (for these histories and maybe more). Later appends do
    not show: a buffer is replaced, never changed below that length."""

    __slots__ = ("_ends", "_histories", "_n")

    def __init__(
        self,
        histories: Mapping[InstrumentId, _History],
        ends: Mapping[InstrumentId, tuple[FloatArray, int]],
        n: int,
    ) -> None:
        self._histories = histories
        self._ends = ends
        self._n = n

    def __getitem__(self, instrument_id: InstrumentId) -> FloatArray:
        if instrument_id not in self._histories:
            raise KeyError(instrument_id)
        ro, end = self._ends[instrument_id]
        start = end - self._n
        return ro[start if start > 0 else 0 : end]

    def get(self, instrument_id: InstrumentId, default: Any = None) -> Any:
        if instrument_id not in self._histories:
            return default
        ro, end = self._ends[instrument_id]
        start = end - self._n
        return ro[start if start > 0 else 0 : end]

    def __contains__(self, instrument_id: object) -> bool:
        return instrument_id in self._histories

    def __iter__(self) -> Iterator[InstrumentId]:
        return iter(self._histories)

    def __len__(self) -> int:
        return len(self._histories)


class _Shared(NamedTuple):
    """The part of the snapshots taken at ``ts_ms`` while the data stands at ``version`` that
    does not depend on the requested ids (:meth:`MarketData._shared_at`)."""

    version: int
    ts_ms: int
    close_ends: dict[InstrumentId, tuple[FloatArray, int]]
    """Buffer (read-only view) and length of the close histories of the layouts captured so
    far (only ever added to while the version stands: a snapshot reads its own ids)."""
    volume_ends: dict[InstrumentId, tuple[FloatArray, int]]
    stale: frozenset[InstrumentId]


_PRICED = 0
_FUNDED = 1


class _Layout:
    """What :meth:`MarketData.snapshot` restricts to, for one set of requested ids."""

    __slots__ = (
        "_present",
        "captured_in",
        "funding",
        "histories",
        "id_set",
        "ids",
        "instruments",
        "volumes",
    )

    def __init__(
        self,
        ids: list[InstrumentId],
        instruments: dict[InstrumentId, Instrument],
        histories: dict[InstrumentId, _History],
        volumes: dict[InstrumentId, _History],
    ) -> None:
        self.ids = ids
        self.id_set = frozenset(ids)
        self.instruments = instruments
        self.histories = histories
        self.volumes = volumes
        # per kind (_PRICED, _FUNDED): (key count of the mapping, the ids among its keys)
        self._present: list[tuple[int, list[InstrumentId]]] = [(-1, []), (-1, [])]
        self.captured_in: _Shared | None = None
        """The shared part that holds these histories' ends (:meth:`MarketData.snapshot`)."""
        self.funding: tuple[int, dict[InstrumentId, FundingRate]] = (-1, {})
        """``(funding version, rates)`` (:meth:`MarketData._funding_of`)."""

    def present_in(self, mapping: Mapping[InstrumentId, object], kind: int) -> list[InstrumentId]:
        """``ids`` that are keys of ``mapping`` (the prices for ``_PRICED``, the funding rates
        for ``_FUNDED``), in order. Those mappings only ever gain keys, so their key count
        names their key set: the list is recomputed only when the count changed."""
        count, ids = self._present[kind]
        if count != len(mapping):
            ids = [i for i in self.ids if i in mapping]
            self._present[kind] = (len(mapping), ids)
        return ids


_MAX_LAYOUTS = 64
"""Layouts kept by :meth:`MarketData._layout_of` (one per strategy in practice)."""
