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
  no fill. GTC orders are rejected.
- Post-only LIMIT orders (``TimeInForce.POST_ONLY``) rest: refused with ``PostOnlyWouldCross``
  (``-5022``, as Binance USD-M's GTX) when the limit is through the current price (the paper
  book has no spread: a buy above it, a sell below it), else ``NEW``. A resting order fills
  only from a bar that opened at or after it was placed (:meth:`PaperVenue.fill_resting`,
  fed by the driver) and traded THROUGH its limit by more than one tick (``low < limit −
  tick`` for a buy, ``high > limit + tick`` for a sell), at its limit price, as maker
  (``maker_frac``), at most ``maker_fill_volume_frac`` of the bar's volume for all resting
  orders of the instrument together (oldest first), rounded down to the lot step; it may fill
  over several bars (``PARTIALLY_FILLED``) until cancelled. Not modelled: queue position (a
  through-by-a-tick bar is taken to have reached the whole queue at the limit), adverse
  selection beyond that rule (a bar that only touches the limit fills nothing, one that
  trades through fills however far it went), hidden or partially visible liquidity, and
  trades inside the bar before the order was placed.
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
- Maintenance margin = Σ |perp notional| × ``maintenance_margin_frac`` (flat); each perp's
  liquidation price (cross margin, Binance's formula: :mod:`venues.paper.ledger`) is reported
  in :meth:`PaperVenue.fetch_positions`. The paper venue does not liquidate: the agent's
  liquidation-distance guard reduces before (``agent.engine.liquidation``).

Rejections raise a ``venues.errors.OrderRejected`` subclass with a Binance-style ``code``
(Binance spot and USD-M "Error Codes" pages) and keep a REJECTED :class:`OrderAck` retrievable
with :meth:`PaperVenue.fetch_order` — except a duplicate client order id, which must not
overwrite the original order. Every client order id ever sent, rejected ones included, stays
used.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal

from venues.base import AccountEvent
from venues.errors import VenueError, VenueUnavailable
from venues.model import (
    AccountSummary,
    Balance,
    Bar,
    Fill,
    FundingPayment,
    FundingRate,
    Instrument,
    InstrumentId,
    MarkPrice,
    OrderAck,
    OrderRequest,
    Position,
    Quote,
    TimeInForce,
    all_positive_floats,
)
from venues.paper.config import PaperVenueConfig
from venues.paper.funding import FundingBook
from venues.paper.ledger import COLLATERAL_ASSET, Ledger
from venues.paper.options import settle_expired
from venues.paper.orders import OrderDesk
from venues.paper.prices import PriceBook
from venues.paper.rules import CODE_BAD_SYMBOL
from venues.paper.streams import PaperStream

__all__ = ["COLLATERAL_ASSET", "PaperStream", "PaperVenue", "PaperVenueConfig"]


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
        self._prices = PriceBook()  # floats in, Decimal(repr(price)) out when read
        self._ledger = Ledger(
            config.initial_collateral_usd,
            self._instruments,
            self._prices,
            config.perp_leverage,
            config.maintenance_margin_frac,
        )
        self._funding = FundingBook()
        self._desk = OrderDesk(
            config,
            self._instruments,
            self._prices,
            self._ledger,
            now_ms=now_ms,
            publish=self._publish,
            error_venue=self._error_venue,
        )
        self._mark_subs: dict[PaperStream[MarkPrice], frozenset[InstrumentId]] = {}
        self._account_subs: dict[PaperStream[AccountEvent], None] = {}
        # the venue's perps (settle_funding's check): fixed at construction, as only options
        # are ever added (list_option)
        self._perp_ids = frozenset(i for i, inst in self._instruments.items() if inst.is_perp)
        self._ids_on_venue: tuple[InstrumentId, ...] = ()  # the last ids _on_venue found so

    # ------------------------------------------------------------------ driver side

    @property
    def name(self) -> str:
        """Venue name (``config.name``), as in ``InstrumentId.venue``."""
        return self._config.name

    def update_price(self, instrument_id: InstrumentId, price: float) -> None:
        """Set the current price (last trade / mark), quote units, and publish a mark.

        Fills, margin and valuations read it as ``Decimal(repr(float(price)))``, so ``60000.1``
        is exactly 60000.1 (made when first read: :class:`~venues.paper.prices.PriceBook`).

        Raises
        ------
        ValueError
            If the instrument is not on this venue or the price is not finite and > 0.
        """
        if instrument_id not in self._instruments:
            self._known(instrument_id)  # raises
        value = float(price)
        if not 0.0 < value < math.inf:  # finite and > 0 (NaN compares False)
            raise ValueError(f"price for {instrument_id} must be finite and > 0, got {price!r}")
        self._prices.set(instrument_id, value)
        if not self._mark_subs:
            return  # nobody listens (a replay): no mark to build
        mark = MarkPrice(instrument_id, value, self._now_ms())
        for stream, wanted in list(self._mark_subs.items()):
            if instrument_id in wanted:
                stream.push(mark)

    def update_prices(self, prices: Iterable[tuple[InstrumentId, float]]) -> None:
        """:meth:`update_price` of each (instrument, price) of ``prices``, in order.

        Raises
        ------
        ValueError
            At the first instrument not on this venue or price not finite and > 0 (the prices
            before it are set).
        """
        pairs = list(prices)
        self.update_price_columns(tuple([p[0] for p in pairs]), [p[1] for p in pairs])

    def update_price_columns(
        self, instrument_ids: tuple[InstrumentId, ...], prices: Sequence[float]
    ) -> None:
        """:meth:`update_price` of ``instrument_ids[k]`` at ``prices[k]`` for each k, in order
        (one step's closes as two columns of the same length: the driver's per-bar path).

        Raises
        ------
        ValueError
            At the first instrument not on this venue or price not finite and > 0 (the prices
            before it are set), or if the columns differ in length (nothing is set).
        """
        if len(instrument_ids) != len(prices):
            raise ValueError(
                f"update_price_columns: {len(instrument_ids)} ids but {len(prices)} prices"
            )
        if not self._mark_subs and self._on_venue(instrument_ids) and all_positive_floats(prices):
            self._prices.set_many(zip(instrument_ids, prices, strict=True))  # the usual step
            return
        # somebody listens (a mark per price) or one to convert or refuse: one by one
        for instrument_id, price in zip(instrument_ids, prices, strict=True):
            self.update_price(instrument_id, price)

    def _on_venue(self, instrument_ids: tuple[InstrumentId, ...]) -> bool:
        """Whether every one of ``instrument_ids`` is on this venue; the last tuple found so
        is kept (a replay names the same ones every step), which stays true: instruments are
        only ever added to a venue (:meth:`list_option`), never removed."""
        if instrument_ids == self._ids_on_venue:
            return True
        if not all(map(self._instruments.__contains__, instrument_ids)):
            return False
        self._ids_on_venue = instrument_ids
        return True

    @property
    def has_resting(self) -> bool:
        """Whether any post-only order rests on the book (the driver then feeds its bars)."""
        return bool(self._desk.resting)

    def fill_resting(self, bar: Bar) -> None:
        """Fill the resting orders of ``bar.instrument_id`` from ``bar`` (a bar of traded
        prices, quote units, and volume, base units; see the module docstring's execution
        model). Call it with each new bar before :meth:`update_price` moves the price to its
        close. Fills and acks are published on the account streams.

        Raises
        ------
        ValueError
            If the instrument is not on this venue.
        """
        self._known(bar.instrument_id)
        self._desk.fill_from_bar(bar, self._config.maker_fill_volume_frac)

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
        if iid not in self._perp_ids:
            self._known(iid)  # raises for an instrument not on this venue
            raise ValueError(f"funding settled on {iid}, which is not a perp")
        if funding.interval_s <= 0 or not math.isfinite(funding.rate):
            raise ValueError(f"bad funding for {iid}: {funding.rate!r} per {funding.interval_s}s")
        payment = self._funding.settle(funding, self._ledger.qty(iid), self._prices)
        if payment is not None:
            self._ledger.collateral_usd += payment.amount_usd
            self._publish(payment)
        return payment

    # ---- options (venues.paper.options: listing and expiry; fills go through the desk) ----

    def list_option(self, instrument: Instrument) -> None:
        """List an option (kind ``OPTION``) on this venue from now on; listing it again does
        nothing.

        Raises
        ------
        ValueError
            If the instrument is not an option of this venue.
        """
        if not instrument.is_option or instrument.id.venue != self._config.name:
            raise ValueError(f"{instrument.id} is not an option of venue {self._config.name}")
        self._instruments.setdefault(instrument.id, instrument)

    def settle_option_expiry(
        self, instrument_id: InstrumentId, settlement_usd: Decimal
    ) -> Fill | None:
        """Settle this venue's holding of an expired option at intrinsic value against the
        underlying's ``settlement_usd`` (:func:`venues.paper.options.settle_expired`); returns
        the settlement fill (published on the account stream), or None when nothing is held.

        Raises
        ------
        ValueError
            If the instrument is not an option listed on this venue.
        """
        instrument = self._known(instrument_id)
        if not instrument.is_option:
            raise ValueError(f"{instrument_id} is not an option")
        fill = settle_expired(self._ledger, instrument, settlement_usd, self._now_ms())
        if fill is not None:
            self._publish(fill)
        return fill

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
            self._known(event.instrument_id)
            if isinstance(event, FundingPayment):
                self._ledger.collateral_usd += event.amount_usd
                self._funding.remember_paid(event)
                continue
            self._desk.restore_fill(event)

    def restore_resting(
        self, request: OrderRequest, placed_ms: int, fills: Iterable[Fill] = ()
    ) -> None:
        """Rest again, after :meth:`restore`, a post-only order the resumed run re-adopts
        (:meth:`agent.execution.maker.MakerDesk.restore`): placed at ``placed_ms`` (epoch ms;
        only bars opening at or after it fill it), ``fills`` its fills so far (booked by
        :meth:`restore` already; they count toward its filled quantity only).

        Raises
        ------
        ValueError
            If the request is not a post-only limit order of an instrument this venue lists.
        """
        self._known(request.instrument_id)
        if request.time_in_force is not TimeInForce.POST_ONLY or request.limit_price is None:
            raise ValueError(f"{request.client_order_id} is not a post-only limit order")
        self._desk.restore_resting(request, placed_ms, list(fills))

    def account_summary(self) -> AccountSummary:
        """Margin view, USD, at current prices.

        ``equity = collateral + Σ spot qty × price + Σ perp unrealized``; ``used_margin =
        Σ |perp notional| / leverage``; ``gross = Σ |spot and perp notional|``;
        ``leverage = gross / equity`` (``inf`` when equity ≤ 0 with exposure, 0 when flat).
        ``extra["available_usd"]`` is collateral + unrealized − used margin,
        ``extra["maintenance_margin_usd"]`` Σ |perp notional| × the maintenance margin rate.
        """
        return self._ledger.summary(self.name, self._now_ms())

    def free_margin_frac(self) -> float | None:
        """``available / equity`` at current prices (the figures of :meth:`account_summary`
        in one pass over the holdings: the margin watch reads it every step); None when
        equity ≤ 0."""
        return self._ledger.free_margin_frac()

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
            if iid in self._funding.last:
                rates.append(self._funding.last[iid])
        return rates

    async def fetch_funding_history(
        self, instrument_id: InstrumentId, start_ms: int, end_ms: int
    ) -> list[FundingRate]:
        """Rates settled on this venue with ``start_ms <= ts_funding_ms < end_ms``, oldest
        first (what :meth:`settle_funding` was given), as far back as the venue keeps them:
        :data:`~venues.paper.funding.FUNDING_RETENTION_S` before the perp's newest settlement.

        Raises
        ------
        VenueError
            Code ``-1121`` for an instrument that is not a perp of this venue.
        """
        if not self._lookup(instrument_id).is_perp:
            raise VenueError(
                f"{instrument_id} is not a perp", venue=self._error_venue, code="-1121"
            )
        return self._funding.between(instrument_id, start_ms, end_ms)

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
            FILLED with one taker fill, EXPIRED (IOC limit not reachable) with none, or NEW
            (a post-only order resting).

        Raises
        ------
        DuplicateClientOrderId
            Code ``-4116``: the client order id was used before (the original is kept).
        InvalidOrder
            Unknown instrument (-1121), bad client id (-1100), GTC or a missing / unexpected
            limit price (-1115 / -1102 / -1106), qty or price off lot / tick, below min qty or
            min notional (-1013), no price fed yet, reduce-only that would increase or flip
            the position (-2022); ``PostOnlyWouldCross`` (-5022) for a post-only order whose
            limit is through the current price.
        InsufficientMargin
            Spot sell above the holding or spot buy above available USD (-2010: a balance
            shortfall, which more funds would cure, not an invalid order); perp order whose
            added initial margin + fee exceeds available USD (-2019).
        """
        return self._desk.place(request)

    async def cancel_order(self, instrument_id: InstrumentId, client_order_id: str) -> OrderAck:
        """Cancel a resting post-only order (``CANCELED`` with its fills so far, published on
        the account streams); any other order is final already and returned unchanged.

        Raises
        ------
        OrderNotFound
            If no order with this id exists on ``instrument_id``.
        """
        return self._desk.cancel(instrument_id, client_order_id)

    async def fetch_order(self, instrument_id: InstrumentId, client_order_id: str) -> OrderAck:
        """The order with this client order id, rejected ones included.

        Raises
        ------
        OrderNotFound
            If no order with this id exists on ``instrument_id``.
        """
        return self._desk.find(instrument_id, client_order_id)

    # ------------------------------------------------------------------ Venue: account state

    async def fetch_positions(self) -> list[Position]:
        """Non-zero perp positions and spot holdings; entry = average cost, mark = current
        price, a perp's modelled liquidation price (module docstring), sorted by instrument
        id."""
        return self._ledger.positions(self._now_ms())

    def perp_readings(self) -> list[tuple[InstrumentId, Decimal, Decimal, Decimal | None]]:
        """Each open perp as ``(id, signed qty, current price, modelled liquidation price or
        None)``, sorted by id: the figures :meth:`fetch_positions` reports of the perps,
        without building positions."""
        return self._ledger.perp_readings()

    async def fetch_balances(self) -> list[Balance]:
        """USD collateral as ``USDT`` (available = max(0, collateral + unrealized − used
        margin)), then each spot base asset held (summed over its spot instruments)."""
        return self._ledger.balances(self.name, self._now_ms())

    async def fetch_open_orders(self) -> list[OrderAck]:
        """The resting post-only orders, oldest first."""
        return [self._desk.orders[cid] for cid in self._desk.resting]

    async def fetch_funding_payments(self, since_ms: int) -> list[FundingPayment]:
        """Payments with ``ts_funding_ms >= since_ms``, oldest first, as far back as the venue
        keeps them: :data:`~venues.paper.funding.FUNDING_RETENTION_S` before the newest."""
        return self._funding.paid_since(since_ms)

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
            raise VenueError(message, venue=self._error_venue, code=CODE_BAD_SYMBOL)
        return inst

    def _require_price(self, instrument_id: InstrumentId) -> Decimal:
        self._lookup(instrument_id)
        price = self._prices.get(instrument_id)
        if price is None:
            raise VenueUnavailable(f"no price yet for {instrument_id}", venue=self._error_venue)
        return price

    def _publish(self, event: AccountEvent) -> None:
        for stream in list(self._account_subs):
            stream.push(event)
