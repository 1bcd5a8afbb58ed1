"""What ``mode = "live"`` adds to the engine: the start-up reconciliation (after booking what
unresolved orders filled), and in the hourly step funding booked from the venues' payment
history and the running check of every traded position against the ledger.

Functions of :class:`agent.engine.engine.Engine` kept apart from the paper/replay step (they touch
only real venue clients).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from agent.live.account import position_mismatches, reconcile
from agent.risk import MANUAL_HALT
from strategies.base import Alert
from venues.errors import VenueError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from agent.engine.engine import Engine
    from venues.base import Venue
    from venues.model import Instrument, InstrumentId

log = structlog.get_logger("zerobeta.engine")


async def check_live_positions(engine: Engine, ts_ms: int) -> None:
    """``mode = "live"``: after each step's orders, every traded position on the venues
    must equal the ledger's. A difference (a fill the executor could not confirm, a manual
    trade) is journaled and alerted once and halts opening (closing stays allowed) until
    a restart, whose start-up reconciliation then decides."""
    live = {n: v for n, v in engine.venues.items() if n not in engine.paper}
    for iid, ledger_qty, venue_qty in await position_mismatches(
        live, engine.portfolio, engine.instruments
    ):
        key = (str(iid), str(venue_qty))
        if key in engine.reported_mismatches:
            continue
        engine.reported_mismatches.add(key)
        engine.journal.record_reconciliation(
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
        engine.journal.record_alert(ts_ms, "supervisor", alert)
        log.error(alert.kind, message=alert.message, **alert.fields)
        engine.risk.halt(ts_ms, float(venue_qty - ledger_qty))


async def collect_live_funding(engine: Engine, ts_ms: int) -> None:
    """``mode = "live"``: book the funding each venue settled on the account since the last
    look (its payment history: Binance income, Bybit transaction log, OKX bills,
    Hyperliquid userFunding), each payment once. A venue error is logged and the same
    window is read again at the next step."""
    for name, venue in sorted(engine.venues.items()):
        if name in engine.paper:
            continue
        since_ms = engine.funding_since_ms.get(name, engine.clock.now_ms())
        try:
            payments = await venue.fetch_funding_payments(since_ms)
        except VenueError as error:
            log.warning("funding_payments_unavailable", venue=name, error=str(error))
            continue
        for payment in sorted(payments, key=lambda p: (p.ts_funding_ms, p.instrument_id)):
            key = (str(payment.instrument_id), payment.ts_funding_ms)
            if key in engine.funding_seen:
                continue
            if payment.instrument_id not in engine.instruments:
                log.warning("funding_on_untracked_position", payment=str(payment))
                engine.funding_seen.add(key)
                continue
            engine.book_funding(ts_ms, payment)
            since_ms = max(since_ms, payment.ts_funding_ms)
        engine.funding_since_ms[name] = since_ms


async def reconcile_at_start(
    engine: Engine,
    trading: Mapping[str, Venue],
    instruments: Mapping[InstrumentId, Instrument],
    now_ms: int,
) -> None:
    """``mode = "live"`` start: book what orders a previous run could not resolve filled
    (their reverse goes out at the first step with prices), then compare every position with
    the venues (raises ``ReconciliationError`` on a difference); a mismatch halt is lifted."""
    await engine.executor.follow_up(now_ms)
    await reconcile(trading, engine.portfolio, instruments, engine.journal, now_ms)
    engine.risk.resume_opening()
    for name in trading:
        engine.funding_since_ms.setdefault(name, now_ms)
