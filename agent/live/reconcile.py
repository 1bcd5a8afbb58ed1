"""Positions on live venues against the ledger: at start-up and after every step.

- **At start** (:func:`reconcile`): every traded instrument's position on the venue is compared
  with the journal's ledger; any difference is journaled (``reconciliation``, action
  ``refused_start``) and refuses the start — an account holding positions zerobeta did not
  open, or a journal that lost fills, must be looked at by a person, not traded over.
- **After every step** (:class:`PositionCheck`): the same comparison; a difference (a fill the
  executor could not confirm, a manual trade) is journaled (action ``halted_opening``), alerted
  once (``position_mismatch``) and halts opening — closing stays allowed — until a restart,
  whose start-up reconciliation then decides.

Positions come from ``Venue.fetch_positions`` (Binance ``GET /fapi/v3/positionRisk`` and spot
balances, Bybit ``GET /v5/position/list``, OKX ``GET /api/v5/account/positions``, Hyperliquid
``clearinghouseState``). Perps must match exactly; a spot holding may differ by
:data:`SPOT_TOLERANCE_FRAC` or one lot step. At start, an option the ledger holds past its
expiry that the venue no longer shows is left out: the venue delivered it while the run was
down, and the resumed run books it at the venue's delivery price
(:meth:`agent.engine.live_options.LiveOptionChains.restore`).

Errors: :class:`~agent.errors.ReconciliationError` (the start is refused) and
:class:`~agent.errors.LiveSetupError` (positions cannot be read at start).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from decimal import Decimal

import structlog

from agent.errors import LiveSetupError, ReconciliationError
from agent.journal.journal import Journal
from agent.notify import DISCARD, AlertSink, Notice, Severity
from agent.portfolio.ledger import Portfolio
from agent.risk import MANUAL_HALT, RiskEngine
from strategies.base import Alert
from venues.base import Venue
from venues.errors import VenueError, is_retryable
from venues.model import Instrument, InstrumentId, OptionSpec

log = structlog.get_logger("zerobeta.reconcile")

SPOT_TOLERANCE_FRAC = Decimal("0.005")
"""A spot holding may differ from the ledger by this share (commission taken in the bought
asset, dust) or one lot step, whichever is larger; perps must match exactly."""

SUPERVISOR = "supervisor"
"""The ``strategy`` column of the alerts the check journals."""


class PositionCheck:
    """The running check of every traded position on the live venues against the ledger.

    Parameters
    ----------
    venues : Mapping[str, Venue]
        The live venues by name (empty in paper mode: then :meth:`check` does nothing).
    instruments : Mapping[InstrumentId, Instrument]
        What the run trades.
    portfolio, journal, risk
        The ledger compared, where differences are journaled, what halts opening.
    alerts : AlertSink
        Where a mismatch is also handed, for a person.
    pending : Callable[[], Collection[InstrumentId]]
        Instruments whose venue position holds what the ledger books only later, compared at
        a later check instead of halting opening now: those with an order whose outcome is
        unknown (the executor's unresolved orders: fills booked once the order is looked up)
        and held options the venue has delivered at expiry before publishing the delivery
        price the ledger books them at (:meth:`agent.engine.live_options.LiveOptionChains.
        awaiting_delivery`).
    """

    def __init__(
        self,
        venues: Mapping[str, Venue],
        instruments: Mapping[InstrumentId, Instrument],
        portfolio: Portfolio,
        journal: Journal,
        risk: RiskEngine,
        alerts: AlertSink = DISCARD,
        pending: Callable[[], Collection[InstrumentId]] = tuple,
    ) -> None:
        self._venues = venues
        self._instruments = instruments
        self._portfolio = portfolio
        self._journal = journal
        self._risk = risk
        self._alerts = alerts
        self._pending = pending
        self._reported: set[tuple[InstrumentId, str]] = set()

    async def reconcile_at_start(self, now_ms: int) -> None:
        """Start-up reconciliation (:func:`reconcile`); a previous run's mismatch halt is
        lifted when the positions now agree.

        Raises
        ------
        ReconciliationError, LiveSetupError
            See :func:`reconcile`.
        """
        await reconcile(self._venues, self._portfolio, self._instruments, self._journal, now_ms)
        self._risk.resume_opening()

    async def check(self, ts_ms: int) -> None:
        """After a step's orders: journal, alert once and halt opening for every position that
        differs from the ledger (a venue whose positions cannot be read is skipped, logged; an
        instrument with an order of unknown outcome, or an option awaiting its delivery price,
        is compared once that is booked)."""
        if not self._venues:
            return
        found = await position_mismatches(self._venues, self._portfolio, self._instruments)
        pending = set(self._pending())
        for iid, ledger_qty, venue_qty in found:
            if iid in pending:
                log.info(
                    "position_check_deferred",
                    instrument=str(iid),
                    ledger_qty=str(ledger_qty),
                    venue_qty=str(venue_qty),
                    reason="an order of unknown outcome or a delivery not yet booked",
                )
                continue
            if (iid, str(venue_qty)) in self._reported:
                continue
            self._reported.add((iid, str(venue_qty)))
            self._journal.record_reconciliation(
                ts_ms, iid.venue, iid, ledger_qty, venue_qty, "halted_opening"
            )
            alert = Alert(
                MANUAL_HALT,
                f"{iid}: the venue holds {venue_qty}, the ledger {ledger_qty}; opening halted",
                {
                    "instrument": str(iid),
                    "ledger_qty": str(ledger_qty),
                    "venue_qty": str(venue_qty),
                },
            )
            self._journal.record_alert(ts_ms, SUPERVISOR, alert)
            log.error(alert.kind, message=alert.message, **alert.fields)
            self._alerts.notify(Notice.from_alert(alert, ts_ms, Severity.ERROR))
            self._risk.halt(ts_ms, float(venue_qty - ledger_qty))


async def reconcile(
    venues: Mapping[str, Venue],
    portfolio: Portfolio,
    instruments: Mapping[InstrumentId, Instrument],
    journal: Journal,
    ts_ms: int,
) -> None:
    """Check every traded instrument's venue position against the ledger (all strategies).

    Raises
    ------
    ReconciliationError
        Listing each difference (also journaled, with action ``refused_start``); positions the
        venue reports must have been opened by zerobeta and recorded in this journal.
    LiveSetupError
        If a venue's positions cannot be read (a retryable ``VenueError`` — transport,
        timeout, 5xx, rate limit — goes through unchanged: the supervisor retries).
    """
    ledger = portfolio.positions()
    held_by_venue: dict[str, dict[InstrumentId, Decimal]] = {}
    for name, venue in sorted(venues.items()):  # every read first: a retry journals nothing twice
        try:
            held_by_venue[name] = {p.instrument_id: p.qty for p in await venue.fetch_positions()}
        except VenueError as error:
            if is_retryable(error):  # the network or the venue is down: the caller retries
                raise
            raise LiveSetupError(f"{name}: positions cannot be read: {error}") from error
    problems: list[str] = []
    for name, held in held_by_venue.items():
        traded = [i for i in instruments if i.venue == name]
        for iid in traded:
            venue_qty = held.get(iid, Decimal(0))
            ledger_qty = ledger.get(iid, Decimal(0))
            if _matches(instruments[iid], venue_qty, ledger_qty):
                continue
            if _delivered(instruments[iid], venue_qty, ts_ms):
                log.info(
                    "position_check_deferred",
                    instrument=str(iid),
                    ledger_qty=str(ledger_qty),
                    venue_qty=str(venue_qty),
                    reason="an expired option delivered while the run was down",
                )
                continue
            journal.record_reconciliation(ts_ms, name, iid, ledger_qty, venue_qty, "refused_start")
            problems.append(f"{iid}: the venue holds {venue_qty}, the journal {ledger_qty}")
    journal.flush()
    if problems:
        raise ReconciliationError(
            "live start refused — venue positions differ from the journal (close or move "
            "positions zerobeta did not open, or start with the journal that opened them):\n  "
            + "\n  ".join(problems)
        )
    log.info("positions_reconciled", venues=sorted(venues), instruments=len(instruments))


async def position_mismatches(
    venues: Mapping[str, Venue],
    portfolio: Portfolio,
    instruments: Mapping[InstrumentId, Instrument],
) -> list[tuple[InstrumentId, Decimal, Decimal]]:
    """``(instrument, ledger_qty, venue_qty)`` for every traded instrument whose venue
    position differs from the ledger (same tolerance as :func:`reconcile`); a venue whose
    positions cannot be read is skipped (logged)."""
    ledger = portfolio.positions()
    out: list[tuple[InstrumentId, Decimal, Decimal]] = []
    for name, venue in sorted(venues.items()):
        try:
            held = {p.instrument_id: p.qty for p in await venue.fetch_positions()}
        except VenueError as error:
            log.warning("positions_unavailable", venue=name, error=str(error))
            continue
        for iid in (i for i in instruments if i.venue == name):
            venue_qty, ledger_qty = held.get(iid, Decimal(0)), ledger.get(iid, Decimal(0))
            if not _matches(instruments[iid], venue_qty, ledger_qty):
                out.append((iid, ledger_qty, venue_qty))
    return out


def _delivered(inst: Instrument, venue_qty: Decimal, ts_ms: int) -> bool:
    """An option past its expiry at ``ts_ms`` that the venue no longer holds: delivered, its
    booking at the venue's delivery price still to come."""
    return inst.is_option and venue_qty == 0 and OptionSpec.parse(inst.id.symbol).expiry_ms <= ts_ms


def _matches(inst: Instrument, venue_qty: Decimal, ledger_qty: Decimal) -> bool:
    if inst.is_perp:
        return venue_qty == ledger_qty
    tolerance = max(inst.lot_step, abs(ledger_qty) * SPOT_TOLERANCE_FRAC)
    return abs(venue_qty - ledger_qty) <= tolerance
