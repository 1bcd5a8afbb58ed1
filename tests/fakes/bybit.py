"""A stateful Bybit v5 behind respx: what the contract suite and the unit tests trade against.

Every answer is a Bybit envelope in the shape of the recorded payloads in
``tests/fixtures/bybit-v5/`` (rows are copies of the fixture rows with the fields that matter
replaced). State kept in memory:

* instruments: linear pages come in two pages joined by ``nextPageCursor`` (page 1 the recorded
  BTCUSDT row, page 2 an ETHUSDT copy with ``fundingInterval`` 240 min) so pagination is
  exercised; spot is the recorded BTCUSDT row;
* prices seeded per (category, symbol) → tickers; market orders fill at the seeded price, limit
  orders rest (New); orders are kept by ``orderLinkId`` and a repeat is refused with 110072
  (linear) / 170141 (spot); qty below ``minOrderQty`` → 10001, notional below
  ``minNotionalValue`` → 110094, margin above the wallet → 110007;
* positions (one-way), executions, the USDT wallet;
* funding: :meth:`FakeBybit.settle_funding` appends a settled rate to the funding history and,
  for an open position, a ``SETTLEMENT`` transaction-log row with ``funding = −rate × signed
  size × mark`` (``feeRate`` the rate, ``tradePrice`` the mark).

Private requests are checked like Bybit does: ``X-BAPI-SIGN`` must be the HMAC of
``timestamp + key + recvWindow + (exact query | exact body)``, else 10004.
:meth:`FakeBybit.fail_next` injects the failure kinds of ``tests/contract/harness.py``; the
fake :meth:`FakeBybit.sleep` records every wait in ``slept_s``.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import itertools
import json
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import respx

FIXTURES = Path(__file__).parent.parent / "fixtures" / "bybit-v5"
BASE_URL = "https://api.bybit.test"
API_KEY = "bybit-fake-KEY-0123456789"
API_SECRET = "bybit-fake-SECRET-9876543210"
EIGHT_HOURS_MS = 8 * 3_600_000
LEVERAGE = Decimal(10)
TAKER_FEE = Decimal("0.00055")


def load(name: str) -> Any:
    """A fixture of ``tests/fixtures/bybit-v5/`` as decoded JSON."""
    return json.loads((FIXTURES / name).read_text())


def error_body(code: int) -> dict[str, Any]:
    """The recorded ``{"retCode", "retMsg"}`` of ``code`` from ``errors.json``."""
    return next(e for e in load("errors.json") if e["retCode"] == code)


class Reject(Exception):
    """Raised by a handler: answer with ``retCode`` ``code`` (HTTP 200, as Bybit does)."""

    def __init__(self, code: int, msg: str | None = None, result: Any = None) -> None:
        super().__init__(code)
        self.code = code
        self.msg = msg
        self.result = result


def _text(value: Decimal) -> str:
    return format(value.normalize(), "f") if value != 0 else "0"


class FakeBybit:
    """In-memory Bybit v5 behind a respx router (``assert_all_mocked``)."""

    def __init__(self, *, base_url: str = BASE_URL, now_ms: Callable[[], int] | None = None):
        self.now_ms = now_ms or (lambda: time.time_ns() // 1_000_000)
        self.router = respx.MockRouter(
            assert_all_mocked=True, assert_all_called=False, base_url=base_url
        )
        self.requests: list[httpx.Request] = []
        self.slept_s: list[float] = []
        self.failures: list[str] = []
        self.prices: dict[tuple[str, str], Decimal] = {}
        self.orders: dict[str, dict[str, Any]] = {}
        self.executions: list[dict[str, Any]] = []
        self.positions: dict[str, tuple[Decimal, Decimal]] = {}  # symbol → (signed qty, entry)
        self.wallet_usdt = Decimal(100_000)
        self.funding: dict[str, list[tuple[int, str]]] = {}  # symbol → [(ts_ms, rate)]
        self.transactions: list[dict[str, Any]] = []
        self.klines: dict[tuple[str, str, str], list[list[str]]] = {}
        """(category, symbol, interval) → kline rows ``[startTime, open, high, low, close,
        volume, turnover]`` (strings, as ``kline.json``), any order; served newest first."""
        self.position_mode = 3  # hedge: prepare_account must switch it
        self.leverage: dict[str, str] = {}
        self.margin_mode_refused = False
        self.next_settlement_ms = (self.now_ms() // EIGHT_HOURS_MS - 10) * EIGHT_HOURS_MS
        self._ids = itertools.count(1)
        self._instruments = self._instrument_rows()
        self._routes()

    # --- plumbing ------------------------------------------------------------------------

    def transport(self) -> httpx.MockTransport:
        """The transport to give the venue."""
        return httpx.MockTransport(self.router.handler)

    async def sleep(self, seconds: float) -> None:
        """Fake sleep: records ``seconds`` and only yields to the loop."""
        self.slept_s.append(seconds)
        await asyncio.sleep(0)

    def fail_next(self, kind: str, times: int = 1) -> None:
        """Make the next ``times`` requests fail as ``kind`` (``tests/contract/harness.py``)."""
        self.failures.extend([kind] * times)

    def _routes(self) -> None:
        get, post = self.router.get, self.router.post
        public = {
            "/v5/market/time": self._time,
            "/v5/market/instruments-info": self._instruments_info,
            "/v5/market/tickers": self._tickers,
            "/v5/market/funding/history": self._funding_history,
            "/v5/market/kline": self._kline,
        }
        private_get = {
            "/v5/order/realtime": self._order_realtime,
            "/v5/order/history": self._order_realtime,
            "/v5/execution/list": self._execution_list,
            "/v5/position/list": self._position_list,
            "/v5/account/wallet-balance": self._wallet_balance,
            "/v5/account/transaction-log": self._transaction_log,
        }
        private_post = {
            "/v5/order/create": self._order_create,
            "/v5/order/cancel": self._order_cancel,
            "/v5/position/switch-mode": self._switch_mode,
            "/v5/position/set-leverage": self._set_leverage,
            "/v5/account/set-margin-mode": self._set_margin_mode,
        }
        for path, handler in public.items():
            get(path).mock(side_effect=self._wrap(handler, signed=False))
        for path, handler in private_get.items():
            get(path).mock(side_effect=self._wrap(handler, signed=True))
        for path, handler in private_post.items():
            post(path).mock(side_effect=self._wrap(handler, signed=True))

    def _envelope(self, result: Any, code: int = 0, msg: str = "OK") -> dict[str, Any]:
        return {"retCode": code, "retMsg": msg, "result": result, "retExtInfo": {},
                "time": self.now_ms()}  # fmt: skip

    def _failure(self, kind: str, request: httpx.Request) -> httpx.Response:
        if kind == "connect":
            raise httpx.ConnectError("fake: connection refused", request=request)
        if kind == "rate_limit":
            body = {**self._envelope({}), **error_body(10006)}
            reset_ms = str(self.now_ms() + 2_000)
            headers = {"Retry-After": "2", "X-Bapi-Limit-Reset-Timestamp": reset_ms}
            return httpx.Response(429, json=body, headers=headers)
        if kind == "server_error":
            return httpx.Response(502, text="<html><body>502 Bad Gateway</body></html>")
        if kind == "auth":
            return httpx.Response(401, json={**self._envelope({}), **error_body(10003)})
        if kind == "malformed":
            return httpx.Response(200, json=self._envelope({"list": [{"symbol": "BTCUSDT"}]}))
        raise AssertionError(f"unknown failure kind {kind!r}")

    def _signature_ok(self, request: httpx.Request) -> bool:
        h = request.headers
        payload = request.content.decode() if request.method == "POST" else request.url.query
        if isinstance(payload, bytes):
            payload = payload.decode()
        text = f"{h.get('X-BAPI-TIMESTAMP')}{API_KEY}{h.get('X-BAPI-RECV-WINDOW')}{payload}"
        expected = hmac.new(API_SECRET.encode(), text.encode(), hashlib.sha256).hexdigest()
        return h.get("X-BAPI-API-KEY") == API_KEY and h.get("X-BAPI-SIGN") == expected

    def _wrap(
        self, handler: Callable[[dict[str, Any]], Any], *, signed: bool
    ) -> Callable[[httpx.Request], httpx.Response]:
        def respond(request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            if self.failures:
                return self._failure(self.failures.pop(0), request)
            if signed and not self._signature_ok(request):
                return httpx.Response(200, json={**self._envelope({}), **error_body(10004)})
            if request.method == "POST":
                args = json.loads(request.content)
            else:
                args = dict(request.url.params)
            try:
                return httpx.Response(200, json=self._envelope(handler(args)))
            except Reject as e:
                known = {x["retCode"]: x["retMsg"] for x in load("errors.json")}
                msg = e.msg or known.get(e.code, "error")
                envelope = self._envelope({} if e.result is None else e.result, e.code, msg)
                return httpx.Response(200, json=envelope)

        return respond

    # --- market --------------------------------------------------------------------------

    def _instrument_rows(self) -> dict[str, list[dict[str, Any]]]:
        btc = load("instruments_linear_btcusdt.json")["result"]["list"][0]
        eth = copy.deepcopy(btc)
        eth.update(symbol="ETHUSDT", baseCoin="ETH", fundingInterval=240)
        spot = load("instruments_spot_btcusdt.json")["result"]["list"]
        return {"linear": [btc], "linear-2": [eth], "spot": spot}

    def seed_price(self, category: str, symbol: str, price: Decimal) -> None:
        """Set the price of ``symbol`` (mark = last = index; bid/ask one tick around)."""
        self.prices[(category, symbol)] = price

    def settle_funding(self, symbol: str, rate: str) -> int:
        """Settle ``rate`` on ``symbol`` at the next fake settlement time (8 h apart, in the
        past); pays/charges an open position. Returns the settlement time, ms."""
        ts_ms = self.next_settlement_ms
        self.next_settlement_ms += EIGHT_HOURS_MS
        self.funding.setdefault(symbol, []).append((ts_ms, rate))
        qty, _ = self.positions.get(symbol, (Decimal(0), Decimal(0)))
        if qty != 0:
            mark = self.prices[("linear", symbol)]
            amount = -Decimal(rate) * qty * mark
            self.wallet_usdt += amount
            row = copy.deepcopy(load("transaction_log.json")["result"]["list"][0])
            row.update(
                id=f"fake_{symbol}_{next(self._ids)}", symbol=symbol,
                side="Buy" if qty > 0 else "Sell", size=_text(abs(qty)), qty=_text(abs(qty)),
                funding=_text(amount), change=_text(amount), feeRate=rate,
                tradePrice=_text(mark), transactionTime=str(ts_ms),
                cashBalance=_text(self.wallet_usdt),
            )  # fmt: skip
            self.transactions.append(row)
        return ts_ms

    def _time(self, args: dict[str, Any]) -> Any:
        now = self.now_ms()
        return {"timeSecond": str(now // 1000), "timeNano": str(now * 1_000_000)}

    def _instruments_info(self, args: dict[str, Any]) -> Any:
        category = args["category"]
        if category == "linear" and args.get("cursor") == "page-2":
            return {"category": "linear", "list": self._instruments["linear-2"],
                    "nextPageCursor": ""}  # fmt: skip
        cursor = "page-2" if category == "linear" else ""
        return {"category": category, "list": self._instruments[category], "nextPageCursor": cursor}

    def _ticker_row(self, category: str, symbol: str, price: Decimal) -> dict[str, Any]:
        if category == "spot":
            row = copy.deepcopy(load("tickers_spot_btcusdt.json")["result"]["list"][0])
            tick = Decimal("0.1")
        else:
            row = copy.deepcopy(load("tickers_inverse_btcusd.json")["result"]["list"][0])
            tick = Decimal("0.10")
            history = self.funding.get(symbol, [])
            row.update(
                markPrice=_text(price), indexPrice=_text(price),
                fundingRate=history[-1][1] if history else "0.0001",
                nextFundingTime=str((self.now_ms() // EIGHT_HOURS_MS + 1) * EIGHT_HOURS_MS),
            )  # fmt: skip
        row.update(symbol=symbol, lastPrice=_text(price),
                   bid1Price=_text(price - tick), ask1Price=_text(price + tick))  # fmt: skip
        return row

    def _tickers(self, args: dict[str, Any]) -> Any:
        category, symbol = args["category"], args.get("symbol")
        rows = [
            self._ticker_row(cat, sym, price)
            for (cat, sym), price in self.prices.items()
            if cat == category and symbol in (None, sym)
        ]
        return {"category": category, "list": rows}

    def _funding_history(self, args: dict[str, Any]) -> Any:
        symbol, limit = args["symbol"], int(args.get("limit", 200))
        start, end = int(args.get("startTime", 0)), int(args["endTime"])
        rows = [(ts, r) for ts, r in self.funding.get(symbol, []) if start <= ts <= end]
        newest = sorted(rows, reverse=True)[:limit]
        return {"category": "linear", "list": [
            {"symbol": symbol, "fundingRate": r, "fundingRateTimestamp": str(ts)}
            for ts, r in newest
        ]}  # fmt: skip

    def _kline(self, args: dict[str, Any]) -> Any:
        """``GET /v5/market/kline``: rows of ``klines`` with ``start <= startTime <= end``,
        newest first, ``limit`` 1..1000 (default 200)."""
        category, symbol = args.get("category", "linear"), args["symbol"]
        start, end = int(args.get("start", 0)), int(args.get("end", 2**63))
        limit = int(args.get("limit", 200))
        if not 1 <= limit <= 1000:
            raise Reject(10001)
        rows = self.klines.get((category, symbol, args["interval"]), [])
        inside = [r for r in rows if start <= int(r[0]) <= end]
        newest = sorted(inside, key=lambda r: -int(r[0]))[:limit]
        return {"symbol": symbol, "category": category, "list": newest}

    # --- orders --------------------------------------------------------------------------

    def _rules(self, category: str, symbol: str) -> tuple[Decimal, Decimal]:
        rows = self._instruments["spot"] if category == "spot" else [
            *self._instruments["linear"], *self._instruments["linear-2"]]  # fmt: skip
        row = next(r for r in rows if r["symbol"] == symbol)
        lot = row["lotSizeFilter"]
        if category == "spot":
            return Decimal(lot["basePrecision"]), Decimal(lot["minOrderAmt"])
        return Decimal(lot["minOrderQty"]), Decimal(lot["minNotionalValue"])

    def _check_order(self, body: dict[str, Any], price: Decimal) -> None:
        category, link_id = body["category"], body.get("orderLinkId", "")
        if link_id in self.orders:
            raise Reject(110072 if category == "linear" else 170141)
        qty = Decimal(body["qty"])
        min_qty, min_notional = self._rules(category, body["symbol"])
        if qty < min_qty:
            raise Reject(10001 if category == "linear" else 170136, "Qty invalid")
        if qty * price < min_notional:
            raise Reject(110094 if category == "linear" else 170140)
        if category == "linear" and qty * price / LEVERAGE > self.wallet_usdt:
            raise Reject(110007)

    def _order_create(self, body: dict[str, Any]) -> Any:
        category, symbol = body["category"], body["symbol"]
        price = self.prices[(category, symbol)]
        self._check_order(body, price)
        qty = Decimal(body["qty"])
        row = copy.deepcopy(load("order_realtime.json")["result"]["list"][0])
        now = str(self.now_ms())
        row.update(
            orderId=f"fake-order-{next(self._ids)}", orderLinkId=body["orderLinkId"],
            symbol=symbol, side=body["side"], qty=body["qty"], price=body.get("price", "0"),
            orderType=body["orderType"], positionIdx=body.get("positionIdx", 0),
            timeInForce=body.get("timeInForce", "IOC"), takeProfit="0", stopLoss="0",
            reduceOnly=body.get("reduceOnly", False), createdTime=now, updatedTime=now,
            leavesQty=body["qty"], leavesValue="0", orderStatus="New",
        )  # fmt: skip
        row["category"] = category
        self.orders[body["orderLinkId"]] = row
        if body["orderType"] == "Market":
            self._fill(row, qty, price)
        return {"orderId": row["orderId"], "orderLinkId": row["orderLinkId"]}

    def _fill(self, row: dict[str, Any], qty: Decimal, price: Decimal) -> None:
        fee = qty * price * TAKER_FEE
        row.update(orderStatus="Filled", cumExecQty=_text(qty), avgPrice=_text(price),
                   cumExecValue=_text(qty * price), cumExecFee=_text(fee),
                   leavesQty="0")  # fmt: skip
        self.executions.append({
            "symbol": row["symbol"], "orderId": row["orderId"], "orderLinkId": row["orderLinkId"],
            "side": row["side"], "orderPrice": row["price"], "orderQty": row["qty"],
            "leavesQty": "0", "createType": "CreateByUser", "orderType": row["orderType"],
            "stopOrderType": "", "execFee": _text(fee), "execId": f"fake-exec-{next(self._ids)}",
            "execPrice": _text(price), "execQty": _text(qty), "execType": "Trade",
            "execValue": _text(qty * price), "execTime": row["updatedTime"],
            "feeCurrency": "USDT", "isMaker": False, "feeRate": _text(TAKER_FEE), "tradeIv": "",
            "markIv": "", "markPrice": _text(price), "indexPrice": _text(price),
            "underlyingPrice": "", "blockTradeId": "", "closedSize": "0", "seq": next(self._ids),
            "category": row["category"],
        })  # fmt: skip
        self.wallet_usdt -= fee
        if row["category"] == "linear":
            signed = qty if row["side"] == "Buy" else -qty
            old_qty, old_entry = self.positions.get(row["symbol"], (Decimal(0), Decimal(0)))
            new_qty = old_qty + signed
            entry = price if old_qty == 0 or (old_qty > 0) != (signed > 0) else (
                (old_qty * old_entry + signed * price) / new_qty)  # fmt: skip
            self.positions[row["symbol"]] = (new_qty, entry if new_qty != 0 else Decimal(0))

    def _order_cancel(self, body: dict[str, Any]) -> Any:
        row = self.orders.get(body["orderLinkId"])
        if row is None or row["orderStatus"] not in ("New", "PartiallyFilled"):
            raise Reject(110001 if body["category"] == "linear" else 170213)
        row.update(orderStatus="Cancelled", updatedTime=str(self.now_ms()))
        return {"orderId": row["orderId"], "orderLinkId": row["orderLinkId"]}

    def _order_realtime(self, args: dict[str, Any]) -> Any:
        category, link_id = args["category"], args.get("orderLinkId")
        rows = [r for r in self.orders.values() if r["category"] == category]
        if link_id is not None:
            rows = [r for r in rows if r["orderLinkId"] == link_id]
        else:
            rows = [r for r in rows if r["orderStatus"] in ("New", "PartiallyFilled")]
        clean = [{k: v for k, v in r.items() if k != "category"} for r in rows]
        return {"category": category, "list": clean, "nextPageCursor": ""}

    def _execution_list(self, args: dict[str, Any]) -> Any:
        rows = [
            {k: v for k, v in e.items() if k != "category"}
            for e in reversed(self.executions)
            if e["orderLinkId"] == args["orderLinkId"] and e["category"] == args["category"]
        ]
        return {"category": args["category"], "list": rows, "nextPageCursor": ""}

    # --- account -------------------------------------------------------------------------

    def _position_list(self, args: dict[str, Any]) -> Any:
        template = load("position_list_inverse.json")["result"]["list"][0]
        rows = []
        for symbol, (qty, entry) in self.positions.items():
            if qty == 0:
                continue
            row = copy.deepcopy(template)
            row.update(
                symbol=symbol, side="Buy" if qty > 0 else "Sell", size=_text(abs(qty)),
                avgPrice=_text(entry), markPrice=_text(self.prices[("linear", symbol)]),
                updatedTime=str(self.now_ms()), leverage=_text(LEVERAGE),
            )  # fmt: skip
            rows.append(row)
        return {"category": "linear", "list": rows, "nextPageCursor": ""}

    def _wallet_balance(self, args: dict[str, Any]) -> Any:
        account = copy.deepcopy(load("wallet_balance.json")["result"]["list"][0])
        coin = account["coin"][0]
        im = sum((abs(q) * e / LEVERAGE for q, e in self.positions.values()), Decimal(0))
        coin.update(coin="USDT", walletBalance=_text(self.wallet_usdt),
                    equity=_text(self.wallet_usdt), totalPositionIM=_text(im))  # fmt: skip
        return {"list": [account]}

    def _transaction_log(self, args: dict[str, Any]) -> Any:
        start, end = int(args["startTime"]), int(args["endTime"])
        assert end - start <= 7 * 24 * 3_600_000, "Bybit refuses windows over 7 days"
        rows = [
            t for t in self.transactions
            if t["type"] == args.get("type", t["type"])
            and start <= int(t["transactionTime"]) <= end
        ]  # fmt: skip
        offset, limit = int(args.get("cursor") or 0), int(args.get("limit", 20))
        page = rows[offset : offset + limit]
        more = offset + limit < len(rows)
        return {"list": page, "nextPageCursor": str(offset + limit) if more else ""}

    def _switch_mode(self, body: dict[str, Any]) -> Any:
        if self.position_mode == body["mode"]:
            raise Reject(110025)
        self.position_mode = body["mode"]
        return {}

    def _set_leverage(self, body: dict[str, Any]) -> Any:
        if self.leverage.get(body["symbol"]) == body["buyLeverage"]:
            raise Reject(110043)
        self.leverage[body["symbol"]] = body["buyLeverage"]
        return {}

    def _set_margin_mode(self, body: dict[str, Any]) -> Any:
        if self.margin_mode_refused:
            failed = load("set_margin_mode_failed.json")
            raise Reject(failed["retCode"], failed["retMsg"], failed["result"])
        return {"reasons": []}
