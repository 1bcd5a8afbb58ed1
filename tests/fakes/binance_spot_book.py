"""Spot state and answers of :class:`tests.fakes.binance.BinanceFake`: books, orders by client order
id and the spot wallet, answering in the recorded payload shapes of ``tests/fixtures/binance-spot/``
(Binance spot https://github.com/binance/binance-spot-api-docs/blob/master/rest-api.md)."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import httpx

from tests.fakes.binance_books import OPEN, Rules, error, ok, rules_of, text8

SPOT_TAKER_FRAC = Decimal("0.001")
SPOT_CID = re.compile(r"^[a-zA-Z0-9-_]{1,36}$")
_ZERO = Decimal(0)


class SpotBook:
    """Spot orders (by client order id), books and the spot wallet (free only: resting
    orders do not lock funds in this fake)."""

    def __init__(self, exchange_info: Mapping[str, Any]) -> None:
        self.rules = rules_of(exchange_info)
        self.books: dict[str, tuple[Decimal, Decimal]] = {}
        self.wallet: dict[str, Decimal] = {"USDT": Decimal(100_000)}
        self.orders: dict[str, dict[str, Any]] = {}
        self.publish: Callable[[dict[str, Any]], None] | None = None
        """Receives each fill's ``executionReport`` (WebSocket API user data event)."""
        self._trade_ids = itertools.count(56)
        self._order_ids = itertools.count(28)

    def book_ticker(self, p: Mapping[str, str]) -> httpx.Response:
        """``GET /api/v3/ticker/bookTicker``: object for ``symbol``, array for ``symbols``."""
        symbols = json.loads(p["symbols"]) if "symbols" in p else [p.get("symbol", "")]
        if any(s not in self.books for s in symbols):
            return error(-1121, "Invalid symbol.")
        rows = [
            {
                "symbol": s, "bidPrice": text8(self.books[s][0]), "bidQty": "1.00000000",
                "askPrice": text8(self.books[s][1]), "askQty": "1.00000000",
            }
            for s in symbols
        ]  # fmt: skip
        return ok(rows if "symbols" in p else rows[0])

    def new_order(self, p: Mapping[str, str], now_ms: int) -> httpx.Response:
        """``POST /api/v3/order`` (LIMIT/MARKET; ACK, RESULT or FULL answer)."""
        symbol, order_id = p.get("symbol", ""), next(self._order_ids)
        if symbol not in self.rules or symbol not in self.books:
            return error(-1121, "Invalid symbol.")
        rules, (bid, ask) = self.rules[symbol], self.books[symbol]
        cid = p.get("newClientOrderId") or f"auto{order_id}"
        if not SPOT_CID.match(cid):
            legal = "legal range is '^[a-zA-Z0-9-_]{1,36}$'."
            return error(
                -1100, f"Illegal characters found in parameter 'newClientOrderId'; {legal}"
            )
        if cid in self.orders:
            return error(-2010, "Duplicate order sent.")
        qty, buy = Decimal(p["quantity"]), p["side"] == "BUY"
        if qty < rules.min_qty or qty % rules.step != 0:
            return error(-1013, "Filter failure: LOT_SIZE")
        price = Decimal(p["price"]) if p["type"] == "LIMIT" else None
        touch = ask if buy else bid
        fills = price is None or (price >= ask if buy else price <= bid)
        if qty * (price or touch) < rules.min_notional:
            return error(-1013, "Filter failure: NOTIONAL")
        spend = (rules.quote, qty * touch) if buy else (rules.base, qty)
        if fills and self.wallet.get(spend[0], _ZERO) < spend[1]:
            return error(-2010, "Account has insufficient balance for requested action.")
        order = {
            "symbol": symbol, "orderId": order_id, "orderListId": -1, "clientOrderId": cid,
            "transactTime": now_ms, "price": text8(price or _ZERO), "origQty": text8(qty),
            "executedQty": text8(_ZERO), "origQuoteOrderQty": "0.000000",
            "cummulativeQuoteQty": text8(_ZERO), "status": "NEW",
            "timeInForce": p.get("timeInForce", "GTC"), "type": p["type"], "side": p["side"],
            "workingTime": now_ms, "selfTradePreventionMode": "NONE", "fills": [],
        }  # fmt: skip
        if fills:
            self._fill(order, rules, qty, touch, buy)
            if self.publish is not None:
                self.publish(execution_report(order, now_ms))
        elif order["timeInForce"] == "IOC":
            order["status"] = "EXPIRED"
        self.orders[cid] = order
        return ok(_answer(order, p.get("newOrderRespType", "FULL")))

    def _fill(
        self, order: dict[str, Any], rules: Rules, qty: Decimal, price: Decimal, buy: bool
    ) -> None:
        quote_qty = qty * price
        got_asset, got = (rules.base, qty) if buy else (rules.quote, quote_qty)
        fee = (got * SPOT_TAKER_FRAC).quantize(Decimal("1e-8"))
        paid_asset, paid = (rules.quote, quote_qty) if buy else (rules.base, qty)
        self.wallet[paid_asset] = self.wallet.get(paid_asset, _ZERO) - paid
        self.wallet[got_asset] = self.wallet.get(got_asset, _ZERO) + got - fee
        order.update(status="FILLED", executedQty=text8(qty))
        order["cummulativeQuoteQty"] = text8(quote_qty)
        order["fills"] = [
            {
                "price": text8(price), "qty": text8(qty), "commission": text8(fee),
                "commissionAsset": got_asset, "tradeId": next(self._trade_ids),
            }
        ]  # fmt: skip

    def _lookup(self, p: Mapping[str, str]) -> dict[str, Any] | None:
        order = self.orders.get(p.get("origClientOrderId", ""))
        return order if order is not None and order["symbol"] == p.get("symbol") else None

    def query_order(self, p: Mapping[str, str]) -> httpx.Response:
        """``GET /api/v3/order`` by ``origClientOrderId``; unknown → ``-2013``."""
        order = self._lookup(p)
        return error(-2013, "Order does not exist.") if order is None else ok(_queried(order))

    def cancel_order(self, p: Mapping[str, str], now_ms: int) -> httpx.Response:
        """``DELETE /api/v3/order``; final or unknown → ``-2011``. The answer's
        ``clientOrderId`` is the cancel's own id, ours is ``origClientOrderId``."""
        order = self._lookup(p)
        if order is None or order["status"] not in OPEN:
            return error(-2011, "Unknown order sent.")
        order.update(status="CANCELED", transactTime=now_ms)
        body = {k: v for k, v in _answer(order, "RESULT").items() if k != "workingTime"}
        cancel_id = f"cancel{order['orderId']}"
        return ok({**body, "origClientOrderId": order["clientOrderId"], "clientOrderId": cancel_id})

    def open_orders(self, p: Mapping[str, str]) -> httpx.Response:
        """``GET /api/v3/openOrders`` (optional ``symbol``)."""
        symbol = p.get("symbol")
        return ok(
            [
                _queried(o)
                for o in self.orders.values()
                if o["status"] in OPEN and (symbol is None or o["symbol"] == symbol)
            ]
        )

    def account(self, p: Mapping[str, str], now_ms: int) -> httpx.Response:
        """``GET /api/v3/account`` in the recorded shape (``omitZeroBalances`` honoured)."""
        omit = p.get("omitZeroBalances") == "true"
        balances = [
            {"asset": a, "free": text8(v), "locked": text8(_ZERO)}
            for a, v in sorted(self.wallet.items())
            if not (omit and v == 0)
        ]
        return ok(
            {
                "makerCommission": 10, "takerCommission": 10, "buyerCommission": 0,
                "sellerCommission": 0, "canTrade": True, "canWithdraw": True,
                "canDeposit": True, "brokered": False, "requireSelfTradePrevention": False,
                "preventSor": False, "updateTime": now_ms, "accountType": "SPOT",
                "balances": balances, "permissions": ["SPOT"], "uid": 354937868,
            }
        )  # fmt: skip


def _answer(order: Mapping[str, Any], resp_type: str) -> dict[str, Any]:
    """A new-order answer in the ACK / RESULT / FULL layout (rest-api.md "New order (TRADE)")."""
    if resp_type == "ACK":
        keys = ("symbol", "orderId", "orderListId", "clientOrderId", "transactTime")
        return {k: order[k] for k in keys}
    if resp_type == "RESULT":
        return {k: v for k, v in order.items() if k != "fills"}
    return dict(order)


def _queried(order: Mapping[str, Any]) -> dict[str, Any]:
    """An order in the ``GET /api/v3/order`` layout (fixture ``query_order.json``)."""
    body = {k: v for k, v in order.items() if k not in ("fills", "transactTime")}
    body.update(
        stopPrice=text8(_ZERO), icebergQty=text8(_ZERO), time=order["workingTime"],
        updateTime=order["transactTime"], isWorking=order["status"] in OPEN,
    )  # fmt: skip
    return body


def execution_report(order: Mapping[str, Any], now_ms: int) -> dict[str, Any]:
    """The ``executionReport`` (``TRADE``) of a filled order's one fill, wrapped as the WebSocket
    API sends it (fixture ``user_data_execution_report.json``; spot user-data-stream.md)."""
    (fill,) = order["fills"]
    event = {
        "e": "executionReport", "E": now_ms, "s": order["symbol"], "c": order["clientOrderId"],
        "S": order["side"], "o": order["type"], "f": order["timeInForce"],
        "q": order["origQty"], "p": order["price"], "P": "0.00000000", "F": "0.00000000",
        "g": -1, "C": "", "x": "TRADE", "X": order["status"], "r": "NONE",
        "i": order["orderId"], "l": fill["qty"], "z": order["executedQty"], "L": fill["price"],
        "n": fill["commission"], "N": fill["commissionAsset"], "T": now_ms,
        "t": fill["tradeId"], "v": 3, "I": 1, "w": False, "m": False, "M": True, "O": now_ms,
        "Z": order["cummulativeQuoteQty"], "Y": order["cummulativeQuoteQty"],
        "Q": "0.00000000", "W": now_ms, "V": "NONE",
    }  # fmt: skip
    return {"subscriptionId": 0, "event": event}
