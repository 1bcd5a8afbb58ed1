"""Black-76: European option price and greeks on a forward, in USD, with Deribit's units.

Model (Black 1976; Hull, *Options, Futures, and Other Derivatives*, "Black's model" and "The
Greek letters"), with ``F`` the forward (Deribit's ``underlying_price``: the future named by
``underlying_index``, or the index when that field reads ``index_price``), ``K`` the strike,
``T`` years to expiry, ``σ`` the implied volatility, ``r`` the continuously compounded rate and
``D = e^{−rT}``::

    d1 = (ln(F/K) + σ²T/2) / (σ√T),   d2 = d1 − σ√T
    call = D·(F·N(d1) − K·N(d2)),      put = D·(K·N(−d2) − F·N(−d1))
    delta = D·N(d1) (call), D·(N(d1) − 1) (put)      ∂price/∂F
    gamma = D·φ(d1) / (F·σ·√T)                        ∂²price/∂F², per USD
    vega  = D·F·φ(d1)·√T / 100                        per 1 vol point (σ + 0.01)
    theta = (r·price − D·F·φ(d1)·σ / (2√T)) / 365     ∂price/∂(calendar time), per day

Deribit's conventions, checked by the unit tests against its own greeks in a recorded
``public/ticker`` response (fixture ``ticker_btc_option.json``, BTC-26JUN26-100000-C): delta,
gamma, vega and theta agree within the rounding of its printed greeks and ``mark_iv``:

* the underlying is the forward ``underlying_price``, not the spot ``index_price`` (Deribit
  knowledge base, "Inverse Options": "the implied volatility displayed uses the forward, rather
  than the index"); the rate in the recorded ticker is ``interest_rate`` = 0, so ``D`` = 1;
* time to expiry is milliseconds to ``expiration_timestamp`` (08:00 UTC) over a **365-day**
  year (:func:`years_to_expiry`); a 365.25-day year misses the recorded greeks;
* ``greeks.delta`` is this plain Black delta (not premium-adjusted; for that see
  :mod:`strategies.options.inverse`); gamma, vega and theta are unadjusted Black–Scholes in USD
  per contract of 1 coin; vega per vol point, theta per day;
* theta is "the minimum of (1 day Theta, lifetime theta of the option)": inside the last day
  it covers only the remaining life (:func:`theta_usd_per_day`, ``remaining_life_cap``; that
  function says how this is read).

Sources: F. Black (1976), "The pricing of commodity contracts", *Journal of Financial
Economics* 3, 167–179; J. C. Hull, *Options, Futures, and Other Derivatives*; Deribit API docs
https://docs.deribit.com/ (``public/ticker``: ``greeks``, ``mark_iv``, ``underlying_price``,
``interest_rate``) and knowledge base
https://support.deribit.com/hc/en-us/articles/25944688327069-Inverse-Options.

Every function broadcasts its array arguments (numpy rules) and returns float64 arrays of the
broadcast shape (0-d for scalar input: ``float(x)`` reads it). Invalid input raises
``ValueError`` naming the argument.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

DAYS_PER_YEAR: Final[float] = 365.0
"""Deribit's day count for time to expiry and for theta per day."""
MS_PER_DAY: Final[int] = 86_400_000
VOL_POINT_FRAC: Final[float] = 0.01
"""One vol point (1 % of implied volatility) as a fraction: vega is per this move."""

_INV_SQRT_2PI: Final[float] = 1.0 / np.sqrt(2.0 * np.pi)


def years_to_expiry(now_ms: npt.ArrayLike, expiration_timestamp_ms: npt.ArrayLike) -> FloatArray:
    """Time to expiry in years on Deribit's 365-day year.

    Parameters
    ----------
    now_ms : array_like
        Valuation time, ms since the Unix epoch (a ticker's ``timestamp``).
    expiration_timestamp_ms : array_like
        Expiry, ms since the Unix epoch (``public/get_instruments`` ``expiration_timestamp``;
        options expire at 08:00 UTC).

    Returns
    -------
    FloatArray
        ``(expiry − now) / (365 × 86 400 000)``, years; negative once expired (callers decide).
    """
    now = np.asarray(now_ms, dtype=np.float64)
    expiry = np.asarray(expiration_timestamp_ms, dtype=np.float64)
    return np.asarray((expiry - now) / (DAYS_PER_YEAR * MS_PER_DAY), dtype=np.float64)


def _positive(name: str, value: npt.ArrayLike) -> FloatArray:
    array = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(array) & (array > 0)):
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    return array


def _finite(name: str, value: npt.ArrayLike) -> FloatArray:
    array = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return array


def _call_flags(is_call: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    flags = np.asarray(is_call)
    if flags.dtype != np.bool_:
        raise ValueError(f"is_call must be bool (True = call, False = put), got {is_call!r}")
    return flags


class _Black76:
    """Validated, broadcast inputs and the shared intermediate values of one evaluation."""

    def __init__(
        self,
        forward_usd: npt.ArrayLike,
        strike_usd: npt.ArrayLike,
        t_years: npt.ArrayLike,
        iv_frac: npt.ArrayLike,
        rate_frac: npt.ArrayLike,
    ) -> None:
        forward, strike, t, sigma, rate = np.broadcast_arrays(
            _positive("forward_usd", forward_usd),
            _positive("strike_usd", strike_usd),
            _positive("t_years", t_years),
            _positive("iv_frac", iv_frac),
            _finite("rate_frac", rate_frac),
        )
        self.forward, self.strike, self.t, self.sigma, self.rate = forward, strike, t, sigma, rate
        self.sqrt_t = np.sqrt(t)
        self.d1 = (np.log(forward / strike) + 0.5 * sigma * sigma * t) / (sigma * self.sqrt_t)
        self.d2 = self.d1 - sigma * self.sqrt_t
        self.discount = np.exp(-rate * t)
        self.pdf_d1 = _INV_SQRT_2PI * np.exp(-0.5 * self.d1 * self.d1)

    def price(self, is_call: npt.NDArray[np.bool_]) -> FloatArray:
        from scipy import special  # at first use: a run without option pricing never loads it

        call = self.forward * special.ndtr(self.d1) - self.strike * special.ndtr(self.d2)
        put = self.strike * special.ndtr(-self.d2) - self.forward * special.ndtr(-self.d1)
        return np.asarray(self.discount * np.where(is_call, call, put), dtype=np.float64)


def price_usd(
    forward_usd: npt.ArrayLike,
    strike_usd: npt.ArrayLike,
    t_years: npt.ArrayLike,
    iv_frac: npt.ArrayLike,
    is_call: npt.ArrayLike,
    rate_frac: npt.ArrayLike = 0.0,
) -> FloatArray:
    """Black-76 price of a European option on 1 unit of the underlying, USD.

    Parameters
    ----------
    forward_usd : array_like
        Forward price of the underlying, USD (Deribit ``underlying_price``), > 0.
    strike_usd : array_like
        Strike, USD, > 0.
    t_years : array_like
        Time to expiry, years on a 365-day year (:func:`years_to_expiry`), > 0.
    iv_frac : array_like
        Implied volatility, annualised fraction (Deribit ``mark_iv`` / 100), > 0.
    is_call : array_like of bool
        True for a call, False for a put.
    rate_frac : array_like, optional
        Continuously compounded annual rate, fraction (Deribit ``interest_rate``); default 0.

    Returns
    -------
    FloatArray
        Price, USD per unit of underlying; shape: the inputs broadcast.

    Raises
    ------
    ValueError
        A non-finite or non-positive forward, strike, time or volatility, a non-finite rate,
        or a non-bool ``is_call``.
    """
    return _Black76(forward_usd, strike_usd, t_years, iv_frac, rate_frac).price(
        _call_flags(is_call)
    )


def delta(
    forward_usd: npt.ArrayLike,
    strike_usd: npt.ArrayLike,
    t_years: npt.ArrayLike,
    iv_frac: npt.ArrayLike,
    is_call: npt.ArrayLike,
    rate_frac: npt.ArrayLike = 0.0,
) -> FloatArray:
    """Black-76 delta ∂price/∂forward: Deribit's ``greeks.delta`` (not premium-adjusted).

    Parameters are those of :func:`price_usd`.

    Returns
    -------
    FloatArray
        Delta, USD per USD (coin of underlying per contract of 1 coin): ``D·N(d1)`` for a call,
        ``D·(N(d1) − 1)`` for a put.

    Raises
    ------
    ValueError
        As :func:`price_usd`.
    """
    from scipy import special  # at first use: a run without option pricing never loads it

    flags = _call_flags(is_call)
    m = _Black76(forward_usd, strike_usd, t_years, iv_frac, rate_frac)
    n_d1 = special.ndtr(m.d1)
    return np.asarray(m.discount * np.where(flags, n_d1, n_d1 - 1.0), dtype=np.float64)


def gamma_per_usd(
    forward_usd: npt.ArrayLike,
    strike_usd: npt.ArrayLike,
    t_years: npt.ArrayLike,
    iv_frac: npt.ArrayLike,
    rate_frac: npt.ArrayLike = 0.0,
) -> FloatArray:
    """Black-76 gamma ∂²price/∂forward², the same for a call and a put (Deribit ``gamma``).

    Parameters are those of :func:`price_usd` (no ``is_call``: put and call gammas agree).

    Returns
    -------
    FloatArray
        Gamma, change of delta per 1 USD move of the forward: ``D·φ(d1) / (F·σ·√T)``.

    Raises
    ------
    ValueError
        As :func:`price_usd`.
    """
    m = _Black76(forward_usd, strike_usd, t_years, iv_frac, rate_frac)
    return np.asarray(m.discount * m.pdf_d1 / (m.forward * m.sigma * m.sqrt_t), dtype=np.float64)


def vega_usd_per_vol_point(
    forward_usd: npt.ArrayLike,
    strike_usd: npt.ArrayLike,
    t_years: npt.ArrayLike,
    iv_frac: npt.ArrayLike,
    rate_frac: npt.ArrayLike = 0.0,
) -> FloatArray:
    """Black-76 vega per 1 vol point, USD, the same for a call and a put (Deribit ``vega``).

    Parameters are those of :func:`price_usd` (no ``is_call``).

    Returns
    -------
    FloatArray
        USD change of the price when the implied volatility rises by 0.01 (45 % → 46 %),
        to first order: ``D·F·φ(d1)·√T × 0.01``.

    Raises
    ------
    ValueError
        As :func:`price_usd`.
    """
    m = _Black76(forward_usd, strike_usd, t_years, iv_frac, rate_frac)
    vega_per_unit = m.discount * m.forward * m.pdf_d1 * m.sqrt_t
    return np.asarray(vega_per_unit * VOL_POINT_FRAC, dtype=np.float64)


def theta_usd_per_day(
    forward_usd: npt.ArrayLike,
    strike_usd: npt.ArrayLike,
    t_years: npt.ArrayLike,
    iv_frac: npt.ArrayLike,
    is_call: npt.ArrayLike,
    rate_frac: npt.ArrayLike = 0.0,
    *,
    remaining_life_cap: bool = True,
) -> FloatArray:
    """Black-76 theta per calendar day, USD, forward held fixed (Deribit ``theta``).

    Parameters
    ----------
    forward_usd, strike_usd, t_years, iv_frac, is_call, rate_frac
        As :func:`price_usd`.
    remaining_life_cap : bool, optional
        Deribit's rule (default): theta is "the minimum of (1 day Theta, lifetime theta of the
        option)"; its example, an option 1 hour from expiry shows "the 1 hour Theta" where
        Black–Scholes gives a 1-day one (docs.deribit.com, ``public/ticker``, ``greeks.theta``).
        Read here as the analytic rate over ``min(1 day, remaining life)``: the per-day value
        × ``min(1, 365·T)``, continuous at one day. That reading is not checked against a
        recorded ticker (none inside its last day). False gives the per-day rate at every
        horizon (use it for P&L attribution).

    Returns
    -------
    FloatArray
        USD per day (365-day year): ``(r·price − D·F·φ(d1)·σ / (2√T)) / 365``, negative for
        a long option with time value; inside the last day, with the cap, × ``365·T``.

    Raises
    ------
    ValueError
        As :func:`price_usd`.
    """
    flags = _call_flags(is_call)
    m = _Black76(forward_usd, strike_usd, t_years, iv_frac, rate_frac)
    decay = m.discount * m.forward * m.pdf_d1 * m.sigma / (2.0 * m.sqrt_t)
    per_day = (m.rate * m.price(flags) - decay) / DAYS_PER_YEAR
    if remaining_life_cap:
        per_day = per_day * np.minimum(1.0, m.t * DAYS_PER_YEAR)
    return np.asarray(per_day, dtype=np.float64)
