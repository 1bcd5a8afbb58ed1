"""Exact decimal arithmetic of the ledger (:mod:`agent.portfolio.ledger`).

What keeps ``equity − initial_equity == price_spot + price_perp + funding − fees − slippage``
exact, as listed in the :mod:`agent.portfolio.ledger` docstring:

- the 150-digit context every ledger sum and product runs in (:func:`ledger_context`);
- the digit bounds every number entering the ledger must meet (at most 40 decimal places,
  magnitude below 1e30), so those sums and products never round;
- the 1e-40 USD resolution at which funding amounts and shares are booked;
- the open lot of one strategy in one instrument with average-cost accounting, whose partial
  close holds the ledger's only division (quantized to 1e-40 USD and moved from the cost basis
  to realized P&L, so the identity holds).

``exact_decimal`` turns a finite float (a leverage) into the Decimal of its shortest repr.
"""

from __future__ import annotations

import math
from contextlib import AbstractContextManager
from dataclasses import dataclass
from decimal import (
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
    localcontext,
)

EXACT_CONTEXT = Context(
    prec=150, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow]
)
_MIN_EXPONENT = -40
_MAX_ADJUSTED = 29
_QUANTUM = Decimal(1).scaleb(_MIN_EXPONENT)
ZERO = Decimal(0)


def ledger_context() -> AbstractContextManager[Context]:
    """The ledger's 150-digit decimal context, for exact arithmetic on its numbers.

    The default context rounds to 28 significant digits; compare or add ledger amounts inside
    ``with ledger_context():`` when the result must be exact.
    """
    return localcontext(EXACT_CONTEXT)


@dataclass(slots=True)
class Lot:
    """Open position of one strategy in one instrument. ``basis_usd`` is the signed cost of
    the open quantity at reference prices (qty × avg_cost)."""

    qty: Decimal = ZERO
    basis_usd: Decimal = ZERO
    realized_usd: Decimal = ZERO


def trade_lot(lot: Lot, sign: int, qty: Decimal, reference: Decimal) -> None:
    """Apply ``sign × qty`` at ``reference`` to ``lot`` with average-cost accounting.

    Invariant: ``realized − basis`` changes by exactly ``−sign × qty × reference``.
    """
    held = lot.qty
    if held == 0 or (held > 0) == (sign > 0):
        lot.basis_usd += sign * qty * reference
        lot.qty += sign * qty
        return
    closed = min(qty, abs(held))
    if closed == abs(held):
        removed = lot.basis_usd
    else:
        removed = (lot.basis_usd * closed / abs(held)).quantize(_QUANTUM)
    lot.realized_usd += -sign * closed * reference - removed
    lot.basis_usd += sign * (qty - closed) * reference - removed
    lot.qty += sign * qty


def check_digits(what: str, value: Decimal) -> None:
    """Refuse a number the exact ledger cannot hold (see the module docstring): raise
    :func:`digits_error` unless :func:`within_digit_bounds`."""
    if not within_digit_bounds(value):
        raise digits_error(what, value)


def within_digit_bounds(value: Decimal) -> bool:
    """True for a finite Decimal the exact ledger can hold: at most 40 decimal places and
    magnitude below 1e30 (see the module docstring)."""
    if not isinstance(value, Decimal) or not value.is_finite():
        return False
    exponent = value.as_tuple().exponent  # an int: the value is finite
    return (
        isinstance(exponent, int)
        and exponent >= _MIN_EXPONENT
        and value.adjusted() <= _MAX_ADJUSTED
    )


def digits_error(what: str, value: object) -> ValueError:
    """The ``ValueError`` refusing ``value`` (``what`` names it), a number outside
    :func:`within_digit_bounds`; a hot caller builds ``what`` only when it refuses."""
    if not isinstance(value, Decimal) or not value.is_finite():
        return ValueError(f"{what} must be a finite Decimal, got {value!r}")
    return ValueError(f"{what} {value} has more than 40 decimal places or is >= 1e30")


def at_booking_resolution(amount_usd: Decimal) -> Decimal:
    """``amount_usd`` at the ledger's 1e-40 USD resolution (unchanged when already on it)."""
    exponent = amount_usd.as_tuple().exponent
    if isinstance(exponent, int) and exponent < _MIN_EXPONENT:
        return amount_usd.quantize(_QUANTUM)
    return amount_usd


def exact_decimal(value: float) -> Decimal:
    if not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {value!r}")
    return Decimal(repr(value))
