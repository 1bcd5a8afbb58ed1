"""A stateful Hyperliquid behind respx: ``POST /info`` and ``POST /exchange`` answered in the
venue's recorded payload shapes (``tests/fixtures/hyperliquid/``), keeping the state that
orders, fills and funding settlements create.

* Market: the universe and asset contexts of ``meta_and_asset_ctxs.json``; :meth:`seed`
  sets a coin's mark = oracle = mid; ``l2Book`` is one level each side, one tick around it
  (shape of the GitBook "L2 book snapshot"; no l2Book payload is recorded).
* ``/exchange`` checks the EIP-712 signature: the recovered signer must be the API wallet the
  fake was built with, else the venue's ``User or API Wallet … does not exist.`` refusal
  (``exchange_err_unknown_signer.json``); a nonce not above the last → ``Invalid nonce``.
* Orders by cloid: IOC orders fill entirely at the seeded price when marketable (else the venue's
  ``Order could not immediately match…`` error), GTC orders rest; an order value under $10 gets
  ``Order must have minimum value of $10. asset=N``; a cloid already used gets ``Order has duplicate
  cloid`` as the order's status error — third-party clients report that text; it is not in
  Hyperliquid's "Error responses" table, and whether the venue sends it per order or for the
  whole action is not documented (the parsers accept both).
* Funding: :meth:`settle` books one hourly settlement: a ``fundingHistory`` row per seeded
  coin and a ``userFunding`` row per open position, ``usdc = −rate × szi × oracle`` (6 dp).
* :meth:`fail_next` injects the failure kinds of ``tests/contract/harness.py``; the injected
  429 has ``Retry-After: 2`` and a text body (the venue's 429 body is not documented).
* :class:`FakeTime` is the injected clock and sleep: sleeping advances it and is recorded.
"""

from __future__ import annotations

import json
from collections import deque
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import respx
from eth_account import Account
from eth_account.messages import encode_typed_data

from venues.hyperliquid.auth import action_hash, l1_typed_data
from venues.hyperliquid.parse import price_tick

FIXTURES = Path(__file__).parent.parent / "fixtures" / "hyperliquid"
BASE_URL = "https://hyperliquid.fake.test"
ACCOUNT_ADDRESS = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8"  # public Hardhat test account
API_WALLET_KEY = "0x" + "0123456789" * 6 + "0123"  # the SDK's signing test key
API_WALLET_ADDRESS = "0x14791697260E4c9A71f18484C9f997B308e59325"
START_MS = 1_790_362_800_000 + 300_000  # 5 min after the last recorded fundingHistory hour
HOUR_MS = 3_600_000
TAKER_FEE_FRAC = Decimal("0.00045")
IOC_NO_MATCH_TEXT = "Order could not immediately match against any resting orders."


def load(name: str) -> Any:
    """A fixture of ``tests/fixtures/hyperliquid/``."""
    return json.loads((FIXTURES / name).read_text())


class FakeTime:
    """Wall clock (ms), monotonic clock (s) and an async sleep that advances both."""

    def __init__(self, start_ms: int = START_MS) -> None:
        self.now_ms_value = start_ms
        self.slept_s: list[float] = []

    def now_ms(self) -> int:
        """Epoch ms."""
        return self.now_ms_value

    def monotonic_s(self) -> float:
        """Seconds (the rate limiter's clock)."""
        return self.now_ms_value / 1000

    async def sleep(self, seconds: float) -> None:
        """Record and advance (never really waits)."""
        self.slept_s.append(seconds)
        self.now_ms_value += int(seconds * 1000)


def _text(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text if "." in text else text + ".0"


class FakeHyperliquid:
    """The fake venue; mount with :attr:`router` (``assert_all_mocked``)."""

    def __init__(self, time: FakeTime, *, collateral_usd: Decimal = Decimal(100_000)) -> None:
        self.time = time
        meta, ctxs = load("meta_and_asset_ctxs.json")
        self.meta: dict[str, Any] = meta
        self.ctxs: list[dict[str, Any]] = ctxs
        self.coins = [u["name"] for u in meta["universe"]]
        self.collateral = collateral_usd
        self.orders: dict[str, dict[str, Any]] = {}  # cloid → orderStatus "order" entry
        self.fills: list[dict[str, Any]] = []
        self.positions: dict[str, tuple[Decimal, Decimal]] = {}  # coin → (szi, entry px)
        self.funding_history: list[dict[str, Any]] = load("funding_history_btc.json")
        self.user_funding: list[dict[str, Any]] = []
        self.leverage: dict[int, tuple[bool, int]] = {}
        self.requests: list[tuple[str, Any]] = []
        self._failures: deque[str] = deque()
        self._next_oid = 90_000_000_000
        self._last_nonce = 0
        self.router = respx.MockRouter(assert_all_mocked=True, base_url=BASE_URL)
        self.router.post("/info").mock(side_effect=self._handle)
        self.router.post("/exchange").mock(side_effect=self._handle)

    # --- hooks ----------------------------------------------------------------------------

    def fail_next(self, kind: str, times: int) -> None:
        """The next ``times`` requests fail as ``kind`` (``tests/contract/harness.py``)."""
        self._failures.extend([kind] * times)

    def seed(self, coin: str, price: Decimal) -> None:
        """Set ``coin``'s mark, oracle and mid to ``price`` (USDC)."""
        ctx = self.ctxs[self.coins.index(coin)]
        ctx.update(markPx=_text(price), oraclePx=_text(price), midPx=_text(price))

    def price(self, coin: str) -> Decimal:
        """The seeded price of ``coin``."""
        return Decimal(self.ctxs[self.coins.index(coin)]["markPx"])

    def settle(self, rate: Decimal = Decimal("0.0000125")) -> int:
        """Settle the next full hour at the hourly ``rate``; returns its time, epoch ms."""
        hour_ms = (self.time.now_ms() // HOUR_MS + 1) * HOUR_MS
        for coin in ("BTC", "ETH", "SOL"):
            row = {"coin": coin, "fundingRate": str(rate), "premium": "0.0", "time": hour_ms + 15}
            self.funding_history.append(row)
        for coin, (szi, _) in self.positions.items():
            usdc = (-rate * szi * self.price(coin)).quantize(Decimal("0.000001"))
            self.collateral += usdc
            delta = {"type": "funding", "coin": coin, "usdc": str(usdc), "szi": str(szi),
                     "fundingRate": str(rate), "nSamples": None}  # fmt: skip
            self.user_funding.append({"time": hour_ms, "hash": "0x" + "0" * 64, "delta": delta})
        self.time.now_ms_value = hour_ms + 1_000
        return hour_ms

    # --- transport --------------------------------------------------------------------------

    def _handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.requests.append((request.url.path, body))
        if self._failures:
            return self._failure(self._failures.popleft(), request.url.path, body)
        if request.url.path == "/exchange":
            return httpx.Response(200, json=self._exchange(body))
        return self._info(body)

    def _failure(self, kind: str, path: str, body: dict[str, Any]) -> httpx.Response:
        if kind == "connect":
            raise httpx.ConnectError("connection refused (injected)")
        if kind == "rate_limit":
            return httpx.Response(429, headers={"Retry-After": "2"}, text="Too Many Requests")
        if kind == "server_error":
            return httpx.Response(502, text="<html><body>502 Bad Gateway</body></html>")
        if kind == "auth":
            if path == "/exchange":
                return httpx.Response(200, json=load("exchange_err_unknown_signer.json"))
            text = "Failed to deserialize the JSON body into the target type"
            return httpx.Response(422, text=text)
        if kind == "malformed":
            shaped = self._info(body).json()
            if body.get("type") == "metaAndAssetCtxs":
                return httpx.Response(200, json=[{}, []])
            return httpx.Response(200, json=[{}] if isinstance(shaped, list) else {})
        raise AssertionError(f"unknown failure kind {kind!r}")

    # --- /info ------------------------------------------------------------------------------

    def _info(self, body: dict[str, Any]) -> httpx.Response:
        kind = body.get("type")
        handler = getattr(self, f"_info_{kind}", None)
        if handler is None:
            return httpx.Response(
                422, text="Failed to deserialize the JSON body into the target type"
            )
        return httpx.Response(200, json=handler(body))

    def _info_meta(self, body: dict[str, Any]) -> Any:
        return self.meta

    def _info_metaAndAssetCtxs(self, body: dict[str, Any]) -> Any:
        return [self.meta, self.ctxs]

    def _info_allMids(self, body: dict[str, Any]) -> Any:
        mids = {coin: ctx["midPx"] for coin, ctx in zip(self.coins, self.ctxs, strict=True)
                if ctx["midPx"] is not None}  # fmt: skip
        return {**mids, "@107": "0.067131"}

    def _info_l2Book(self, body: dict[str, Any]) -> Any:
        coin = body["coin"]
        price = self.price(coin)
        tick = price_tick(price, self.meta["universe"][self.coins.index(coin)]["szDecimals"])
        bid = {"px": _text(price - tick), "sz": "1.5", "n": 3}
        ask = {"px": _text(price + tick), "sz": "0.8", "n": 2}
        return {"coin": coin, "time": self.time.now_ms(), "levels": [[bid], [ask]]}

    def _window(self, rows: list[dict[str, Any]], body: dict[str, Any]) -> list[dict[str, Any]]:
        end = body.get("endTime") or 2**63
        return [r for r in rows if body["startTime"] <= r["time"] <= end][:500]

    def _info_fundingHistory(self, body: dict[str, Any]) -> Any:
        rows = [r for r in self.funding_history if r["coin"] == body["coin"]]
        return self._window(sorted(rows, key=lambda r: r["time"]), body)

    def _info_candleSnapshot(self, body: dict[str, Any]) -> Any:
        req = body["req"]
        rows = load("candle_snapshot_btc_1h.json") if req["coin"] == "BTC" else []
        return [r for r in rows if req["startTime"] <= r["t"] <= req["endTime"]][:5000]

    def _info_userFunding(self, body: dict[str, Any]) -> Any:
        return self._window(self.user_funding, body)

    def _info_userFills(self, body: dict[str, Any]) -> Any:
        return sorted(self.fills, key=lambda f: -f["time"])[:2000]

    def _info_orderStatus(self, body: dict[str, Any]) -> Any:
        entry = self.orders.get(str(body["oid"]))
        return {"status": "unknownOid"} if entry is None else {"status": "order", "order": entry}

    def _info_openOrders(self, body: dict[str, Any]) -> Any:
        keys = ("coin", "side", "limitPx", "sz", "oid", "timestamp", "origSz", "cloid")
        return [{k: e["order"][k] for k in keys} for e in self.orders.values()
                if e["status"] == "open"]  # fmt: skip

    def _info_clearinghouseState(self, body: dict[str, Any]) -> Any:
        rows, ntl, upnl, margin = [], Decimal(0), Decimal(0), Decimal(0)
        for coin, (szi, entry) in self.positions.items():
            if szi == 0:
                continue
            mark = self.price(coin)
            value, pnl = abs(szi) * mark, szi * (mark - entry)
            used = value / 5
            ntl, upnl, margin = ntl + value, upnl + pnl, margin + used
            rows.append({"position": {
                "coin": coin, "cumFunding": {"allTime": "0.0", "sinceChange": "0.0",
                                             "sinceOpen": "0.0"},
                "entryPx": _text(entry), "leverage": {"type": "cross", "value": 5},
                "liquidationPx": None, "marginUsed": _text(used), "maxLeverage": 40,
                "positionValue": _text(value), "returnOnEquity": "0.0", "szi": _text(szi),
                "unrealizedPnl": _text(pnl)}, "type": "oneWay"})  # fmt: skip
        value = self.collateral + upnl
        summary = {"accountValue": _text(value), "totalMarginUsed": _text(margin),
                   "totalNtlPos": _text(ntl), "totalRawUsd": _text(self.collateral)}  # fmt: skip
        return {"assetPositions": rows, "crossMaintenanceMarginUsed": _text(margin / 2),
                "crossMarginSummary": summary, "marginSummary": summary,
                "time": self.time.now_ms(),
                "withdrawable": _text(max(value - margin, Decimal(0)))}  # fmt: skip

    # --- /exchange --------------------------------------------------------------------------

    def _exchange(self, body: dict[str, Any]) -> dict[str, Any]:
        action, nonce, sig = body["action"], body["nonce"], body["signature"]
        connection_id = action_hash(
            action, nonce, body.get("vaultAddress"), body.get("expiresAfter")
        )
        typed = encode_typed_data(full_message=l1_typed_data(connection_id, is_mainnet=True))
        signer = Account.recover_message(
            typed, vrs=(sig["v"], int(sig["r"], 16), int(sig["s"], 16))
        )
        if signer.lower() != API_WALLET_ADDRESS.lower():
            return {
                "status": "err",
                "response": f"User or API Wallet {signer.lower()} does not exist.",
            }
        if nonce <= self._last_nonce:
            return {"status": "err", "response": f"Invalid nonce: duplicate nonce {nonce}"}
        self._last_nonce = nonce
        kind = action["type"]
        if kind == "updateLeverage":
            self.leverage[action["asset"]] = (action["isCross"], action["leverage"])
            return {"status": "ok", "response": {"type": "default"}}
        if kind == "cancelByCloid":
            statuses = [self._cancel(c["cloid"]) for c in action["cancels"]]
        else:
            assert kind == "order", kind
            statuses = [self._order(wire) for wire in action["orders"]]
        return {"status": "ok", "response": {"type": kind, "data": {"statuses": statuses}}}

    def _cancel(self, cloid: str) -> Any:
        entry = self.orders.get(cloid)
        if entry is None or entry["status"] != "open":
            return {"error": "Order was never placed, already canceled, or filled."}
        entry.update(status="canceled", statusTimestamp=self.time.now_ms())
        return "success"

    def _order(self, wire: dict[str, Any]) -> Any:
        asset, cloid = wire["a"], wire["c"]
        coin, price = self.coins[asset], Decimal(wire["p"])
        size, is_buy = Decimal(wire["s"]), wire["b"]
        if cloid in self.orders:
            return {"error": "Order has duplicate cloid"}
        if size * price < 10:
            return {"error": f"Order must have minimum value of $10. asset={asset}"}
        tif = wire["t"]["limit"]["tif"]
        market = self.price(coin)
        crosses = price >= market if is_buy else price <= market
        if tif == "Ioc" and not crosses:
            return {"error": f"{IOC_NO_MATCH_TEXT} asset={asset}"}
        oid = self._next_oid
        self._next_oid += 1
        order = {"coin": coin, "side": "B" if is_buy else "A", "limitPx": wire["p"],
                 "sz": wire["s"], "oid": oid, "timestamp": self.time.now_ms(),
                 "origSz": wire["s"], "cloid": cloid, "reduceOnly": wire["r"],
                 "tif": tif}  # fmt: skip
        entry = {"order": order, "status": "open", "statusTimestamp": self.time.now_ms()}
        self.orders[cloid] = entry
        if not crosses:
            return {"resting": {"oid": oid, "cloid": cloid}}
        self._fill(entry, market, size, is_buy)
        return {"filled": {"totalSz": wire["s"], "avgPx": _text(market), "oid": oid}}

    def _fill(self, entry: dict[str, Any], price: Decimal, size: Decimal, is_buy: bool) -> None:
        order = entry["order"]
        coin = order["coin"]
        szi, entry_px = self.positions.get(coin, (Decimal(0), Decimal(0)))
        signed = size if is_buy else -size
        new = szi + signed
        closed = Decimal(0)
        if szi == 0 or (szi > 0) == (signed > 0):  # open or add: weighted entry
            entry_px = (abs(szi) * entry_px + size * price) / abs(new)
        else:  # reduce, close or flip
            closed = min(abs(szi), size) * (price - entry_px) * (1 if szi > 0 else -1)
            if new != 0 and (new > 0) != (szi > 0):
                entry_px = price
        fee = (size * price * TAKER_FEE_FRAC).quantize(Decimal("0.000001"))
        self.collateral += closed - fee
        self.positions[coin] = (new, entry_px if new else Decimal(0))
        self.fills.append({
            "coin": coin, "px": _text(price), "sz": _text(size), "side": order["side"],
            "time": self.time.now_ms(), "startPosition": _text(szi),
            "dir": "Open Long" if is_buy else "Open Short", "closedPnl": _text(closed),
            "hash": "0x" + "0" * 64, "oid": order["oid"], "crossed": True, "fee": _text(fee),
            "tid": order["oid"] * 10 + 1, "cloid": order["cloid"], "feeToken": "USDC",
            "twapId": None})  # fmt: skip
        order["sz"] = "0.0"
        entry.update(status="filled", statusTimestamp=self.time.now_ms())
