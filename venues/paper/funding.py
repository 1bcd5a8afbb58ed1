"""Funding settlement of the paper venue: the rates settled per perp and the payments made.

Moved from :mod:`venues.paper.venue` (see :meth:`PaperVenue.settle_funding`, which validates
the rate, credits the payment to collateral and publishes it): ``amount_usd = −rate ×
position_qty × mark``, so longs pay when the rate is > 0. A rate is settled once per perp and
``ts_funding_ms``: a rate not after the last one settled is ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from venues.model import FundingPayment, FundingRate, InstrumentId

__all__ = ["FundingBook", "funding_mark"]


class FundingBook:
    """Rates settled on one paper venue (the last and the history per perp) and the payments
    they made, oldest first."""

    def __init__(self) -> None:
        self.last: dict[InstrumentId, FundingRate] = {}
        self.history: dict[InstrumentId, list[FundingRate]] = {}
        self.paid: list[FundingPayment] = []

    def settle(
        self, funding: FundingRate, qty: Decimal, prices: Mapping[InstrumentId, Decimal]
    ) -> FundingPayment | None:
        """Remember ``funding`` and record its payment on ``qty`` (signed base units held).

        Returns None when flat (the rate is still remembered) or when ``ts_funding_ms`` is not
        after the last settlement of this perp (already settled: nothing is remembered).
        Raises ``ValueError``, after remembering the rate, if a position is open with no mark
        price known.
        """
        iid = funding.instrument_id
        last = self.last.get(iid)
        if last is not None and funding.ts_funding_ms <= last.ts_funding_ms:
            return None
        self.last[iid] = funding
        self.history.setdefault(iid, []).append(funding)
        if qty == 0:
            return None
        mark = funding_mark(funding, prices)
        amount = -Decimal(repr(funding.rate)) * qty * mark
        payment = FundingPayment(
            iid, funding.ts_funding_ms, funding.rate, funding.interval_s, qty, mark, amount
        )
        self.paid.append(payment)
        return payment

    def between(self, instrument_id: InstrumentId, start_ms: int, end_ms: int) -> list[FundingRate]:
        """Rates settled with ``start_ms <= ts_funding_ms < end_ms``, oldest first."""
        history = self.history.get(instrument_id, [])
        return [r for r in history if start_ms <= r.ts_funding_ms < end_ms]

    def paid_since(self, since_ms: int) -> list[FundingPayment]:
        """Payments with ``ts_funding_ms >= since_ms``, oldest first."""
        return [p for p in self.paid if p.ts_funding_ms >= since_ms]


def funding_mark(funding: FundingRate, prices: Mapping[InstrumentId, Decimal]) -> Decimal:
    """``funding.mark_price`` if given (as ``Decimal(repr(float(mark)))``), else the current
    price; ``ValueError`` if neither is known."""
    if funding.mark_price is not None:
        return Decimal(repr(float(funding.mark_price)))
    price = prices.get(funding.instrument_id)
    if price is None:
        raise ValueError(f"no mark price for funding on {funding.instrument_id}")
    return price
