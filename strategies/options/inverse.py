"""Inverse (coin-settled) options: price in coin and the premium-adjusted delta.

Deribit's BTC and ETH options are "inverse": quoted, margined and settled in the coin (a
``mark_price`` of 0.2425 is 0.2425 BTC per contract of 1 BTC), while the model
(:mod:`strategies.options.black_scholes`) values them in USD on the forward ``F`` (Deribit
``underlying_price``). The coin price is the USD value over the forward:
``V_coin = V_usd / F`` (the recorded ticker ``ticker_btc_option.json`` agrees to its 4-decimal
``mark_price``; Deribit's USD display instead multiplies by the latest index price).

Premium-adjusted delta ("Net Transaction Delta", Deribit's account ``delta_total``)::

    delta_coin = delta_BS − V_coin

Why. A coin-margined account measures everything in coin. Hold one option worth
``V_coin = V_usd / F`` coins and differentiate its coin value by the forward::

    dV_coin/dF = (dV_usd/dF)/F − V_usd/F² = (delta_BS − V_coin) / F

An inverse perpetual long ``Q`` coins (``Q·F`` USD notional) gains ``Q·F·(1/F₀ − 1/F)`` ≈
``Q·dF/F`` coins, i.e. ``Q/F`` coins per USD of move. So the option moves the coin balance like
``delta_BS − V_coin`` coins of the perpetual, and a perpetual short that many coins flattens
the coin P&L. Read in USD: buying the call for ``V_coin`` coins adds ``delta_BS`` of exposure
and spends ``V_coin`` coins whose USD value also moved one-for-one with the price — the
transaction's net delta is the difference. Deribit's example: a 0.50-delta call bought for
0.10 BTC raises ``delta_total`` by 0.40. A zero-strike call (worth exactly 1 coin,
``delta_BS`` = 1) has zero coin delta: its coin value never changes.

Which to hedge. For flat USD P&L of a coin-margined book, Deribit says to treat the exposure as
``equity + delta_total`` (coin equity plus premium-adjusted deltas plus futures); for flat coin
P&L, ``delta_total`` alone; a book valued in USD (premium paid in USD, or linear USDC options)
uses ``delta_BS`` — no adjustment.

Sources: Deribit knowledge base, "Inverse Options",
https://support.deribit.com/hc/en-us/articles/25944688327069-Inverse-Options; Deribit API docs,
``private/get_account_summary`` (``delta_total``: "Net Transaction Delta = Black Scholes Delta −
Mark Price of Options"),
https://docs.deribit.com/api-reference/account-management/private-get_account_summary, and
``public/ticker`` (``greeks.delta`` is the Black–Scholes delta), https://docs.deribit.com/.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def price_coin(price_usd: npt.ArrayLike, forward_usd: npt.ArrayLike) -> FloatArray:
    """An inverse option's price in coin: its USD value over the forward.

    Parameters
    ----------
    price_usd : array_like
        Option value, USD per contract of 1 coin (e.g. ``black_scholes.price_usd``).
    forward_usd : array_like
        Forward the USD value was computed on (Deribit ``underlying_price``), USD, > 0.

    Returns
    -------
    FloatArray
        Coin per contract, comparable to Deribit's ``mark_price``; inputs broadcast.

    Raises
    ------
    ValueError
        A non-finite price, or a forward that is not finite and > 0.
    """
    price = np.asarray(price_usd, dtype=np.float64)
    forward = np.asarray(forward_usd, dtype=np.float64)
    if not np.all(np.isfinite(price)):
        raise ValueError(f"price_usd must be finite, got {price_usd!r}")
    if not np.all(np.isfinite(forward) & (forward > 0)):
        raise ValueError(f"forward_usd must be finite and > 0, got {forward_usd!r}")
    return np.asarray(price / forward, dtype=np.float64)


def premium_adjusted_delta(delta: npt.ArrayLike, price_coin: npt.ArrayLike) -> FloatArray:
    """Delta of an inverse option in coin terms: ``delta_BS − price in coin``.

    The algebra is in the module docstring (Deribit's "Net Transaction Delta").

    Parameters
    ----------
    delta : array_like
        Black–Scholes (Black-76) delta, per contract of 1 coin (Deribit ``greeks.delta``).
    price_coin : array_like
        The option's price in coin per contract (Deribit ``mark_price``, or :func:`price_coin`).

    Returns
    -------
    FloatArray
        Coin delta per contract: the inverse-perpetual position, in coins, with the same coin
        P&L for a small move of the forward; inputs broadcast.

    Raises
    ------
    ValueError
        A non-finite delta or price.
    """
    d = np.asarray(delta, dtype=np.float64)
    p = np.asarray(price_coin, dtype=np.float64)
    if not (np.all(np.isfinite(d)) and np.all(np.isfinite(p))):
        raise ValueError(f"delta and price_coin must be finite, got {delta!r}, {price_coin!r}")
    return np.asarray(d - p, dtype=np.float64)
