"""Implied-volatility inputs of a model-priced option chain: flat, term-structured, or realized
volatility plus a spread.

A replay has no recorded option prices, so its chain (:mod:`strategies.options.chain`) prices
every option by Black-76 at an implied volatility taken from one of these inputs. Each is a
function of time to expiry only (no smile: every strike of an expiry gets the same volatility).

* :class:`FlatVol` — one volatility for every expiry;
* :class:`TermStructureVol` — volatilities at given days to expiry, interpolated linearly in
  total variance ``σ²·T`` between them (the usual no-calendar-arbitrage interpolation: total
  variance must not fall with ``T``; Gatheral, *The Volatility Surface*, ch. 1), flat beyond the
  first and last points;
* :func:`realized_vol_frac` — annualised close-to-close volatility of the last hourly log
  returns, ``std(r) × √8760``; :class:`FlatVol` of it plus a spread is the "realized plus a
  spread" input (implied volatility has historically traded above realized: the variance risk
  premium; Carr and Wu (2009), "Variance Risk Premiums", *Review of Financial Studies* 22).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from strategies.options.black_scholes import DAYS_PER_YEAR

FloatArray = npt.NDArray[np.float64]

HOURS_PER_YEAR: Final[float] = DAYS_PER_YEAR * 24.0
"""Hourly returns per year (365-day year, as the pricing's day count)."""


@dataclass(frozen=True, slots=True)
class FlatVol:
    """One implied volatility for every expiry.

    Attributes
    ----------
    iv_frac : float
        Annualised implied volatility, fraction (0.55 = 55 %), > 0.
    """

    iv_frac: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.iv_frac) and self.iv_frac > 0):
            raise ValueError(f"iv_frac must be finite and > 0, got {self.iv_frac!r}")

    def iv_at(self, t_years: npt.ArrayLike) -> FloatArray:
        """Volatility per time to expiry (years), fraction; the shape of ``t_years``."""
        return np.full(np.shape(t_years), self.iv_frac, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class TermStructureVol:
    """Implied volatilities at given days to expiry, interpolated in total variance.

    Attributes
    ----------
    days : tuple[float, ...]
        Days to expiry of the points, strictly increasing, > 0.
    iv_frac : tuple[float, ...]
        Volatility at each point, fraction, > 0; total variance ``iv² × days`` must not fall
        from one point to the next (calendar arbitrage).
    """

    days: tuple[float, ...]
    iv_frac: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.days) == 0 or len(self.days) != len(self.iv_frac):
            raise ValueError("term structure needs one or more (days, iv_frac) points")
        if not all(math.isfinite(d) and d > 0 for d in self.days) or any(
            b <= a for a, b in itertools.pairwise(self.days)
        ):
            raise ValueError(f"term structure days must be > 0 and increasing: {self.days}")
        if not all(math.isfinite(v) and v > 0 for v in self.iv_frac):
            raise ValueError(f"term structure iv_frac must be finite and > 0: {self.iv_frac}")
        variance = [v * v * d for v, d in zip(self.iv_frac, self.days, strict=True)]
        if any(b < a for a, b in itertools.pairwise(variance)):
            raise ValueError(
                "term structure total variance iv_frac² × days falls between points "
                f"(calendar arbitrage): days {self.days}, iv_frac {self.iv_frac}"
            )

    @classmethod
    def of_points(cls, points: Sequence[tuple[float, float]]) -> TermStructureVol:
        """From ``(days, iv_frac)`` pairs (sorted here). Raises ``ValueError`` as the class."""
        ordered = sorted(points)
        return cls(tuple(d for d, _ in ordered), tuple(v for _, v in ordered))

    def iv_at(self, t_years: npt.ArrayLike) -> FloatArray:
        """Volatility per time to expiry (years), fraction: total variance interpolated
        linearly between the points, the first (last) point's volatility before (after)."""
        days = np.asarray(t_years, dtype=np.float64) * DAYS_PER_YEAR
        knots = np.asarray(self.days)
        vols = np.asarray(self.iv_frac)
        variance = np.interp(days, knots, vols * vols * knots)
        inside = np.sqrt(variance / np.maximum(days, 1e-12))
        result = np.where(days <= knots[0], vols[0], np.where(days >= knots[-1], vols[-1], inside))
        return np.asarray(result, dtype=np.float64)


def realized_vol_frac(closes: npt.ArrayLike, window_bars: int) -> float:
    """Annualised realized volatility of the last ``window_bars`` hourly log returns.

    Parameters
    ----------
    closes : array_like
        Hourly closes, oldest first, > 0; the last ``window_bars + 1`` are used.
    window_bars : int
        Returns in the window, ≥ 2.

    Returns
    -------
    float
        ``std(log returns, ddof=1) × √8760``, fraction.

    Raises
    ------
    ValueError
        Fewer than ``window_bars + 1`` closes, or a close that is not finite and > 0.
    """
    if window_bars < 2:
        raise ValueError(f"window_bars must be >= 2, got {window_bars}")
    series = np.asarray(closes, dtype=np.float64)
    if series.shape[0] < window_bars + 1:
        raise ValueError(f"realized volatility needs {window_bars + 1} closes, got {len(series)}")
    tail = series[-(window_bars + 1) :]
    if not np.all(np.isfinite(tail) & (tail > 0)):
        raise ValueError("closes must be finite and > 0")
    returns = np.diff(np.log(tail))
    return float(np.std(returns, ddof=1) * math.sqrt(HOURS_PER_YEAR))
