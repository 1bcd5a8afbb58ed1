"""A book's greeks: Σ qty × contract size × per-contract greek, plus the perpetual hedge.

Greeks are linear in position size, so a book's greek is the position-weighted sum (Hull,
*Options, Futures, and Other Derivatives*, "The Greek letters": delta, gamma and vega of a
portfolio). The perpetual hedge has delta 1 per coin and no gamma, vega or theta.

Which delta to pass is the caller's choice and sets what the total means (see
:mod:`strategies.options.inverse`): Black delta (Deribit ``greeks.delta``) for a book valued in
USD; premium-adjusted delta (``delta_BS − mark_price``) to reproduce Deribit's account
``delta_total`` — add the coin equity to it for USD-flat P&L of a coin-margined account
(https://docs.deribit.com/api-reference/account-management/private-get_account_summary).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class PortfolioGreeks:
    """Greeks of a whole book, each the sum over its option positions.

    Attributes
    ----------
    delta_coin : float
        Σ qty × contract size × delta, plus the hedge position: coins of underlying the book is
        long (USD P&L per 1 USD move of the forward).
    gamma_coin_per_usd : float
        Σ qty × contract size × gamma: change of ``delta_coin`` per 1 USD move.
    vega_usd_per_vol_point : float
        Σ qty × contract size × vega: USD per +1 vol point of every option's implied volatility.
    theta_usd_per_day : float
        Σ qty × contract size × theta: USD per calendar day, prices unchanged.
    """

    delta_coin: float
    gamma_coin_per_usd: float
    vega_usd_per_vol_point: float
    theta_usd_per_day: float


def _column(name: str, value: npt.ArrayLike) -> FloatArray:
    array = np.atleast_1d(np.asarray(value, dtype=np.float64))
    if array.ndim != 1 or not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be a finite 1-d array, got {value!r}")
    return array


def portfolio_greeks(
    qty_contracts: npt.ArrayLike,
    contract_size_coin: npt.ArrayLike,
    delta: npt.ArrayLike,
    gamma_per_usd: npt.ArrayLike,
    vega_usd_per_vol_point: npt.ArrayLike,
    theta_usd_per_day: npt.ArrayLike,
    hedge_position_coin: float = 0.0,
) -> PortfolioGreeks:
    """Sum per-contract greeks over a book's option positions and add the perpetual hedge.

    Parameters
    ----------
    qty_contracts : array_like
        Shape ``(n,)``: signed position per option, contracts (negative = short). On Deribit an
        inverse option's ``size`` is in coin with ``contract_size`` 1, so qty = size.
    contract_size_coin : array_like
        Shape ``(n,)`` or scalar: coins of underlying per contract (the instrument's
        ``contract_size``; Deribit BTC/ETH options: 1).
    delta : array_like
        Shape ``(n,)``: delta per contract of one coin (Black or premium-adjusted, see module).
    gamma_per_usd, vega_usd_per_vol_point, theta_usd_per_day : array_like
        Shape ``(n,)``: per-contract gamma (per USD), vega (USD per vol point), theta (USD per
        day), Deribit's units (:mod:`strategies.options.black_scholes`).
    hedge_position_coin : float, optional
        Signed perpetual hedge, coins (Deribit inverse perpetual: ``size_currency``, i.e. USD
        size / mark price); default 0.

    Returns
    -------
    PortfolioGreeks

    Raises
    ------
    ValueError
        A non-finite value, an array that is not 1-d, or arrays of different lengths.
    """
    qty = _column("qty_contracts", qty_contracts)
    columns = {
        "contract_size_coin": _column("contract_size_coin", contract_size_coin),
        "delta": _column("delta", delta),
        "gamma_per_usd": _column("gamma_per_usd", gamma_per_usd),
        "vega_usd_per_vol_point": _column("vega_usd_per_vol_point", vega_usd_per_vol_point),
        "theta_usd_per_day": _column("theta_usd_per_day", theta_usd_per_day),
    }
    for name, column in columns.items():
        if column.shape != qty.shape and not (name == "contract_size_coin" and column.size == 1):
            raise ValueError(f"{name} has shape {column.shape}, qty_contracts {qty.shape}")
    if not np.isfinite(hedge_position_coin):
        raise ValueError(f"hedge_position_coin must be finite, got {hedge_position_coin!r}")
    weight = qty * columns["contract_size_coin"]
    return PortfolioGreeks(
        delta_coin=float(weight @ columns["delta"]) + hedge_position_coin,
        gamma_coin_per_usd=float(weight @ columns["gamma_per_usd"]),
        vega_usd_per_vol_point=float(weight @ columns["vega_usd_per_vol_point"]),
        theta_usd_per_day=float(weight @ columns["theta_usd_per_day"]),
    )
