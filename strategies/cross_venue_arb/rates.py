"""The funding-rate book of the cross-venue arbitrage: settled rates per perp, kept in the
strategy's state (:class:`~strategies.cross_venue_arb.state.PerpRates` per perp, keyed by
``str(InstrumentId)``), each settlement counted once.

``history_start_ms`` is the start of the accrual period of the first settlement ever recorded
(``ts_funding_ms − interval``): an estimate is *ready* once the book reaches back a full
lookback before now. Only settlements inside the lookback window (and always the latest one)
are kept.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from strategies.cross_venue_arb import signals
from strategies.cross_venue_arb.state import PerpRates, Settlement
from venues.model import HOUR_MS, HOUR_S, FundingRate, funding_rate_per_hour

Book = dict[str, PerpRates]
"""A cycle's working copy of the rate book: entries are replaced, never mutated."""


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
    key = str(funding.instrument_id)
    entry = book.get(key)
    if entry is not None and funding.ts_funding_ms <= entry.last_funding_ms:
        return False
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


@dataclass(frozen=True, slots=True)
class _CachedMean:
    """A mean of one book entry, valid while the window's cut ``now − lookback`` stays in
    ``[cut_from_ms, cut_until_ms)`` (no settlement enters or leaves the window there)."""

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
    was computed from and is used only for that very object: results are exactly those of
    :func:`mean_rate_per_hour`. Not part of the strategy's state (nothing to journal).
    """

    __slots__ = ("_memo",)

    def __init__(self) -> None:
        self._memo: dict[str, _CachedMean] = {}

    def mean_rate_per_hour(
        self, book: Mapping[str, PerpRates], key: str, now_ms: int, lookback_ms: int
    ) -> float | None:
        """:func:`mean_rate_per_hour` of ``book[key]`` at ``now_ms``, memoized (same value)."""
        entry = book.get(key)
        if entry is None or entry.history_start_ms > now_ms - lookback_ms:
            return None
        cut_ms = now_ms - lookback_ms
        cached = self._memo.get(key)
        if (
            cached is not None
            and cached.entry is entry
            and cached.cut_from_ms <= cut_ms < cached.cut_until_ms
        ):
            return cached.mean
        # One pass: the window {s : ts > cut} (as _window) and the cuts it holds for — every
        # cut at or above the newest stamp outside it and below the oldest stamp inside it.
        inside: list[Settlement] = []
        cut_from_ms, cut_until_ms = -_FOREVER_MS, _FOREVER_MS
        for s in entry.settlements:
            if s.ts_funding_ms > cut_ms:
                inside.append(s)
                cut_until_ms = min(cut_until_ms, s.ts_funding_ms)
            else:
                cut_from_ms = max(cut_from_ms, s.ts_funding_ms)
        window = inside or list(entry.settlements[-1:])
        mean = _weighted_mean(window)
        self._memo[key] = _CachedMean(entry, cut_from_ms, cut_until_ms, mean)
        return mean


_FOREVER_MS = 2**63
"""A cut no window reaches."""


def lookback_ms(lookback_h: float) -> int:
    """Lookback hours as whole milliseconds."""
    return round(lookback_h * HOUR_MS)


def _window(
    settlements: Sequence[Settlement], now_ms: int, lookback_ms: int
) -> tuple[Settlement, ...]:
    """Settlements stamped after ``now_ms − lookback_ms``, or the latest one if none is."""
    inside = tuple(s for s in settlements if s.ts_funding_ms > now_ms - lookback_ms)
    return inside or tuple(settlements[-1:])
