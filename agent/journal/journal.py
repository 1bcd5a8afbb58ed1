"""Append-only SQLite journal (WAL): what the agent decided, sent, got and held.

One table per record kind; rows are only ever inserted (``id INTEGER PRIMARY KEY
AUTOINCREMENT``, so ids follow insertion order). Every row carries ``ts_ms`` from the agent
clock, never wall time, so two runs of the same replay write identical journals row for row
(:meth:`Journal.dump_rows`). Decimals are stored as TEXT (exact), floats as REAL, JSON with
sorted keys. Fills and funding payments also carry ``seq``, one counter over both tables, so
:meth:`Journal.ledger_events` can replay the ledger in booking order
(:meth:`agent.portfolio.ledger.Portfolio.replay`).

Writes are buffered and committed in batches: :meth:`Journal.flush` (also called by
:meth:`Journal.close`, by every reader, and whenever ``batch_rows`` rows are pending). A
replay's rows not yet committed are lost if the process is killed; the run is then redone or
resumed from its last committed step.

A **durable** journal (``Journal.open(..., durable=True)``; the builder opens one for
``mode = "live"``) commits the write-ahead rows as they are recorded, before the method returns,
with ``synchronous=FULL``: each order request before the order is sent (the caller records
it first), its intent in the same commit as the intent's first order request (one fsync, not
two, on the way from a decision to its first order; an intent that sends nothing rides along
with the next commit), each order state, fill and funding payment (with its allocations) as it
arrives. Each such commit is fsynced: neither a killed process nor a power loss (on a disk
that honours fsync) loses a row the agent acted on. The other rows (snapshots, alerts, strategy
state, risk events) ride along with the next commit.

Nothing stored here takes a secret: the record methods accept only market, order, fill and
P&L value types, strategy state and alert text, and run metadata (config hash, mode, window).

Errors: :class:`JournalError` (cannot open, unknown schema version, write failed, closed).

Writers: one ``record_*`` method per record kind, each row encoded exactly. Decimals become
exact text, JSON is canonical (sorted keys, compact), fills and funding payments take the next
booking ``seq`` (one counter over both tables, continued from the file on reopen), and order
rows after the first inherit the context (strategy, intent, leg, attempt, order type) of their
client order id. Readers serve the ledger replay, resume and the summary.

Layout: :mod:`agent.journal.schema` (tables and columns, creating and checking the schema),
:mod:`agent.journal.store` (the SQLite connection and batched commits, a part each
:class:`Journal` owns); this module holds :class:`Journal`, its writers and readers.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple, Self

from agent.errors import JournalError
from agent.journal.schema import MEMORY, SCHEMA, SCHEMA_VERSION, STREAM_COLUMNS, TABLES
from agent.journal.store import JournalStore
from agent.portfolio.ledger import PnlStreams, Portfolio, PortfolioSnapshot
from strategies.base import Alert, PairIntent, TargetPosition
from venues.model import (
    Fill,
    FundingPayment,
    InstrumentId,
    Liquidity,
    OrderAck,
    OrderRequest,
    OrderStatus,
    Side,
)

__all__ = [
    "MEMORY",
    "PENDING_NEW",
    "SCHEMA_VERSION",
    "TABLES",
    "EquityMark",
    "EquityPoint",
    "InstrumentIds",
    "Journal",
    "JournalError",
    "JournalFill",
    "JournalFunding",
    "OrderRecord",
    "PairExposureTotals",
]


PENDING_NEW = "pending_new"
ORDERS_WITHOUT_OUTCOME_SQL = (
    "SELECT o.ts_ms, o.client_order_id, o.strategy, o.intent_id, o.leg, o.attempt,"
    " o.instrument, o.side, o.qty, o.order_type, o.limit_price, o.reduce_only, o.status"
    " FROM orders o JOIN (SELECT client_order_id, max(id) AS id FROM orders"
    " GROUP BY client_order_id) latest ON o.id = latest.id"
    " WHERE o.status NOT IN (?, ?, ?, ?) ORDER BY o.id"
)
"""Each order's latest row when its status is not one of the four final ones (parameters)."""
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


@dataclass(frozen=True, slots=True)
class OpenOrderRow:
    """An order whose latest journaled state is not final
    (:meth:`Journal.orders_without_outcome`); quantities in base units, ``booked_qty``
    signed."""

    ts_ms: int
    client_order_id: str
    strategy: str
    intent_id: str
    leg: str
    attempt: int
    instrument_id: InstrumentId
    side: Side
    qty: Decimal
    order_type: str
    limit_price: Decimal | None
    reduce_only: bool
    status: str
    booked_trade_ids: frozenset[str]
    booked_qty: Decimal


@dataclass(frozen=True, slots=True)
class OrderRecord:
    """What the journal holds about one client order id (:meth:`Journal.order_record`): its
    latest status and its fills (trade ids, signed base units)."""

    status: str
    trade_ids: frozenset[str]
    fills_by_trade: Mapping[str, Decimal]

    @property
    def filled_qty(self) -> Decimal:
        """Signed base units of the fills booked for the order."""
        return sum(self.fills_by_trade.values(), Decimal(0))


class JournalFill(NamedTuple):
    """A journaled fill: booking sequence number, agent time (epoch ms), owning strategy."""

    seq: int
    ts_ms: int
    strategy: str
    fill: Fill


class JournalFunding(NamedTuple):
    """A journaled funding payment: booking sequence number and agent time (epoch ms)."""

    seq: int
    ts_ms: int
    payment: FundingPayment


class PairExposureTotals(NamedTuple):
    """One strategy's ``pair_exposure`` rows summed up: pairs journaled, their unhedged
    notional integrated over time (USD·s), the longest time one stayed unhedged (ms), the
    largest unhedged notional seen (USD), how many went past their naked budget, and how many
    were still unbalanced when the run ended (``outcome = 'open'``)."""

    pairs: int
    unhedged_usd_s: float
    longest_unhedged_ms: int
    max_unhedged_usd: float
    pairs_past_budget: int
    pairs_open: int


class EquityPoint(NamedTuple):
    """One equity snapshot: agent time (epoch ms), USD amounts as Decimal, BTC price (USD)."""

    ts_ms: int
    equity_usd: Decimal
    initial_equity_usd: Decimal
    price_spot_usd: Decimal
    price_perp_usd: Decimal
    funding_usd: Decimal
    fees_usd: Decimal
    slippage_usd: Decimal
    total_pnl_usd: Decimal
    realized_usd: Decimal
    unrealized_usd: Decimal
    gross_notional_usd: Decimal
    net_delta_usd: Decimal
    btc_price: float | None


class EquityMark(NamedTuple):
    """An equity snapshot's agent time (epoch ms), equity (USD) and BTC price (USD)."""

    ts_ms: int
    equity_usd: Decimal
    btc_price: float | None


class Journal:
    """Append-only SQLite journal; create with :meth:`open`.

    Parameters
    ----------
    store : JournalStore
        The open file and its pending rows (:meth:`open` makes one).
    """

    def __init__(self, store: JournalStore) -> None:
        self._store = store
        self._orders: dict[str, _OrderContext] = {}
        self._seq = _max_seq(store)
        # the text of the last equity snapshot written, by the snapshot it came from (the
        # ledger hands out the same object until something changes): an hour in which nothing
        # moved writes the same texts without converting them again
        self._snapshot_texts: tuple[PortfolioSnapshot, _SnapshotTexts] | None = None
        # per strategy, the legs of its last intent and their JSON: a strategy that restates
        # the same targets hands the same tuple again (factor_neutral, every hour between its
        # rebalances), written without encoding them again
        self._intent_legs: dict[str, tuple[tuple[TargetPosition, ...], str]] = {}

    @classmethod
    def open(cls, path: Path | str, *, batch_rows: int = 10_000, durable: bool = False) -> Self:
        """Open (creating if missing) the journal at ``path``; ``":memory:"`` for a test.

        Sets ``journal_mode=WAL`` and ``synchronous=NORMAL`` and creates the schema. A
        ``durable`` journal (live trading) commits intents, orders, fills and funding payments as
        they are recorded, with ``synchronous=FULL`` (module docstring).

        Raises
        ------
        JournalError
            If the file cannot be opened, is not a zerobeta journal, has another schema
            version, or WAL cannot be enabled on it.
        ValueError
            If ``batch_rows`` < 1.
        """
        return cls(JournalStore.open(path, batch_rows=batch_rows, durable=durable))

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def path(self) -> str:
        """Journal path (``":memory:"`` for an in-memory journal)."""
        return self._store.path

    @property
    def journal_mode(self) -> str:
        """SQLite journal mode in effect (``"wal"`` for a file, ``"memory"`` in memory)."""
        return self._store.journal_mode

    @property
    def durable(self) -> bool:
        """True if intents, orders, fills and funding payments are committed as recorded."""
        return self._store.durable

    def flush(self) -> None:
        """Commit every pending row in one transaction (:meth:`JournalStore.flush`).

        Raises
        ------
        JournalError
            If the write fails (the rows stay pending) or the journal is closed.
        """
        self._store.flush()

    def atomic(self) -> AbstractContextManager[None]:
        """Commit the rows recorded in the ``with`` block together (see
        :meth:`JournalStore.atomic`): an order's state with its fills."""
        return self._store.atomic()

    def close(self) -> None:
        """Flush and close; idempotent."""
        self._store.close()

    # ---- writers -------------------------------------------------------------------------

    def record_meta(self, items: Mapping[str, str]) -> None:
        """Run metadata (config hash, mode, window ...); a later value for a key wins."""
        for key, value in items.items():
            self._store.append("run_meta", (key, str(value)))

    def record_intent(self, ts_ms: int, strategy: str, intent: PairIntent) -> None:
        """A pair intent, journaled before any of its orders is sent; a durable journal commits
        it with the intent's first order request (:meth:`record_order_request`), before that
        order leaves."""
        legs = intent.legs
        kept = self._intent_legs.get(strategy)
        if kept is not None and kept[0] is legs:
            legs_json = kept[1]  # the very tuple (immutable, of frozen legs): the same text
        else:
            legs_json = _legs_json(legs)
            if type(legs) is tuple:  # not a list a strategy could change in place
                self._intent_legs[strategy] = (legs, legs_json)
        row = (ts_ms, strategy, intent.intent_id, intent.reason, int(intent.opening), legs_json)
        self._store.append("intents", row)

    def record_order_request(
        self,
        ts_ms: int,
        strategy: str,
        intent_id: str,
        leg: str,
        attempt: int,
        request: OrderRequest,
    ) -> None:
        """An order about to be sent (status ``pending_new``; committed on return if durable);
        later rows for the same client order id inherit its strategy, intent, leg and
        attempt."""
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
        self._store.append("fills", row)
        self._store.commit_ahead()

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
        self._store.append("funding_payments", row)
        for strategy, amount in allocations.items():
            self._store.append(
                "funding_allocations", (self._seq, ts_ms, instrument, strategy, str(amount))
            )
        self._store.commit_ahead()  # the payment with its split: one transaction

    def record_equity_snapshot(
        self, ts_ms: int, portfolio: Portfolio, btc_price: float | None, *, strategies: bool = True
    ) -> None:
        """Equity, P&L streams and exposures of ``portfolio`` (USD); per-strategy streams too
        unless ``strategies`` is False. ``btc_price`` in USD, for the summary's beta."""
        snap = portfolio.snapshot_rows()
        if self._snapshot_texts is not None and self._snapshot_texts[0] is snap:
            texts = self._snapshot_texts[1]
        else:
            texts = _snapshot_texts(snap)
            self._snapshot_texts = (snap, texts)
        head, streams, tail = texts.totals
        self._store.append("equity_snapshots", (ts_ms, *head, *streams, *tail, btc_price))
        if strategies:
            for name, strategy_streams in texts.by_strategy:
                self._store.append("strategy_pnl_snapshots", (ts_ms, name, *strategy_streams))

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
        self._store.append(
            "risk_events", (ts_ms, rule, limit_value, value, strategy, intent_id, detail)
        )

    def record_alert(self, ts_ms: int, strategy: str, alert: Alert) -> None:
        """An alert a strategy raised."""
        row = (ts_ms, strategy, alert.kind, alert.message, _json(dict(alert.fields), strict=False))
        self._store.append("alerts", row)

    def record_strategy_state(
        self, ts_ms: int, strategy: str, state: str | Mapping[str, Any]
    ) -> None:
        """Strategy state that must survive a restart: a JSON text or a JSON-able mapping."""
        text = state if isinstance(state, str) else _json(state, strict=False)
        self._store.append("strategy_state", (ts_ms, strategy, text))

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
        self._store.append("reconciliation", row)

    def record_funding_reconciliation(
        self,
        ts_ms: int,
        payment: FundingPayment,
        *,
        rate: float,
        position_qty: Decimal,
        mark_price: Decimal,
        expected_usd: Decimal,
        gap_bps: float | None,
    ) -> None:
        """A venue's funding payment against the expected ``−rate × position_qty ×
        mark_price`` (the ledger's position, the settled rate and mark): ``gap_usd = paid −
        expected``, ``gap_bps`` of the position's notional (None when flat)."""
        gap = payment.amount_usd - expected_usd
        row = (
            ts_ms, str(payment.instrument_id), payment.ts_funding_ms, rate, str(position_qty),
            str(mark_price), str(expected_usd), str(payment.amount_usd), str(gap), gap_bps,
        )  # fmt: skip
        self._store.append("funding_reconciliation", row)

    def record_pair_exposure(
        self,
        ts_ms: int,
        strategy: str,
        intent_id: str,
        *,
        leg_policy: str,
        legs: int,
        ts_opened_ms: int,
        unhedged_usd_s: float,
        longest_unhedged_ms: int,
        max_unhedged_usd: float,
        naked_budget_usd_s: float,
        past_budget: bool,
        outcome: str,
    ) -> None:
        """A pair's leg risk once it balanced or finished (or was still open at the end of the
        run): its unhedged notional integrated over time (USD·s), longest unhedged stretch
        (ms), largest unhedged notional (USD), the budget it ran under (USD·s), whether it went
        past it, and how it ended (see :mod:`agent.execution.exposure`)."""
        row = (
            ts_ms, strategy, intent_id, leg_policy, legs, ts_opened_ms, unhedged_usd_s,
            longest_unhedged_ms, max_unhedged_usd, naked_budget_usd_s, int(past_budget),
            outcome,
        )  # fmt: skip
        self._store.append("pair_exposure", row)

    def order_strategy(self, client_order_id: str) -> str | None:
        """The strategy that sent ``client_order_id`` (this process, or a run the journal holds);
        None for an order the journal does not know (placed by someone else)."""
        context = self._order_context(client_order_id)
        return None if context is _UNKNOWN_ORDER else context.strategy

    def _order_context(self, client_order_id: str) -> _OrderContext:
        """Context of an order sent by this process or, after a restart, found in the file."""
        context = self._orders.get(client_order_id)
        if context is not None:
            return context
        rows = self._store.query(
            "SELECT strategy, intent_id, leg, attempt, order_type, limit_price, reduce_only"
            " FROM orders WHERE client_order_id = ? ORDER BY id LIMIT 1",
            (client_order_id,),
        )
        context = _OrderContext(*rows[0]) if rows else _UNKNOWN_ORDER
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
        self._store.append("orders", row)
        self._store.commit_ahead()

    # ---- readers -------------------------------------------------------------------------

    def iter_fills(self) -> Iterator[JournalFill]:
        """Every fill in booking order."""
        yield from fills_from_rows(self._store.query(FILLS_IN_BOOKING_ORDER_SQL))

    def orders_without_outcome(self) -> list[OpenOrderRow]:
        """Orders whose latest journaled state is not final (``pending_new`` written ahead of
        the send, or ``new`` / ``partially_filled``): each with its request as journaled and the
        trade ids and signed qty of its fills already booked. A run killed between sending an
        order and booking its answer leaves such rows; the next start looks them up."""
        final = tuple(s.value for s in OrderStatus if s.is_final)
        out = []
        for row in self._store.query(ORDERS_WITHOUT_OUTCOME_SQL, final):
            fills = self._store.query(
                "SELECT trade_id, side, qty FROM fills WHERE client_order_id = ? ORDER BY seq",
                (row[1],),
            )
            booked_qty = sum((Side(side).sign * Decimal(qty) for _, side, qty in fills), Decimal(0))
            out.append(
                OpenOrderRow(
                    ts_ms=int(row[0]),
                    client_order_id=str(row[1]),
                    strategy=str(row[2]),
                    intent_id=str(row[3]),
                    leg=str(row[4]),
                    attempt=int(row[5]),
                    instrument_id=InstrumentId.parse(str(row[6])),
                    side=Side(row[7]),
                    qty=Decimal(row[8]),
                    order_type=str(row[9] or "market"),
                    limit_price=None if row[10] is None else Decimal(row[10]),
                    reduce_only=bool(row[11]),
                    status=str(row[12]),
                    booked_trade_ids=frozenset(str(t) for t, _, _ in fills),
                    booked_qty=booked_qty,
                )
            )
        return out

    def intent_booked(
        self, strategy: str, intent_id: str
    ) -> tuple[bool, dict[str, tuple[InstrumentId, Decimal]]]:
        """Whether the strategy flagged intent ``intent_id`` opening (False when the journal
        has no row of it), and per order of it (client order id) its instrument and the signed
        base units booked (Σ side × qty of its fills; 0 for an order without fills). Commits
        what is pending first."""
        opening = self.intent_opening(strategy, intent_id)
        booked: dict[str, tuple[InstrumentId, Decimal]] = {}
        for cid, instrument in self._store.query(
            "SELECT DISTINCT client_order_id, instrument FROM orders"
            " WHERE strategy = ? AND intent_id = ?",
            (strategy, intent_id),
        ):
            fills = self._store.query(
                "SELECT side, qty FROM fills WHERE client_order_id = ?", (cid,)
            )
            qty = sum((Side(side).sign * Decimal(q) for side, q in fills), Decimal(0))
            booked[str(cid)] = (InstrumentId.parse(str(instrument)), qty)
        return bool(opening), booked

    def intent_opening(self, strategy: str, intent_id: str) -> bool | None:
        """Whether the strategy flagged intent ``intent_id`` opening (its latest row), None
        when the journal has no row of it. Commits what is pending first."""
        self.flush()
        flag = self._store.query(
            "SELECT opening FROM intents WHERE strategy = ? AND intent_id = ? ORDER BY id DESC"
            " LIMIT 1",
            (strategy, intent_id),
        )
        return bool(flag[0][0]) if flag else None

    def order_record(self, client_order_id: str) -> OrderRecord | None:
        """The latest state and the fills of one order, None if the journal has no row for
        ``client_order_id`` (commits what is pending first)."""
        rows = self._store.query(
            "SELECT status FROM orders WHERE client_order_id = ? ORDER BY id DESC LIMIT 1",
            (client_order_id,),
        )
        if not rows:
            return None
        fills = self._store.query(
            "SELECT trade_id, side, qty FROM fills WHERE client_order_id = ? ORDER BY seq",
            (client_order_id,),
        )
        by_trade = {str(t): Side(side).sign * Decimal(qty) for t, side, qty in fills}
        return OrderRecord(str(rows[0][0]), frozenset(by_trade), by_trade)

    def iter_funding_payments(self) -> Iterator[JournalFunding]:
        """Every funding payment in booking order."""
        yield from funding_from_rows(self._store.query(FUNDING_IN_BOOKING_ORDER_SQL))

    def ledger_events(self) -> Iterator[tuple[str, Fill] | FundingPayment]:
        """Fills (as ``(strategy, fill)``) and funding payments merged in booking order, for
        :meth:`agent.portfolio.ledger.Portfolio.replay`."""
        fills: Iterator[tuple[int, tuple[str, Fill] | FundingPayment]] = (
            (f.seq, (f.strategy, f.fill)) for f in self.iter_fills()
        )
        funding: Iterator[tuple[int, tuple[str, Fill] | FundingPayment]] = (
            (p.seq, p.payment) for p in self.iter_funding_payments()
        )
        for _, event in heapq.merge(fills, funding, key=lambda item: item[0]):
            yield event

    def equity_series(self) -> list[EquityPoint]:
        """Every equity snapshot, oldest first."""
        names = [c for c, _ in SCHEMA["equity_snapshots"]]
        rows = self._store.query(f"SELECT {', '.join(names)} FROM equity_snapshots ORDER BY id")  # noqa: S608 - column names are constants
        return [EquityPoint._make((row[0], *map(Decimal, row[1:-1]), row[-1])) for row in rows]

    def equity_curve(self) -> list[EquityMark]:
        """Every equity snapshot's time, equity and BTC price, oldest first: the columns of
        :meth:`equity_series` the summary's statistics read (its P&L streams are neither
        fetched nor converted to Decimal)."""
        rows = self._store.query(
            "SELECT ts_ms, equity_usd, btc_price FROM equity_snapshots ORDER BY id"
        )
        return [EquityMark(ts_ms, Decimal(equity), btc) for ts_ms, equity, btc in rows]

    def latest_strategy_pnl(self) -> dict[str, PnlStreams]:
        """Each strategy's P&L streams from its latest snapshot, USD."""
        streams = ", ".join(c for c, _ in STREAM_COLUMNS if c != "total_pnl_usd")
        sql = f"SELECT strategy, {streams} FROM strategy_pnl_snapshots WHERE id IN"  # noqa: S608 - constants
        sql += " (SELECT max(id) FROM strategy_pnl_snapshots GROUP BY strategy) ORDER BY strategy"
        return {
            row[0]: PnlStreams(*(Decimal(v) for v in row[1:])) for row in self._store.query(sql)
        }

    def latest_strategy_states(self) -> dict[str, dict[str, Any]]:
        """Each strategy's latest journaled state (decoded JSON)."""
        sql = "SELECT strategy, state_json FROM strategy_state WHERE id IN"
        sql += " (SELECT max(id) FROM strategy_state GROUP BY strategy) ORDER BY strategy"
        return {row[0]: json.loads(row[1]) for row in self._store.query(sql)}

    def pair_exposure_by_strategy(self) -> dict[str, PairExposureTotals]:
        """Each strategy's ``pair_exposure`` rows summed up (strategies without a row absent),
        by strategy name."""
        sql = (
            "SELECT strategy, count(*), total(unhedged_usd_s), max(longest_unhedged_ms),"
            " max(max_unhedged_usd), total(past_budget), total(outcome = 'open')"
            " FROM pair_exposure GROUP BY strategy ORDER BY strategy"
        )
        return {
            row[0]: PairExposureTotals(
                int(row[1]), float(row[2]), int(row[3]), float(row[4]), int(row[5]), int(row[6])
            )
            for row in self._store.query(sql)
        }

    def pair_outcomes_by_strategy(self) -> dict[str, dict[str, int]]:
        """How each strategy's journaled pairs ended (``pair_exposure.outcome``: ``filled``,
        ``unwound``, ``completed``, ``superseded``, ``open``...) → count, by strategy name;
        both sorted by name."""
        sql = (
            "SELECT strategy, outcome, count(*) FROM pair_exposure"
            " GROUP BY strategy, outcome ORDER BY strategy, outcome"
        )
        result: dict[str, dict[str, int]] = {}
        for strategy, outcome, n in self._store.query(sql):
            result.setdefault(str(strategy), {})[str(outcome)] = int(n)
        return result

    def meta(self) -> dict[str, str]:
        """Run metadata; the latest value of each key."""
        return {
            key: value
            for key, value in self._store.query("SELECT key, value FROM run_meta ORDER BY id")
        }

    def latest_meta_row(self, key: str) -> tuple[int, str] | None:
        """``(row id, value)`` of the latest ``run_meta`` row of ``key``, or None."""
        rows = self._store.query(
            "SELECT id, value FROM run_meta WHERE key = ? ORDER BY id DESC LIMIT 1", (key,)
        )
        return (int(rows[0][0]), str(rows[0][1])) if rows else None

    def data_version(self) -> int:
        """Changes whenever another connection committed to the file
        (:meth:`JournalStore.data_version`); cheap, commits nothing."""
        return self._store.data_version()

    def counts(self) -> dict[str, int]:
        """Row counts for the summary: ``orders`` (distinct client order ids), ``order_events``,
        ``rejections`` (orders the venue rejected), ``fills``, ``funding_payments``,
        ``intents``, ``risk_events``, ``alerts``, ``reconciliation``."""
        queries = {
            "orders": "SELECT count(DISTINCT client_order_id) FROM orders",
            "order_events": "SELECT count(*) FROM orders",
            "rejections": "SELECT count(DISTINCT client_order_id) FROM orders"
            " WHERE status = 'rejected'",
        }
        for table in (
            "fills",
            "funding_payments",
            "intents",
            "risk_events",
            "alerts",
            "reconciliation",
        ):
            queries[table] = f"SELECT count(*) FROM {table}"  # noqa: S608 - constant table names
        return {name: int(self._store.query(sql)[0][0]) for name, sql in queries.items()}

    def dump_rows(self, table: str) -> list[tuple[Any, ...]]:
        """Every row of ``table`` (including ``id``) in id order, for determinism tests.

        Raises
        ------
        ValueError
            If ``table`` is not a journal table.
        """
        if table not in SCHEMA:
            raise ValueError(f"unknown journal table {table!r}; known: {', '.join(TABLES)}")
        return [tuple(row) for row in self._store.query(f"SELECT * FROM {table} ORDER BY id")]  # noqa: S608 - checked above


FILLS_IN_BOOKING_ORDER_SQL = (
    "SELECT seq, ts_ms, strategy, client_order_id, venue_order_id, trade_id, instrument,"
    " side, qty, price, fee_usd, reference_price, liquidity, ts_event_ms FROM fills ORDER BY seq"
)
"""Every fill in booking order, in the column order :func:`fills_from_rows` reads (a read-only
reader of the file, ``zerobeta status``, runs the same query on its own connection)."""


FUNDING_IN_BOOKING_ORDER_SQL = (
    "SELECT seq, ts_ms, instrument, ts_funding_ms, rate, interval_s, position_qty, mark_price,"
    " amount_usd FROM funding_payments ORDER BY seq"
)
"""Every funding payment in booking order, in the column order
:func:`funding_from_rows` reads."""


class InstrumentIds(dict[str, InstrumentId]):
    """The :class:`InstrumentId` of each instrument text met while reading rows, parsed once
    (``ids[text]`` is ``InstrumentId.parse(text)``): a journal names a few instruments in
    thousands of rows. Raises ``ValueError`` as ``parse`` does."""

    def __missing__(self, text: str) -> InstrumentId:
        iid = self[text] = InstrumentId.parse(text)
        return iid


def fills_from_rows(rows: Iterable[Sequence[Any]]) -> Iterator[JournalFill]:
    """A :class:`JournalFill` of each row of :data:`FILLS_IN_BOOKING_ORDER_SQL`, in order; each
    instrument text parsed once across the rows (:class:`InstrumentIds`)."""
    ids = InstrumentIds()
    for row in rows:
        yield JournalFill(row[0], row[1], row[2], _fill(row, ids))


def funding_from_rows(rows: Iterable[Sequence[Any]]) -> Iterator[JournalFunding]:
    """A :class:`JournalFunding` of each row of :data:`FUNDING_IN_BOOKING_ORDER_SQL`, in order;
    each instrument text parsed once across the rows (:class:`InstrumentIds`)."""
    ids = InstrumentIds()
    for row in rows:
        payment = FundingPayment(
            ids[row[2]], row[3], row[4], row[5], Decimal(row[6]), Decimal(row[7]), Decimal(row[8])
        )
        yield JournalFunding(row[0], row[1], payment)


def _fill(row: Sequence[Any], ids: InstrumentIds) -> Fill:
    """A ``Fill`` from an ``iter_fills`` row (columns from ``seq`` on)."""
    return Fill(
        instrument_id=ids[row[6]],
        client_order_id=row[3],
        venue_order_id=row[4],
        trade_id=row[5],
        side=Side(row[7]),
        qty=Decimal(row[8]),
        price=Decimal(row[9]),
        fee_usd=Decimal(row[10]),
        liquidity=Liquidity(row[12]),
        ts_event_ms=row[13],
        reference_price=None if row[11] is None else Decimal(row[11]),
    )


def _max_seq(store: JournalStore) -> int:
    rows = store.query(
        "SELECT coalesce(max(seq), 0) FROM"
        " (SELECT seq FROM fills UNION ALL SELECT seq FROM funding_payments)"
    )
    return int(rows[0][0])


class _SnapshotTexts(NamedTuple):
    """An equity snapshot's columns as exact text: (equity, initial equity), the streams,
    (gross notional, net delta); and each strategy's streams."""

    totals: tuple[tuple[str, str], tuple[str, ...], tuple[str, str]]
    by_strategy: tuple[tuple[str, tuple[str, ...]], ...]


def _snapshot_texts(snap: PortfolioSnapshot) -> _SnapshotTexts:
    head = (str(snap.equity_usd), str(snap.initial_equity_usd))
    tail = (str(snap.gross_notional_usd), str(snap.net_delta_usd))
    by_strategy = tuple([(name, _stream_texts(s)) for name, s in snap.pnl.by_strategy.items()])
    return _SnapshotTexts((head, _stream_texts(snap.pnl), tail), by_strategy)


def _stream_texts(streams: PnlStreams) -> tuple[str, ...]:
    """The ``STREAM_COLUMNS`` columns of ``streams`` as exact text."""
    return tuple(
        map(str, (
            streams.price_spot_usd, streams.price_perp_usd, streams.funding_usd,
            streams.fees_usd, streams.slippage_usd, streams.total_usd,
            streams.realized_usd, streams.unrealized_usd,
        ))
    )  # fmt: skip


def _legs_json(legs: Sequence[TargetPosition]) -> str:
    """An intent's legs as journaled: ``[{"instrument": ..., "target_qty": ...}, ...]``."""
    # An InstrumentId is its text (a str subclass): the encoder writes it as that string.
    return _json([{"instrument": leg.instrument_id, "target_qty": leg.target_qty}
                  for leg in legs])  # fmt: skip


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _json(value: Any, *, strict: bool = True) -> str:
    """Canonical JSON (sorted keys, compact); ``strict`` refuses NaN/inf with ValueError.

    ``json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=not strict)``, from
    an encoder built once (``dumps`` builds one per call when given options: the journal
    encodes an intent and a strategy state per step)."""
    return (_STRICT_JSON if strict else _LENIENT_JSON).encode(value)


_STRICT_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), allow_nan=False)
_LENIENT_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), allow_nan=True)
