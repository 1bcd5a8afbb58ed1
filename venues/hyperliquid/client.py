"""Hyperliquid perpetuals as a :class:`~venues.base.Venue`, venue name ``hyperliquid``.

Built on :class:`~venues.hyperliquid.rest.HyperliquidRest` (requests, signing, error mapping),
:mod:`venues.hyperliquid.parse` (payload → value types), :mod:`venues.hyperliquid.orders` (order
boundary) and :mod:`venues.hyperliquid.streams` (websocket). Source: the Hyperliquid API docs
https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api (each page cited where it is
used); fixtures ``tests/fixtures/hyperliquid/``.

Symbols: an instrument is ``InstrumentId("hyperliquid", PERP, "<COIN>")`` — the venue's own
coin name (``BTC``), as the replay data (``venues.replay.source``), ``venues.model.base_asset``
and the strategies (``cross_venue_arb.market.perp_id``) already name Hyperliquid perps. No
``BTCUSDT``-style alias is made up: the quote is USDC (``Instrument.quote``), and the coin goes
to the venue unchanged. Only first-dex perps are listed (no HIP-3 ``dex:COIN``, no spot).

Funding is hourly (``funding_interval_s = 3600``), settled at every full UTC hour; the
current rate is the ``funding`` of ``metaAndAssetCtxs`` (the hour in progress), settling at
the next full hour. Funding payments come from ``userFunding``: ``amount_usd = usdc`` (signed,
received > 0), ``position_qty = szi``, ``rate = fundingRate`` and ``mark_price`` the oracle
price implied by ``usdc = −rate × szi × price`` (the venue pays on the **oracle** price and
reports no price), so ``amount_usd == −rate × position_qty × mark_price`` holds by construction.

Hyperliquid has one position mode (one-way); :meth:`HyperliquidVenue.prepare_account` sets
cross margin and the leverage per coin with ``updateLeverage``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Final, Literal

import httpx

from venues.base import AccountEvent, Credentials
from venues.errors import AccountSetupError, InvalidOrder, OrderNotFound, VenueError
from venues.hyperliquid import constants as c
from venues.hyperliquid.auth import cancel_by_cloid_action, order_action, update_leverage_action
from venues.hyperliquid.fields import as_array, as_object, int_field
from venues.hyperliquid.orders import (
    DEFAULT_MARKET_SLIPPAGE_FRAC,
    CloidMap,
    build_order_wire,
    check_size,
)
from venues.hyperliquid.parse import (
    MarketSnapshot,
    PerpAsset,
    parse_cancel_response,
    parse_candle_snapshot,
    parse_clearinghouse_state,
    parse_funding_history,
    parse_meta,
    parse_meta_and_asset_ctxs,
    parse_order_response,
    parse_order_status,
    parse_user_fills,
    parse_user_funding,
    raise_for_rejection,
)
from venues.hyperliquid.parse_extra import parse_all_mids, parse_l2_book_top, parse_open_orders
from venues.hyperliquid.rest import HyperliquidRest, make_rest_client
from venues.hyperliquid.streams import HyperliquidStreams, StreamSettings
from venues.model import (
    Balance,
    Bar,
    Fill,
    FundingPayment,
    FundingRate,
    Instrument,
    InstrumentId,
    InstrumentKind,
    MarkPrice,
    OrderAck,
    OrderRequest,
    OrderType,
    Position,
    Quote,
)
from venues.ratelimit import RateLimiter

CANDLE_INTERVALS: Final[dict[int, str]] = {
    60: "1m", 180: "3m", 300: "5m", 900: "15m", 1_800: "30m", 3_600: "1h", 7_200: "2h",
    14_400: "4h", 28_800: "8h", 43_200: "12h", 86_400: "1d", 259_200: "3d", 604_800: "1w",
}  # fmt: skip
"""Bar length in seconds → ``candleSnapshot`` interval code ("Info endpoint" → "Candle snapshot"
https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/info-endpoint; ``1M`` is not
fixed-length)."""

PAGE_ROWS: Final = c.FUNDING_HISTORY_MAX_ROWS  # every time-range query returns ≤ 500 rows
_MS_PER_S: Final = 1_000
SleepFn = Callable[[float], Awaitable[None]]


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


def _last_time_ms(payload: object, where: str) -> int:
    rows = as_array(payload, where)
    return int_field(as_object(rows[-1], f"{where}[-1]"), "time", f"{where}[-1]")


class HyperliquidVenue:
    """Hyperliquid first-dex perpetuals (see the module docstring for symbols and funding).

    Parameters
    ----------
    rest : HyperliquidRest
        Endpoint layer (owns the transport; closed by :meth:`close`).
    streams : HyperliquidStreams
        Websocket streams (marks, account).
    now_ms : Callable[[], int]
        Wall clock, epoch ms (receipt time of payloads without one).
    market_slippage_frac : Decimal
        A market order is an IOC limit at mid × (1 ± this), fraction (default 5 %).
    """

    def __init__(
        self,
        rest: HyperliquidRest,
        streams: HyperliquidStreams,
        *,
        now_ms: Callable[[], int] = _wall_ms,
        market_slippage_frac: Decimal = DEFAULT_MARKET_SLIPPAGE_FRAC,
    ) -> None:
        self._rest = rest
        self._streams = streams
        self._now_ms = now_ms
        self._slippage_frac = market_slippage_frac
        self._assets: dict[str, PerpAsset] = {}
        self._cloids = CloidMap()
        self._closed = False

    def __repr__(self) -> str:
        return f"HyperliquidVenue(rest={self._rest!r})"

    @property
    def name(self) -> str:
        """``hyperliquid``."""
        return c.VENUE

    async def open(self) -> None:
        """Load the perp universe (asset indices, ``szDecimals``) with ``meta``."""
        await self._load_assets()

    async def close(self) -> None:
        """Close the transport; idempotent."""
        if not self._closed:
            self._closed = True
            await self._rest.aclose()

    async def _load_assets(self, *, retry: bool = True) -> None:
        self._assets = {a.coin: a for a in parse_meta(await self._rest.meta(retry=retry))}

    async def _asset(self, instrument_id: InstrumentId, *, retry: bool = True) -> PerpAsset | None:
        """The coin's universe entry, loading ``meta`` once if unknown; ``None`` if unlisted."""
        if instrument_id.symbol not in self._assets:
            await self._load_assets(retry=retry)
        if instrument_id.kind is not InstrumentKind.PERP:
            return None
        return self._assets.get(instrument_id.symbol)

    async def _listed(self, instrument_id: InstrumentId) -> PerpAsset:
        asset = await self._asset(instrument_id)
        if asset is None:
            raise VenueError(f"hyperliquid: no perp {instrument_id}", venue=c.VENUE)
        return asset

    # --- market data --------------------------------------------------------------------

    async def load_instruments(self) -> Mapping[InstrumentId, Instrument]:
        """Listed first-dex perps of ``metaAndAssetCtxs``; tick at the current mark price,
        lot = min qty = 10^−szDecimals, min notional $10, funding interval 3600 s."""
        snapshot = parse_meta_and_asset_ctxs(await self._rest.meta_and_asset_ctxs(), self._now_ms())
        self._assets = {a.coin: a for a in snapshot.assets}
        return {a.instrument.id: a.instrument for a in snapshot.assets if not a.is_delisted}

    async def fetch_quotes(self, instrument_ids: Sequence[InstrumentId]) -> list[Quote]:
        """Best bid/ask of each perp from ``l2Book`` (weight 2 each), stamped with the book's
        ``time``. Raises ``ProtocolError`` for a malformed or one-sided book."""
        books = [await self._rest.l2_book(iid.symbol) for iid in instrument_ids]
        return [parse_l2_book_top(book) for book in books]

    async def _snapshot(self, instrument_ids: Sequence[InstrumentId]) -> MarketSnapshot:
        snapshot = parse_meta_and_asset_ctxs(await self._rest.meta_and_asset_ctxs(), self._now_ms())
        missing = [str(i) for i in instrument_ids if i not in snapshot.funding_rates]
        if missing:
            raise VenueError(f"hyperliquid: no listed perp {missing}", venue=c.VENUE)
        return snapshot

    async def fetch_funding(self, instrument_ids: Sequence[InstrumentId]) -> list[FundingRate]:
        """The hour's running rate (``metaAndAssetCtxs`` ``funding``, per hour), settling at
        the next full UTC hour; ``mark_price`` the current mark."""
        snapshot = await self._snapshot(instrument_ids)
        return [snapshot.funding_rates[iid] for iid in instrument_ids]

    async def fetch_marks(self, instrument_ids: Sequence[InstrumentId]) -> list[MarkPrice]:
        """Mark and oracle (as index) price of each perp from ``metaAndAssetCtxs``."""
        snapshot = await self._snapshot(instrument_ids)
        return [snapshot.mark_prices[iid] for iid in instrument_ids]

    async def fetch_funding_history(
        self, instrument_id: InstrumentId, start_ms: int, end_ms: int
    ) -> list[FundingRate]:
        """Settled hourly rates with ``start_ms <= ts_funding_ms < end_ms`` (the settlement
        hour), oldest first, paged by 500 rows (``startTime = last time + 1``)."""
        rates: list[FundingRate] = []
        cursor_ms = start_ms
        while cursor_ms < end_ms:
            payload = await self._rest.funding_history(instrument_id.symbol, cursor_ms, end_ms)
            page = parse_funding_history(payload)
            rates.extend(r for r in page if start_ms <= r.ts_funding_ms < end_ms)
            if len(page) < PAGE_ROWS:
                break
            cursor_ms = _last_time_ms(payload, "fundingHistory") + 1
        return rates

    async def fetch_bars(
        self, instrument_id: InstrumentId, start_ms: int, end_ms: int, interval_s: int
    ) -> list[Bar]:
        """Candles with ``start_ms <= ts_open_ms < end_ms``, oldest first, paged by 5000;
        only the latest 5000 candles of an interval exist on the venue. Raises
        ``VenueError`` for an interval Hyperliquid does not offer."""
        code = CANDLE_INTERVALS.get(interval_s)
        if code is None:
            raise VenueError(f"hyperliquid: no candle interval of {interval_s} s", venue=c.VENUE)
        bars: list[Bar] = []
        cursor_ms = start_ms
        while cursor_ms < end_ms:
            payload = await self._rest.candle_snapshot(
                instrument_id.symbol, code, cursor_ms, end_ms - 1
            )
            page = parse_candle_snapshot(payload)
            bars.extend(b for b in page if cursor_ms <= b.ts_open_ms < end_ms)
            if len(page) < c.CANDLES_MAX_AVAILABLE:
                break
            cursor_ms = page[-1].ts_open_ms + interval_s * _MS_PER_S
        return bars

    def stream_marks(self, instrument_ids: Sequence[InstrumentId]) -> AsyncIterator[MarkPrice]:
        """Mark prices from ``activeAssetCtx`` (see :meth:`HyperliquidStreams.marks`)."""
        return self._streams.marks(instrument_ids, self.fetch_marks)

    def stream_market(
        self, instrument_ids: Sequence[InstrumentId]
    ) -> AsyncIterator[MarkPrice | FundingRate]:
        """Marks and the hour's predicted funding from ``activeAssetCtx``
        (:class:`~venues.base.MarketStreamSource`, see :meth:`HyperliquidStreams.market`)."""
        return self._streams.market(instrument_ids, self.fetch_marks)

    def stream_account(self) -> AsyncIterator[AccountEvent]:
        """Order updates, fills, funding (see :meth:`HyperliquidStreams.account`)."""
        return self._streams.account(self._rest.user(), self._account_resync, self._cloids)

    async def _account_resync(self) -> list[OrderAck]:
        return await self.fetch_open_orders()

    # --- orders -------------------------------------------------------------------------

    async def place_order(self, request: OrderRequest) -> OrderAck:
        """Send one order (``order`` action, cloid from our id) exactly once.

        Reads done to price it (``meta`` if not loaded, ``allMids`` for a market order) are
        part of the order and tried once: any failure is raised and the order is not sent.
        A filled order carries its fills (``userFills`` by oid); if that read fails the
        error is raised although the order was placed — :meth:`fetch_order` then answers.

        Raises
        ------
        InvalidOrder
            Checked before sending (size, price rule, $10) or refused by the venue.
        InsufficientMargin, DuplicateClientOrderId, OrderRejected
            The venue's per-order or whole-action refusal.
        TransportError, RequestTimeout, VenueUnavailable
            Outcome unknown: call :meth:`fetch_order`.
        """
        asset = await self._asset(request.instrument_id, retry=False)
        if asset is None or asset.is_delisted or not request.client_order_id:
            reason = f"no listed perp {request.instrument_id} or empty client order id"
            raise InvalidOrder(
                reason, venue=c.VENUE, client_order_id=request.client_order_id, reason=reason
            )
        cloid = self._cloids.cloid(request.client_order_id)
        check_size(request, asset)
        mid = await self._mid(request) if request.order_type is OrderType.MARKET else None
        wire = build_order_wire(request, asset, cloid, mid=mid, slippage_frac=self._slippage_frac)
        payload = await self._rest.order(order_action([wire]), request.client_order_id)
        ack = parse_order_response(payload, [request], self._now_ms())[0]
        ack = raise_for_rejection(ack)
        if ack.filled_qty > 0:
            fills = await self._fills_of(ack.venue_order_id, request.client_order_id)
            ack = replace(ack, fills=tuple(replace(f, reference_price=request.reference_price)
                                           for f in fills))  # fmt: skip
        return ack

    async def _mid(self, request: OrderRequest) -> Decimal:
        mids = parse_all_mids(await self._rest.all_mids(retry=False))
        mid = mids.get(request.instrument_id)
        if mid is None or mid <= 0:
            reason = f"no mid price for {request.instrument_id}"
            raise InvalidOrder(
                reason, venue=c.VENUE, client_order_id=request.client_order_id, reason=reason
            )
        return mid

    async def _fills_of(self, venue_order_id: str, client_order_id: str) -> list[Fill]:
        fills = parse_user_fills(await self._rest.user_fills())
        mine = [replace(f, client_order_id=client_order_id) for f in fills
                if f.venue_order_id == venue_order_id]  # fmt: skip
        return sorted(mine, key=lambda f: (f.ts_event_ms, f.trade_id))

    async def fetch_order(self, instrument_id: InstrumentId, client_order_id: str) -> OrderAck:
        """``orderStatus`` by cloid, with its fills (``userFills``) and their average price
        when it has filled. Unknown → ``OrderNotFound``."""
        payload = await self._rest.order_status(self._cloids.cloid(client_order_id))
        ack = replace(parse_order_status(payload, client_order_id), client_order_id=client_order_id)
        if ack.filled_qty <= 0:
            return ack
        fills = await self._fills_of(ack.venue_order_id, client_order_id)
        total = sum((f.qty for f in fills), Decimal(0))
        avg = sum((f.qty * f.price for f in fills), Decimal(0)) / total if total else None
        return replace(ack, fills=tuple(fills), avg_price=avg)

    async def cancel_order(self, instrument_id: InstrumentId, client_order_id: str) -> OrderAck:
        """``cancelByCloid``, then the order's state; an order already final ("never placed,
        already canceled, or filled") is looked up and returned as is (``OrderNotFound`` if
        the venue does not know it)."""
        asset = await self._listed(instrument_id)
        action = cancel_by_cloid_action([(asset.asset, self._cloids.cloid(client_order_id))])
        payload = await self._rest.cancel_by_cloid(action, client_order_id)
        error = parse_cancel_response(payload, [client_order_id])[0]
        if error is not None and not isinstance(error, OrderNotFound):
            raise error
        return await self.fetch_order(instrument_id, client_order_id)

    async def fetch_open_orders(self) -> list[OrderAck]:
        """``openOrders`` of first-dex perps (client ids restored where known)."""
        return [self._cloids.restore(a) for a in parse_open_orders(await self._rest.open_orders())]

    # --- account ------------------------------------------------------------------------

    async def fetch_positions(self) -> list[Position]:
        """Non-zero perp positions of ``clearinghouseState`` (signed coins)."""
        return parse_clearinghouse_state(await self._rest.clearinghouse_state()).positions

    async def fetch_balances(self) -> list[Balance]:
        """The USDC balance: total = account value − unrealized P&L, available =
        ``withdrawable``."""
        return [parse_clearinghouse_state(await self._rest.clearinghouse_state()).balance]

    async def fetch_funding_payments(self, since_ms: int) -> list[FundingPayment]:
        """``userFunding`` rows since ``since_ms`` (epoch ms), oldest first, paged by 500
        (from the last page's time, deduplicated on ``(time, coin)``)."""
        payments: dict[tuple[int, InstrumentId], FundingPayment] = {}
        cursor_ms = since_ms
        while True:
            payload = await self._rest.user_funding(cursor_ms)
            page = parse_user_funding(payload)
            new = [p for p in page if (p.ts_funding_ms, p.instrument_id) not in payments]
            payments.update({(p.ts_funding_ms, p.instrument_id): p for p in new})
            if len(as_array(payload, "userFunding")) < PAGE_ROWS or not new:
                break
            cursor_ms = _last_time_ms(payload, "userFunding")
        return sorted(payments.values(), key=lambda p: (p.ts_funding_ms, p.instrument_id))

    async def prepare_account(
        self, instrument_ids: Sequence[InstrumentId], leverage: Decimal
    ) -> list[str]:
        """Set cross margin and ``leverage`` × on each coin (``updateLeverage``; Hyperliquid
        has a single, one-way position mode). Returns one line per coin set.

        Raises
        ------
        AccountSetupError
            If ``leverage`` is not a whole number within 1 … the coin's ``maxLeverage``, or
            the venue refuses (e.g. an isolated position is open), naming the coin.
        """
        changes = []
        for iid in instrument_ids:
            asset = await self._listed(iid)
            if leverage != leverage.to_integral_value() or not 1 <= leverage <= asset.max_leverage:
                raise AccountSetupError(
                    f"hyperliquid {iid.symbol}: leverage must be a whole number within "
                    f"1…{asset.max_leverage}, got {leverage}",
                    venue=c.VENUE,
                )
            action = update_leverage_action(asset.asset, int(leverage), is_cross=True)
            try:
                await self._rest.update_leverage(action)
            except VenueError as e:
                raise AccountSetupError(
                    f"hyperliquid {iid.symbol}: cross {leverage}x refused: {e}; close isolated "
                    "positions/orders on it or change it in the UI",
                    venue=c.VENUE,
                    code=e.code,
                ) from e
            changes.append(f"hyperliquid {iid.symbol}: cross margin, {int(leverage)}x leverage")
        return changes


def create_venue(
    credentials: Credentials | None = None,
    *,
    rest_url: str | None = None,
    ws_url: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    sleep: SleepFn | None = None,
    network: Literal["mainnet", "testnet"] = "mainnet",
    now_ms: Callable[[], int] = _wall_ms,
    stream_settings: StreamSettings | None = None,
    limiter: RateLimiter | None = None,
    market_slippage_frac: Decimal = DEFAULT_MARKET_SLIPPAGE_FRAC,
) -> HyperliquidVenue:
    """Build a :class:`HyperliquidVenue`.

    Parameters
    ----------
    credentials : Credentials | None
        ``api_key`` = master account address, ``api_secret`` = API wallet private key;
        ``None`` = market data only (account methods raise ``AuthError``).
    rest_url, ws_url : str | None
        ``None`` = the ``network``'s production URLs.
    transport : httpx.AsyncBaseTransport | None
        Replaces the network (tests).
    sleep : Callable[[float], Awaitable[None]] | None
        Async sleep (retries, rate limiter, reconnect backoff); ``None`` = ``asyncio.sleep``.
    network : "mainnet" | "testnet"
        Signing network (phantom-agent source), independent of the URLs.
    now_ms : Callable[[], int]
        Wall clock, epoch ms.
    stream_settings : StreamSettings | None
        Websocket timeouts and backoff; ``None`` = the venue's heartbeat rules.
    limiter : RateLimiter | None
        The IP weight bucket; ``None`` = 1200 weight / 60 s on the monotonic clock.
    market_slippage_frac : Decimal
        Bound of a market order's IOC price from the mid, fraction (default 0.05, the SDK's).
    """
    mainnet = network == "mainnet"
    sleep_fn = sleep or asyncio.sleep
    limiter = limiter or RateLimiter(c.IP_WEIGHT_PER_MIN, 60.0, sleep=sleep_fn)
    base = rest_url or (c.MAINNET_REST_URL if mainnet else c.TESTNET_REST_URL)
    client = make_rest_client(base, transport=transport, limiter=limiter, sleep=sleep_fn)
    key = credentials.api_key if credentials is not None else None
    secret = credentials.api_secret if credentials is not None else None
    rest = HyperliquidRest(client, limiter, key, secret, now_ms, is_mainnet=mainnet)
    url = ws_url or (c.MAINNET_WS_URL if mainnet else c.TESTNET_WS_URL)
    streams = HyperliquidStreams(url, now_ms, sleep_fn, stream_settings or StreamSettings())
    return HyperliquidVenue(rest, streams, now_ms=now_ms, market_slippage_frac=market_slippage_frac)
