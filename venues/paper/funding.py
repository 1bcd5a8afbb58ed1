"""Funding settlement of the paper venue: the rates settled per perp and the payments made.

Moved from :mod:`venues.paper.venue` (see :meth:`PaperVenue.settle_funding`, which validates
the rate, credits the payment to collateral and publishes it): ``amount_usd = −rate ×
position_qty × mark``, so longs pay when the rate is > 0. A rate is settled once per perp and
``ts_funding_ms``: a rate not after the last one settled is ignored.

The history it answers from is bounded, like a venue's own history endpoints: settled rates and
payments are kept for :data:`FUNDING_RETENTION_S` before the newest settlement (per perp for
rates, over the venue for payments), so a run of any length or width holds a bounded number of
them (issue 14: every ``FundingRate`` and ``FundingPayment`` of a replay used to be kept).
Nothing in a run reads further back: the funding desk reads a live venue's payments since its
last look, and the paper venue's are booked as they settle.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from decimal import Decimal

from venues.model import FundingPayment, FundingRate, InstrumentId

__all__ = ["FUNDING_RETENTION_S", "FundingBook", "funding_mark"]

FUNDING_RETENTION_S = 7 * 86_400
"""How far before the newest settlement a paper venue still answers for settled rates and
payments, seconds (7 days: the live start-up's default ``live_funding_history_days``)."""


class FundingBook:
    """Rates settled on one paper venue (the last per perp, and the history of the last
    ``retention_s`` per perp) and the payments they made in that span, oldest first.

    Parameters
    ----------
    retention_s : int
        Rates and payments settled more than this long before the newest one are forgotten,
        seconds (> 0).

    Raises
    ------
    ValueError
        If ``retention_s`` is not > 0.
    """

    def __init__(self, retention_s: int = FUNDING_RETENTION_S) -> None:
        if retention_s <= 0:
            raise ValueError(f"funding retention_s must be > 0, got {retention_s}")
        self.retention_ms = retention_s * 1000
        self.last: dict[InstrumentId, FundingRate] = {}
        self.history: dict[InstrumentId, deque[FundingRate]] = {}
        self.paid: deque[FundingPayment] = deque()

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
        ts_funding_ms = funding.ts_funding_ms
        last = self.last.get(iid)
        if last is not None and ts_funding_ms <= last.ts_funding_ms:
            return None
        self.last[iid] = funding
        history = self.history.get(iid)
        if history is None:
            history = self.history[iid] = deque()
        history.append(funding)
        horizon_ms = ts_funding_ms - self.retention_ms
        while history[0].ts_funding_ms < horizon_ms:
            history.popleft()
        if not qty:  # flat (a Decimal zero, either sign)
            return None
        mark = funding_mark(funding, prices)
        amount = -Decimal(repr(funding.rate)) * qty * mark
        payment = FundingPayment(
            iid, funding.ts_funding_ms, funding.rate, funding.interval_s, qty, mark, amount
        )
        self.remember_paid(payment)
        return payment

    def remember_paid(self, payment: FundingPayment) -> None:
        """Keep ``payment`` (settled now, or journaled by an earlier run) for
        :meth:`paid_since`, forgetting those older than the retention before it."""
        self.paid.append(payment)
        horizon_ms = payment.ts_funding_ms - self.retention_ms
        while self.paid[0].ts_funding_ms < horizon_ms:
            self.paid.popleft()

    def between(self, instrument_id: InstrumentId, start_ms: int, end_ms: int) -> list[FundingRate]:
        """Rates settled with ``start_ms <= ts_funding_ms < end_ms``, oldest first (within the
        retention before the perp's newest settlement)."""
        history = self.history.get(instrument_id, ())
        return [r for r in history if start_ms <= r.ts_funding_ms < end_ms]

    def paid_since(self, since_ms: int) -> list[FundingPayment]:
        """Payments with ``ts_funding_ms >= since_ms``, oldest first (within the retention
        before the newest payment)."""
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
