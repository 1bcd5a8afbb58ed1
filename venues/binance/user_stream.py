"""Binance USDⓈ-M user data stream: listenKey, ``/private`` websocket, REST resync.

Lifecycle (Binance USDⓈ-M "User Data Streams"
https://developers.binance.com/docs/derivatives/usds-margined-futures/user-data-streams, "Start User
Data Stream" and "Keepalive User Data Stream" there):

* ``POST /fapi/v1/listenKey`` → key (valid 60 min; a POST while a key is active returns the
  same key, extended); connect ``<ws base>/private/ws?listenKey=<key>`` (no subscribe).
* Keepalive ``PUT /fapi/v1/listenKey`` every ``listen_key_keepalive_s`` (30 min), on a
  deadline (a quiet account sends nothing). ``-1125`` (key gone) on the PUT → a new key and a
  new connection.
* ``listenKeyExpired`` event, or a different key from the POST on reconnect → new connection
  on the new key. The 24 h connection lifetime is handled by :mod:`venues.ws`.
* After every reconnect or new key: REST resync (open orders, every order still tracked as
  not final, funding payments since the last one) before the next frame is handled.

Events: ``ORDER_TRADE_UPDATE`` → its :class:`Fill` (``x = TRADE``) then the
:class:`OrderAck`; ``ACCOUNT_UPDATE`` with reason ``FUNDING_FEE`` carries no symbol on a
cross-margin account (only the balance change), so it triggers a fetch of the funding income
(``GET /fapi/v1/income`` + ``fundingRate``) that yields :class:`FundingPayment`. Per order
nothing older than or equal to what was yielded is yielded again; fills and funding payments
are yielded once. Fixtures ``ws_user_order_update_new.json``, ``ws_user_account_update.json``,
``listen_key.json``. The listenKey is a bearer token for the account's events: it is never
logged (``venues.ws`` logs URLs without their query).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Collection, Mapping
from contextlib import aclosing
from decimal import Decimal
from typing import Any, Protocol

import structlog
from websockets.exceptions import InvalidStatus

from venues.base import AccountEvent
from venues.binance import constants as c
from venues.binance.parse import event_fee_assets, event_type, parse_order_event, unwrap_stream
from venues.binance.rest import BinanceUsdmRest
from venues.binance.streams import WsSettings
from venues.errors import OrderNotFound, ProtocolError, VenueError, is_retryable
from venues.model import FundingPayment, InstrumentId, OrderAck, OrderStatus
from venues.ws import Message, SleepFn, default_is_fatal, stream

log = structlog.get_logger("zerobeta.venues.binance")

_FINAL = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED}
)
_RANK = {OrderStatus.NEW: 0, OrderStatus.PARTIALLY_FILLED: 1}  # final statuses rank 2


class AccountReads(Protocol):
    """The REST reads the resync needs (``BinanceUsdmVenue`` provides them)."""

    async def fetch_open_orders(self) -> list[OrderAck]: ...

    async def fetch_order(self, instrument_id: InstrumentId, client_order_id: str) -> OrderAck: ...

    async def fetch_funding_payments(self, since_ms: int) -> list[FundingPayment]: ...

    async def fee_asset_prices_usd(self, assets: Collection[str]) -> dict[str, Decimal]: ...


class _NewKey(Exception):
    """Internal: the connection must be replaced by one on a new listenKey."""


class _ResyncFailed(Exception):
    """Internal: the REST resync failed transiently; reconnect after a backoff delay."""


_NOTHING: Any = object()  # no frame arrived before the deadline


class _Reader:
    """Reads ``frames`` one at a time in a task, so the caller can also wake up when a
    connection (re)opens or a deadline passes. Always finished with :meth:`aclose`."""

    def __init__(self, frames: AsyncIterator[Any], opened: asyncio.Event) -> None:
        self._frames = frames
        self._opened = opened
        self._read: asyncio.Task[Any] | None = None
        self._open_wait: asyncio.Task[Any] | None = None

    async def next(self, timeout_s: float) -> Any:
        """The next frame, or ``_NOTHING`` if a connection opened or ``timeout_s`` (seconds)
        passed first. Errors of the stream are raised."""
        if self._read is None:
            self._read = asyncio.ensure_future(anext(self._frames))
        if self._open_wait is None:
            self._open_wait = asyncio.ensure_future(self._opened.wait())
        done, _ = await asyncio.wait(
            {self._read, self._open_wait}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED
        )
        if self._open_wait in done:
            self._open_wait = None
        if self._read not in done:
            return _NOTHING
        read, self._read = self._read, None
        return read.result()

    def reopened(self) -> bool:
        """Whether a connection opened since the last call."""
        if not self._opened.is_set():
            return False
        self._opened.clear()
        return True

    async def aclose(self) -> None:
        """Cancel and await the pending read and wait."""
        tasks = [t for t in (self._read, self._open_wait) if t is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        for task in tasks:  # an error no one will read any more: mark it retrieved
            if not task.cancelled():
                task.exception()


def listen_key(payload: object) -> str:
    """``{"listenKey": "..."}`` → the key. Raises ``ProtocolError`` (without the payload,
    which holds the key) when absent."""
    key = payload.get("listenKey") if isinstance(payload, Mapping) else None
    if not isinstance(key, str) or not key:
        raise ProtocolError("listenKey: field 'listenKey' missing or empty", venue=c.VENUE)
    return key


def private_url(base_url: str, key: str) -> str:
    """``<base>/private/ws?listenKey=<key>`` (query-param form, "User Data Streams")."""
    return c.usdm_private_url(key, base_url)


class UserDataStream:
    """One consumer's user data stream; iterate :meth:`events`.

    Parameters
    ----------
    rest : BinanceUsdmRest
        listenKey endpoints (API key only).
    account : AccountReads
        REST reads for the resync.
    settings : WsSettings
        URL, watchdog, lifetime, keepalive period, backoff.
    sleep : Callable[[float], Awaitable[None]]
        Backoff sleep, seconds.
    now_ms : Callable[[], int]
        Wall clock, epoch ms: funding payments settled before the stream started are not
        yielded.
    monotonic_s : Callable[[], float]
        Clock for the keepalive schedule, seconds.
    """

    def __init__(
        self,
        rest: BinanceUsdmRest,
        account: AccountReads,
        settings: WsSettings,
        sleep: SleepFn,
        now_ms: Callable[[], int],
        monotonic_s: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rest = rest
        self._account = account
        self._settings = settings
        self._sleep = sleep
        self._monotonic_s = monotonic_s
        self._key = ""
        self._keepalive_due_s = 0.0
        self._connected = False
        self._tracked: dict[str, InstrumentId] = {}  # client order id → instrument, not final
        self._order_keys: dict[str, tuple[int, Decimal, int]] = {}
        self._fills_seen: set[tuple[str, str]] = set()
        self._funding_since_ms = now_ms()
        self._funding_seen: set[tuple[InstrumentId, int]] = set()

    def __repr__(self) -> str:
        return f"UserDataStream(tracked_orders={len(self._tracked)})"  # never the key

    async def events(self) -> AsyncGenerator[AccountEvent, None]:
        """Yield account events for as long as the caller iterates.

        Raises
        ------
        AuthError
            Without an API key, or when Binance refuses it.
        ProtocolError
            On a malformed event.
        VenueError
            A non-retryable REST error of the resync.
        websockets.exceptions.InvalidStatus
            If the handshake is refused (4xx) even with a fresh listenKey.
        """
        self._use_key(await self._post_key())
        refused = 0
        delays = self._settings.backoff.delays()
        while True:
            try:
                async for event in self._connection():
                    refused = 0
                    delays = self._settings.backoff.delays()
                    yield event
            except _NewKey:
                log.info("listen_key_renewed", stream="binance.ws.account")
            except _ResyncFailed:
                await self._sleep(next(delays))  # the next connection resyncs again
            except InvalidStatus:
                refused += 1
                if refused > 1:  # a fresh key refused too: not a key problem
                    raise
                self._use_key(await self._post_key())

    async def _connection(self) -> AsyncGenerator[AccountEvent, None]:
        """One ``venues.ws.stream`` on the current key. Waits for whichever comes first: a
        frame, a (re)opened connection (→ resync, so nothing between the drop and the new
        connection is missed and the result is yielded at once even if the account is
        quiet) or the keepalive deadline. The per-frame read runs in a task that is always
        awaited or cancelled here."""
        opened = asyncio.Event()

        def on_open() -> list[Message]:  # called by venues.ws right after each connect
            opened.set()
            return []

        settings = self._settings
        config = settings.stream_config(
            private_url(settings.base_url, self._key),
            "binance.ws.account",
            settings.user_watchdog_s,
            on_open,
            is_fatal=lambda e: isinstance(e, _NewKey) or default_is_fatal(e),
        )
        frames = stream(config, on_reconnect=self._check_key, sleep=self._sleep)
        async with aclosing(frames) as messages:
            reader = _Reader(messages, opened)
            try:
                while True:
                    frame = await reader.next(max(0.0, self._keepalive_due_s - self._monotonic_s()))
                    if reader.reopened():
                        for event in await self._after_open():
                            yield event
                    if frame is not _NOTHING:
                        for event in await self._handle(frame):
                            yield event
                    await self._keepalive_if_due()
            finally:
                await reader.aclose()

    async def _after_open(self) -> list[AccountEvent]:
        if not self._connected:  # the very first connection: nothing to catch up on
            self._connected = True
            return []
        try:
            return self._accept_all(await self._resync())
        except VenueError as e:
            if not is_retryable(e):
                raise
            log.warning("account_resync_failed", stream="binance.ws.account", error=str(e))
            raise _ResyncFailed from e

    async def _post_key(self) -> str:
        return listen_key(await self._rest.post_listen_key())

    def _use_key(self, key: str) -> None:
        self._key = key
        self._keepalive_due_s = self._monotonic_s() + self._settings.listen_key_keepalive_s

    async def _check_key(self) -> None:
        """On reconnect: POST extends the active key, or returns a new one if it expired."""
        key = await self._post_key()
        changed = key != self._key
        self._use_key(key)
        if changed:
            raise _NewKey

    async def _keepalive_if_due(self) -> None:
        if self._monotonic_s() < self._keepalive_due_s:
            return
        try:
            await self._rest.put_listen_key()
        except VenueError as e:
            if is_retryable(e):  # the key stays valid 60 min: try again a little later
                log.warning("listen_key_keepalive_failed", stream="binance.ws.account")
                self._keepalive_due_s = self._monotonic_s() + c.LISTEN_KEY_KEEPALIVE_RETRY_S
                return
            if e.code != str(c.LISTEN_KEY_MISSING_CODE):
                raise
            self._use_key(await self._post_key())
            raise _NewKey from e
        self._keepalive_due_s = self._monotonic_s() + self._settings.listen_key_keepalive_s

    async def _handle(self, frame: Any) -> list[AccountEvent]:
        name = event_type(frame)
        if name == c.USER_EVENT_LISTEN_KEY_EXPIRED:
            self._use_key(await self._post_key())
            raise _NewKey
        if name == c.USER_EVENT_ORDER:
            return self._accept_all([parse_order_event(frame, await self._fee_prices(frame))])
        if name == c.USER_EVENT_ACCOUNT and _account_reason(frame) == c.ACCOUNT_UPDATE_FUNDING_FEE:
            return self._accept_all([*await self._funding_payments()])
        return []

    async def _fee_prices(self, frame: Any) -> dict[str, Decimal] | None:
        """USD prices for a fill whose commission is charged in another asset (BNB). If the
        price cannot be read now, the connection is replaced and the resync reads the order
        and its trades again, so the fill is delivered late rather than lost or unpriced."""
        assets = event_fee_assets(frame)
        if not assets:
            return None
        try:
            return await self._account.fee_asset_prices_usd(assets)
        except VenueError as e:
            if not is_retryable(e):
                raise
            log.warning("fee_price_unavailable", stream="binance.ws.account", error=str(e))
            raise _ResyncFailed from e

    # --- resync and de-duplication ----------------------------------------------------------

    async def _resync(self) -> list[AccountEvent]:
        open_orders = await self._account.fetch_open_orders()
        events: list[AccountEvent] = [*open_orders]
        open_ids = {ack.client_order_id for ack in open_orders}
        for cid, iid in list(self._tracked.items()):
            if cid in open_ids:
                continue
            try:
                events.append(await self._account.fetch_order(iid, cid))
            except OrderNotFound:
                self._tracked.pop(cid, None)
        events.extend(await self._funding_payments())
        log.info("account_resynced", stream="binance.ws.account", events=len(events))
        return events

    async def _funding_payments(self) -> list[FundingPayment]:
        try:
            payments = await self._account.fetch_funding_payments(self._funding_since_ms)
        except VenueError as e:
            if not is_retryable(e):
                raise
            # Kept for the next settlement or resync: the watermark did not move.
            log.warning("funding_sync_deferred", stream="binance.ws.account", error=str(e))
            return []
        return [p for p in payments if p.ts_funding_ms >= self._funding_since_ms]

    def _accept_all(self, raw: list[AccountEvent]) -> list[AccountEvent]:
        out: list[AccountEvent] = []
        for event in raw:
            if isinstance(event, OrderAck):
                out.extend(self._accept_order(event))
            elif isinstance(event, FundingPayment) and self._accept_funding(event):
                out.append(event)
        return out

    def _accept_order(self, ack: OrderAck) -> list[AccountEvent]:
        cid = ack.client_order_id
        out: list[AccountEvent] = []
        for fill in ack.fills:
            if (cid, fill.trade_id) not in self._fills_seen:
                self._fills_seen.add((cid, fill.trade_id))
                out.append(fill)
        key = (ack.ts_event_ms, ack.filled_qty, _RANK.get(ack.status, 2))
        last = self._order_keys.get(cid)
        if last is None or key > last:
            self._order_keys[cid] = key
            out.append(ack)
        if ack.status in _FINAL:
            self._tracked.pop(cid, None)
            self._fills_seen = {k for k in self._fills_seen if k[0] != cid}
        elif last is None or key > last:
            self._tracked[cid] = ack.instrument_id
        return out

    def _accept_funding(self, payment: FundingPayment) -> bool:
        key = (payment.instrument_id, payment.ts_funding_ms)
        if key in self._funding_seen or payment.ts_funding_ms < self._funding_since_ms:
            return False
        self._funding_seen.add(key)
        if payment.ts_funding_ms > self._funding_since_ms:
            self._funding_since_ms = payment.ts_funding_ms
            self._funding_seen = {k for k in self._funding_seen if k[1] >= payment.ts_funding_ms}
        return True


def _account_reason(frame: Any) -> str | None:
    data = unwrap_stream(frame)
    update = data.get("a") if isinstance(data, Mapping) else None
    reason = update.get("m") if isinstance(update, Mapping) else None
    return reason if isinstance(reason, str) else None
