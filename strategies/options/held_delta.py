"""The delta of a held option from the chain its underlying lists now: what the engine's net
delta and the beta hedger count an option as (coins of underlying per coin of option), instead
of reading its premium as a delta-one position.

The implied volatility is the chain's at the option's expiry and strike (the nearest listed
strike of that expiry: a model chain's surface is flat across strikes), else implied from the
option's price (:func:`strategies.options.implied_vol.implied_vol_frac`); the delta is Black-76
on the chain's forward (:func:`strategies.options.black_scholes.delta`, Deribit's
``greeks.delta`` convention: not premium-adjusted, the options being valued in USD). Source:
Hull, *Options, Futures, and Other Derivatives*, "The Greek letters"; Deribit's greeks
(https://docs.deribit.com/#public-ticker).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from strategies.options.black_scholes import delta, years_to_expiry
from strategies.options.chain import OptionChain
from strategies.options.implied_vol import implied_vol_frac
from venues.model import InstrumentId, InstrumentKind, OptionSpec

__all__ = ["chain_for", "chain_iv_frac", "held_option_delta"]


def chain_iv_frac(
    chain: OptionChain, spec: OptionSpec, price_usd: float, forward_usd: float, now_ms: int
) -> float:
    """Implied volatility of an option, fraction: the chain's at its expiry and strike (the
    nearest listed strike of that expiry), else implied from ``price_usd`` (USD per coin) on
    ``forward_usd``.

    Raises
    ------
    ValueError
        An expired option, or a price no volatility reproduces
        (:func:`~strategies.options.implied_vol.implied_vol_frac`).
    """
    same = np.flatnonzero(chain.expiry_ms == spec.expiry_ms)
    if same.size:
        nearest = same[np.argmin(np.abs(chain.strike_usd[same] - float(spec.strike_usd)))]
        return float(chain.iv_frac[nearest])
    t = float(years_to_expiry(now_ms, spec.expiry_ms))
    return implied_vol_frac(price_usd, forward_usd, float(spec.strike_usd), t, spec.is_call)


def chain_for(chains: Iterable[OptionChain], instrument_id: InstrumentId) -> OptionChain | None:
    """The chain of an option's venue and base asset (the one its underlying lists), None for
    an instrument that is not an option, has an unreadable symbol or no such chain."""
    if instrument_id.kind is not InstrumentKind.OPTION:
        return None
    try:
        base = OptionSpec.parse(instrument_id.symbol).base
    except ValueError:
        return None
    return next((c for c in chains if c.venue == instrument_id.venue and c.base == base), None)


def held_option_delta(
    chain: OptionChain, instrument_id: InstrumentId, price_usd: float | None, now_ms: int
) -> float | None:
    """Black-76 delta of one coin of the option ``instrument_id`` at ``now_ms``, on the
    chain's forward and volatility (:func:`chain_iv_frac`), coins of underlying per coin;
    ``price_usd`` (USD per coin, the option's mark) is needed only for an expiry the chain does
    not list. None when the option is expired, not of the chain's base, or its volatility
    cannot be had.

    Raises
    ------
    ValueError
        If ``instrument_id`` is not an option with a readable symbol.
    """
    spec = OptionSpec.parse(instrument_id.symbol)
    if spec.base != chain.base or spec.expiry_ms <= now_ms:
        return None
    forward = chain.forward_usd
    if not np.any(chain.expiry_ms == spec.expiry_ms) and price_usd is None:
        return None
    try:
        iv = chain_iv_frac(chain, spec, price_usd or 0.0, forward, now_ms)
    except ValueError:
        return None
    t = float(years_to_expiry(now_ms, spec.expiry_ms))
    return float(delta(forward, float(spec.strike_usd), t, iv, spec.is_call))
