"""The funding-rate book of the cross-venue arbitrage: settled rates per perp, kept in the
strategy's state (:class:`~strategies.cross_venue_arb.state.PerpRates` per perp, keyed by
``str(InstrumentId)``), each settlement counted once.

``history_start_ms`` is the start of the accrual period of the first settlement ever recorded
(``ts_funding_ms − interval``): an estimate is *ready* once the book reaches back a full
lookback before now. Only settlements inside the lookback window (and always the latest one)
are kept.
"""

from __future__ import annotations

import bisect
import math
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from strategies.cross_venue_arb import signals
from strategies.cross_venue_arb.state import PerpRates, Settlement
from venues.model import HOUR_MS, HOUR_S, FundingRate, funding_rate_per_hour

Book = dict[str, PerpRates]
"""A cycle's working copy of the rate book: entries are replaced, never mutated."""

NEVER_MS: Final = 2**63
"""An instant (a window's cut, a decision time) no cycle reaches."""


def record(book: Book, funding: FundingRate, now_ms: int, lookback_ms: int) -> bool:
    """Add ``funding`` to ``book`` (its entry replaced) unless that settlement was already
    recorded.

    A settlement is identified by its ``ts_funding_ms``: one not newer than the last recorded
    is ignored, so a rate seen in several cycles counts once.

    Parameters
    ----------
    book : Book
        The rate book (see the module docstring); its entry for the perp is replaced.
    funding : FundingRate
        The latest settled rate of one perp; ``rate`` finite, ``interval_s`` > 0.
    now_ms : int
        Decision time, epoch ms UTC.
    lookback_ms : int
        Width of the kept window, ms.

    Returns
    -------
    bool
        True when the settlement was new and recorded.

    Raises
    ------
    ValueError
        If ``interval_s`` is not positive.
    """
    entry = book.get(funding.instrument_id)  # an InstrumentId is its str (same hash, equal)
    if entry is not None and funding.ts_funding_ms <= entry.last_funding_ms:
        return False
    key = str(funding.instrument_id)
    rate_per_hour = funding_rate_per_hour(funding.rate, funding.interval_s)
    start_ms = funding.ts_funding_ms - funding.interval_s * 1000
    settlement = Settlement(funding.ts_funding_ms, rate_per_hour, funding.interval_s / HOUR_S)
    settlements: tuple[Settlement, ...]
    if entry is None:
        history_start_ms, settlements = start_ms, (settlement,)
    else:
        history_start_ms, settlements = entry.history_start_ms, (*entry.settlements, settlement)
    book[key] = PerpRates(
        last_funding_ms=funding.ts_funding_ms,
        history_start_ms=history_start_ms,
        settlements=_window(settlements, now_ms, lookback_ms),
    )
    return True


def mean_rate_per_hour(
    book: Mapping[str, PerpRates], key: str, now_ms: int, lookback_ms: int
) -> float | None:
    """Carry estimate of the perp ``key`` at ``now_ms``, fraction / h, or ``None`` if not ready.

    The interval-weighted mean (:func:`signals.weighted_mean_rate_per_hour`) of the settlements
    stamped in ``(now_ms − lookback_ms, now_ms]``, or of the latest one if none is; ``None``
    until the recorded history reaches back ``lookback_ms`` before ``now_ms``.
    """
    entry = book.get(key)
    if entry is None or entry.history_start_ms > now_ms - lookback_ms:
        return None
    return _weighted_mean(_window(entry.settlements, now_ms, lookback_ms))


def _weighted_mean(window: Sequence[Settlement]) -> float | None:
    """:func:`signals.weighted_mean_rate_per_hour` of ``window``; None when it is empty."""
    if not window:
        return None
    return signals.weighted_mean_rate_per_hour(
        [s.rate_per_hour for s in window], [s.interval_h for s in window]
    )


_COMPACT_MIN_ROWS: Final = 64
"""Rows dropped from the front of a perp's columns before they are deleted (amortized)."""


@dataclass(slots=True)  # mutable: advanced in place by MeanRateCache.record
class _Columns:
    """One book entry's settlements as columns, for windows by bisection, and the memo of
    the latest mean taken of that entry.

    Built only for an entry whose stamps strictly increase and whose rates and intervals
    pass :func:`signals.weighted_mean_rate_per_hour`'s checks (what :func:`record` writes);
    ``paid_frac`` holds each ``rate_per_hour × interval_h`` as that function multiplies them.
    The entry's settlements are the rows from ``first`` on (``entry.settlements[i]`` is row
    ``first + i``); the rows before ``first`` are settlements of the perp's earlier entries
    that left the window, kept until enough of them pile up to be deleted at once
    (:meth:`MeanRateCache.record` then appends a settlement instead of copying the window).
    Every row from ``equal_hours_from`` on has the last row's interval (a venue's interval
    rarely changes): a window inside that run sums its hours as ``n × interval_h``
    (:func:`_take_mean`).

    ``mean`` is the mean of ``entry`` for every window cut ``now − lookback`` in
    ``[cut_from_ms, cut_until_ms)`` (no settlement enters or leaves the window there); the
    range is empty (:data:`_NO_CUTS`) until a mean of this entry is taken, and emptied again
    whenever ``entry`` is replaced.
    """

    entry: PerpRates
    ts_ms: list[int]
    paid_frac: list[float]
    hours: list[float]
    first: int = 0
    equal_hours_from: int = 0
    mean: float | None = None
    cut_from_ms: int = NEVER_MS
    cut_until_ms: int = -NEVER_MS


_NO_CUTS: Final = (NEVER_MS, -NEVER_MS)
"""``(cut_from_ms, cut_until_ms)`` of a :class:`_Columns` memo that holds for no cut."""


@dataclass(slots=True)  # not frozen (cheaper to build); never mutated
class _CachedMean:
    """A mean of one book entry without columns (stamps not increasing, or a value
    :func:`signals.weighted_mean_rate_per_hour` refuses), valid while the window's cut
    ``now − lookback`` stays in ``[cut_from_ms, cut_until_ms)`` (no settlement enters or
    leaves the window there)."""

    entry: PerpRates
    cut_from_ms: int
    cut_until_ms: int
    mean: float | None


class MeanRateCache:
    """Memo of :func:`mean_rate_per_hour` over the cycles of one strategy instance.

    A perp's estimate changes only when its book entry is replaced (a new settlement) or a
    settlement leaves the lookback window; in between, a cycle reuses the previous cycle's
    value instead of re-filtering and re-summing the window (the arbitrage asks for every
    symbol on every venue every hour). Entries are immutable, so the memo holds the entry it
    was computed from and is used only for that very object.

    When the value must be recomputed, an entry whose stamps strictly increase (every entry
    :func:`record` writes) is kept as columns (:class:`_Columns`): the window is found by
    bisection and summed by ``math.fsum`` over a slice (the hours of a window of equal
    intervals as ``n × interval_h``, the same correctly rounded sum), and the next entry of
    that perp — the same settlement objects, the oldest ones dropped, one appended — extends
    the columns instead of rebuilding them (hourly venues replace their entry every hour).
    ``fsum`` is correctly rounded, so the sums, and the results, are exactly those of
    :func:`mean_rate_per_hour`; any other entry takes that function's own path. The memo of
    an entry with columns is kept in its columns (one look-up per perp, nothing built per
    mean), that of any other entry in a :class:`_CachedMean`. Not part of the strategy's state
    (nothing to journal).
    """

    __slots__ = ("_columns", "_memo")

    def __init__(self) -> None:
        self._memo: dict[str, _CachedMean] = {}
        self._columns: dict[str, _Columns | None] = {}

    def mean_rate_per_hour(
        self, book: Mapping[str, PerpRates], key: str, now_ms: int, lookback_ms: int
    ) -> float | None:
        """:func:`mean_rate_per_hour` of ``book[key]`` at ``now_ms``, memoized (same value)."""
        return self.mean_until(book, key, now_ms, lookback_ms)[0]

    def mean_until(
        self, book: Mapping[str, PerpRates], key: str, now_ms: int, lookback_ms: int
    ) -> tuple[float | None, int]:
        """``(mean, until_ms)``: :func:`mean_rate_per_hour` of ``book[key]`` at ``now_ms``
        (memoized, same value) and the first later decision time, epoch ms, at which it may
        differ for the same entry: the value holds for every time in ``[now_ms, until_ms)``
        while ``book[key]`` is the same (:data:`NEVER_MS` without an entry)."""
        entry = book.get(key)
        if entry is None:
            return None, NEVER_MS
        ready_ms = entry.history_start_ms + lookback_ms
        if now_ms < ready_ms:  # history_start_ms > now_ms − lookback_ms: not ready
            return None, ready_ms
        cut_ms = now_ms - lookback_ms
        # The same window while the cut stays below the oldest stamp inside it.
        columns = self._columns.get(key)
        if columns is None or columns.entry is not entry:
            cached = self._memo.get(key)
            if (
                cached is not None
                and cached.entry is entry
                and cached.cut_from_ms <= cut_ms < cached.cut_until_ms
            ):
                return cached.mean, cached.cut_until_ms + lookback_ms
            columns = self._columns_of(key, entry)
            if columns is None:
                cached = _scan_mean(entry, cut_ms)
                self._memo[key] = cached
                return cached.mean, cached.cut_until_ms + lookback_ms
        if not columns.cut_from_ms <= cut_ms < columns.cut_until_ms:
            _take_mean(columns, cut_ms)
        return columns.mean, columns.cut_until_ms + lookback_ms

    def record(self, book: Book, funding: FundingRate, now_ms: int, lookback_ms: int) -> bool:
        """:func:`record` (the same entry written, the same result), cheaper when the perp's
        current entry has columns here (a mean was taken of it) and the new settlement is
        newer than its every stamp: stamps then strictly increase, so the kept window is the
        suffix after the cut (found by bisection, not a scan), and the new entry's columns are
        the kept ones plus the new settlement: the perp's columns are advanced in place (the
        settlement appended, the rows that left the window skipped), so the next mean
        rebuilds nothing and no window is copied but the entry's own tuple.

        Raises
        ------
        ValueError
            If ``interval_s`` is not positive.
        """
        key = funding.instrument_id  # an InstrumentId is its str: the same slot as record's key
        entry = book.get(key)
        columns = self._columns.get(key)
        if entry is None or columns is None or columns.entry is not entry:
            return record(book, funding, now_ms, lookback_ms)  # (a new key is written as a str)
        if funding.ts_funding_ms <= entry.last_funding_ms:
            return False
        rate_per_hour = funding_rate_per_hour(funding.rate, funding.interval_s)
        # tuple.__new__(cls, fields) is what a NamedTuple's own __new__ does, without the
        # Python-level call of that __new__ (~0.3 µs each; two tuples per settlement recorded).
        settlement: Settlement = tuple.__new__(
            Settlement, (funding.ts_funding_ms, rate_per_hour, funding.interval_s / HOUR_S)
        )
        interval_h = settlement.interval_h
        valid = math.isfinite(rate_per_hour) and math.isfinite(interval_h) and interval_h > 0
        ts_ms, first = columns.ts_ms, columns.first
        if not (valid and settlement.ts_funding_ms > ts_ms[-1]):  # as _valid checks
            return record(book, funding, now_ms, lookback_ms)
        start = bisect.bisect_right(ts_ms, now_ms - lookback_ms, first)  # first kept row
        # (last_funding_ms, history_start_ms, settlements)
        written: PerpRates = tuple.__new__(
            PerpRates,
            (
                settlement.ts_funding_ms,
                entry.history_start_ms,
                (*entry.settlements[start - first :], settlement),
            ),
        )
        book[key] = written
        # The columns of the entry replaced are not needed again: advanced in place.
        paid_frac, hours = columns.paid_frac, columns.hours
        if interval_h != hours[-1]:  # the new row starts a run of equal intervals
            columns.equal_hours_from = len(hours)
        ts_ms.append(settlement.ts_funding_ms)
        paid_frac.append(rate_per_hour * interval_h)
        hours.append(interval_h)
        if start >= _COMPACT_MIN_ROWS and 2 * start >= len(ts_ms):
            del ts_ms[:start], paid_frac[:start], hours[:start]
            columns.equal_hours_from = max(0, columns.equal_hours_from - start)
            start = 0
        columns.entry, columns.first = written, start
        columns.cut_from_ms, columns.cut_until_ms = _NO_CUTS  # no mean of `written` taken yet
        return True

    def _columns_of(self, key: str, entry: PerpRates) -> _Columns | None:
        """The columns of ``entry`` (None: not strictly increasing or not valid), extended
        from the perp's previous entry when it shares its settlements."""
        previous = self._columns.get(key)
        if previous is not None and previous.entry is entry:
            return previous
        columns = None if previous is None else _extended(previous, entry)
        if columns is None:
            columns = _columns(entry)
        self._columns[key] = columns
        return columns


def _scan_mean(entry: PerpRates, cut_ms: int) -> _CachedMean:
    """The window ``{s : ts > cut}`` (as :func:`_window`), its mean and the cuts it holds
    for — every cut at or above the newest stamp outside it and below the oldest stamp
    inside it — in one pass over any entry."""
    inside: list[Settlement] = []
    cut_from_ms, cut_until_ms = -NEVER_MS, NEVER_MS
    for s in entry.settlements:
        if s.ts_funding_ms > cut_ms:
            inside.append(s)
            cut_until_ms = min(cut_until_ms, s.ts_funding_ms)
        else:
            cut_from_ms = max(cut_from_ms, s.ts_funding_ms)
    window = inside or list(entry.settlements[-1:])
    return _CachedMean(entry, cut_from_ms, cut_until_ms, _weighted_mean(window))


def _take_mean(columns: _Columns, cut_ms: int) -> None:
    """Take the mean of ``columns.entry`` at the window cut ``cut_ms`` into the columns' memo:
    :func:`_scan_mean` over columns, whose window is the suffix after the cut (stamps
    strictly increase), or the latest settlement when that is empty."""
    ts, first = columns.ts_ms, columns.first
    start = bisect.bisect_right(ts, cut_ms, first)  # first row of the entry stamped > cut
    cut_from_ms = ts[start - 1] if start > first else -NEVER_MS
    if start < len(ts):
        cut_until_ms = ts[start]
    else:
        cut_until_ms, start = NEVER_MS, len(ts) - 1
    paid = math.fsum(columns.paid_frac[start:])
    hours = columns.hours
    # n equal positive intervals: the exact sum n·h rounded once, as fsum rounds it (n is an
    # exact float, IEEE multiplication is correctly rounded); fsum when the product overflows.
    hours_sum = (len(hours) - start) * hours[-1] if start >= columns.equal_hours_from else math.inf
    if hours_sum == math.inf:
        hours_sum = math.fsum(hours[start:])
    mean = paid / hours_sum
    # The memo's range is set with its mean only: a sum that raised leaves no memo behind.
    columns.mean, columns.cut_from_ms, columns.cut_until_ms = mean, cut_from_ms, cut_until_ms


def _columns(entry: PerpRates) -> _Columns | None:
    """Columns of ``entry``, or None when it is empty, its stamps do not strictly increase or
    a rate or interval would fail :func:`signals.weighted_mean_rate_per_hour`'s checks."""
    settlements = entry.settlements
    if not settlements:
        return None
    ts = [s.ts_funding_ms for s in settlements]
    rates_ph = [s.rate_per_hour for s in settlements]
    hours = [s.interval_h for s in settlements]
    if not (all(map(operator.lt, ts, ts[1:])) and _valid(rates_ph, hours)):
        return None
    paid_frac = list(map(operator.mul, rates_ph, hours))
    return _Columns(entry, ts, paid_frac, hours, equal_hours_from=_equal_hours_from(hours))


def _extended(previous: _Columns, entry: PerpRates) -> _Columns | None:
    """Columns of ``entry`` from those of the perp's previous entry when ``entry`` holds the
    previous settlements (the very objects) with the oldest ``drop`` of them removed and one
    newer settlement appended — what :func:`record` writes; None otherwise."""
    old, new = previous.entry.settlements, entry.settlements
    drop = len(old) + 1 - len(new)
    if not (0 <= drop <= len(old)) or not all(map(operator.is_, new[:-1], old[drop:])):
        return None
    latest = new[-1]
    if old and not latest.ts_funding_ms > old[-1].ts_funding_ms:
        return None
    if not _valid((latest.rate_per_hour,), (latest.interval_h,)):
        return None
    kept = previous.first + drop  # the previous entry's first row kept
    hours = [*previous.hours[kept:], latest.interval_h]
    return _Columns(
        entry,
        [*previous.ts_ms[kept:], latest.ts_funding_ms],
        [*previous.paid_frac[kept:], latest.rate_per_hour * latest.interval_h],
        hours,
        equal_hours_from=_equal_hours_from(hours),
    )


def _equal_hours_from(hours: Sequence[float]) -> int:
    """The first row of the run of rows at the end of ``hours`` (not empty) equal to its last."""
    last, row = hours[-1], len(hours) - 1
    while row > 0 and hours[row - 1] == last:
        row -= 1
    return row


def _valid(rates_ph: Sequence[float], hours: Sequence[float]) -> bool:
    """Whether :func:`signals.weighted_mean_rate_per_hour` accepts these values."""
    return all(map(math.isfinite, rates_ph)) and all(math.isfinite(h) and h > 0 for h in hours)


def lookback_ms(lookback_h: float) -> int:
    """Lookback hours as whole milliseconds."""
    return round(lookback_h * HOUR_MS)


def _window(
    settlements: Sequence[Settlement], now_ms: int, lookback_ms: int
) -> tuple[Settlement, ...]:
    """Settlements stamped after ``now_ms − lookback_ms``, or the latest one if none is."""
    inside = tuple(s for s in settlements if s.ts_funding_ms > now_ms - lookback_ms)
    return inside or tuple(settlements[-1:])
