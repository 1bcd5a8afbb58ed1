"""Kline bar intervals by name: the ``<SYMBOL>_<interval>.csv.gz`` part of a kline file's name,
``zerobeta data download --interval`` and ``[market_data] bar_interval``.

The names are Binance's kline interval codes (USD-M "Kline/Candlestick Data",
https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Kline-Candlestick-Data)
of fixed length: ``1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d`` (``3d``, ``1w`` and the calendar
month ``1M`` are left out: a bar of them does not start at a fixed multiple of its length since
the epoch). A replay steps at an interval that divides the hour (:data:`REPLAY_INTERVALS`): the
strategies decide on the hour and funding settles on the hour, so every hour must be a step.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

BAR_INTERVALS_S: Final[Mapping[str, int]] = MappingProxyType(
    {
        "1m": 60,
        "3m": 180,
        "5m": 300,
        "15m": 900,
        "30m": 1_800,
        "1h": 3_600,
        "2h": 7_200,
        "4h": 14_400,
        "6h": 21_600,
        "8h": 28_800,
        "12h": 43_200,
        "1d": 86_400,
    }
)
"""Interval name → bar length, seconds, shortest first."""

REPLAY_INTERVALS: Final = tuple(name for name, s in BAR_INTERVALS_S.items() if 3_600 % s == 0)
"""The intervals a replay can step at (they divide the hour): ``1m 3m 5m 15m 30m 1h``."""

DEFAULT_INTERVAL: Final = "1h"
"""The interval of the bundled files and of a replay or download that names none."""


def interval_s(name: str) -> int:
    """Bar length of interval ``name`` (``"1m"``, ``"1h"`` ...), seconds.

    Raises
    ------
    ValueError
        For a name not in :data:`BAR_INTERVALS_S` (the message lists them).
    """
    try:
        return BAR_INTERVALS_S[name]
    except KeyError:
        known = ", ".join(BAR_INTERVALS_S)
        raise ValueError(f"unknown bar interval {name!r}; one of {known}") from None


def interval_ms(name: str) -> int:
    """Bar length of interval ``name``, ms (raises ``ValueError`` as :func:`interval_s`)."""
    return interval_s(name) * 1000


def interval_name(seconds: int) -> str:
    """The name of a bar length in seconds (``60`` → ``"1m"``).

    Raises
    ------
    ValueError
        For a length that has no name here.
    """
    for name, length_s in BAR_INTERVALS_S.items():
        if length_s == seconds:
            return name
    raise ValueError(f"no bar interval of {seconds} s; have {', '.join(BAR_INTERVALS_S)}")


def kline_stem(symbol: str, interval: str = DEFAULT_INTERVAL) -> str:
    """File name of ``symbol``'s klines of ``interval`` without the ``.csv[.gz]`` suffix:
    ``BTCUSDT_1m``."""
    return f"{symbol}_{interval}"
