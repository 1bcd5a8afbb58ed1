"""Booking an expired option's settlement into the ledger and the journal, whoever settled it.

An expired option (European, cash-settled) is closed at its intrinsic value against a
settlement price of its underlying: one settlement fill per strategy that held it
(:func:`venues.paper.options.expiry_fill`: the opposite side, price = intrinsic, possibly 0,
fee 0, trade id ``expiry-<symbol>``, with ``-<strategy>`` when several strategies held it),
applied to the ledger and journaled like any fill, so a rebuilt ledger books it too.

Where the settlement price comes from is the caller's: the underlying perpetual's price of the
step on paper (:func:`agent.engine.options.settle_option_expiries`, which also closes the paper
venue's holding), the venue's own delivery price live
(:class:`agent.engine.live_options.LiveOptionChains`: Deribit's ``public/get_delivery_prices``).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import structlog

from agent.journal.journal import Journal
from agent.portfolio.ledger import Portfolio
from venues.model import Instrument, InstrumentId, InstrumentKind, OptionSpec
from venues.paper.options import expiry_fill

__all__ = ["book_option_expiry"]

log = structlog.get_logger("zerobeta.engine")


def book_option_expiry(
    instrument_id: InstrumentId,
    spec: OptionSpec,
    settlement_usd: Decimal,
    ts_ms: int,
    *,
    instruments: Mapping[InstrumentId, Instrument],
    portfolio: Portfolio,
    journal: Journal,
    source: str,
) -> int:
    """Book the expiry of ``instrument_id`` (terms ``spec``) at intrinsic value against
    ``settlement_usd`` (USD per coin) at ``ts_ms`` (epoch ms, the step booking it): one
    settlement fill per holder, in strategy order (module docstring); logged
    ``option_expired`` with ``source`` (what the settlement price is: ``perp_price``,
    ``delivery_price``). Returns the fills booked (0 when no strategy held it).

    Raises
    ------
    KeyError
        If a held option is not in ``instruments``.
    """
    holders = portfolio.holders(instrument_id)
    for strategy, qty in sorted(holders.items()):
        suffix = "" if len(holders) == 1 else f"-{strategy}"
        fill = expiry_fill(
            instruments[instrument_id],
            qty,
            settlement_usd,
            ts_ms,
            client_order_id=f"expiry-{instrument_id.symbol}",
            trade_id=f"expiry-{instrument_id.symbol}{suffix}",
        )
        portfolio.apply_fill(strategy, fill, InstrumentKind.OPTION)
        journal.record_fill(ts_ms, strategy, fill)
    (log.info if holders else log.debug)(
        "option_expired",
        instrument=str(instrument_id),
        settlement_usd=float(settlement_usd),
        settlement_source=source,
        intrinsic_usd=float(spec.intrinsic_usd(settlement_usd)),
        holders=len(holders),
    )
    return len(holders)
