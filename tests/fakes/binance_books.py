"""State and answers of :class:`tests.fakes.binance.BinanceFake` for USD-M: the funding book
and the order book/positions/wallet, answering in the recorded payload shapes of
``tests/fixtures/binance-usdm/`` (spot lives in :mod:`tests.fakes.binance_spot_book`)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx

INTERVAL_MS = 8 * 3_600_000
PERP_TAKER_FRAC = Decimal("0.0005")
PERP_LEVERAGE = Decimal(20)
USDM_CID = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
OPEN = ("NEW", "PARTIALLY_FILLED")
_ZERO = Decimal(0)


def error(code: int, msg: str, status: int = 400) -> httpx.Response:
    """Binance error body ``{"code", "msg"}`` (USD-M "Error Codes"
    https://developers.binance.com/docs/derivatives/usds-margined-futures/error-code, spot
    https://github.com/binance/binance-spot-api-docs/blob/master/errors.md)."""
    return httpx.Response(status, json={"code": code, "msg": msg})


def ok(body: Any) -> httpx.Response:
    """HTTP 200 with a JSON body."""
    return httpx.Response(200, json=body)


def text(value: Decimal) -> str:
    """Plain decimal string as fapi prints it (``0.01``, ``60000``)."""
    return format(value.normalize(), "f")


def text8(value: Decimal) -> str:
    """Eight-decimal string as spot and funding rows print it (``0.00010000``)."""
    return f"{value:.8f}"


@dataclass(frozen=True)
class Rules:
    """Filters of one symbol, from the recorded ``exchangeInfo``."""

    base: str
    quote: str
    step: Decimal
    min_qty: Decimal
    min_notional: Decimal


def rules_of(exchange_info: Mapping[str, Any]) -> dict[str, Rules]:
    out = {}
    for entry in exchange_info["symbols"]:
        filters = {f["filterType"]: f for f in entry["filters"]}
        notional = filters.get("MIN_NOTIONAL") or filters["NOTIONAL"]
        out[entry["symbol"]] = Rules(
            entry["baseAsset"],
            entry["quoteAsset"],
            Decimal(filters["LOT_SIZE"]["stepSize"]),
            Decimal(filters["LOT_SIZE"]["minQty"]),
            Decimal(notional.get("notional") or notional["minNotional"]),
        )
    return out


def _window(rows: list[dict[str, Any]], key: str, params: Mapping[str, str]) -> list[Any]:
    start = int(params.get("startTime", "0"))
    end = int(params.get("endTime", str(2**63)))
    limit = int(params.get("limit", "100"))
    return [r for r in rows if start <= r[key] <= end][:limit]


class FundingBook:
    """Predicted rates, settled ``fundingRate`` rows and ``FUNDING_FEE`` income rows."""

    def __init__(self, now_ms: Callable[[], int]) -> None:
        self._now_ms = now_ms
        self.predicted: dict[str, Decimal] = {}
        self.next_ms: dict[str, int] = {}
        self.rows: dict[str, list[dict[str, Any]]] = {}
        self.income: list[dict[str, Any]] = []
        self._tran_ids = itertools.count(9_689_322_400)

    def next_funding_ms(self, symbol: str) -> int:
        """Next 8 h settlement after the server clock (epoch ms)."""
        if symbol not in self.next_ms:
            self.next_ms[symbol] = (self._now_ms() // INTERVAL_MS + 1) * INTERVAL_MS
        return self.next_ms[symbol]

    def settle(self, symbol: str, mark: Decimal, qty: Decimal) -> Decimal:
        """Settle the predicted rate; returns the income, ``-rate × qty × mark`` to 8 dp."""
        ts_ms = self.next_funding_ms(symbol)
        rate = self.predicted.get(symbol, Decimal("0.0001"))
        row = {"symbol": symbol, "fundingRate": text8(rate), "fundingTime": ts_ms}
        self.rows.setdefault(symbol, []).append({**row, "markPrice": text8(mark)})
        self.next_ms[symbol] = ts_ms + INTERVAL_MS
        if qty == 0:
            return _ZERO
        amount = (-rate * qty * mark).quantize(Decimal("1e-8"))
        self.income.append(
            {
                "symbol": symbol, "incomeType": "FUNDING_FEE", "income": text8(amount),
                "asset": "USDT", "info": "FUNDING_FEE", "time": ts_ms,
                "tranId": next(self._tran_ids), "tradeId": "",
            }
        )  # fmt: skip
        return amount

    def history(self, params: Mapping[str, str]) -> httpx.Response:
        """``GET /fapi/v1/fundingRate``: one symbol, inclusive window, ascending."""
        return ok(_window(self.rows.get(params.get("symbol", ""), []), "fundingTime", params))

    def income_rows(self, params: Mapping[str, str]) -> httpx.Response:
        """``GET /fapi/v1/income`` (``incomeType`` filter, inclusive window)."""
        kind = params.get("incomeType")
        rows = [r for r in self.income if kind is None or r["incomeType"] == kind]
        return ok(_window(rows, "time", params))


Publish = Callable[[dict[str, Any]], None]
"""Hands one user-data event (a frame of the account stream) to whoever streams it."""


def order_trade_update(
    order: Mapping[str, Any], now_ms: int, trade: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The ``ORDER_TRADE_UPDATE`` user-data event of ``order`` (USD-M "Event: Order Update",
    fixture ``ws_user_order_update_new.json``): execution type ``TRADE`` with ``trade`` (a
    ``userTrades`` row), else ``NEW``."""
    body = {
        "s": order["symbol"], "c": order["clientOrderId"], "S": order["side"],
        "o": order["type"], "f": order["timeInForce"], "q": order["origQty"],
        "p": order["price"], "ap": order["avgPrice"], "sp": "0",
        "x": "TRADE" if trade else "NEW", "X": order["status"] if trade else "NEW",
        "i": order["orderId"], "l": trade["qty"] if trade else "0",
        "z": order["executedQty"] if trade else "0", "L": trade["price"] if trade else "0",
        "N": "USDT", "n": trade["commission"] if trade else "0", "T": now_ms,
        "t": trade["id"] if trade else 0, "b": "0", "a": "0", "m": False,
        "R": order["reduceOnly"], "wt": "CONTRACT_PRICE", "ot": order["type"], "ps": "BOTH",
        "cp": False, "rp": "0", "pP": False, "si": 0, "ss": 0, "V": "NONE",
    }  # fmt: skip
    return {"e": "ORDER_TRADE_UPDATE", "T": now_ms, "E": now_ms, "o": body}


class PerpBook:
    """USD-M orders (by client order id), one-way positions and the USDT futures wallet.

    ``publish`` (set by the fake) receives the ``ORDER_TRADE_UPDATE`` events of every order:
    ``NEW`` when it is accepted, ``TRADE`` for each fill.
    """

    def __init__(self, exchange_info: Mapping[str, Any], funding: FundingBook) -> None:
        self.rules = rules_of(exchange_info)
        self.funding = funding
        self.marks: dict[str, Decimal] = {}
        self.orders: dict[str, dict[str, Any]] = {}
        self.positions: dict[str, tuple[Decimal, Decimal, int]] = {}  # qty, entry, time
        self.trades: list[dict[str, Any]] = []
        self.wallet = Decimal(100_000)
        self.fill_qty: Callable[[str, Decimal], Decimal] | None = None
        """Hook (chaos tests): the part of a marketable order (client order id, qty) that fills
        at once; the rest expires, as a MARKET order beyond the book's depth does (``EXPIRED``
        with ``executedQty`` < ``origQty``). None = everything fills."""
        self.publish: Publish | None = None
        self._trade_ids = itertools.count(2_059_192)
        self._order_ids = itertools.count(4_087_922_044)

    def position_qty(self, symbol: str) -> Decimal:
        """Signed position, base units."""
        return self.positions.get(symbol, (_ZERO, _ZERO, 0))[0]

    def premium_index(self, params: Mapping[str, str], now_ms: int) -> httpx.Response:
        """``GET /fapi/v1/premiumIndex``: an object for ``symbol``, else an array."""
        symbol = params.get("symbol")
        if symbol is not None and symbol not in self.marks:
            return error(-1121, "Invalid symbol.")
        rows = [self._premium(s, now_ms) for s in ([symbol] if symbol else sorted(self.marks))]
        return ok(rows[0] if symbol else rows)

    def _premium(self, symbol: str, now_ms: int) -> dict[str, Any]:
        mark = text8(self.marks[symbol])
        rate = text8(self.funding.predicted.get(symbol, Decimal("0.0001")))
        return {
            "symbol": symbol, "markPrice": mark, "indexPrice": mark,
            "estimatedSettlePrice": mark, "lastFundingRate": rate,
            "interestRate": "0.00010000",
            "nextFundingTime": self.funding.next_funding_ms(symbol), "time": now_ms,
        }  # fmt: skip

    def new_order(self, p: Mapping[str, str], now_ms: int) -> httpx.Response:
        """``POST /fapi/v1/order`` (LIMIT/MARKET, RESULT-shaped answer)."""
        symbol, order_id = p.get("symbol", ""), next(self._order_ids)
        if symbol not in self.rules or symbol not in self.marks:
            return error(-1121, "Invalid symbol.")
        rules, mark = self.rules[symbol], self.marks[symbol]
        cid = p.get("newClientOrderId") or f"auto-{order_id}"
        if not USDM_CID.match(cid):
            return error(-4015, "Client order id length should not be more than 36 chars")
        if cid in self.orders:
            return error(-4116, "ClientOrderId is duplicated.")
        qty = Decimal(p["quantity"])
        if qty <= 0 or qty % rules.step != 0 or qty < rules.min_qty:
            return error(-1111, "Precision is over the maximum defined for this asset.")
        price = Decimal(p["price"]) if p["type"] == "LIMIT" else None
        reduce_only = p.get("reduceOnly") == "true"
        if qty * (price or mark) < rules.min_notional and not reduce_only:
            msg = f"Order's notional must be no smaller than {text(rules.min_notional)}"
            return error(-4164, f"{msg} (unless you choose reduce only)")
        sign = 1 if p["side"] == "BUY" else -1
        if reduce_only and not -sign * self.position_qty(symbol) >= qty:
            return error(-2022, "ReduceOnly Order is rejected.")
        order = {
            "orderId": order_id, "symbol": symbol, "status": "NEW", "clientOrderId": cid,
            "price": text(price or _ZERO), "avgPrice": "0.00", "origQty": text(qty),
            "executedQty": "0", "cumQty": "0", "cumQuote": "0",
            "timeInForce": p.get("timeInForce", "GTC"), "type": p["type"],
            "reduceOnly": reduce_only, "closePosition": False, "side": p["side"],
            "positionSide": "BOTH", "stopPrice": "0.00", "workingType": "CONTRACT_PRICE",
            "priceProtect": False, "origType": p["type"], "priceMatch": "NONE",
            "selfTradePreventionMode": "NONE", "goodTillDate": 0, "updateTime": now_ms,
        }  # fmt: skip
        if self.publish is not None:
            self.publish(order_trade_update(order, now_ms))
        if price is None or (sign > 0 and price >= mark) or (sign < 0 and price <= mark):
            filled = qty if self.fill_qty is None else self.fill_qty(cid, qty)
            if filled > 0:
                self._fill(order, filled, sign, mark, now_ms)
            if filled < qty:
                order["status"] = "EXPIRED"
        elif order["timeInForce"] == "IOC":
            order["status"] = "EXPIRED"
        self.orders[cid] = {**order, "time": now_ms}
        return ok(order)

    def fill_again(self, cid: str, qty: Decimal, now_ms: int) -> dict[str, Any]:
        """Execute ``qty`` more of order ``cid`` at the mark (a fill the order's answer did not
        report: the venue's own late fill), as ``_fill`` does; returns the trade row."""
        order = self.orders[cid]
        sign = 1 if order["side"] == "BUY" else -1
        executed = Decimal(order["executedQty"]) + qty
        self._fill(order, qty, sign, self.marks[order["symbol"]], now_ms, executed)
        return self.trades[-1]

    def _fill(
        self,
        order: dict[str, Any],
        qty: Decimal,
        sign: int,
        price: Decimal,
        now_ms: int,
        executed: Decimal | None = None,
    ) -> None:
        """Fill ``qty`` of ``order`` at ``price``; ``executed`` its filled qty after (all of
        ``qty`` when None)."""
        done = qty if executed is None else executed
        order.update(status="FILLED", avgPrice=text(price), executedQty=text(done))
        order.update(cumQty=text(done), cumQuote=text(done * price))
        fee = (qty * price * PERP_TAKER_FRAC).quantize(Decimal("1e-8"))
        self.wallet -= fee
        self.trades.append(
            {
                "buyer": sign > 0, "commission": text8(fee), "commissionAsset": "USDT",
                "id": next(self._trade_ids), "maker": False, "orderId": order["orderId"],
                "price": text(price), "qty": text(qty), "quoteQty": text(qty * price),
                "realizedPnl": "0", "side": order["side"], "positionSide": "BOTH",
                "symbol": order["symbol"], "time": now_ms,
            }
        )  # fmt: skip
        held, entry, _ = self.positions.get(order["symbol"], (_ZERO, _ZERO, 0))
        new = held + sign * qty
        if held == 0 or (held > 0) == (sign > 0):
            entry = (abs(held) * entry + qty * price) / abs(new)
        elif qty > abs(held):
            entry = price  # flipped through zero
        self.positions[order["symbol"]] = (new, entry if new != 0 else _ZERO, now_ms)
        if self.publish is not None:
            self.publish(order_trade_update(order, now_ms, self.trades[-1]))

    def query_order(self, p: Mapping[str, str]) -> httpx.Response:
        """``GET /fapi/v1/order`` by ``origClientOrderId``; unknown → ``-2013``."""
        order = self.orders.get(p.get("origClientOrderId", ""))
        if order is None or order["symbol"] != p.get("symbol"):
            return error(-2013, "Order does not exist.")
        return ok(order)

    def cancel_order(self, p: Mapping[str, str], now_ms: int) -> httpx.Response:
        """``DELETE /fapi/v1/order``; final or unknown → ``-2011``."""
        order = self.orders.get(p.get("origClientOrderId", ""))
        if order is None or order["symbol"] != p.get("symbol") or order["status"] not in OPEN:
            return error(-2011, "Unknown order sent.")
        order.update(status="CANCELED", updateTime=now_ms)
        return ok({k: v for k, v in order.items() if k != "time"})

    def open_orders(self, p: Mapping[str, str]) -> httpx.Response:
        """``GET /fapi/v1/openOrders`` (optional ``symbol``)."""
        symbol = p.get("symbol")
        return ok(
            [
                o
                for o in self.orders.values()
                if o["status"] in OPEN and (symbol is None or o["symbol"] == symbol)
            ]
        )

    def user_trades(self, p: Mapping[str, str]) -> httpx.Response:
        """``GET /fapi/v1/userTrades`` (``symbol``, optional ``orderId``)."""
        order_id = p.get("orderId")
        return ok(
            [
                t
                for t in self.trades
                if t["symbol"] == p.get("symbol")
                and (order_id is None or str(t["orderId"]) == order_id)
            ]
        )

    def position_risk(self, now_ms: int) -> httpx.Response:
        """``GET /fapi/v3/positionRisk`` rows of non-zero positions (one-way shape)."""
        rows = []
        for symbol, (qty, entry, ts_ms) in sorted(self.positions.items()):
            if qty == 0:
                continue
            mark = self.marks[symbol]
            margin = text8(abs(qty) * mark / PERP_LEVERAGE)
            rows.append(
                {
                    "symbol": symbol, "positionSide": "BOTH", "positionAmt": text(qty),
                    "entryPrice": text(entry), "breakEvenPrice": text(entry),
                    "markPrice": text8(mark), "unRealizedProfit": text8((mark - entry) * qty),
                    "liquidationPrice": "0", "isolatedMargin": "0",
                    "notional": text8(qty * mark), "marginAsset": "USDT",
                    "isolatedWallet": "0", "initialMargin": margin, "maintMargin": "0",
                    "positionInitialMargin": margin, "openOrderInitialMargin": "0",
                    "adl": 2, "bidNotional": "0", "askNotional": "0", "updateTime": ts_ms,
                }
            )  # fmt: skip
        return ok(rows)

    def balance(self, now_ms: int) -> httpx.Response:
        """``GET /fapi/v3/balance``: the USDT futures wallet."""
        upnl = sum(((self.marks[s] - e) * q for s, (q, e, _) in self.positions.items()), _ZERO)
        margin = sum((abs(q) * self.marks[s] for s, (q, _, _) in self.positions.items()), _ZERO)
        available = max(_ZERO, self.wallet + upnl - margin / PERP_LEVERAGE)
        return ok(
            [
                {
                    "accountAlias": "SgsR", "asset": "USDT", "balance": text8(self.wallet),
                    "crossWalletBalance": text8(self.wallet), "crossUnPnl": text8(upnl),
                    "availableBalance": text8(available), "maxWithdrawAmount": text8(available),
                    "marginAvailable": True, "updateTime": now_ms,
                }
            ]
        )  # fmt: skip
