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
    window = _window(entry.settlements, now_ms, lookback_ms)
    if not window:
        return None
    return signals.weighted_mean_rate_per_hour(
        [s.rate_per_hour for s in window], [s.interval_h for s in window]
    )


def lookback_ms(lookback_h: float) -> int:
    """Lookback hours as whole milliseconds."""
    return round(lookback_h * HOUR_MS)


def _window(
    settlements: Sequence[Settlement], now_ms: int, lookback_ms: int
) -> tuple[Settlement, ...]:
    """Settlements stamped after ``now_ms − lookback_ms``, or the latest one if none is."""
    inside = tuple(s for s in settlements if s.ts_funding_ms > now_ms - lookback_ms)
    return inside or tuple(settlements[-1:])
