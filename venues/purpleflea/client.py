"""Purple Flea as a :class:`~venues.base.Venue` and a :class:`~venues.pairs.PairOrderVenue`.

Built on :class:`~venues.purpleflea.rest.PurpleFleaRest` (endpoints, bearer auth, error
mapping), :mod:`venues.purpleflea.parse` (payload → value types) and
:mod:`venues.purpleflea.orders` (order bodies, our record of orders). Source: the Purple Flea
API as described in the project's SEEDS ("Purple Flea trading API (as documented in the
sources)") — the only documentation, restated with every assumption in
``venues/purpleflea/API_NOTES.md``. In short:

- **Instruments** are configuration (no instruments endpoint): spot = ``/orders`` tickers,
  perp = ``/perps`` symbols routed to one downstream ``perp_venue``; a perp's funding
  interval comes from its configured ``Instrument.funding_interval_s`` because
  ``/perps/funding-rates`` gives a rate per venue without interval.
- **Quotes** are one price (bid = ask): ``/prices`` for spot, ``spot_price × (1 +
  basis_pct/100)`` of ``/perps/basis`` for perps; stamped with our clock (no time given).
- **Orders** carry our client order id in ``metadata``; the API has no lookup, cancel or
  open-orders endpoint, so :meth:`PurpleFleaVenue.fetch_order` answers from our record of
  acks, and an order whose outcome is unknown is compared against ``/portfolio/positions``
  (raising ``VenueError(code="outcome_unknown")`` with what the positions show, or
  ``OrderNotFound`` when it provably was never sent).
- **Other assumptions** (API_NOTES.md §1–§5): base URL ``https://api.purpleflea.com/v1``
  (the SEEDS give only ``…/v1``); error body ``{"error": "<message>"}`` with 401/429/402/400/
  5xx mapped as in :mod:`~venues.purpleflea.rest`; 120 requests/min per key; answer fields
  ``order_id``, ``filled_at``, pair ``legs[].fill_price``, the positions row shape; the
  pair's strategy tag field ``strategy_tag``; fees not reported (fills carry 0).
- **Not supported** (:class:`~venues.errors.UnsupportedByVenue`, both a
  ``VenueError`` and a ``NotImplementedError``): bars, funding history, funding payments,
  balances, streams, cancelling a live order.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from decimal import Decimal
from typing import NoReturn

import httpx
import structlog

from venues.base import AccountEvent, Credentials
from venues.errors import InvalidOrder, OrderNotFound, OrderRejected, ProtocolError, VenueError
from venues.model import (
    Balance,
    Bar,
    FundingPayment,
    FundingRate,
    Instrument,
    InstrumentId,
    InstrumentKind,
    MarkPrice,
    OrderAck,
    OrderRequest,
    Position,
    Quote,
)
from venues.pairs import PairAck
from venues.purpleflea import constants as c
from venues.purpleflea import orders as o
from venues.purpleflea import parse as p
from venues.purpleflea.rest import PurpleFleaRest, make_rest_client, token_from
from venues.ratelimit import RateLimiter, SleptClock

log = structlog.get_logger("zerobeta.venues.purpleflea")
_MS_PER_S = 1_000


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


class PurpleFleaVenue:
    """Purple Flea, venue name ``purpleflea``.

    Parameters
    ----------
    rest : PurpleFleaRest
        Endpoint layer (owns the transport; closed by :meth:`close`).
    instruments : Sequence[Instrument]
        Trading rules of the instruments traded (configuration: the API lists none). Perps
        need ``funding_interval_s``.
    perp_venue : str
        Downstream venue of every perp order (``venue`` field) and whose rate / basis row is
        read (values undocumented; default ``hyperliquid``, API_NOTES.md §4).
    perp_leverage : Decimal
        ``leverage`` sent with every perp order, × (> 0).
    now_ms : Callable[[], int]
        Wall clock, epoch ms UTC, stamping answers that carry no time.

    Raises
    ------
    ValueError
        If an instrument is not a ``purpleflea`` one, a perp has no funding interval, or the
        leverage is not positive.
    """

    def __init__(
        self,
        rest: PurpleFleaRest,
        instruments: Sequence[Instrument] = (),
        *,
        perp_venue: str = c.DEFAULT_PERP_VENUE,
        perp_leverage: Decimal = Decimal(1),
        now_ms: Callable[[], int] = _wall_ms,
    ) -> None:
        for inst in instruments:
            if inst.id.venue != c.VENUE:
                raise ValueError(f"{inst.id} is not a {c.VENUE} instrument")
            if inst.is_perp and not inst.funding_interval_s:
                raise ValueError(f"{inst.id}: a perp needs funding_interval_s (not in the API)")
        if perp_leverage <= 0:
            raise ValueError(f"perp_leverage must be positive, got {perp_leverage}")
        self._rest = rest
        self._instruments = {inst.id: inst for inst in instruments}
        self._perp_venue = perp_venue
        self._perp_leverage = perp_leverage
        self._now_ms = now_ms
        self._record = o.OrderRecord()
        self._closed = False

    def __repr__(self) -> str:
        return f"PurpleFleaVenue(rest={self._rest!r}, perp_venue={self._perp_venue!r})"

    @property
    def name(self) -> str:
        """``purpleflea``."""
        return c.VENUE

    async def open(self) -> None:
        """Nothing to open (no session, no clock sync documented)."""

    async def close(self) -> None:
        """Close the transport; idempotent."""
        if not self._closed:
            self._closed = True
            await self._rest.aclose()

    # --- market data --------------------------------------------------------------------

    async def load_instruments(self) -> Mapping[InstrumentId, Instrument]:
        """The configured instruments (Purple Flea documents no instruments endpoint).

        Raises
        ------
        UnsupportedByVenue
            When none were configured: the trading rules cannot be read from the API.
        """
        if not self._instruments:
            raise o.unsupported("instruments (trading rules) — pass them to create_venue")
        return dict(self._instruments)

    async def fetch_quotes(self, instrument_ids: Sequence[InstrumentId]) -> list[Quote]:
        """One price per instrument as bid = ask, quote units, stamped with our clock.

        Spot: ``GET /prices?symbols=`` (one call). Perp: ``GET /perps/basis?symbol=`` (one
        call per perp), the ``perp_venue`` row's ``spot_price × (1 + basis_pct / 100)``.
        Raises ``ProtocolError`` when an instrument has no price.
        """
        prices = await self._spot_prices([i for i in instrument_ids if not _is_perp(i)])
        quotes = []
        for iid in instrument_ids:
            if _is_perp(iid):
                basis = await self._rest.get_basis(iid.symbol)
                price = p.parse_basis_perp_price(basis, self._perp_venue)
            elif iid.symbol in prices:
                price = prices[iid.symbol]
            else:
                raise ProtocolError(f"purpleflea: /prices has no row for {iid}", venue=c.VENUE)
            quotes.append(Quote(iid, price, price, self._now_ms()))
        return quotes

    async def _spot_prices(self, ids: Sequence[InstrumentId]) -> dict[str, float]:
        if not ids:
            return {}
        return p.parse_prices(await self._rest.get_prices([i.symbol for i in ids]))

    async def fetch_funding(self, instrument_ids: Sequence[InstrumentId]) -> list[FundingRate]:
        """``GET /perps/funding-rates``: the ``perp_venue`` rate of each perp, per its
        configured funding interval, settling at the next UTC multiple of that interval
        (ASSUMPTION, API_NOTES.md §4).

        Raises ``ProtocolError`` when a perp has no rate, ``VenueError`` when an instrument
        is not a configured perp.
        """
        if not instrument_ids:
            return []
        rates = p.parse_funding_rates(await self._rest.get_funding_rates())
        now_ms = self._now_ms()
        result = []
        for iid in instrument_ids:
            interval_s = self._funding_interval_s(iid)
            rate = rates.get((iid.symbol, self._perp_venue))
            if rate is None:
                message = f"purpleflea: no funding rate for {iid.symbol} on {self._perp_venue}"
                raise ProtocolError(message, venue=c.VENUE)
            result.append(p.funding_rate(iid, rate, interval_s, now_ms))
        return result

    def _funding_interval_s(self, iid: InstrumentId) -> int:
        inst = self._instruments.get(iid)
        if inst is None or inst.funding_interval_s is None:
            raise VenueError(f"purpleflea: {iid} is not a configured perp", venue=c.VENUE)
        return inst.funding_interval_s

    async def fetch_funding_history(
        self, instrument_id: InstrumentId, start_ms: int, end_ms: int
    ) -> list[FundingRate]:
        """Not supported: raises ``UnsupportedByVenue`` (no funding history endpoint)."""
        raise o.unsupported("funding history")

    async def fetch_bars(
        self, instrument_id: InstrumentId, start_ms: int, end_ms: int, interval_s: int
    ) -> list[Bar]:
        """Not supported: raises ``UnsupportedByVenue`` (no candles endpoint)."""
        raise o.unsupported("candles (fetch_bars)")

    def stream_marks(self, instrument_ids: Sequence[InstrumentId]) -> AsyncIterator[MarkPrice]:
        """Not supported: raises ``UnsupportedByVenue`` (no streaming endpoint, no mark)."""
        raise o.unsupported("mark price stream")

    def stream_account(self) -> AsyncIterator[AccountEvent]:
        """Not supported: raises ``UnsupportedByVenue`` (no streaming endpoint)."""
        raise o.unsupported("account stream")

    # --- orders -------------------------------------------------------------------------

    async def place_order(self, request: OrderRequest) -> OrderAck:
        """Send one order exactly once: spot ``POST /orders``, perp ``POST /perps/order``.

        Raises ``InvalidOrder`` before sending (see :mod:`~venues.purpleflea.orders`; also
        below the configured min quantity), ``DuplicateClientOrderId`` for an id already in
        our record, an ``OrderRejected`` subclass from the venue, or a transport error /
        ``VenueUnavailable`` / ``ProtocolError`` whose outcome is unknown: call
        :meth:`fetch_order` before anything else.
        """
        body = (
            o.perp_order_body(request, self._perp_venue, self._perp_leverage)
            if _is_perp(request.instrument_id)
            else o.spot_order_body(request)
        )
        self._check_min_qty(request)
        cid = request.client_order_id
        self._record.claim([cid])
        self._record.begin(cid, {request.instrument_id: request.side.sign * request.qty})
        post = (
            self._rest.post_perp_order if _is_perp(request.instrument_id) else self._rest.post_order
        )
        try:
            payload = await post(body)
        except VenueError as e:
            self._record.failed(cid, e)
            raise
        ack = p.parse_order_answer(payload, request, self._now_ms())
        self._record.acked(ack)
        return ack

    def _check_min_qty(self, request: OrderRequest) -> None:
        inst = self._instruments.get(request.instrument_id)
        if inst is not None and request.qty < inst.min_qty:
            reason = f"quantity {request.qty} below the configured min {inst.min_qty}"
            raise InvalidOrder(
                f"purpleflea: {reason}",
                venue=c.VENUE,
                client_order_id=request.client_order_id,
                reason=reason,
            )

    async def fetch_order(self, instrument_id: InstrumentId, client_order_id: str) -> OrderAck:
        """Our recorded answer for ``client_order_id`` (Purple Flea has no order lookup).

        Raises ``OrderNotFound`` when we never sent it or it provably did not execute;
        ``VenueError(code="outcome_unknown")`` when its outcome is unknown, with what
        ``GET /portfolio/positions`` shows against the position before it was sent.
        """
        ack = self._record.acks.get(client_order_id)
        if ack is not None and ack.instrument_id == instrument_id:
            return ack
        pending = self._record.pending.get(client_order_id)
        if ack is not None or pending is None:
            message = f"purpleflea: no order {client_order_id!r} on {instrument_id}"
            raise OrderNotFound(message, venue=c.VENUE)
        await self._raise_outcome_unknown(f"order {client_order_id!r}", pending)

    async def cancel_order(self, instrument_id: InstrumentId, client_order_id: str) -> OrderAck:
        """A final order is returned as is; a live one raises ``UnsupportedByVenue`` (no
        cancel endpoint); unknown → ``OrderNotFound``."""
        ack = await self.fetch_order(instrument_id, client_order_id)
        if not ack.status.is_final:
            raise o.unsupported(f"cancel of live order {client_order_id!r}")
        return ack

    async def fetch_open_orders(self) -> list[OrderAck]:
        """Orders of our record that were not final when answered (resting spot limit
        orders), as last answered: the API has no open-orders endpoint to refresh them."""
        return [ack for ack in self._record.acks.values() if not ack.status.is_final]

    async def _raise_outcome_unknown(self, what: str, pending: o.Pending) -> NoReturn:
        now_qty = {pos.instrument_id: pos.qty for pos in await self.fetch_positions()}
        finding = o.positions_finding(pending, now_qty)
        raise VenueError(
            f"purpleflea: outcome of {what} unknown ({finding}); the API has no order lookup:"
            " reconcile positions before sending it again",
            venue=c.VENUE,
            code="outcome_unknown",
        )

    # --- native pair orders ---------------------------------------------------------------

    async def place_pair(
        self, pair_client_id: str, legs: Sequence[OrderRequest], strategy_tag: str
    ) -> PairAck:
        """``POST /orders/pair`` (``execution_mode: "atomic_pair"``), exactly once: both
        legs fill at one timestamp, or neither.

        ``legs``: one BUY (the long leg) and one SELL (the short leg) of spot tickers,
        MARKET, base units. ``pair_client_id`` stays in our record (the pair body has no
        metadata). Raises ``InvalidOrder`` before sending, ``DuplicateClientOrderId``, an
        ``OrderRejected`` subclass (neither leg exists; ``client_order_id`` =
        ``pair_client_id``), or an unknown outcome: call :meth:`fetch_pair`. Fixture
        ``pair_order.json``.
        """
        long_leg, short_leg = o.pair_legs(pair_client_id, legs)
        body = o.pair_order_body(long_leg, short_leg, strategy_tag)
        for leg in (long_leg, short_leg):
            self._check_min_qty(leg)
        self._record.claim([pair_client_id, long_leg.client_order_id, short_leg.client_order_id])
        expected = {leg.instrument_id: leg.side.sign * leg.qty for leg in (long_leg, short_leg)}
        self._record.begin(pair_client_id, expected)
        try:
            payload = await self._rest.post_pair_order(body)
        except OrderRejected as e:
            self._record.failed(pair_client_id, e)
            raise type(e)(
                str(e), venue=c.VENUE, client_order_id=pair_client_id, reason=e.reason, code=e.code
            ) from e
        except VenueError as e:
            self._record.failed(pair_client_id, e)
            raise
        pair = p.parse_pair_answer(payload, pair_client_id, long_leg, short_leg, strategy_tag)
        self._record.pair_acked(pair)
        return pair

    async def fetch_pair(self, pair_client_id: str) -> PairAck:
        """Our recorded answer for a pair (open, or ``close/<pair_id>`` for a close).

        Raises ``OrderNotFound`` when never sent or provably not executed, else
        ``VenueError(code="outcome_unknown")`` with what the positions show.
        """
        pair = self._record.pairs.get(pair_client_id)
        if pair is not None:
            return pair
        pending = self._record.pending.get(pair_client_id)
        if pending is None:
            raise OrderNotFound(f"purpleflea: no pair {pair_client_id!r}", venue=c.VENUE)
        await self._raise_outcome_unknown(f"pair {pair_client_id!r}", pending)

    async def close_pair(self, pair_id: str) -> PairAck:
        """``POST /orders/pair/{pair_id}/close``, exactly once: closes both legs.

        Returns the closing fills as a ``PairAck`` whose ``pair_client_id`` is
        ``close/<pair_id>`` (use it with :meth:`fetch_pair` after an unknown outcome).
        Raises ``OrderNotFound`` (unknown pair), ``DuplicateClientOrderId`` (already closed
        through this record), or an unknown outcome. Fixture ``pair_close.json``.
        """
        key = p.close_client_order_id(pair_id, "pair")
        self._record.claim([key])
        opened = self._record.pairs.get(self._record.pair_client_ids.get(pair_id, ""))
        expected = {} if opened is None else {
            leg.instrument_id: -leg.side.sign * leg.filled_qty for leg in opened.legs
        }  # fmt: skip
        self._record.begin(key, expected)
        try:
            payload = await self._rest.post_pair_close(pair_id)
        except VenueError as e:
            self._record.failed(key, e)
            raise
        pair = p.parse_pair_close(payload, pair_id, key)
        self._record.pair_acked(pair)
        return pair

    # --- account ------------------------------------------------------------------------

    async def fetch_positions(self) -> list[Position]:
        """``GET /portfolio/positions``: spot holdings and ``perp_venue`` perps, signed base
        units (shape ASSUMED, API_NOTES.md §3); rows on other venues are skipped with a
        warning. Also becomes our record's known position state."""
        positions, skipped = p.parse_positions(
            await self._rest.get_positions(), self._perp_venue, self._now_ms()
        )
        if skipped:
            log.warning("positions_skipped", venue=c.VENUE, other_venues=sorted(set(skipped)))
        self._record.sync_positions({pos.instrument_id: pos.qty for pos in positions})
        return positions

    async def fetch_portfolio_risk(self) -> p.PortfolioRisk:
        """``GET /portfolio/risk``: ``portfolio_beta`` and the other numeric metrics."""
        return p.parse_portfolio_risk(await self._rest.get_risk(), self._now_ms())

    async def fetch_balances(self) -> list[Balance]:
        """Not supported: raises ``UnsupportedByVenue`` (no balance endpoint documented)."""
        raise o.unsupported("balances")

    async def fetch_funding_payments(self, since_ms: int) -> list[FundingPayment]:
        """Not supported: raises ``UnsupportedByVenue`` (the wallet ``/log-income`` and
        ``/transactions`` endpoints are documented as POST records, not as a query)."""
        raise o.unsupported("funding payments history")


def _is_perp(iid: InstrumentId) -> bool:
    return iid.kind is InstrumentKind.PERP


def create_venue(
    credentials: Credentials | None = None,
    *,
    rest_url: str | None = None,
    ws_url: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    sleep: Callable[[float], Awaitable[None]] | None = None,
    instruments: Sequence[Instrument] = (),
    perp_venue: str = c.DEFAULT_PERP_VENUE,
    perp_leverage: Decimal = Decimal(1),
    now_ms: Callable[[], int] = _wall_ms,
) -> PurpleFleaVenue:
    """Build a :class:`PurpleFleaVenue` (the agent's venue registry calls this).

    Parameters
    ----------
    credentials : Credentials | None
        ``api_key`` = the bearer token (``pf_live_...``); ``None`` = market data only.
    rest_url : str | None
        Base URL incl. ``/v1``; ``None`` = :data:`~venues.purpleflea.constants.REST_URL`
        (an ASSUMPTION, API_NOTES.md §1).
    ws_url : str | None
        Unused: Purple Flea documents no websocket.
    transport, sleep
        Test seams: httpx transport and async sleep (seconds) for retries and the limiter.
    instruments, perp_venue, perp_leverage
        See :class:`PurpleFleaVenue` (configuration the API does not provide).
    now_ms : Callable[[], int]
        Wall clock, epoch ms UTC (tests inject a fake).

    Raises
    ------
    AuthError
        If the API key does not start with ``pf_live_`` (the key is never shown).
    """
    del ws_url  # no websocket in the documented API
    token = token_from(credentials)
    if sleep is None:
        rest = make_rest_client(rest_url or c.REST_URL, transport=transport)
    else:
        clock = SleptClock(sleep)
        limiter = RateLimiter(c.REQUESTS_PER_MIN, c.RATE_WINDOW_S, clock=clock, sleep=clock.sleep)
        rest = make_rest_client(
            rest_url or c.REST_URL, transport=transport, limiter=limiter, sleep=clock.sleep
        )
    return PurpleFleaVenue(
        PurpleFleaRest(rest, token),
        instruments,
        perp_venue=perp_venue,
        perp_leverage=perp_leverage,
        now_ms=now_ms,
    )
