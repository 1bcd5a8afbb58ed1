"""The funding desk: every funding settlement observed, settled and booked exactly once.

Funding reaches a run two ways, and the desk owns both:

- **settled by the paper venues** (replay and paper on live data): each settled rate of a step
  is shown to the interval schedule (:mod:`agent.engine.funding_schedule`, which reports a
  changed interval as a ``funding_interval_changed`` alert) and the market data; the paper
  venue of the perp then settles it against its position (``PaperVenue.settle_funding``:
  payment = −rate × position × mark, longs pay shorts when the rate is positive) and the
  payment is booked;
- **collected from the venues' payment history** (``mode = "live"``): after each step the
  account's own funding payments since the last look are read from every live venue (Binance
  ``GET /fapi/v1/income`` incomeType FUNDING_FEE, Bybit transaction log, OKX bills, Hyperliquid
  ``userFunding``; ``Venue.fetch_funding_payments``) and booked. A venue error is logged and the
  same window is read again at the next step.

Booking a payment puts it into the ledger (split per strategy holding the position,
``Portfolio.apply_funding``) and the journal. One guard, :meth:`FundingDesk.book`, refuses a
payment whose (instrument, settlement time) was booked before — by this run or, after a
restart, by the run whose journal it resumed (:meth:`FundingDesk.remember`).

Each payment collected from a live venue is also reconciled against the replay's formula
(−rate × position × mark, from the settled rate, the ledger's position and the mark at
settlement) and the gap journaled, and alerted past ``[risk] funding_gap_alert_bps``
(:mod:`agent.engine.funding_reconcile`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import structlog

from agent.engine.funding_reconcile import FundingReconciler
from agent.engine.funding_schedule import FundingScheduleRegistry, IntervalChange, to_alert
from agent.engine.marketdata import MarketData
from agent.execution import events
from agent.journal.journal import Journal
from agent.notify import DISCARD, AlertSink, Notice
from agent.portfolio.ledger import Portfolio
from venues.base import Venue
from venues.errors import VenueError
from venues.model import FundingPayment, FundingRate, Instrument, InstrumentId
from venues.paper import PaperVenue

log = structlog.get_logger("zerobeta.engine")

SUPERVISOR = "supervisor"
"""The ``strategy`` column of journal rows the engine itself writes (alerts, breakers)."""


class FundingDesk:
    """Settles and books funding; owns what has been booked.

    Parameters
    ----------
    instruments : Mapping[InstrumentId, Instrument]
        What the run trades; a live payment on any other instrument is logged, not booked.
    market : MarketData
        Learns every settled rate (the strategies read it from the snapshots).
    portfolio : Portfolio
        The ledger payments are booked into.
    journal : Journal
        Where payments and interval-change alerts are journaled.
    paper : Mapping[str, PaperVenue]
        Simulated venues by name; they settle the rates of their perps (empty in live mode).
        The desk keeps a copy: venues added to the mapping later are not used.
    live : Mapping[str, Venue]
        Real venues by name whose payment history is collected (empty in paper mode). The
        desk keeps a copy, as of ``paper``: venues added to the mapping later are not read.
    first_ms : int
        Start of the run, epoch ms UTC: every perp's listed funding interval is registered
        with the schedule at this time.
    alerts : AlertSink
        Where an interval change is also handed, for a person.

    Attributes
    ----------
    schedule : FundingScheduleRegistry
        Each perp's funding interval and next settlement, learnt from the settlements.
    payments : int
        Payments booked by this run and the runs it resumed.
    """

    def __init__(
        self,
        instruments: Mapping[InstrumentId, Instrument],
        market: MarketData,
        portfolio: Portfolio,
        journal: Journal,
        *,
        paper: Mapping[str, PaperVenue],
        live: Mapping[str, Venue],
        first_ms: int,
        alerts: AlertSink = DISCARD,
        gap_alert_bps: float = 1.0,
        gap_alert_floor_usd: float = 1.0,
    ) -> None:
        self._instruments = instruments
        self._market = market
        self._portfolio = portfolio
        self._journal = journal
        self._paper = dict(paper)  # the desk's own copy: _paper_of_id is derived from it
        self._paper_of_id: dict[InstrumentId, PaperVenue | None] = {}
        self._live = dict(live)  # the desk's own copy: the reconciler is active iff non-empty
        self._alerts = alerts
        self._booked: set[tuple[InstrumentId, int]] = set()
        self._since_ms: dict[str, int] = {}
        self.schedule = FundingScheduleRegistry()
        for inst in instruments.values():
            if inst.is_perp:
                self.schedule.register(inst, first_ms)
        self.payments = 0
        self.reconciler = FundingReconciler(
            portfolio,
            journal,
            live,
            alert_bps=gap_alert_bps,
            alert_floor_usd=gap_alert_floor_usd,
            alerts=alerts,
            strategy=SUPERVISOR,
        )

    def observe(self, rates: Iterable[FundingRate]) -> None:
        """Settled funding seen before the run's first step (live start-up history): the
        schedule and the market data learn the rates; nothing is settled or booked."""
        for rate in rates:
            self.schedule.observe(rate)
            self._market.on_funding(rate)
            self.reconciler.note_rate(rate)

    def settle(self, ts_ms: int, rates: Iterable[FundingRate]) -> None:
        """The rates settled by ``ts_ms`` (oldest first): schedule and market data learn them,
        an interval change is alerted, and each paper venue settles its perps' positions. Live:
        positions and prices at this step are remembered and the payments booked earlier
        whose settled rate is now known are reconciled (:mod:`agent.engine.funding_reconcile`)."""
        reconciler = self.reconciler
        live = reconciler.active  # paper mode reconciles nothing: no step or rate to note
        if live:
            reconciler.note_step(ts_ms, self._market.prices)
        if rates:  # most steps settle nothing (an 8h perp settles one hour in eight)
            self._settle_rates(ts_ms, rates, reconciler.note_rate if live else None)
        if live:
            reconciler.reconcile(ts_ms)

    def _settle_rates(
        self,
        ts_ms: int,
        rates: Iterable[FundingRate],
        note_rate: Callable[[FundingRate], None] | None,
    ) -> None:
        # bound once per step: this loop runs for every settled rate of the run
        observe = self.schedule.observe
        on_funding = self._market.on_funding
        paper_of_id = self._paper_of_id
        for rate in rates:
            change = observe(rate)
            if change is not None:
                self._alert_interval_change(change)
            on_funding(rate)
            if note_rate is not None:
                note_rate(rate)
            try:
                venue = paper_of_id[rate.instrument_id]
            except KeyError:
                venue = self._paper_venue_of(rate.instrument_id)
            if venue is None:
                continue
            payment = venue.settle_funding(rate)
            if payment is not None:
                self.book(ts_ms, payment)

    async def collect(self, ts_ms: int) -> None:
        """Book the funding each live venue paid or charged the account since the last look,
        oldest first (nothing in paper mode). Never raises ``VenueError``: a failed read is
        logged and the same window read again at the next step."""
        if not self._live:
            return  # paper mode: no history to read, no payment to reconcile (reconciler idle)
        for name, venue in sorted(self._live.items()):
            since_ms = self._since_ms.get(name, ts_ms)
            try:
                payments = await venue.fetch_funding_payments(since_ms)
            except VenueError as error:
                log.warning("funding_payments_unavailable", venue=name, error=str(error))
                continue
            for payment in sorted(payments, key=lambda p: (p.ts_funding_ms, p.instrument_id)):
                if payment.instrument_id not in self._instruments:
                    if self._mark_booked(payment):
                        log.warning("funding_on_untracked_position", payment=str(payment))
                    continue
                if self.book(ts_ms, payment):
                    self.reconciler.add(payment)
                    since_ms = max(since_ms, payment.ts_funding_ms)
            self._since_ms[name] = since_ms
        self.reconciler.reconcile(ts_ms)

    def book(self, ts_ms: int, payment: FundingPayment) -> bool:
        """Book ``payment`` into the ledger and the journal at agent time ``ts_ms`` unless its
        settlement was booked before; True when it was booked now."""
        if not self._mark_booked(payment):
            return False
        self.payments += 1
        allocations = self._portfolio.apply_funding(payment)
        self._journal.record_funding(ts_ms, payment, allocations)
        events.funding_settled(payment, allocations, ts_ms)
        return True

    def start_collecting(self, now_ms: int) -> None:
        """Live start: read each live venue's payment history from ``now_ms`` on, unless a
        resumed journal already says where the last run stopped reading."""
        for name in self._live:
            self._since_ms.setdefault(name, now_ms)

    def remember(self, payments: Iterable[FundingPayment]) -> None:
        """Payments a resumed journal booked: never book them again, and read each venue's
        history from its latest one on."""
        for payment in payments:
            self._booked.add((payment.instrument_id, payment.ts_funding_ms))
            venue = payment.instrument_id.venue
            self._since_ms[venue] = max(self._since_ms.get(venue, 0), payment.ts_funding_ms)

    def _alert_interval_change(self, change: IntervalChange) -> None:
        alert = to_alert(change)
        log.warning(alert.kind, message=alert.message, **alert.fields)
        self._journal.record_alert(change.ts_ms, SUPERVISOR, alert)
        self._alerts.notify(Notice.from_alert(alert, change.ts_ms))

    def _paper_venue_of(self, instrument_id: InstrumentId) -> PaperVenue | None:
        """The paper venue that settles ``instrument_id``'s funding (None: not simulated),
        remembered per id: the venue is a function of the id and of the desk's own copy of
        the paper venues, which never changes."""
        venue = self._paper_of_id[instrument_id] = self._paper.get(instrument_id.venue)
        return venue

    def _mark_booked(self, payment: FundingPayment) -> bool:
        key = (payment.instrument_id, payment.ts_funding_ms)
        if key in self._booked:
            return False
        self._booked.add(key)
        return True
