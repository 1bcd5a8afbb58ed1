"""Implied volatility: the Black-76 volatility that reproduces a price (Brent's method).

The Black-76 price (:func:`strategies.options.black_scholes.price_usd`) rises strictly with
volatility between its no-arbitrage bounds — ``D·max(F − K, 0)`` and ``D·F`` for a call,
``D·max(K − F, 0)`` and ``D·K`` for a put, ``D = e^{−rT}`` (Hull, *Options, Futures, and Other
Derivatives*, "Black's model") — so one root lies in any bracket whose ends straddle the price;
``scipy.optimize.brentq`` finds it without derivatives (vega vanishes far from the money, where
Newton's method diverges). Deribit quotes ``mark_iv`` in percent on the forward
``underlying_price`` (https://docs.deribit.com/, ``public/ticker``): divide by 100 to compare.
"""

from __future__ import annotations

import math
from typing import Final

from strategies.options.black_scholes import price_usd

IV_FLOOR_FRAC: Final[float] = 1e-4
"""Lower end of the search bracket (0.01 vol point)."""
IV_CEILING_FRAC: Final[float] = 20.0
"""Upper end of the search bracket (2,000 vol points); no listed crypto option comes near."""


def implied_vol_frac(
    option_price_usd: float,
    forward_usd: float,
    strike_usd: float,
    t_years: float,
    is_call: bool,
    rate_frac: float = 0.0,
    *,
    tolerance_frac: float = 1e-10,
) -> float:
    """The implied volatility of one option price (Black-76, Brent's method).

    Parameters
    ----------
    option_price_usd : float
        Option price, USD per unit of underlying (an inverse option's coin price × forward).
    forward_usd, strike_usd, t_years, is_call, rate_frac
        As :func:`strategies.options.black_scholes.price_usd` (scalars).
    tolerance_frac : float, optional
        Absolute tolerance on the volatility (fraction); default 1e-10.

    Returns
    -------
    float
        Annualised volatility, fraction (× 100 for Deribit's ``mark_iv``).

    Raises
    ------
    ValueError
        A non-finite price; a price outside the no-arbitrage bounds (no volatility gives it), or
        one that needs a volatility outside [``IV_FLOOR_FRAC``, ``IV_CEILING_FRAC``]; invalid
        model inputs (as ``price_usd``).
    """
    from scipy import optimize  # at first use: a run without implied volatility never loads it

    if not math.isfinite(option_price_usd):
        raise ValueError(f"option_price_usd must be finite, got {option_price_usd!r}")

    def excess_usd(iv_frac: float) -> float:
        model = price_usd(forward_usd, strike_usd, t_years, iv_frac, is_call, rate_frac)
        return float(model) - option_price_usd

    low_usd, high_usd = excess_usd(IV_FLOOR_FRAC), excess_usd(IV_CEILING_FRAC)
    if low_usd == 0.0:
        return IV_FLOOR_FRAC
    if not low_usd < 0.0 < high_usd:
        floor_usd = low_usd + option_price_usd
        ceiling_usd = high_usd + option_price_usd
        raise ValueError(
            f"option_price_usd {option_price_usd!r} is outside the prices volatilities "
            f"{IV_FLOOR_FRAC}..{IV_CEILING_FRAC} give ({floor_usd!r}..{ceiling_usd!r} USD) "
            f"for forward_usd={forward_usd!r}, strike_usd={strike_usd!r}, t_years={t_years!r}"
        )
    root: float = optimize.brentq(excess_usd, IV_FLOOR_FRAC, IV_CEILING_FRAC, xtol=tolerance_frac)
    return float(root)
