"""A stateful fake Binance (USDⓈ-M ``fapi`` + spot ``api``) on respx, for the contract suite
and any test that needs a venue that remembers what it was told.

:class:`BinanceFake` answers in the recorded payload shapes of ``tests/fixtures/binance-usdm/``
and ``tests/fixtures/binance-spot/`` (exchangeInfo, fundingInfo and klines are served from the
fixtures as recorded; order, position, balance, income and funding rows are built in the same
field layout) and keeps state in memory:

* orders keyed by client order id; an id seen before is refused as a duplicate (fapi
  ``-4116 ClientOrderId is duplicated.``, spot ``-2010 Duplicate order sent.``), which is
  stricter than Binance (it only refuses ids of *open* orders; ids are single-use for us);
* MARKET orders (and marketable LIMIT orders) fill at once at the seeded price: perps at the
  mark, spot at the ask (buy) / bid (sell); a fill moves the perp position (average entry)
  or the spot wallet (commission 0.1 % in the received asset: base on buys, quote on sells);
  perp taker commission 0.05 % leaves the futures wallet;
* :meth:`BinanceFake.settle_funding` appends a ``/fapi/v1/fundingRate`` row and, with a
  position open, a ``FUNDING_FEE`` income row of ``-rate × qty × mark`` rounded to 8 dp;
* filters as the venue applies them: off-step quantity ``-1111`` (fapi) / ``-1013 Filter
  failure: LOT_SIZE`` (spot), notional below the minimum ``-4164`` / ``-1013 Filter failure:
  NOTIONAL``, spot ``-2010`` insufficient balance;
* signed requests are checked: ``X-MBX-APIKEY`` (``-2015``, HTTP 401), the HMAC over the sent
  query + body (``-1022``, HTTP 400) and the timestamp window (``-1021``, HTTP 400).

:meth:`BinanceFake.fail_next` injects the failures of ``tests/contract/harness.py`` into the
next requests before any state changes (a failed order never reaches the book), except
``malformed``, which lets the request through and then empties the answer.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections import deque
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import respx

from tests.fakes.binance_books import FundingBook, PerpBook, error
from tests.fakes.binance_spot_book import SpotBook

FIXTURES = Path(__file__).parent.parent / "fixtures"
API_KEY = "fake-binance-api-key-0123456789abcdef"
API_SECRET = "fake-binance-api-secret-fedcba9876543210"
DEFAULT_URL = "https://binance.fake.test"
RATE_LIMIT_BODY = {
    "code": -1003,
    "msg": "Too much request weight used; current limit is 6000 request weight per 1 MINUTE.",
}
AUTH_BODY = {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}
BAD_GATEWAY_HTML = "<html><head><title>502 Bad Gateway</title></head><body>502</body></html>"


def load_fixture(product: str, name: str) -> Any:
    """A recorded payload from ``tests/fixtures/binance-<product>/``."""
    return json.loads((FIXTURES / f"binance-{product}" / name).read_text())


class FakeSleep:
    """Async sleep that returns at once and records each wait in ``slept_s`` (seconds)."""

    def __init__(self) -> None:
        self.slept_s: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.slept_s.append(seconds)


def _wall_ms() -> int:
    return int(time.time() * 1_000)


Handler = Callable[[Mapping[str, str], int], httpx.Response]
"""Answers one request from its query + form params and the server time (epoch ms)."""


class BinanceFake:
    """In-memory Binance behind a respx router (``assert_all_mocked``).

    Parameters
    ----------
    fapi_url, spot_url : str
        Hosts the fake answers on (both default to one fake host; the paths differ).
    now_ms : Callable[[], int] | None
        Server clock, epoch ms; default the wall clock.
    """

    def __init__(
        self,
        fapi_url: str = DEFAULT_URL,
        spot_url: str = DEFAULT_URL,
        *,
        now_ms: Callable[[], int] | None = None,
    ) -> None:
        self.now_ms = now_ms or _wall_ms
        self.router = respx.MockRouter(assert_all_mocked=True, assert_all_called=False)
        self.requests: list[httpx.Request] = []
        self._failures: deque[str] = deque()
        self.funding = FundingBook(self.now_ms)
        self.perp = PerpBook(load_fixture("usdm", "exchange_info_btc_eth.json"), self.funding)
        self.spot = SpotBook(load_fixture("spot", "exchange_info_btc_eth.json"))
        self.dual_side_position = False
        self.margin_type: dict[str, str] = {}
        self.leverage: dict[str, int] = {}
        self.recv_window_slack_ms = 0
        """Added to every request's ``recvWindow`` (a sped-up clock amplifies the client's
        pauses; the chaos harness allows for them)."""
        self.listen_keys: list[str] = []
        """The method of each ``/fapi/v1/listenKey`` request (``POST`` creates or extends the
        key, ``PUT`` keeps it alive, ``DELETE`` closes it)."""
        self.user_events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        """USD-M user-data events (``ORDER_TRADE_UPDATE``) for the ``/private/ws`` stream."""
        self.spot_user_events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        """Spot ``executionReport`` events for the WebSocket API subscription."""
        self.user_stream_drops = False
        """True: the account streams lose every event (the REST answers are all there is)."""
        self.perp_klines: list[list[Any]] = load_fixture("usdm", "klines.json")
        self.spot_klines: list[list[Any]] = load_fixture("spot", "klines.json")
        """Kline rows served (recorded ones by default), filtered by the request's window."""
        self.perp.publish = lambda event: self._publish(self.user_events, event)
        self.spot.publish = lambda event: self._publish(self.spot_user_events, event)
        self._route_fapi(fapi_url.rstrip("/"))
        self._route_spot(spot_url.rstrip("/"))

    def _publish(self, queue: asyncio.Queue[dict[str, Any]], event: dict[str, Any]) -> None:
        if not self.user_stream_drops:
            queue.put_nowait(event)

    @property
    def transport(self) -> httpx.MockTransport:
        """Transport to give the venue (every request goes through the router)."""
        return httpx.MockTransport(self.router.handler)

    # --- hooks ------------------------------------------------------------------------

    def seed(
        self,
        marks: dict[str, Decimal] | None = None,
        books: dict[str, tuple[Decimal, Decimal]] | None = None,
        funding_rate: Decimal = Decimal("0.0001"),
    ) -> None:
        """Set perp marks (symbol → mark), spot books (symbol → (bid, ask)), quote units,
        and the predicted funding rate of every perp."""
        for symbol, mark in (marks or {}).items():
            self.perp.marks[symbol] = mark
            self.funding.predicted[symbol] = funding_rate
        self.spot.books.update(books or {})

    def settle_funding(self, symbol: str = "BTCUSDT") -> None:
        """Settle the predicted rate of ``symbol`` at its next funding time (see module)."""
        amount = self.funding.settle(
            symbol, self.perp.marks[symbol], self.perp.position_qty(symbol)
        )
        self.perp.wallet += amount

    def fail_next(self, kind: str, times: int = 1) -> None:
        """Make the next ``times`` requests fail as ``kind`` (``connect``, ``rate_limit``,
        ``server_error``, ``auth``, ``malformed``; see ``tests/contract/harness.py``)."""
        if kind not in ("connect", "rate_limit", "server_error", "auth", "malformed"):
            raise ValueError(f"unknown failure kind {kind!r}")
        self._failures.extend([kind] * times)

    # --- plumbing ---------------------------------------------------------------------

    def _route(self, method: str, url: str, handler: Handler, *, signed: bool = False) -> None:
        def side_effect(request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            failure = self._failures.popleft() if self._failures else None
            if failure is not None and failure != "malformed":
                return self._fail(failure, request)
            params = dict(parse_qsl(request.url.query.decode(), keep_blank_values=True))
            params.update(parse_qsl(request.content.decode(), keep_blank_values=True))
            response = (signed and self._check_signature(request, params)) or handler(
                params, self.now_ms()
            )
            return _emptied(response) if failure == "malformed" else response

        self.router.route(method=method, url=url).mock(side_effect=side_effect)

    def _fail(self, kind: str, request: httpx.Request) -> httpx.Response:
        if kind == "connect":
            raise httpx.ConnectError("fake: connection refused", request=request)
        if kind == "rate_limit":
            return httpx.Response(429, headers={"Retry-After": "2"}, json=RATE_LIMIT_BODY)
        if kind == "server_error":
            return httpx.Response(502, headers={"Content-Type": "text/html"}, text=BAD_GATEWAY_HTML)
        return httpx.Response(401, json=AUTH_BODY)

    def _check_signature(
        self, request: httpx.Request, params: dict[str, str]
    ) -> httpx.Response | None:
        if request.headers.get("X-MBX-APIKEY") != API_KEY:
            return httpx.Response(401, json=AUTH_BODY)
        query = request.url.query.decode()
        payload, _, signature = query.rpartition("&signature=")
        payload += request.content.decode()
        expected = hmac.new(API_SECRET.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not signature or not hmac.compare_digest(signature.lower(), expected):
            return error(-1022, "Signature for this request is not valid.")
        timestamp_ms = int(params.get("timestamp", "0"))
        window_ms = int(params.get("recvWindow", "5000")) + self.recv_window_slack_ms
        now_ms = self.now_ms()
        if timestamp_ms >= now_ms + 1_000 or now_ms - timestamp_ms > window_ms:
            return error(-1021, "Timestamp for this request is outside of the recvWindow.")
        return None

    def _time(self, params: Mapping[str, str], now_ms: int) -> httpx.Response:
        return httpx.Response(200, json={"serverTime": now_ms})

    @staticmethod
    def _fixture(product: str, name: str) -> Handler:
        payload = load_fixture(product, name)
        return lambda params, now_ms: httpx.Response(200, json=payload)

    def _route_fapi(self, base: str) -> None:
        perp, funding = self.perp, self.funding
        public: dict[str, Handler] = {
            "/fapi/v1/time": self._time,
            "/fapi/v1/exchangeInfo": self._fixture("usdm", "exchange_info_btc_eth.json"),
            "/fapi/v1/fundingInfo": self._fixture("usdm", "funding_info.json"),
            "/fapi/v1/klines": lambda p, now: _klines(self.perp_klines, p),
            "/fapi/v1/premiumIndex": perp.premium_index,
            "/fapi/v1/fundingRate": lambda p, now: funding.history(p),
        }
        signed: dict[tuple[str, str], Handler] = {
            ("POST", "/fapi/v1/order"): perp.new_order,
            ("GET", "/fapi/v1/order"): lambda p, now: perp.query_order(p),
            ("DELETE", "/fapi/v1/order"): perp.cancel_order,
            ("GET", "/fapi/v1/openOrders"): lambda p, now: perp.open_orders(p),
            ("GET", "/fapi/v1/userTrades"): lambda p, now: perp.user_trades(p),
            ("GET", "/fapi/v3/positionRisk"): lambda p, now: perp.position_risk(now),
            ("GET", "/fapi/v3/balance"): lambda p, now: perp.balance(now),
            ("GET", "/fapi/v1/income"): lambda p, now: funding.income_rows(p),
            ("GET", "/fapi/v1/positionSide/dual"): self._position_mode,
            ("POST", "/fapi/v1/positionSide/dual"): self._set_position_mode,
            ("POST", "/fapi/v1/marginType"): self._set_margin_type,
            ("POST", "/fapi/v1/leverage"): self._set_leverage,
        }
        self._route_all(base, public, signed)
        for method in ("POST", "PUT", "DELETE"):
            url = f"{base}/fapi/v1/listenKey"
            self.router.route(method=method, url=url).mock(side_effect=self._listen_key)

    # --- user data stream (fapi) listenKey: "Start / Keepalive / Close User Data Stream"
    # https://developers.binance.com/docs/derivatives/usds-margined-futures/user-data-streams

    LISTEN_KEY = "pqia91ma19a5s61cv6a81va65sdf19v8a65a1a5s61cv6a81va65sdf19v8a65a1"

    def _listen_key(self, request: httpx.Request) -> httpx.Response:
        """API key only (no signature); the one key of the account, extended by each POST."""
        self.requests.append(request)
        if request.headers.get("X-MBX-APIKEY") != API_KEY:
            return httpx.Response(401, json=AUTH_BODY)
        self.listen_keys.append(request.method)
        body = {"listenKey": self.LISTEN_KEY} if request.method == "POST" else {}
        return httpx.Response(200, json=body)

    # --- account setup (fapi): one-way/hedge mode, margin type and leverage per symbol ---

    def _position_mode(self, params: Mapping[str, str], now_ms: int) -> httpx.Response:
        return httpx.Response(200, json={"dualSidePosition": self.dual_side_position})

    def _set_position_mode(self, params: Mapping[str, str], now_ms: int) -> httpx.Response:
        wanted = params.get("dualSidePosition") == "true"
        if wanted == self.dual_side_position:
            return error(-4059, "No need to change position side.")
        self.dual_side_position = wanted
        return httpx.Response(200, json={"code": 200, "msg": "success"})

    def _set_margin_type(self, params: Mapping[str, str], now_ms: int) -> httpx.Response:
        symbol, wanted = params.get("symbol", ""), params.get("marginType", "")
        if self.margin_type.get(symbol, "CROSSED") == wanted:
            return error(-4046, "No need to change margin type.")
        self.margin_type[symbol] = wanted
        return httpx.Response(200, json={"code": 200, "msg": "success"})

    def _set_leverage(self, params: Mapping[str, str], now_ms: int) -> httpx.Response:
        symbol, leverage = params.get("symbol", ""), int(params.get("leverage", "0"))
        self.leverage[symbol] = leverage
        body = {"leverage": leverage, "maxNotionalValue": "1000000", "symbol": symbol}
        return httpx.Response(200, json=body)

    def _route_spot(self, base: str) -> None:
        spot = self.spot
        public: dict[str, Handler] = {
            "/api/v3/time": self._time,
            "/api/v3/exchangeInfo": self._fixture("spot", "exchange_info_btc_eth.json"),
            "/api/v3/klines": lambda p, now: _klines(self.spot_klines, p),
            "/api/v3/ticker/bookTicker": lambda p, now: spot.book_ticker(p),
        }
        signed: dict[tuple[str, str], Handler] = {
            ("POST", "/api/v3/order"): spot.new_order,
            ("GET", "/api/v3/order"): lambda p, now: spot.query_order(p),
            ("DELETE", "/api/v3/order"): spot.cancel_order,
            ("GET", "/api/v3/openOrders"): lambda p, now: spot.open_orders(p),
            ("GET", "/api/v3/account"): spot.account,
        }
        self._route_all(base, public, signed)

    def _route_all(
        self,
        base: str,
        public: Mapping[str, Handler],
        signed: Mapping[tuple[str, str], Handler],
    ) -> None:
        for path, handler in public.items():
            self._route("GET", f"{base}{path}", handler)
        for (method, path), handler in signed.items():
            self._route(method, f"{base}{path}", handler, signed=True)


def _klines(rows: list[list[Any]], params: Mapping[str, str]) -> httpx.Response:
    """Rows with ``startTime <= openTime <= endTime``, ascending, at most ``limit``."""
    start, end = int(params.get("startTime", "0")), int(params.get("endTime", str(2**63)))
    limit = int(params.get("limit", "500"))
    return httpx.Response(200, json=[r for r in rows if start <= r[0] <= end][:limit])


def _emptied(response: httpx.Response) -> httpx.Response:
    """The same JSON type with every field gone: ``{}`` for an object, ``[{}]`` for an array."""
    body = json.loads(response.content)
    return httpx.Response(200, json={} if isinstance(body, dict) else [{}])
