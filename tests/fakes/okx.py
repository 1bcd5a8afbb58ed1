"""A stateful OKX v5 REST fake on respx, answering in the recorded payload shapes.

Every answer is a recorded fixture of ``tests/fixtures/okx-v5/`` (a row copied as template,
its values replaced by the fake's state), so the adapter parses the venue's real shapes.
This module holds the market (instruments from the fixtures, prices seeded per ``instId``,
funding rates and their history, candles), the routes and the failure hooks; the account
side (orders by ``clOrdId``, fills, SWAP positions in **contracts**, funding bills, balance,
account modes) is :class:`tests.fakes.okx_account.OkxAccount`, as ``OkxFake.account``.
Private requests must carry a valid ``OK-ACCESS-SIGN`` over the exact path+query / body bytes
(else ``50113``).

``fail_next(kind, times)`` injects the failures of ``tests/contract/harness.py``; ``sleep``
records every wait in ``slept_s`` and never waits.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import httpx
import respx

from tests.fakes.okx_account import NOW_MS, OkxAccount, _template, _text, error, load, ok, param
from venues.okx.auth import sign

__all__ = ["NOW_MS", "OkxFake", "load"]

BASE_URL = "https://okx.fake.test"
API_KEY = "okx-key-VALUE-never-shown"
API_SECRET = "okx-secret-VALUE-never-shown"
API_PASSPHRASE = "okx-passphrase-VALUE-never-shown"
INTERVAL_MS = 8 * 3_600_000
Handler = Any


class OkxFake:
    """The fake venue: ``router``/``transport`` to plug into the adapter, state and hooks."""

    def __init__(self) -> None:
        self.router = respx.MockRouter(
            assert_all_mocked=True, assert_all_called=False, base_url=BASE_URL
        )
        self.transport = httpx.MockTransport(self.router.handler)
        self.now_ms = NOW_MS
        self.slept_s: list[float] = []
        self.requests: list[httpx.Request] = []
        self.prices: dict[str, Decimal] = {}
        self.funding_rate: dict[str, Decimal] = {}
        self.next_funding_ms: dict[str, int] = {}
        self.history: dict[str, list[tuple[int, Decimal]]] = {}
        self.candles: dict[str, list[list[str]]] = {}
        self._failures: list[str] = []
        swaps = load("instruments_swap_btc_eth.json")["data"]
        self.instruments = {row["instId"]: row for row in swaps}
        spots = load("instruments_spot_btc_usdt.json")["data"]
        self.instruments.update({row["instId"]: row for row in spots})
        self.account = OkxAccount(self.instruments, self.prices, lambda: self.now_ms)
        self._routes()

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

    def seed_price(self, inst_id: str, price: Decimal, rate: Decimal = Decimal("0.0001")) -> None:
        """Set the price of ``inst_id`` (and, for a swap, its upcoming funding rate), with
        three past 8 h settlements in the history if it has none."""
        self.prices[inst_id] = price
        if inst_id.endswith("-SWAP"):
            self.funding_rate[inst_id] = rate
            self.next_funding_ms.setdefault(inst_id, NOW_MS + 3_600_000)
            past = self.next_funding_ms[inst_id] - INTERVAL_MS
            self.history.setdefault(
                inst_id,
                [(past - k * INTERVAL_MS, Decimal("0.00005") * (k + 1)) for k in (2, 1, 0)],
            )

    def settle_funding(self) -> None:
        """Settle every seeded swap at its next funding time: history row, funding bill for
        an open position (``pnl = −rate × contracts × ctVal × mark``), times advance 8 h."""
        for inst_id, rate in self.funding_rate.items():
            ts = self.next_funding_ms[inst_id]
            self.history[inst_id].append((ts, rate))
            self.account.book_funding(inst_id, ts, rate)
            self.next_funding_ms[inst_id] = ts + INTERVAL_MS

    # --- plumbing -------------------------------------------------------------------------

    def _routes(self) -> None:
        account = self.account
        table: list[tuple[str, str, Handler]] = [
            ("GET", "/api/v5/public/time", self._time),
            ("GET", "/api/v5/public/instruments", self._instruments),
            ("GET", "/api/v5/public/funding-rate", self._funding_rate),
            ("GET", "/api/v5/public/funding-rate-history", self._funding_history),
            ("GET", "/api/v5/public/mark-price", self._mark_price),
            ("GET", "/api/v5/market/ticker", self._ticker),
            ("GET", "/api/v5/market/history-candles", self._candles),
            ("POST", "/api/v5/trade/order", account.on_place),
            ("GET", "/api/v5/trade/order", account.on_order),
            ("POST", "/api/v5/trade/cancel-order", account.on_cancel),
            ("GET", "/api/v5/trade/orders-pending", account.on_pending),
            ("GET", "/api/v5/trade/fills", account.on_fills),
            ("GET", "/api/v5/account/positions", account.on_positions),
            ("GET", "/api/v5/account/balance", account.on_balance),
            ("GET", "/api/v5/account/bills", account.on_bills),
            ("GET", "/api/v5/account/bills-archive", account.on_bills),
            ("GET", "/api/v5/account/config", account.on_config),
            ("POST", "/api/v5/account/set-position-mode", account.on_set_position_mode),
            ("GET", "/api/v5/account/leverage-info", account.on_leverage_info),
            ("POST", "/api/v5/account/set-leverage", account.on_set_leverage),
        ]
        for method, path, handler in table:
            private = "/trade/" in path or "/account/" in path
            self.router.route(method=method, path=path).mock(
                side_effect=self._wrap(handler, private)
            )

    def _wrap(self, handler: Handler, private: bool) -> Handler:
        def respond(request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            self.now_ms += 1
            failure = self._failure(request)
            if failure is not None:
                return failure
            if private and not self._signed(request):
                return error("50113", 401)
            response: httpx.Response = handler(request)
            return response

        return respond

    def _failure(self, request: httpx.Request) -> httpx.Response | None:
        if not self._failures:
            return None
        kind = self._failures.pop(0)
        if kind == "connect":
            raise httpx.ConnectError("connection refused (fake)", request=request)
        if kind == "rate_limit":
            return error("50011", 429, **{"Retry-After": "2"})
        if kind == "server_error":
            return httpx.Response(502, text="<html><body>502 Bad Gateway</body></html>")
        if kind == "auth":
            return error("50113", 401)
        return ok([{}])  # malformed: right JSON type, required fields missing

    @staticmethod
    def _signed(request: httpx.Request) -> bool:
        headers = request.headers
        if headers.get("OK-ACCESS-KEY") != API_KEY:
            return False
        if headers.get("OK-ACCESS-PASSPHRASE") != API_PASSPHRASE:
            return False
        target = request.url.raw_path.decode()
        body = request.content.decode()
        expected = sign(
            API_SECRET, headers.get("OK-ACCESS-TIMESTAMP", ""), request.method, target, body
        )
        return headers.get("OK-ACCESS-SIGN") == expected

    # --- public ---------------------------------------------------------------------------

    def _time(self, request: httpx.Request) -> httpx.Response:
        return ok([{"ts": str(self.now_ms)}])

    def _instruments(self, request: httpx.Request) -> httpx.Response:
        inst_type = param(request, "instType")
        return ok([r for r in self.instruments.values() if r["instType"] == inst_type])

    def _funding_row(self, inst_id: str) -> dict[str, Any]:
        row = _template("funding_rate_btc_usdt_swap.json")
        ts = self.next_funding_ms[inst_id]
        row.update(
            instId=inst_id,
            fundingRate=_text(self.funding_rate[inst_id]),
            fundingTime=str(ts),
            nextFundingTime=str(ts + INTERVAL_MS),
            ts=str(self.now_ms),
        )
        return row

    def _funding_rate(self, request: httpx.Request) -> httpx.Response:
        inst_id = param(request, "instId")
        ids = list(self.funding_rate) if inst_id == "ANY" else [inst_id]
        if any(i not in self.funding_rate for i in ids):
            return error("51001")
        return ok([self._funding_row(i) for i in ids])

    def _funding_history(self, request: httpx.Request) -> httpx.Response:
        inst_id = param(request, "instId")
        after = int(param(request, "after", str(2**63)))
        limit = int(param(request, "limit", "400"))
        rows = []
        for ts, rate in sorted(self.history.get(inst_id, []), reverse=True):
            if ts < after and len(rows) < limit:
                row = dict(load("funding_rate_history.json")["data"][0])
                row.update(
                    instId=inst_id,
                    fundingTime=str(ts),
                    fundingRate=_text(rate),
                    realizedRate=_text(rate),
                )
                rows.append(row)
        return ok(rows)

    def _mark_price(self, request: httpx.Request) -> httpx.Response:
        inst_id = param(request, "instId")
        row = _template("mark_price.json")
        row.update(instId=inst_id, markPx=_text(self.prices[inst_id]), ts=str(self.now_ms))
        return ok([row])

    def _ticker(self, request: httpx.Request) -> httpx.Response:
        inst_id = param(request, "instId")
        if inst_id not in self.prices:
            return error("51001")
        price = self.prices[inst_id]
        row = _template("ticker.json")
        row.update(
            instId=inst_id,
            instType=self.instruments[inst_id]["instType"],
            bidPx=_text(price - Decimal("0.1")),
            askPx=_text(price + Decimal("0.1")),
            last=_text(price),
            ts=str(self.now_ms),
        )
        return ok([row])

    def _candles(self, request: httpx.Request) -> httpx.Response:
        inst_id = param(request, "instId")
        after = int(param(request, "after", str(2**63)))
        limit = int(param(request, "limit", "100"))
        rows = sorted(self.candles.get(inst_id, []), key=lambda r: -int(r[0]))
        return ok([r for r in rows if int(r[0]) < after][:limit])
