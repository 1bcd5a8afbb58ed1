"""Which options the hedger holds: the expiry nearest the target, the strikes nearest the
target moneyness, and when to roll.

Pure functions over an :class:`strategies.options.chain.OptionChain` (what the strategy sees in
``MarketSnapshot.option_chains``).

* Expiry: among the listed expiries more than ``roll_before_expiry_h`` away (one that would be
  rolled at once is never opened), the one whose days to expiry are nearest
  ``target_expiry_days`` (a tie goes to the later expiry).
* Strikes: the call's strike nearest ``call_moneyness_frac × forward``, the put's nearest
  ``put_moneyness_frac × forward`` (both 1 for a straddle: one strike, nearest the forward; a
  tie goes to the lower strike).
* Roll: once the held expiry is ``roll_before_expiry_h`` away or less, the legs are closed and
  the structure reopened at the current target expiry and strikes, in one intent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from strategies.options.black_scholes import MS_PER_DAY
from strategies.options.chain import OptionChain

_MS_PER_HOUR = 3_600_000


@dataclass(frozen=True, slots=True)
class Selection:
    """The chosen legs: indexes into the chain, and their expiry (epoch ms UTC)."""

    expiry_ms: int
    call_index: int
    put_index: int


def needs_roll(expiry_ms: int, now_ms: int, roll_before_expiry_h: float) -> bool:
    """Whether a leg expiring at ``expiry_ms`` is due to roll at ``now_ms`` (epoch ms UTC)."""
    return expiry_ms - now_ms <= roll_before_expiry_h * _MS_PER_HOUR


def select_structure(
    chain: OptionChain,
    now_ms: int,
    *,
    target_expiry_days: float,
    roll_before_expiry_h: float,
    call_moneyness_frac: float,
    put_moneyness_frac: float,
) -> Selection | None:
    """The call and put to hold (module docstring); None when no listed expiry is beyond the
    roll threshold or it lists no call or put."""
    expiries = [e for e in chain.expiries_ms() if not needs_roll(e, now_ms, roll_before_expiry_h)]
    if not expiries:
        return None
    days = [(e - now_ms) / MS_PER_DAY for e in expiries]
    best = min(range(len(expiries)), key=lambda i: (abs(days[i] - target_expiry_days), -i))
    expiry = expiries[best]
    call = _nearest(chain, expiry, True, call_moneyness_frac * chain.forward_usd)
    put = _nearest(chain, expiry, False, put_moneyness_frac * chain.forward_usd)
    if call is None or put is None:
        return None
    return Selection(expiry, call, put)


def _nearest(chain: OptionChain, expiry_ms: int, is_call: bool, strike_usd: float) -> int | None:
    """Index of the option of that expiry and type whose strike is nearest ``strike_usd``
    (a tie: the lower strike)."""
    candidates = np.flatnonzero((chain.expiry_ms == expiry_ms) & (chain.is_call == is_call))
    if candidates.size == 0:
        return None
    strikes = chain.strike_usd[candidates]
    order = np.lexsort((strikes, np.abs(strikes - strike_usd)))
    return int(candidates[order[0]])
