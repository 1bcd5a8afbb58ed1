"""Leg faults a paper venue can inject, so a backtest shows what leg risk costs.

Live trading meets orders the venue refuses, IOC orders that fill only in part and answers
that never come; on the paper venue every order fills at once. :class:`LegFaults` (configured
per venue, ``[venues.<name>] fault_*``, off by default) makes a share of the orders meet each
fault, chosen from a SHA-256 of the seed and the client order id — deterministic for a seed,
whatever else the run does:

- ``reject_frac``: the order is refused (:class:`~venues.errors.OrderRejected`, code
  ``fault``): nothing fills;
- ``partial_frac``: half the quantity fills (rounded down to the lot step; nothing when that
  is below the instrument's minimums) and the rest expires, as an IOC order beyond the book's
  depth does;
- ``unknown_frac``: the order fills, but its answer is lost (:class:`~venues.errors.
  RequestTimeout`): the outcome is unknown until a lookup finds it (the executor's follow-up).

Latency is not modelled: a replay's clock does not move while an order is sent, so a leg's
fill price does not depend on how long the order took.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final

FAULTS: Final = ("reject", "partial", "unknown")
_SCALE: Final = float(2**64)


@dataclass(frozen=True, slots=True)
class LegFaults:
    """Shares of orders meeting each fault (module docstring), fractions in ``[0, 1]`` whose
    sum is at most 1, and the seed of the choice.

    Raises
    ------
    ValueError
        On construction, for a share outside ``[0, 1]`` or shares summing above 1.
    """

    reject_frac: float = 0.0
    partial_frac: float = 0.0
    unknown_frac: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        shares = (self.reject_frac, self.partial_frac, self.unknown_frac)
        if any(not 0.0 <= s <= 1.0 for s in shares) or sum(shares) > 1.0:
            raise ValueError(f"fault shares must be in [0, 1] and sum to at most 1: {shares}")

    @property
    def active(self) -> bool:
        """True when any fault can happen."""
        return self.reject_frac + self.partial_frac + self.unknown_frac > 0

    def fault_for(self, client_order_id: str) -> str | None:
        """The fault the order with this id meets (``reject``, ``partial``, ``unknown``), or
        None: a uniform draw from SHA-256(seed, id) against the cumulative shares."""
        if not self.active:
            return None
        digest = hashlib.sha256(f"{self.seed}:{client_order_id}".encode()).digest()
        draw = int.from_bytes(digest[:8], "big") / _SCALE
        edge = 0.0
        for name, share in zip(
            FAULTS, (self.reject_frac, self.partial_frac, self.unknown_frac), strict=True
        ):
            edge += share
            if draw < edge:
                return name
        return None
