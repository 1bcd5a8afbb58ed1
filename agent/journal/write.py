"""Journal writers: one ``record_*`` method per record kind, each row encoded exactly.

:class:`JournalWriter` adds to :class:`agent.journal.store.JournalStore` the methods the
executor, supervisor and reconciliation call. Decimals become exact text, JSON is canonical
(sorted keys, compact), fills and funding payments take the next booking ``seq`` (one counter
over both tables, continued from the file on reopen), and order rows after the first inherit
the context (strategy, intent, leg, attempt, order type) of their client order id.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, NamedTuple

from agent.journal.store import JournalStore
from agent.portfolio.ledger import PnlStreams, Portfolio
from strategies.base import Alert, PairIntent
from venues.model import (
    Fill,
    FundingPayment,
    InstrumentId,
    OrderAck,
    OrderRequest,
    OrderStatus,
    Side,
)

PENDING_NEW = "pending_new"
"""Status of the row written just before an order is sent."""


class _OrderContext(NamedTuple):
    strategy: str
    intent_id: str
    leg: str
    attempt: int
    order_type: str | None
    limit_price: str | None
    reduce_only: int | None


_UNKNOWN_ORDER = _OrderContext("", "", "", 0, None, None, None)


class JournalWriter(JournalStore):
    """The journal's record methods over its buffered store; see
    :class:`agent.journal.journal.Journal`."""

    def __init__(self, connection: sqlite3.Connection, path: str, batch_rows: int) -> None:
        super().__init__(connection, path, batch_rows)
        self._orders: dict[str, _OrderContext] = {}
        self._seq = _max_seq(connection)

    def record_meta(self, items: Mapping[str, str]) -> None:
        """Run metadata (config hash, mode, window ...); a later value for a key wins."""
        for key, value in items.items():
            self._append("run_meta", (key, str(value)))

    def record_intent(self, ts_ms: int, strategy: str, intent: PairIntent) -> None:
        """A pair intent, journaled before any of its orders is sent."""
        legs = [{"instrument": str(leg.instrument_id), "target_qty": leg.target_qty}
                for leg in intent.legs]  # fmt: skip
        row = (ts_ms, strategy, intent.intent_id, intent.reason, int(intent.opening), _json(legs))
        self._append("intents", row)

    def record_order_request(
        self,
        ts_ms: int,
        strategy: str,
        intent_id: str,
        leg: str,
        attempt: int,
        request: OrderRequest,
    ) -> None:
        """An order about to be sent (status ``pending_new``); later rows for the same client
        order id inherit its strategy, intent, leg and attempt."""
        context = _OrderContext(
            strategy,
            intent_id,
            leg,
            attempt,
            request.order_type.value,
            _text(request.limit_price),
            int(request.reduce_only),
        )
        self._orders[request.client_order_id] = context
        self._order_row(ts_ms, request.client_order_id, context, request.instrument_id,
                        request.side, request.qty, PENDING_NEW)  # fmt: skip

    def record_order_ack(self, ts_ms: int, ack: OrderAck) -> None:
        """The venue's answer about an order (one row per state change)."""
        context = self._order_context(ack.client_order_id)
        self._order_row(
            ts_ms, ack.client_order_id, context, ack.instrument_id, ack.side, ack.qty,
            ack.status.value, ack.venue_order_id, ack.filled_qty, ack.avg_price,
            ack.reject_code, ack.reject_reason,
        )  # fmt: skip

    def record_order_rejected(
        self, ts_ms: int, request: OrderRequest, code: str | None, reason: str
    ) -> None:
        """The venue refused an order (``OrderRejected``: venue ``code`` and ``reason``)."""
        context = self._order_context(request.client_order_id)
        self._order_row(
            ts_ms, request.client_order_id, context, request.instrument_id, request.side,
            request.qty, OrderStatus.REJECTED.value, None, Decimal(0), None, code, reason,
        )  # fmt: skip

    def record_fill(self, ts_ms: int, strategy: str, fill: Fill) -> None:
        """A fill booked for ``strategy`` (same order as :meth:`Portfolio.apply_fill`)."""
        self._seq += 1
        row = (
            self._seq, ts_ms, strategy, fill.client_order_id, fill.venue_order_id, fill.trade_id,
            str(fill.instrument_id), fill.side.value, str(fill.qty), str(fill.price),
            str(fill.fee_usd), _text(fill.reference_price), fill.liquidity.value,
            fill.ts_event_ms,
        )  # fmt: skip
        self._append("fills", row)

    def record_funding(
        self, ts_ms: int, payment: FundingPayment, allocations: Mapping[str, Decimal]
    ) -> None:
        """A funding payment and its split per strategy (``Portfolio.apply_funding``'s result)."""
        self._seq += 1
        instrument = str(payment.instrument_id)
        row = (
            self._seq, ts_ms, instrument, payment.ts_funding_ms, payment.rate,
            payment.interval_s, str(payment.position_qty), str(payment.mark_price),
            str(payment.amount_usd),
        )  # fmt: skip
        self._append("funding_payments", row)
        for strategy, amount in allocations.items():
            self._append(
                "funding_allocations", (self._seq, ts_ms, instrument, strategy, str(amount))
            )

    def record_equity_snapshot(
        self, ts_ms: int, portfolio: Portfolio, btc_price: float | None, *, strategies: bool = True
    ) -> None:
        """Equity, P&L streams and exposures of ``portfolio`` (USD); per-strategy streams too
        unless ``strategies`` is False. ``btc_price`` in USD, for the summary's beta."""
        snap = portfolio.snapshot_rows()
        pnl = snap.pnl
        row = (ts_ms, str(snap.equity_usd), str(snap.initial_equity_usd), *_stream_texts(pnl),
               str(snap.gross_notional_usd), str(snap.net_delta_usd), btc_price)  # fmt: skip
        self._append("equity_snapshots", row)
        if strategies:
            for name, streams in pnl.by_strategy.items():
                self._append("strategy_pnl_snapshots", (ts_ms, name, *_stream_texts(streams)))

    def record_risk_event(
        self,
        ts_ms: int,
        rule: str,
        limit_value: float,
        value: float,
        strategy: str,
        intent_id: str,
        detail: str,
    ) -> None:
        """A risk rule refused an intent or a breaker tripped (limit and value in the rule's
        unit)."""
        self._append("risk_events", (ts_ms, rule, limit_value, value, strategy, intent_id, detail))

    def record_alert(self, ts_ms: int, strategy: str, alert: Alert) -> None:
        """An alert a strategy raised."""
        row = (ts_ms, strategy, alert.kind, alert.message, _json(dict(alert.fields), strict=False))
        self._append("alerts", row)

    def record_strategy_state(
        self, ts_ms: int, strategy: str, state: str | Mapping[str, Any]
    ) -> None:
        """Strategy state that must survive a restart: a JSON text or a JSON-able mapping."""
        text = state if isinstance(state, str) else _json(state, strict=False)
        self._append("strategy_state", (ts_ms, strategy, text))

    def record_reconciliation(
        self,
        ts_ms: int,
        venue: str,
        instrument: InstrumentId,
        journal_qty: Decimal,
        venue_qty: Decimal,
        action: str,
    ) -> None:
        """A startup discrepancy between the ledger and a venue (base units) and what was done."""
        row = (ts_ms, venue, str(instrument), str(journal_qty), str(venue_qty), action)
        self._append("reconciliation", row)

    # ---- internals -----------------------------------------------------------------------

    def _order_context(self, client_order_id: str) -> _OrderContext:
        """Context of an order sent by this process or, after a restart, found in the file."""
        context = self._orders.get(client_order_id)
        if context is not None:
            return context
        self.flush()
        row = (
            self._connection()
            .execute(
                "SELECT strategy, intent_id, leg, attempt, order_type, limit_price, reduce_only"
                " FROM orders WHERE client_order_id = ? ORDER BY id LIMIT 1",
                (client_order_id,),
            )
            .fetchone()
        )
        context = _UNKNOWN_ORDER if row is None else _OrderContext(*row)
        self._orders[client_order_id] = context
        return context

    def _order_row(
        self,
        ts_ms: int,
        client_order_id: str,
        context: _OrderContext,
        instrument: InstrumentId,
        side: Side,
        qty: Decimal,
        status: str,
        venue_order_id: str | None = None,
        filled_qty: Decimal | None = None,
        avg_price: Decimal | None = None,
        reject_code: str | None = None,
        reject_reason: str | None = None,
    ) -> None:
        row = (
            ts_ms, client_order_id, context.strategy, context.intent_id, context.leg,
            context.attempt, str(instrument), side.value, str(qty), context.order_type,
            context.limit_price, context.reduce_only, status, venue_order_id,
            _text(filled_qty), _text(avg_price), reject_code, reject_reason,
        )  # fmt: skip
        self._append("orders", row)


def _max_seq(conn: sqlite3.Connection) -> int:
    row = conn.execute(
        "SELECT coalesce(max(seq), 0) FROM"
        " (SELECT seq FROM fills UNION ALL SELECT seq FROM funding_payments)"
    ).fetchone()
    return int(row[0])


def _stream_texts(streams: PnlStreams) -> tuple[str, ...]:
    """The ``_STREAMS`` columns of ``streams`` as exact text."""
    return tuple(
        str(v)
        for v in (
            streams.price_spot_usd, streams.price_perp_usd, streams.funding_usd,
            streams.fees_usd, streams.slippage_usd, streams.total_usd,
            streams.realized_usd, streams.unrealized_usd,
        )
    )  # fmt: skip


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _json(value: Any, *, strict: bool = True) -> str:
    """Canonical JSON (sorted keys, compact); ``strict`` refuses NaN/inf with ValueError."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=not strict)
