"""The funding-rate book of the cross-venue arbitrage: settled rates per perp, kept in the
strategy's JSON state, each settlement counted once.

Book layout (JSON-serializable), keyed by ``str(InstrumentId)``::

    {"binance:perp:BTCUSDT": {"last_funding_ms": int, "history_start_ms": int,
                              "settlements": [[ts_funding_ms, rate_per_hour, interval_h], ...]}}

``history_start_ms`` is the start of the accrual period of the first settlement ever recorded
(``ts_funding_ms − interval``): an estimate is *ready* once the book reaches back a full
lookback before now. Only settlements inside the lookback window (and always the latest one)
are kept.
"""

from __future__ import annotations

from typing import Any

from strategies.cross_venue_arb import signals
from venues.model import HOUR_MS, HOUR_S, FundingRate, funding_rate_per_hour

Book = dict[str, Any]


def record(book: Book, funding: FundingRate, now_ms: int, lookback_ms: int) -> bool:
    """Add ``funding`` to ``book`` (mutated) unless that settlement was already recorded.

    A settlement is identified by its ``ts_funding_ms``: one not newer than the last recorded
    is ignored, so a rate seen in several cycles counts once.

    Parameters
    ----------
    book : Book
        The rate book (see the module docstring); modified in place.
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
    if entry is not None and funding.ts_funding_ms <= int(entry["last_funding_ms"]):
        return False
    rate_per_hour = funding_rate_per_hour(funding.rate, funding.interval_s)
    start_ms = funding.ts_funding_ms - funding.interval_s * 1000
    if entry is None:
        entry = {"last_funding_ms": funding.ts_funding_ms, "history_start_ms": start_ms}
        entry["settlements"] = []
        book[key] = entry
    settlement = [funding.ts_funding_ms, rate_per_hour, funding.interval_s / HOUR_S]
    entry["settlements"] = _window([*entry["settlements"], settlement], now_ms, lookback_ms)
    entry["last_funding_ms"] = funding.ts_funding_ms
    return True


def mean_rate_per_hour(book: Book, key: str, now_ms: int, lookback_ms: int) -> float | None:
    """Carry estimate of the perp ``key`` at ``now_ms``, fraction / h, or ``None`` if not ready.

    The interval-weighted mean (:func:`signals.weighted_mean_rate_per_hour`) of the settlements
    stamped in ``(now_ms − lookback_ms, now_ms]``, or of the latest one if none is; ``None``
    until the recorded history reaches back ``lookback_ms`` before ``now_ms``.
    """
    entry = book.get(key)
    if entry is None or int(entry["history_start_ms"]) > now_ms - lookback_ms:
        return None
    window = _window(entry["settlements"], now_ms, lookback_ms)
    if not window:
        return None
    return signals.weighted_mean_rate_per_hour([s[1] for s in window], [s[2] for s in window])


def lookback_ms(lookback_h: float) -> int:
    """Lookback hours as whole milliseconds."""
    return round(lookback_h * HOUR_MS)


def _window(settlements: list[list[float]], now_ms: int, lookback_ms: int) -> list[list[float]]:
    """Settlements stamped after ``now_ms − lookback_ms``, or the latest one if none is."""
    inside = [s for s in settlements if s[0] > now_ms - lookback_ms]
    return inside or settlements[-1:]
