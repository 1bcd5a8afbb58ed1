"""A stateful Deribit API v2 fake (JSON-RPC 2.0 over HTTP) on respx, answering in the
recorded payload shapes of ``tests/fixtures/deribit-v2/``.

Every answer starts from a fixture (a row copied as template, its values replaced by the fake's
state). The market: ``BTC_USDC-PERPETUAL`` (linear, amounts in BTC, constructed from the
recorded row shapes) under ``currency=USDC``, the inverse ``BTC-PERPETUAL`` and the BTC options
of ``get_instruments_btc_option.json`` under ``currency=BTC``; prices seeded per instrument,
hourly funding history, candles. The account: orders by label (market orders fill at once at
the mark price), trades, positions in base units, the account summary. ``public/auth`` checks
a ``client_signature`` grant against the secret (or the ``client_credentials`` secret) and issues
a bearer token; private methods without that token answer ``13009 unauthorized``.

Inverse contracts are kept in venue units: ``BTC-PERPETUAL`` orders and positions in USD
(``size_currency`` = USD / mark, fees in BTC), option orders in coin with coin prices (the
ticker's ``index_price`` = the seeded ``BTC-PERPETUAL`` price, or ``index_usd``). Funding
settlements (:meth:`DeribitFake.settle_funding`) also write a ``settlement`` row of the
transaction log for each open perpetual position (``interest_pl`` = −funding_8h / 8 × the coin
position × the mark, in the settlement currency). An option expiry (:meth:`DeribitFake.deliver`)
publishes the day's ``btc_usd`` delivery price (``public/get_delivery_prices``, seeded with the
recorded history) and removes the positions in the expired options.

``fail_next(kind, times)`` injects the failures of ``tests/contract/harness.py``; ``sleep``
records every wait in ``slept_s`` and never waits.
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import respx

from venues.deribit.auth import client_signature

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "deribit-v2"
BASE_URL = "https://deribit.fake.test"
CLIENT_ID = "deribit-client-id-VALUE"
CLIENT_SECRET = "deribit-client-secret-VALUE-never-shown"
HOUR_MS = 3_600_000
#: The venue reads the wall clock to bound its history windows: the fake's "now" is the start
#: of the current hour.
NOW_MS = time.time_ns() // 1_000_000 // HOUR_MS * HOUR_MS
PERP = "BTC_USDC-PERPETUAL"
INVERSE = "BTC-PERPETUAL"


def load(name: str) -> Any:
    """A fixture of ``tests/fixtures/deribit-v2/``, decoded."""
    return json.loads((FIXTURES / name).read_text())


def _num(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def _linear_perp_row() -> dict[str, Any]:
    """A linear USDC perpetual row in the key set of the recorded instrument rows."""
    row = copy.deepcopy(load("get_instruments_btc_option.json")["result"][0])
    for key in ("option_type", "strike"):
        row.pop(key)
    row.update(
        instrument_name=PERP,
        kind="future",
        instrument_type="linear",
        settlement_period="perpetual",
        expiration_timestamp=32_503_708_800_000,
        contract_size=0.001,
        min_trade_amount=0.001,
        tick_size=0.5,
        tick_size_steps=[],
        base_currency="BTC",
        quote_currency="USDC",
        settlement_currency="USDC",
        counter_currency="USDC",
        price_index="btc_usdc",
        maker_commission=0.0,
        taker_commission=0.0005,
        instrument_id=900_100,
    )
    return row


def _inverse_perp_row() -> dict[str, Any]:
    row = _linear_perp_row()
    row.update(
        instrument_name="BTC-PERPETUAL",
        instrument_type="reversed",
        contract_size=10,
        min_trade_amount=10,
        quote_currency="USD",
        settlement_currency="BTC",
        counter_currency="USD",
        price_index="btc_usd",
        instrument_id=900_101,
    )
    return row


class DeribitFake:
    """The fake venue: ``transport`` to plug into the adapter, its state and the hooks."""

    def __init__(self) -> None:
        self.router = respx.MockRouter(
            assert_all_mocked=True, assert_all_called=False, base_url=BASE_URL
        )
        self.router.route(method="POST", path__regex=r"^/api/v2/").mock(side_effect=self._respond)
        self.transport = httpx.MockTransport(self.router.handler)
        self.now_ms = NOW_MS
        self.slept_s: list[float] = []
        self.calls: list[dict[str, Any]] = []
        self.prices: dict[str, Decimal] = {}
        self.funding_8h: dict[str, Decimal] = {}
        self.funding_history: dict[str, list[tuple[int, float]]] = {}
        self.candles: dict[str, list[tuple[int, float, float, float, float, float]]] = {}
        self.orders: list[dict[str, Any]] = []
        self.trades: dict[str, list[dict[str, Any]]] = {}
        self.positions: dict[str, tuple[Decimal, Decimal]] = {}  # name → (signed size, avg)
        self.tokens: set[str] = set()
        self.settlements: list[dict[str, Any]] = []  # transaction-log settlement rows
        self.index_usd = Decimal(60_000)
        #: Per index, ``(UTC day, delivery price)`` newest first: the recorded history (2019-20).
        self.delivery_prices: dict[str, list[tuple[str, Decimal]]] = {
            "btc_usd": [
                (r["date"], Decimal(repr(r["delivery_price"])))
                for r in load("get_delivery_prices.json")["result"]["data"]
            ],
            "eth_usd": [],
        }
        self._failures: list[str] = []
        options = load("get_instruments_btc_option.json")["result"]
        self.instruments: dict[str, list[dict[str, Any]]] = {
            "USDC": [_linear_perp_row()],
            "BTC": [_inverse_perp_row(), *options],
            "ETH": [],
        }

    # --- hooks ----------------------------------------------------------------------------

    async def sleep(self, seconds: float) -> None:
        """Fake sleep: records ``seconds`` and only yields to the event loop."""
        self.slept_s.append(seconds)
        await asyncio.sleep(0)

    def fail_next(self, kind: str, times: int = 1) -> None:
        """Make the next ``times`` requests fail as ``kind`` (see ``FAILURE_KINDS``)."""
        if kind not in ("connect", "rate_limit", "server_error", "auth", "malformed"):
            raise ValueError(f"unknown failure kind {kind!r}")
        self._failures.extend([kind] * times)

    def seed_price(
        self, name: str, price: Decimal, funding_8h: Decimal = Decimal("0.0008")
    ) -> None:
        """Set the mark of ``name`` (best bid/ask ± 0.5) and its predicted funding, with
        three past hourly settlements if it has none."""
        self.prices[name] = price
        self.funding_8h[name] = funding_8h
        last = (self.now_ms // HOUR_MS) * HOUR_MS
        self.funding_history.setdefault(
            name, [(last - k * HOUR_MS, 1e-5 * (k + 1)) for k in (2, 1, 0)]
        )

    def settle_funding(self) -> None:
        """One more hourly settlement (``interest_1h`` = funding_8h / 8) per seeded perp, and a
        transaction-log ``settlement`` row per open perpetual position."""
        for name, rows in self.funding_history.items():
            rows.append((rows[-1][0] + HOUR_MS, float(self.funding_8h[name] / 8)))
        template = load("get_transaction_log.json")["result"]["logs"][1]
        for name, (size, _) in self.positions.items():
            if size == 0 or name not in self.funding_8h:
                continue
            mark = self.prices[name]
            inverse = self._row(name)["instrument_type"] == "reversed"
            coins = size / mark if inverse else size
            paid_quote = self.funding_8h[name] / 8 * coins * mark  # USD; longs pay
            interest = -paid_quote / mark if inverse else -paid_quote
            self.settlements.append(
                {
                    **template,
                    "id": 70_000 + len(self.settlements),
                    "timestamp": self.now_ms,
                    "instrument_name": name,
                    "side": "long" if size > 0 else "short",
                    "position": _num(abs(size)),
                    "amount": _num(abs(size)),
                    "price": _num(mark),
                    "interest_pl": float(interest),
                    "currency": self._row(name)["settlement_currency"],
                }
            )

    def deliver(self, expiry_ms: int, delivery_price_usd: Decimal) -> None:
        """Deribit's 08:00 UTC delivery of the options expiring at ``expiry_ms``: the day's
        ``btc_usd`` delivery price is published (``public/get_delivery_prices``, newest first)
        and every position in those options disappears (cash-settled)."""
        day = datetime.fromtimestamp(expiry_ms / 1000, tz=UTC).date().isoformat()
        self.delivery_prices["btc_usd"].insert(0, (day, delivery_price_usd))
        for name in list(self.positions):
            row = self._row(name)
            if row["kind"] == "option" and row["expiration_timestamp"] == expiry_ms:
                del self.positions[name]

    def _row(self, name: str) -> dict[str, Any]:
        return next(
            r for rows in self.instruments.values() for r in rows if r["instrument_name"] == name
        )

    def _is_option(self, name: str) -> bool:
        return self._row(name)["kind"] == "option"

    # --- plumbing -------------------------------------------------------------------------

    def _respond(self, request: httpx.Request) -> httpx.Response:
        self.now_ms += 1
        body = json.loads(request.content)
        self.calls.append(body)
        request_id, method = body["id"], body["method"]
        assert request.url.path == f"/api/v2/{method}"
        failure = self._failure(request, request_id)
        if failure is not None:
            return failure
        if method.startswith("private/") and not self._authorized(request):
            return _error(request_id, 13009, "unauthorized", 401)
        handler = getattr(self, "_" + method.replace("/", "_"), None)
        if handler is None:
            return _error(request_id, -32601, "Method not found", 400)
        answer = handler(body["params"])
        if isinstance(answer, httpx.Response):
            return answer
        return _ok(request_id, answer)

    def _failure(self, request: httpx.Request, request_id: int) -> httpx.Response | None:
        if not self._failures:
            return None
        kind = self._failures.pop(0)
        if kind == "connect":
            raise httpx.ConnectError("connection refused (fake)", request=request)
        if kind == "rate_limit":
            return _error(request_id, 10028, "too_many_requests", 429, {"Retry-After": "2"})
        if kind == "server_error":
            return httpx.Response(502, text="<html><body>502 Bad Gateway</body></html>")
        if kind == "auth":
            return _error(request_id, 13009, "unauthorized", 401)
        return _ok(request_id, {})  # malformed: right JSON type, required fields missing

    def _authorized(self, request: httpx.Request) -> bool:
        header = request.headers.get("Authorization", "")
        return header.startswith("Bearer ") and header.removeprefix("Bearer ") in self.tokens

    # --- public ---------------------------------------------------------------------------

    def _public_auth(self, params: dict[str, Any]) -> Any:
        if params.get("client_id") != CLIENT_ID:
            return _error(0, 13004, "invalid_credentials", 400)
        if params["grant_type"] == "client_signature":
            expected = client_signature(
                CLIENT_SECRET, params["timestamp"], params["nonce"], params.get("data", "")
            )
            if params["signature"] != expected:
                return _error(0, 13004, "invalid_credentials", 400)
        elif params.get("client_secret") != CLIENT_SECRET:
            return _error(0, 13004, "invalid_credentials", 400)
        result = copy.deepcopy(load("auth_client_credentials.json")["result"])
        token = f"token-{len(self.tokens) + 1}"
        self.tokens.add(token)
        result["access_token"] = token
        return result

    def _public_get_instruments(self, params: dict[str, Any]) -> Any:
        rows = self.instruments.get(params["currency"], [])
        kind = params.get("kind")
        return [r for r in rows if kind is None or r["kind"] == kind]

    def _public_ticker(self, params: dict[str, Any]) -> Any:
        name = params["instrument_name"]
        if name not in self.prices:
            return _error(0, 10020, "invalid_or_unsupported_instrument", 400)
        price = self.prices[name]
        if self._is_option(name):
            row = copy.deepcopy(load("ticker_btc_option.json")["result"])
            tick = Decimal("0.0005")
            row.update(
                instrument_name=name,
                timestamp=self.now_ms,
                mark_price=_num(price),
                index_price=_num(self._index()),
                best_bid_price=_num(price - tick),
                best_ask_price=_num(price + tick),
            )
            return row
        row = copy.deepcopy(load("ticker_btc_perpetual.json")["result"])
        row.update(
            instrument_name=name,
            timestamp=self.now_ms,
            mark_price=_num(price),
            index_price=_num(price - 2),
            best_bid_price=_num(price - Decimal("0.5")),
            best_ask_price=_num(price + Decimal("0.5")),
            funding_8h=_num(self.funding_8h[name]),
        )
        return row

    def _index(self) -> Decimal:
        return self.prices.get(INVERSE, self.index_usd)

    def _public_get_index_price(self, params: dict[str, Any]) -> Any:
        index = _num(self._index())
        return {"index_price": index, "estimated_delivery_price": index}

    def _public_get_delivery_prices(self, params: dict[str, Any]) -> Any:
        rows = self.delivery_prices.get(params["index_name"])
        if rows is None:
            return _error(0, 11050, "bad_request", 400)
        offset, count = params.get("offset", 0), params.get("count", 10)
        page = rows[offset : offset + count]
        data = [{"date": day, "delivery_price": _num(price)} for day, price in page]
        return {"data": data, "records_total": len(rows)}

    def _public_get_funding_rate_history(self, params: dict[str, Any]) -> Any:
        template = load("get_funding_rate_history.json")["result"][0]
        start, end = params["start_timestamp"], params["end_timestamp"]
        rows = []
        for ts, rate in self.funding_history.get(params["instrument_name"], []):
            if start <= ts <= end:
                rows.append({**template, "timestamp": ts, "interest_1h": rate})
        return rows

    def _public_get_tradingview_chart_data(self, params: dict[str, Any]) -> Any:
        start, end = params["start_timestamp"], params["end_timestamp"]
        rows = [r for r in self.candles.get(params["instrument_name"], []) if start <= r[0] <= end]
        if not rows:
            return {"status": "no_data", "ticks": [], "open": [], "high": [], "low": [],
                    "close": [], "volume": [], "cost": []}  # fmt: skip
        columns = list(zip(*rows, strict=True))
        names = ("ticks", "open", "high", "low", "close", "volume")
        result: dict[str, Any] = {n: list(col) for n, col in zip(names, columns, strict=True)}
        result["cost"] = [v * cl for v, cl in zip(result["volume"], result["close"], strict=True)]
        result["status"] = "ok"
        return result

    # --- private: orders ------------------------------------------------------------------

    def _place(self, params: dict[str, Any], direction: str) -> Any:
        name = params["instrument_name"]
        if name not in self.prices:
            return _error(0, 10020, "invalid_or_unsupported_instrument", 400)
        amount = Decimal(repr(params["amount"]))
        price = self.prices[name]
        row = self._row(name)
        if amount <= 0 or amount % Decimal(repr(row["min_trade_amount"])):
            return _error(0, 10002, "qty_too_low", 400)
        order = copy.deepcopy(load("buy_response_recorded_linear_perp.json")["result"]["order"])
        order_id = f"USDC-{len(self.orders) + 1}"
        order.update(
            label=params.get("label", ""),
            instrument_name=name,
            direction=direction,
            amount=_num(amount),
            order_id=order_id,
            order_type=params.get("type", "limit"),
            post_only=params.get("post_only", False),
            reduce_only=params.get("reduce_only", False),
            creation_timestamp=self.now_ms,
            last_update_timestamp=self.now_ms,
            order_state="filled",
            filled_amount=_num(amount),
            average_price=_num(price),
            price=_num(price),
        )
        trade = copy.deepcopy(load("buy_response.json")["result"]["trades"][0])
        trade.update(
            trade_id=f"T-{order_id}",
            order_id=order_id,
            instrument_name=name,
            direction=direction,
            amount=_num(amount),
            price=_num(price),
            index_price=_num(self._index() if self._is_option(name) else price),
            mark_price=_num(price),
            fee=_num(self._fee(name, amount, price)),
            fee_currency=row["settlement_currency"],
            liquidity="T",
            timestamp=self.now_ms,
            label=order["label"],
        )
        self.orders.append(order)
        self.trades[order_id] = [trade]
        size, avg = self.positions.get(name, (Decimal(0), Decimal(0)))
        signed = amount if direction == "buy" else -amount
        self.positions[name] = (size + signed, price if size == 0 else avg)
        return {"order": order, "trades": [trade]}

    def _fee(self, name: str, amount: Decimal, price: Decimal) -> Decimal:
        """0.05 % of the notional, in the settlement currency (coin for inverse contracts)."""
        row = self._row(name)
        if row["kind"] == "option":
            return amount * Decimal("0.0003")
        if row["instrument_type"] == "reversed":
            return amount / price * Decimal("0.0005")
        return amount * price * Decimal("0.0005")

    def _private_buy(self, params: dict[str, Any]) -> Any:
        return self._place(params, "buy")

    def _private_sell(self, params: dict[str, Any]) -> Any:
        return self._place(params, "sell")

    def _private_get_order_state_by_label(self, params: dict[str, Any]) -> Any:
        return [o for o in self.orders if o["label"] == params["label"]]

    def _private_get_user_trades_by_order(self, params: dict[str, Any]) -> Any:
        return self.trades.get(params["order_id"], [])

    def _private_cancel_by_label(self, params: dict[str, Any]) -> Any:
        count = 0
        for order in self.orders:
            if order["label"] == params["label"] and order["order_state"] == "open":
                order["order_state"] = "cancelled"
                count += 1
        return count

    def _private_get_open_orders_by_currency(self, params: dict[str, Any]) -> Any:
        return [
            o
            for o in self.orders
            if o["order_state"] == "open"
            and self._row(o["instrument_name"])["settlement_currency"] == params["currency"]
        ]

    # --- private: account -----------------------------------------------------------------

    def _private_get_positions(self, params: dict[str, Any]) -> Any:
        template = load("get_positions.json")["result"][0]
        rows = []
        for name, (size, avg) in self.positions.items():
            if size == 0 or self._row(name)["settlement_currency"] != params["currency"]:
                continue
            mark = self.prices[name]
            inverse = self._row(name)["instrument_type"] == "reversed"
            coins = (size / mark).quantize(Decimal("1e-9")) if inverse else size
            rows.append(
                {
                    **template,
                    "kind": self._row(name)["kind"],
                    "instrument_name": name,
                    "direction": "buy" if size > 0 else "sell",
                    "size": _num(abs(size)),
                    "size_currency": _num(abs(coins)),
                    "average_price": _num(avg),
                    "mark_price": _num(mark),
                    "index_price": _num(mark),
                    "estimated_liquidation_price": None,
                }
            )
            if self._is_option(name):
                index = self._index()
                rows[-1].update(
                    index_price=_num(index),
                    average_price_usd=_num(avg * index),
                    gamma=0.0,
                    vega=0.0,
                    theta=0.0,
                )
                rows[-1].pop("size_currency")
        return rows

    def _private_get_transaction_log(self, params: dict[str, Any]) -> Any:
        start, end = params["start_timestamp"], params["end_timestamp"]
        rows = [
            r
            for r in self.settlements
            if r["currency"] == params["currency"] and start <= r["timestamp"] <= end
        ]
        return {"logs": sorted(rows, key=lambda r: -r["timestamp"]), "continuation": None}

    def _private_get_account_summary(self, params: dict[str, Any]) -> Any:
        result = copy.deepcopy(load("get_account_summary.json")["result"])
        result["currency"] = params["currency"]
        return result


def _ok(request_id: int, result: Any) -> httpx.Response:
    body = {"jsonrpc": "2.0", "id": request_id, "result": result, "testnet": False}
    return httpx.Response(200, json=body)


def _error(
    request_id: int,
    code: int,
    message: str,
    status: int,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    body = {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}
    return httpx.Response(status, json=body, headers=headers)
