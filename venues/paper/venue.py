"""Paper venue: simulated execution, funding and margin against an externally fed price.

The paper venue satisfies :class:`venues.base.Venue` without any network. A driver (the replay
supervisor, or a live public-data feed in live-paper mode) pushes prices with
:meth:`PaperVenue.update_price` and funding settlements with :meth:`PaperVenue.settle_funding`;
orders fill against the latest price. Everything is deterministic: ids are counters and every
timestamp comes from the injected ``now_ms`` clock.

Execution model
---------------
- MARKET orders and IOC LIMIT orders fill at once and in full, as taker, at the current price
  slipped by ``slippage_bps`` against the taker and rounded to the tick against the taker (up
  for buys, down for sells). An IOC limit whose slipped price is beyond its limit EXPIRES with
  no fill. GTC orders are rejected: the paper venue does not rest orders.
- ``Fill.reference_price`` is the current (unslipped) price, so
  ``(fill.price − reference_price) × qty × side.sign`` is the simulated slippage cost (≥ 0).
- Fee = ``taker_frac × qty × fill price`` (exact ``Decimal``), debited from collateral.

Accounting (one USD collateral pool, exact ``Decimal``)
-------------------------------------------------------
- Spot buy: collateral −= qty × price + fee, holding += qty; a sell reverses. No spot shorting.
- Perp: signed position and cost basis (qty × average entry price). Reducing or flipping
  credits realized P&L ``(exit − entry) × closed qty × sign(position)`` to collateral.
- Funding: ``amount = −rate × qty × mark`` credited to collateral (longs pay when rate > 0).
- available = collateral + perp unrealized P&L − used margin (Σ |perp notional| / leverage at
  current prices). Spot holdings are not margin collateral (as in Binance's separate spot and
  futures wallets), which is conservative for cash-and-carry.

Rejections raise a ``venues.errors.OrderRejected`` subclass with a Binance-style ``code``
(Binance spot and USD-M "Error Codes" pages) and keep a REJECTED :class:`OrderAck` retrievable
with :meth:`PaperVenue.fetch_order` — except a duplicate client order id, which must not
overwrite the original order. Every client order id ever sent, rejected ones included, stays
used.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Generic, NoReturn, TypeVar

from venues.base import AccountEvent
from venues.errors import (
    DuplicateClientOrderId,
    InsufficientMargin,
    InvalidOrder,
    OrderNotFound,
    OrderRejected,
    TransportError,
    VenueError,
    VenueUnavailable,
)
from venues.model import (
    AccountSummary,
    Balance,
    Bar,
    Fill,
    FundingPayment,
    FundingRate,
    Instrument,
    InstrumentId,
    Liquidity,
    MarkPrice,
    OrderAck,
    OrderRequest,
    OrderStatus,
    OrderType,
    Position,
    Quote,
    Side,
    TimeInForce,
    VenueFees,
)

__all__ = ["COLLATERAL_ASSET", "PaperStream", "PaperVenue", "PaperVenueConfig"]

COLLATERAL_ASSET = "USDT"
"""Asset code of the USD collateral in :meth:`PaperVenue.fetch_balances`."""

_ZERO = Decimal(0)
_BPS = Decimal("0.0001")
# Binance's client order id rule (spot and USD-M ``newClientOrderId``).
_CLIENT_ID_RE = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")

# Binance error codes mirrored in ``OrderRejected.code``.
_CODE_ILLEGAL_CHARS = "-1100"
_CODE_MANDATORY_PARAM = "-1102"
_CODE_NOT_REQUIRED = "-1106"
_CODE_BAD_TIF = "-1115"
_CODE_BAD_SYMBOL = "-1121"
_CODE_FILTER = "-1013"  # filter failure: LOT_SIZE / PRICE_FILTER / NOTIONAL
_CODE_BALANCE = "-2010"  # spot: account has insufficient balance
_CODE_MARGIN = "-2019"  # futures: margin is insufficient
_CODE_REDUCE_ONLY = "-2022"
_CODE_DUPLICATE_ID = "-4116"


@dataclass(frozen=True, slots=True)
class PaperVenueConfig:
    """Configuration of one paper venue.

    Attributes
    ----------
    name : str
        Venue name; equals ``InstrumentId.venue`` of its instruments (``"binance"``).
    initial_collateral_usd : Decimal
        Starting USD collateral (reported as ``USDT``), ≥ 0.
    perp_fees, spot_fees : VenueFees
        Fee fractions of notional (Binance VIP0: perp maker 0.0002 / taker 0.0005, spot
        0.001 / 0.001). Only ``taker_frac`` is charged: every paper fill is a taker fill.
    slippage_bps : Decimal
        Slippage against the taker on every fill, basis points, in ``[0, 10000)``.
    perp_leverage : Decimal
        Initial margin = |perp notional| / leverage; > 0.
    stream_queue_size : int
        Capacity of each stream subscriber's queue, events; > 0 (see
        :meth:`PaperVenue.stream_marks`, :meth:`PaperVenue.stream_account`).

    Raises
    ------
    ValueError
        On construction, naming every field that is out of range.
    """

    name: str
    initial_collateral_usd: Decimal
    perp_fees: VenueFees
    spot_fees: VenueFees
    slippage_bps: Decimal
    perp_leverage: Decimal
    stream_queue_size: int = 4096

    def __post_init__(self) -> None:
        problems = _config_problems(self)
        if problems:
            raise ValueError(f"invalid PaperVenueConfig: {'; '.join(problems)}")


def _config_problems(cfg: PaperVenueConfig) -> list[str]:
    checks = [
        (bool(cfg.name), f"name must be non-empty, got {cfg.name!r}"),
        (
            cfg.initial_collateral_usd.is_finite() and cfg.initial_collateral_usd >= 0,
            f"initial_collateral_usd must be >= 0, got {cfg.initial_collateral_usd}",
        ),
        (
            cfg.slippage_bps.is_finite() and 0 <= cfg.slippage_bps < 10_000,
            f"slippage_bps must be in [0, 10000), got {cfg.slippage_bps}",
        ),
        (
            cfg.perp_leverage.is_finite() and cfg.perp_leverage > 0,
            f"perp_leverage must be > 0, got {cfg.perp_leverage}",
        ),
        (cfg.stream_queue_size > 0, f"stream_queue_size must be > 0, got {cfg.stream_queue_size}"),
    ]
    checks += [
        (frac.is_finite() and -1 < frac < 1, f"{label} {frac} not in (-1, 1)")
        for label, fees in (("perp_fees", cfg.perp_fees), ("spot_fees", cfg.spot_fees))
        for frac in (fees.maker_frac, fees.taker_frac)
    ]
    return [message for ok, message in checks if not ok]


@dataclass(slots=True)
class _Holding:
    """Signed position (spot: ≥ 0) in base units and its cost basis, USD.

    ``cost_usd`` is ``qty × average entry price``. Tracking the basis rather than the average
    price keeps equity exact: the one division (share of the basis closed) is credited and
    debited by the same amount.
    """

    qty: Decimal = _ZERO
    cost_usd: Decimal = _ZERO

    def apply(self, signed_qty: Decimal, price: Decimal) -> Decimal:
        """Add a fill of ``signed_qty`` at ``price``; return the realized price P&L, USD."""
        if self.qty == 0 or (self.qty > 0) == (signed_qty > 0):
            self.qty += signed_qty
            self.cost_usd += signed_qty * price
            return _ZERO
        sign = 1 if self.qty > 0 else -1
        held = abs(self.qty)
        closed = min(abs(signed_qty), held)
        # a full close removes the whole basis; a partial one its share (the one division)
        removed = self.cost_usd * closed / held if closed < held else self.cost_usd
        realized = price * closed * sign - removed
        self.cost_usd -= removed
        self.qty -= closed * sign
        rest = abs(signed_qty) - closed
        if rest > 0:  # flipped: the remainder opens a position at the fill price
            self.qty = -sign * rest
            self.cost_usd = self.qty * price
        return realized

    def entry_price(self) -> Decimal:
        """Average entry price, quote units (0 when flat)."""
        return self.cost_usd / self.qty if self.qty else _ZERO


_T = TypeVar("_T")


class PaperStream(Generic[_T]):
    """Async iterator over one subscriber's bounded ``asyncio.Queue``.

    Subscribed when created (not on first read), so nothing published between the call and
    the first ``await`` is lost. ``drop_oldest`` streams (marks: only the latest price matters)
    discard the oldest event when full; the others (account events, which must not be lost
    silently) stop accepting events and raise ``TransportError`` once drained, like a dropped
    websocket: the consumer must reconcile with ``fetch_*`` and subscribe again.

    Parameters
    ----------
    maxsize : int
        Queue capacity, events.
    drop_oldest : bool
        Overflow policy (see above).
    venue : str
        Venue name carried by the overflow ``TransportError``.
    on_close : Callable[[], object]
        Called once when the stream ends, to unsubscribe it from the venue.
    """

    def __init__(
        self, maxsize: int, *, drop_oldest: bool, venue: str, on_close: Callable[[], object]
    ) -> None:
        self._queue: asyncio.Queue[_T | None] = asyncio.Queue(maxsize)
        self._drop_oldest = drop_oldest
        self._venue = venue
        self._on_close = on_close
        self._ended = False
        self._overflowed = False

    def __aiter__(self) -> PaperStream[_T]:
        return self

    async def __anext__(self) -> _T:
        if self._queue.empty():
            if self._overflowed:
                raise TransportError(
                    "account stream overflowed: events were lost; reconcile and resubscribe",
                    venue=self._venue,
                )
            if self._ended:
                raise StopAsyncIteration
        item = await self._queue.get()
        if item is None:
            raise StopAsyncIteration
        return item

    def push(self, item: _T) -> None:
        """Queue ``item`` for the consumer (see the class docstring for a full queue)."""
        if self._ended:
            return
        if self._queue.full():
            if not self._drop_oldest:
                self._overflowed = True
                self.end()
                return
            self._queue.get_nowait()
        self._queue.put_nowait(item)

    def end(self) -> None:
        """Finish the stream after the queued events; unsubscribe. Idempotent."""
        if self._ended:
            return
        self._ended = True
        self._on_close()
        if not self._queue.full():  # wake a waiting consumer; a full queue has none waiting
            self._queue.put_nowait(None)

    async def aclose(self) -> None:
        """Stop consuming: unsubscribe and end the stream."""
        self.end()


class PaperVenue:
    """Simulated venue: fills, fees, slippage, funding and margin (see the module docstring).

    Parameters
    ----------
    config : PaperVenueConfig
    instruments : Mapping[InstrumentId, Instrument]
        Trading rules, keyed by id; every ``id.venue`` must equal ``config.name``.
    now_ms : Callable[[], int]
        Clock, epoch ms UTC (the replay clock in backtests); the only time source.

    Raises
    ------
    ValueError
        If an instrument's key differs from its id or it belongs to another venue.
    """

    def __init__(
        self,
        config: PaperVenueConfig,
        instruments: Mapping[InstrumentId, Instrument],
        now_ms: Callable[[], int],
    ) -> None:
        for key, inst in instruments.items():
            if key != inst.id or key.venue != config.name:
                raise ValueError(f"instrument {inst.id} (key {key}) is not on venue {config.name}")
        self._config = config
        self._instruments = dict(instruments)
        self._now_ms = now_ms
        self._error_venue = f"paper:{config.name}"
        self._collateral_usd = config.initial_collateral_usd
        self._prices: dict[InstrumentId, Decimal] = {}
        self._holdings: dict[InstrumentId, _Holding] = {}
        self._orders: dict[str, OrderAck] = {}
        self._funding_last: dict[InstrumentId, FundingRate] = {}
        self._funding_history: dict[InstrumentId, list[FundingRate]] = {}
        self._funding_paid: list[FundingPayment] = []
        self._order_seq = 0
        self._trade_seq = 0
        self._mark_subs: dict[PaperStream[MarkPrice], frozenset[InstrumentId]] = {}
        self._account_subs: dict[PaperStream[AccountEvent], None] = {}

    # ------------------------------------------------------------------ driver side

    @property
    def name(self) -> str:
        """Venue name (``config.name``), as in ``InstrumentId.venue``."""
        return self._config.name

    def update_price(self, instrument_id: InstrumentId, price: float) -> None:
        """Set the current price (last trade / mark), quote units, and publish a mark.

        Converted with ``Decimal(repr(float(price)))``, so ``60000.1`` is exactly 60000.1.

        Raises
        ------
        ValueError
            If the instrument is not on this venue or the price is not finite and > 0.
        """
        self._known(instrument_id)
        value = float(price)
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"price for {instrument_id} must be finite and > 0, got {price!r}")
        self._prices[instrument_id] = Decimal(repr(value))
        mark = MarkPrice(instrument_id, value, self._now_ms())
        for stream, wanted in list(self._mark_subs.items()):
            if instrument_id in wanted:
                stream.push(mark)

    def settle_funding(self, funding: FundingRate) -> FundingPayment | None:
        """Settle one funding rate on the perp position, crediting collateral.

        ``amount_usd = −rate × position_qty × mark`` with ``rate = Decimal(repr(f.rate))`` and
        mark = ``f.mark_price`` if given else the current price. The rate is remembered for
        :meth:`fetch_funding` even when flat.

        Returns
        -------
        FundingPayment | None
            The payment, or ``None`` when flat or when ``ts_funding_ms`` is not after the last
            settlement of this perp (already settled: settling is idempotent).

        Raises
        ------
        ValueError
            If the instrument is not a perp of this venue, ``interval_s`` ≤ 0, the rate is not
            finite, or a position is open with no mark price known.
        """
        iid = funding.instrument_id
        if not self._known(iid).is_perp:
            raise ValueError(f"funding settled on {iid}, which is not a perp")
        if funding.interval_s <= 0 or not math.isfinite(funding.rate):
            raise ValueError(f"bad funding for {iid}: {funding.rate!r} per {funding.interval_s}s")
        last = self._funding_last.get(iid)
        if last is not None and funding.ts_funding_ms <= last.ts_funding_ms:
            return None
        self._funding_last[iid] = funding
        self._funding_history.setdefault(iid, []).append(funding)
        qty = self._holdings.get(iid, _Holding()).qty
        if qty == 0:
            return None
        mark = self._funding_mark(funding)
        amount = -Decimal(repr(funding.rate)) * qty * mark
        self._collateral_usd += amount
        payment = FundingPayment(
            iid, funding.ts_funding_ms, funding.rate, funding.interval_s, qty, mark, amount
        )
        self._funding_paid.append(payment)
        self._publish(payment)
        return payment

    def restore(self, events: Iterable[Fill | FundingPayment]) -> None:
        """Rebuild holdings and collateral from this venue's journaled fills and funding
        payments, in booking order (resuming a paper run after a restart).

        Each fill is booked exactly as :meth:`place_order` booked it (realized P&L and fee on
        perps, cash on spot); each payment credits ``amount_usd`` and is remembered so the same
        settlement is not paid twice. Orders are not restored: the executor only resumes
        between steps, when none is open.

        Raises
        ------
        ValueError
            If an event belongs to an instrument this venue does not list.
        """
        for event in events:
            iid = event.instrument_id
            inst = self._known(iid)
            if isinstance(event, FundingPayment):
                self._collateral_usd += event.amount_usd
                self._funding_paid.append(event)
                continue
            signed_qty = event.side.sign * event.qty
            realized = self._holdings.setdefault(iid, _Holding()).apply(signed_qty, event.price)
            if inst.is_perp:
                self._collateral_usd += realized - event.fee_usd
            else:
                self._collateral_usd -= signed_qty * event.price + event.fee_usd
            self._trade_seq += 1
            self._order_seq += 1

    def _funding_mark(self, funding: FundingRate) -> Decimal:
        if funding.mark_price is not None:
            return Decimal(repr(float(funding.mark_price)))
        price = self._prices.get(funding.instrument_id)
        if price is None:
            raise ValueError(f"no mark price for funding on {funding.instrument_id}")
        return price

    def account_summary(self) -> AccountSummary:
        """Margin view, USD, at current prices.

        ``equity = collateral + Σ spot qty × price + Σ perp unrealized``; ``used_margin =
        Σ |perp notional| / leverage``; ``gross = Σ |spot and perp notional|``;
        ``leverage = gross / equity`` (``inf`` when equity ≤ 0 with exposure, 0 when flat).
        ``extra["available_usd"]`` is collateral + unrealized − used margin.
        """
        equity, gross = self._equity_usd(), self._gross_usd()
        leverage = float(gross / equity) if equity > 0 else math.inf
        if gross == 0:
            leverage = 0.0
        return AccountSummary(
            venue=self.name,
            collateral_usd=self._collateral_usd,
            equity_usd=equity,
            used_margin_usd=self._used_margin_usd(),
            gross_notional_usd=gross,
            leverage=leverage,
            ts_event_ms=self._now_ms(),
            extra={"available_usd": str(self._available_usd())},
        )

    def free_margin_frac(self) -> float | None:
        """``available / equity`` at current prices (the figures of :meth:`account_summary`
        in one pass over the holdings: the margin watch reads it every step); None when
        equity ≤ 0."""
        unrealized = spot = perp_notional = _ZERO
        for iid, holding in self._holdings.items():
            if holding.qty == 0:
                continue
            price = self._prices[iid]
            if self._instruments[iid].is_perp:
                unrealized += holding.qty * price - holding.cost_usd
                perp_notional += abs(holding.qty) * price
            else:
                spot += holding.qty * price
        equity = self._collateral_usd + spot + unrealized
        if equity <= 0:
            return None
        used = perp_notional / self._config.perp_leverage
        return float((self._collateral_usd + unrealized - used) / equity)

    # ------------------------------------------------------------------ Venue: lifecycle, data

    async def open(self) -> None:
        """Nothing to connect; present for the ``Venue`` protocol."""

    async def close(self) -> None:
        """End every open stream after its queued events. Idempotent."""
        for mark_stream in list(self._mark_subs):
            mark_stream.end()
        for account_stream in list(self._account_subs):
            account_stream.end()

    async def load_instruments(self) -> Mapping[InstrumentId, Instrument]:
        """The instruments given at construction, keyed by id."""
        return dict(self._instruments)

    async def fetch_quotes(self, instrument_ids: Sequence[InstrumentId]) -> list[Quote]:
        """Quotes with ``bid = ask =`` the current price (the paper book has no spread;
        slippage is applied on fills instead).

        Raises
        ------
        VenueError
            Code ``-1121`` for an instrument not on this venue.
        VenueUnavailable
            When no price has been fed yet for an instrument (retryable).
        """
        now = self._now_ms()
        quotes = []
        for iid in instrument_ids:
            price = float(self._require_price(iid))
            quotes.append(Quote(iid, price, price, now))
        return quotes

    async def fetch_funding(self, instrument_ids: Sequence[InstrumentId]) -> list[FundingRate]:
        """The last settled funding rate of each requested perp.

        The paper venue has no predicted rate; perps never settled are left out.

        Raises
        ------
        VenueError
            Code ``-1121`` for an instrument that is not a perp of this venue.
        """
        rates = []
        for iid in instrument_ids:
            if not self._lookup(iid).is_perp:
                raise VenueError(f"{iid} is not a perp", venue=self._error_venue, code="-1121")
            if iid in self._funding_last:
                rates.append(self._funding_last[iid])
        return rates

    async def fetch_funding_history(
        self, instrument_id: InstrumentId, start_ms: int, end_ms: int
    ) -> list[FundingRate]:
        """Rates settled on this venue with ``start_ms <= ts_funding_ms < end_ms``, oldest
        first (what :meth:`settle_funding` was given).

        Raises
        ------
        VenueError
            Code ``-1121`` for an instrument that is not a perp of this venue.
        """
        if not self._lookup(instrument_id).is_perp:
            raise VenueError(
                f"{instrument_id} is not a perp", venue=self._error_venue, code="-1121"
            )
        history = self._funding_history.get(instrument_id, [])
        return [r for r in history if start_ms <= r.ts_funding_ms < end_ms]

    async def fetch_bars(
        self, instrument_id: InstrumentId, start_ms: int, end_ms: int, interval_s: int
    ) -> list[Bar]:
        """Always ``[]``: the paper venue keeps no history (bars come from the replay source
        or the real venue's market data)."""
        return []

    def stream_marks(self, instrument_ids: Sequence[InstrumentId]) -> PaperStream[MarkPrice]:
        """Marks published by :meth:`update_price` for ``instrument_ids``.

        Subscribes at call time. Each subscriber has a queue of ``stream_queue_size`` marks;
        when full the oldest is dropped (only the latest price matters). Ends on :meth:`close`
        or ``aclose()``.
        """
        wanted = frozenset(instrument_ids)
        stream: PaperStream[MarkPrice] = PaperStream(
            self._config.stream_queue_size,
            drop_oldest=True,
            venue=self._error_venue,
            on_close=lambda: self._mark_subs.pop(stream, None),
        )
        self._mark_subs[stream] = wanted
        return stream

    def stream_account(self) -> PaperStream[AccountEvent]:
        """Fills, order updates and funding payments, in the order they happened.

        Subscribes at call time. Per accepted order: one :class:`Fill` per fill, then the
        final :class:`OrderAck` (whose ``fills`` repeat them: dedupe by ``trade_id``).
        Rejected orders are not streamed (they are answered by the raising ``place_order``).
        Each subscriber's queue holds ``stream_queue_size`` events; on overflow the stream
        raises ``TransportError`` once drained, as a dropped connection would. Ends on
        :meth:`close` or ``aclose()``.
        """
        stream: PaperStream[AccountEvent] = PaperStream(
            self._config.stream_queue_size,
            drop_oldest=False,
            venue=self._error_venue,
            on_close=lambda: self._account_subs.pop(stream, None),
        )
        self._account_subs[stream] = None
        return stream

    # ------------------------------------------------------------------ Venue: orders

    async def place_order(self, request: OrderRequest) -> OrderAck:
        """Execute one order at once (see the module docstring for the fill model).

        Returns
        -------
        OrderAck
            FILLED with one taker fill, or EXPIRED (IOC limit not reachable) with none.

        Raises
        ------
        DuplicateClientOrderId
            Code ``-4116``: the client order id was used before (the original is kept).
        InvalidOrder
            Unknown instrument (-1121), bad client id (-1100), GTC or a missing / unexpected
            limit price (-1115 / -1102 / -1106), qty or price off lot / tick, below min qty or
            min notional (-1013), no price fed yet, reduce-only that would increase or flip
            the position (-2022).
        InsufficientMargin
            Spot sell above the holding or spot buy above available USD (-2010: a balance
            shortfall, which more funds would cure, not an invalid order); perp order whose
            added initial margin + fee exceeds available USD (-2019).
        """
        if request.client_order_id in self._orders:
            raise DuplicateClientOrderId(
                f"client order id {request.client_order_id!r} already used",
                venue=self._error_venue,
                client_order_id=request.client_order_id,
                reason="duplicate client order id",
                code=_CODE_DUPLICATE_ID,
            )
        try:
            ack = self._execute(request)
        except OrderRejected as err:
            self._orders[request.client_order_id] = self._ack(
                request, OrderStatus.REJECTED, reject=err
            )
            raise
        self._orders[request.client_order_id] = ack
        self._publish(ack)
        return ack

    async def cancel_order(self, instrument_id: InstrumentId, client_order_id: str) -> OrderAck:
        """Every paper order is final at once, so the order is returned unchanged.

        Raises
        ------
        OrderNotFound
            If no order with this id exists on ``instrument_id``.
        """
        return self._find_order(instrument_id, client_order_id)

    async def fetch_order(self, instrument_id: InstrumentId, client_order_id: str) -> OrderAck:
        """The order with this client order id, rejected ones included.

        Raises
        ------
        OrderNotFound
            If no order with this id exists on ``instrument_id``.
        """
        return self._find_order(instrument_id, client_order_id)

    # ------------------------------------------------------------------ Venue: account state

    async def fetch_positions(self) -> list[Position]:
        """Non-zero perp positions and spot holdings; entry = average cost, mark = current
        price, sorted by instrument id."""
        now = self._now_ms()
        return [
            Position(iid, h.qty, h.entry_price(), self._prices[iid], now)
            for iid, h in sorted(self._holdings.items())
            if h.qty != 0
        ]

    async def fetch_balances(self) -> list[Balance]:
        """USD collateral as ``USDT`` (available = max(0, collateral + unrealized − used
        margin)), then each spot base asset held (summed over its spot instruments)."""
        now = self._now_ms()
        available = max(_ZERO, self._available_usd())
        balances = [Balance(self.name, COLLATERAL_ASSET, self._collateral_usd, available, now)]
        assets: dict[str, Decimal] = {}
        for iid, holding in sorted(self._holdings.items()):
            if not self._instruments[iid].is_perp and holding.qty != 0:
                base = self._instruments[iid].base
                assets[base] = assets.get(base, _ZERO) + holding.qty
        balances += [Balance(self.name, a, q, q, now) for a, q in sorted(assets.items())]
        return balances

    async def fetch_open_orders(self) -> list[OrderAck]:
        """Always ``[]``: paper orders never rest."""
        return []

    async def fetch_funding_payments(self, since_ms: int) -> list[FundingPayment]:
        """Payments with ``ts_funding_ms >= since_ms``, oldest first."""
        return [p for p in self._funding_paid if p.ts_funding_ms >= since_ms]

    # ------------------------------------------------------------------ order pipeline

    def _execute(self, request: OrderRequest) -> OrderAck:
        inst = self._instrument_for(request)
        self._check_shape(request, inst)
        ref_price = self._price_for(request)
        self._check_notional(request, inst, ref_price)
        self._check_reduce_only(request)
        price = _taker_price(request.side, ref_price, self._config.slippage_bps, inst.tick_size)
        if not _within_limit(request, price):
            return self._ack(request, OrderStatus.EXPIRED)
        fee = self._fees(inst).taker_frac * request.qty * price
        self._check_funds(request, inst, price, fee)
        fill = self._fill(request, price, ref_price, fee)
        return self._ack(request, OrderStatus.FILLED, fill=fill)

    def _instrument_for(self, request: OrderRequest) -> Instrument:
        inst = self._instruments.get(request.instrument_id)
        if inst is None:
            self._reject(InvalidOrder, request, _CODE_BAD_SYMBOL, "unknown instrument")
        return inst

    def _check_shape(self, request: OrderRequest, inst: Instrument) -> None:
        problem = _shape_problem(request, inst)
        if problem is not None:
            self._reject(InvalidOrder, request, *problem)

    def _price_for(self, request: OrderRequest) -> Decimal:
        price = self._prices.get(request.instrument_id)
        if price is None:
            self._reject(InvalidOrder, request, None, "no price for the instrument yet")
        return price

    def _check_notional(self, request: OrderRequest, inst: Instrument, price: Decimal) -> None:
        notional = request.qty * (request.limit_price or price)
        if notional < inst.min_notional_usd:
            reason = f"NOTIONAL: {notional} below min notional {inst.min_notional_usd}"
            self._reject(InvalidOrder, request, _CODE_FILTER, reason)

    def _check_reduce_only(self, request: OrderRequest) -> None:
        if not request.reduce_only:
            return
        qty = self._holdings.get(request.instrument_id, _Holding()).qty
        if qty * request.side.sign >= 0 or request.qty > abs(qty):
            reason = f"reduce-only {request.side} {request.qty} would increase position {qty}"
            self._reject(InvalidOrder, request, _CODE_REDUCE_ONLY, reason)

    def _check_funds(
        self, request: OrderRequest, inst: Instrument, price: Decimal, fee: Decimal
    ) -> None:
        if inst.is_perp:
            self._check_perp_margin(request, price, fee)
        elif request.side is Side.SELL:
            held = self._holdings.get(inst.id, _Holding()).qty
            if request.qty > held:
                reason = f"insufficient {inst.base}: sell {request.qty} > held {held} (no short)"
                self._reject(InsufficientMargin, request, _CODE_BALANCE, reason)
        else:
            required, available = request.qty * price + fee, self._available_usd()
            if required > available:
                reason = f"insufficient USD: cost + fee {required} > available {available}"
                self._reject(InsufficientMargin, request, _CODE_BALANCE, reason)

    def _check_perp_margin(self, request: OrderRequest, price: Decimal, fee: Decimal) -> None:
        """Only orders that grow |position| need margin: added notional / leverage + fee."""
        held = self._holdings.get(request.instrument_id, _Holding()).qty
        added_qty = abs(held + request.side.sign * request.qty) - abs(held)
        if added_qty <= 0:
            return
        required = added_qty * price / self._config.perp_leverage + fee
        available = self._available_usd()
        if required > available:
            reason = f"insufficient margin: initial margin + fee {required} > available {available}"
            self._reject(InsufficientMargin, request, _CODE_MARGIN, reason)

    def _fill(
        self, request: OrderRequest, price: Decimal, ref_price: Decimal, fee: Decimal
    ) -> Fill:
        iid = request.instrument_id
        signed_qty = request.side.sign * request.qty
        realized = self._holdings.setdefault(iid, _Holding()).apply(signed_qty, price)
        if self._instruments[iid].is_perp:
            self._collateral_usd += realized - fee
        else:
            self._collateral_usd -= signed_qty * price + fee
        self._trade_seq += 1
        fill = Fill(
            iid,
            request.client_order_id,
            self._next_order_id(),
            str(self._trade_seq),
            request.side,
            request.qty,
            price,
            fee,
            Liquidity.TAKER,
            self._now_ms(),
            reference_price=ref_price,
        )
        self._publish(fill)
        return fill

    def _next_order_id(self) -> str:
        self._order_seq += 1
        return str(self._order_seq)

    def _ack(
        self,
        request: OrderRequest,
        status: OrderStatus,
        *,
        fill: Fill | None = None,
        reject: OrderRejected | None = None,
    ) -> OrderAck:
        return OrderAck(
            client_order_id=request.client_order_id,
            venue_order_id=fill.venue_order_id if fill else self._next_order_id(),
            instrument_id=request.instrument_id,
            side=request.side,
            status=status,
            qty=request.qty,
            filled_qty=fill.qty if fill else _ZERO,
            avg_price=fill.price if fill else None,
            ts_event_ms=self._now_ms(),
            fills=(fill,) if fill else (),
            reject_code=reject.code if reject else None,
            reject_reason=reject.reason if reject else None,
        )

    def _reject(
        self,
        error: type[OrderRejected],
        request: OrderRequest,
        code: str | None,
        reason: str,
    ) -> NoReturn:
        raise error(
            f"order {request.client_order_id!r} on {request.instrument_id} rejected: {reason}",
            venue=self._error_venue,
            client_order_id=request.client_order_id,
            reason=reason,
            code=code,
        )

    # ------------------------------------------------------------------ helpers

    def _known(self, instrument_id: InstrumentId) -> Instrument:
        inst = self._instruments.get(instrument_id)
        if inst is None:
            raise ValueError(f"instrument {instrument_id} is not on venue {self.name}")
        return inst

    def _lookup(self, instrument_id: InstrumentId) -> Instrument:
        inst = self._instruments.get(instrument_id)
        if inst is None:
            message = f"unknown instrument {instrument_id}"
            raise VenueError(message, venue=self._error_venue, code=_CODE_BAD_SYMBOL)
        return inst

    def _require_price(self, instrument_id: InstrumentId) -> Decimal:
        self._lookup(instrument_id)
        price = self._prices.get(instrument_id)
        if price is None:
            raise VenueUnavailable(f"no price yet for {instrument_id}", venue=self._error_venue)
        return price

    def _find_order(self, instrument_id: InstrumentId, client_order_id: str) -> OrderAck:
        ack = self._orders.get(client_order_id)
        if ack is None or ack.instrument_id != instrument_id:
            raise OrderNotFound(
                f"no order {client_order_id!r} on {instrument_id}", venue=self._error_venue
            )
        return ack

    def _fees(self, inst: Instrument) -> VenueFees:
        return self._config.perp_fees if inst.is_perp else self._config.spot_fees

    def _publish(self, event: AccountEvent) -> None:
        for stream in list(self._account_subs):
            stream.push(event)

    def _perps(self) -> list[tuple[_Holding, Decimal]]:
        return [
            (h, self._prices[iid])
            for iid, h in self._holdings.items()
            if h.qty != 0 and self._instruments[iid].is_perp
        ]

    def _unrealized_usd(self) -> Decimal:
        return sum((h.qty * price - h.cost_usd for h, price in self._perps()), _ZERO)

    def _used_margin_usd(self) -> Decimal:
        notional = sum((abs(h.qty) * price for h, price in self._perps()), _ZERO)
        return notional / self._config.perp_leverage

    def _available_usd(self) -> Decimal:
        return self._collateral_usd + self._unrealized_usd() - self._used_margin_usd()

    def _spot_value_usd(self) -> Decimal:
        return sum(
            (
                h.qty * self._prices[iid]
                for iid, h in self._holdings.items()
                if h.qty != 0 and not self._instruments[iid].is_perp
            ),
            _ZERO,
        )

    def _equity_usd(self) -> Decimal:
        return self._collateral_usd + self._spot_value_usd() + self._unrealized_usd()

    def _gross_usd(self) -> Decimal:
        perp = sum((abs(h.qty) * price for h, price in self._perps()), _ZERO)
        return self._spot_value_usd() + perp


def _shape_problem(request: OrderRequest, inst: Instrument) -> tuple[str, str] | None:
    """First violation of the order's form or the instrument's filters: ``(code, reason)``."""
    if not _CLIENT_ID_RE.match(request.client_order_id):
        return _CODE_ILLEGAL_CHARS, "client order id must match ^[.A-Z:/a-z0-9_-]{1,36}$"
    if request.order_type is OrderType.MARKET and request.limit_price is not None:
        return _CODE_NOT_REQUIRED, "limit_price sent with a market order"
    if request.order_type is OrderType.LIMIT:
        if request.time_in_force is not TimeInForce.IOC:
            return _CODE_BAD_TIF, "GTC is not supported: the paper venue does not rest orders"
        if request.limit_price is None:
            return _CODE_MANDATORY_PARAM, "limit order without limit_price"
        if request.limit_price <= 0 or request.limit_price % inst.tick_size != 0:
            return _CODE_FILTER, f"PRICE_FILTER: {request.limit_price} off tick {inst.tick_size}"
    if request.qty < inst.min_qty or request.qty <= 0:
        return _CODE_FILTER, f"LOT_SIZE: qty {request.qty} below min qty {inst.min_qty}"
    if request.qty % inst.lot_step != 0:
        return _CODE_FILTER, f"LOT_SIZE: qty {request.qty} off lot step {inst.lot_step}"
    return None


def _taker_price(side: Side, ref_price: Decimal, slippage_bps: Decimal, tick: Decimal) -> Decimal:
    """``ref × (1 ± slippage)`` rounded to ``tick`` against the taker (up for buys, down for
    sells), quote units; never below one tick."""
    slipped = ref_price * (1 + side.sign * slippage_bps * _BPS)
    rounding = ROUND_CEILING if side is Side.BUY else ROUND_FLOOR
    ticks = (slipped / tick).to_integral_value(rounding=rounding)
    return max(ticks, Decimal(1)) * tick


def _within_limit(request: OrderRequest, price: Decimal) -> bool:
    """Whether a fill at ``price`` respects the request's limit (always for market orders)."""
    if request.limit_price is None:
        return True
    limit = request.limit_price
    return price <= limit if request.side is Side.BUY else price >= limit
