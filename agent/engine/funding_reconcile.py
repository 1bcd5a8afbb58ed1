"""Funding reconciled per settlement: each payment a live venue made against the expected one.

For every payment the :class:`~agent.engine.funding.FundingDesk` books from a live venue's
payment history, the expected payment is computed with the replay's formula
(``PaperVenue.settle_funding``, :mod:`venues.paper.funding`)::

    expected_usd = −rate × position_qty × mark_price

- ``rate``: the settled rate the market data learnt for that perp and settlement (the venue's
  funding history the engine reads: start-up history and each step's settled rates), matched to
  the payment's ``ts_funding_ms`` within ±60 s; never the rate the payment itself carries;
- ``position_qty``: the ledger's net position in the perp (all strategies) as of the first step
  at or after the settlement, taken at the start of that step, before its strategies trade
  (the position held over the settlement; a settlement before the run's first remembered step
  uses that step's position);
- ``mark_price``: the venue's settlement mark when its funding history reports one (as the
  replay's ``funding_mark``), else the market data's price at that same step: the hourly close
  ending at the step or a newer streamed mark — the price at the settlement to within the
  step's staleness, not the venue's exact mark.

``gap_usd = paid_usd − expected_usd``, ``gap_bps`` = gap over the position's notional
``|position_qty × mark_price|`` × 10⁴ (None when the ledger is flat). Every reconciled payment
is journaled (``funding_reconciliation``); a gap beyond **both** ``[risk]
funding_gap_alert_bps`` of the notional and ``funding_gap_alert_floor_usd`` is alerted
(kind ``funding_gap``: logged, journaled, handed to the alert sink). A payment whose settled
rate is not known yet waits for later steps; one still unmatched a day later is logged
(``funding_unreconciled``) and dropped.

Paper runs reconcile nothing: there the paper venue's payment *is* this formula applied to the
same rate, position and mark, so every gap would be zero by construction — journaling it would
only add one tautological row per settlement to every replay journal.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Mapping
from decimal import Decimal

import structlog

from agent.journal.journal import Journal
from agent.notify import DISCARD, AlertSink, Notice
from agent.portfolio.ledger import Portfolio
from strategies.base import Alert
from venues.model import FundingPayment, FundingRate, InstrumentId, InstrumentKind

log = structlog.get_logger("zerobeta.engine")

ALERT_KIND = "funding_gap"
MATCH_TOLERANCE_MS = 60_000
"""A settled rate matches a payment whose ``ts_funding_ms`` is this close, ms."""
GIVE_UP_MS = 24 * 3_600_000
"""A payment whose settled rate is still unknown this long after its settlement is dropped."""
_STEPS_KEPT = 24 * 8  # hourly steps remembered (positions and prices at each)
_RATES_KEPT = 256  # settled rates remembered per perp
_BPS = Decimal(10_000)

_StepState = dict[InstrumentId, tuple[Decimal, float | None]]


class FundingReconciler:
    """Compares each booked live funding payment with ``−rate × position × mark``.

    Parameters
    ----------
    portfolio : Portfolio
        The ledger, read for positions at each step.
    journal : Journal
        Where each reconciliation and ``funding_gap`` alert is journaled.
    live_venues : Collection[str]
        Venues whose payments are reconciled (empty in paper mode: nothing is done).
    alert_bps : float
        Alert when ``|gap|`` exceeds this share of the position's notional, bps ...
    alert_floor_usd : float
        ... and this amount, USD.
    alerts : AlertSink
        Where a ``funding_gap`` alert is also handed, for a person.
    strategy : str
        The ``strategy`` column of the journaled alerts.
    """

    def __init__(
        self,
        portfolio: Portfolio,
        journal: Journal,
        live_venues: Collection[str],
        *,
        alert_bps: float,
        alert_floor_usd: float,
        alerts: AlertSink = DISCARD,
        strategy: str = "supervisor",
    ) -> None:
        self._portfolio = portfolio
        self._journal = journal
        self._live = frozenset(live_venues)
        self._alert_frac = Decimal(repr(alert_bps)) / _BPS
        self._floor_usd = Decimal(repr(alert_floor_usd))
        self._alerts = alerts
        self._strategy = strategy
        self._rates: dict[InstrumentId, deque[FundingRate]] = {}
        self._steps: deque[tuple[int, _StepState]] = deque(maxlen=_STEPS_KEPT)
        self._pending: list[FundingPayment] = []
        self.gaps_alerted = 0

    @property
    def active(self) -> bool:
        """True when some venue's payments are reconciled (live mode)."""
        return bool(self._live)

    def note_rate(self, rate: FundingRate) -> None:
        """A settled rate the market data learnt (kept for the live venues' perps only)."""
        if rate.instrument_id.venue not in self._live:
            return
        rates = self._rates.setdefault(rate.instrument_id, deque(maxlen=_RATES_KEPT))
        if not rates or rate.ts_funding_ms > rates[-1].ts_funding_ms:
            rates.append(rate)

    def note_step(self, ts_ms: int, prices: Mapping[InstrumentId, float]) -> None:
        """Start of a step at ``ts_ms``, before its strategies trade: remember the ledger's
        position and the market price of every live perp held or priced."""
        if not self._live:
            return
        positions = self._portfolio.positions()
        ids = {
            i
            for i in (*positions, *prices)
            if i.venue in self._live and i.kind is InstrumentKind.PERP
        }
        state = {i: (positions.get(i, Decimal(0)), prices.get(i)) for i in ids}
        self._steps.append((ts_ms, state))

    def add(self, payment: FundingPayment) -> None:
        """A payment just booked from a live venue's history: reconciled at the next
        :meth:`reconcile` that knows its settled rate."""
        if payment.instrument_id.venue in self._live:
            self._pending.append(payment)

    def reconcile(self, ts_ms: int) -> None:
        """Reconcile every pending payment whose settled rate is known (journaled at agent time
        ``ts_ms``); drop, with a warning, those unmatched for :data:`GIVE_UP_MS`."""
        waiting = []
        for payment in self._pending:
            rate = self._rate_for(payment)
            if rate is not None:
                self._reconcile_one(ts_ms, payment, rate)
            elif ts_ms - payment.ts_funding_ms > GIVE_UP_MS:
                log.warning(
                    "funding_unreconciled",
                    instrument=str(payment.instrument_id),
                    ts_funding_ms=payment.ts_funding_ms,
                    reason="no settled rate known for this settlement",
                )
            else:
                waiting.append(payment)
        self._pending = waiting

    def _rate_for(self, payment: FundingPayment) -> FundingRate | None:
        rates = self._rates.get(payment.instrument_id, ())
        near = [
            r for r in rates if abs(r.ts_funding_ms - payment.ts_funding_ms) <= MATCH_TOLERANCE_MS
        ]
        return min(near, key=lambda r: abs(r.ts_funding_ms - payment.ts_funding_ms), default=None)

    def _at_settlement(self, payment: FundingPayment) -> tuple[Decimal, float | None]:
        """Ledger position and market price of the perp at the first step at or after the
        settlement (the earliest remembered step for an older one; now when none is)."""
        iid = payment.instrument_id
        chosen = next((s for ts, s in self._steps if ts >= payment.ts_funding_ms), None)
        if chosen is None and self._steps and self._steps[0][0] > payment.ts_funding_ms:
            chosen = self._steps[0][1]
        if chosen is None:
            return self._portfolio.positions().get(iid, Decimal(0)), None
        return chosen.get(iid, (Decimal(0), None))

    def _reconcile_one(self, ts_ms: int, payment: FundingPayment, rate: FundingRate) -> None:
        iid = payment.instrument_id
        qty, price = self._at_settlement(payment)
        if rate.mark_price is not None:
            mark = Decimal(repr(float(rate.mark_price)))
        elif price is not None:
            mark = Decimal(repr(price))
        else:
            log.warning(
                "funding_unreconciled",
                instrument=str(iid),
                ts_funding_ms=payment.ts_funding_ms,
                reason="no mark price known at the settlement",
            )
            return
        expected = -Decimal(repr(rate.rate)) * qty * mark
        gap = payment.amount_usd - expected
        notional = abs(qty * mark)
        gap_bps = float(gap / notional * _BPS) if notional else None
        self._journal.record_funding_reconciliation(
            ts_ms,
            payment,
            rate=rate.rate,
            position_qty=qty,
            mark_price=mark,
            expected_usd=expected,
            gap_bps=gap_bps,
        )
        if abs(gap) > self._floor_usd and abs(gap) > self._alert_frac * notional:
            self._alert(ts_ms, payment, expected, gap, gap_bps)

    def _alert(
        self,
        ts_ms: int,
        payment: FundingPayment,
        expected: Decimal,
        gap: Decimal,
        gap_bps: float | None,
    ) -> None:
        self.gaps_alerted += 1
        bps = "flat ledger" if gap_bps is None else f"{gap_bps:+.2f} bps of notional"
        message = (
            f"{payment.instrument_id} funding at {payment.ts_funding_ms}: venue paid "
            f"{payment.amount_usd:.6f} USD, expected {expected:.6f} USD (gap {gap:+.6f} USD, "
            f"{bps})"
        )
        fields: dict[str, float | str] = {
            "instrument": str(payment.instrument_id),
            "ts_funding_ms": payment.ts_funding_ms,
            "paid_usd": float(payment.amount_usd),
            "expected_usd": float(expected),
            "gap_usd": float(gap),
        }
        if gap_bps is not None:
            fields["gap_bps"] = gap_bps
        alert = Alert(ALERT_KIND, message, fields)
        log.warning(alert.kind, message=alert.message, **alert.fields)
        self._journal.record_alert(ts_ms, self._strategy, alert)
        self._alerts.notify(Notice.from_alert(alert, ts_ms))
