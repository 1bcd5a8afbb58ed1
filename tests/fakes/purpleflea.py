"""A stateful Purple Flea behind respx, answering in the shapes of ``tests/fixtures/purpleflea/``
— shapes **constructed from the Purple Flea API as described in the project's SEEDS, not
recorded** (see that directory's README and ``venues/purpleflea/API_NOTES.md``).

* Market: :meth:`FakePurpleFlea.seed` sets a ticker's spot price, its perp basis on each venue
  and its funding rate per venue; ``/prices``, ``/perps/basis`` and ``/perps/funding-rates``
  serve them.
* Auth: every request that carries ``Authorization`` must carry ``Bearer <TOKEN>``; private
  endpoints (orders, portfolio) need it; otherwise HTTP 401 ``{"error": ...}``.
* Orders fill at once at the seeded price (spot at the spot price, perps at the basis-implied
  price) and move the positions; below ``MIN_QTY`` → HTTP 400 ``{"error": ...}``. Pairs fill
  both legs at one ``filled_at``; a close reverses both legs of an open pair (unknown pair →
  404).
* :meth:`fail_next` injects the failure kinds of ``tests/contract/harness.py``.

The contract harness for Purple Flea lives here (:func:`make_harness`), not under
``tests/contract/harnesses/``: balances, funding payments and funding history have no endpoint
in the documented API, so those contract scenarios cannot pass (see the Purple Flea report).
"""

from __future__ import annotations

import json
from collections import deque
from decimal import Decimal
from typing import Any

import httpx
import respx
from pydantic import SecretStr

from venues.base import Credentials
from venues.model import Instrument, InstrumentId, InstrumentKind
from venues.purpleflea.client import PurpleFleaVenue, create_venue

BASE_URL = "https://purpleflea.fake.test/v1"
TOKEN = "pf_live_test_0123456789abcdef"  # a made-up test token
START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
MIN_QTY = Decimal("0.001")
UNSUPPORTED = frozenset({"balances", "funding_payments", "funding_history"})
"""Contract scenarios the documented API cannot support (proposed ``VenueHarness.unsupported``)."""
PERP_VENUE = "hyperliquid"


class FakeTime:
    """Wall clock (ms) and an async sleep that advances it and records every wait (s)."""

    def __init__(self, start_ms: int = START_MS) -> None:
        self.now_ms_value = start_ms
        self.slept_s: list[float] = []

    def now_ms(self) -> int:
        """Epoch ms."""
        return self.now_ms_value

    async def sleep(self, seconds: float) -> None:
        """Record and advance (never really waits)."""
        self.slept_s.append(seconds)
        self.now_ms_value += int(seconds * 1000)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json={"error": message}, headers=headers)


class FakePurpleFlea:
    """The fake venue: ``router`` (respx, ``assert_all_mocked``) and its state."""

    def __init__(self, time: FakeTime | None = None) -> None:
        self.time = time or FakeTime()
        self.router = respx.MockRouter(
            assert_all_mocked=True, assert_all_called=False, base_url=BASE_URL
        )
        self.spot: dict[str, Decimal] = {}
        self.basis_pct: dict[str, dict[str, Decimal]] = {}
        self.rates: dict[str, dict[str, float]] = {}
        self.positions: dict[tuple[str, str | None], Decimal] = {}
        self.entries: dict[tuple[str, str | None], Decimal] = {}
        self.pairs: dict[str, list[dict[str, Any]]] = {}
        self.failures: deque[str] = deque()
        self.requests: list[httpx.Request] = []
        self._ids = 0
        self._routes()

    # --- hooks --------------------------------------------------------------------------

    def seed(
        self, symbol: str, spot: str, basis_pct: dict[str, str], rates: dict[str, float]
    ) -> None:
        """Set ``symbol``'s spot price, basis (percent) and funding rate per venue."""
        self.spot[symbol] = Decimal(spot)
        self.basis_pct[symbol] = {v: Decimal(b) for v, b in basis_pct.items()}
        self.rates[symbol] = dict(rates)

    def fail_next(self, kind: str, times: int) -> None:
        """Make the next ``times`` requests fail as ``kind`` (harness.FAILURE_KINDS)."""
        self.failures.extend([kind] * times)

    def perp_price(self, symbol: str, venue: str = PERP_VENUE) -> Decimal:
        """Spot × (1 + basis_pct / 100)."""
        return self.spot[symbol] * (1 + self.basis_pct[symbol][venue] / 100)

    # --- plumbing -----------------------------------------------------------------------

    def _routes(self) -> None:
        r = self.router
        r.get("/prices").mock(side_effect=self._wrap(self._prices, private=False))
        r.get("/perps/funding-rates").mock(side_effect=self._wrap(self._rates, private=False))
        r.get("/perps/basis").mock(side_effect=self._wrap(self._basis, private=False))
        r.get("/portfolio/positions").mock(side_effect=self._wrap(self._positions))
        r.get("/portfolio/risk").mock(side_effect=self._wrap(self._risk))
        r.post("/orders").mock(side_effect=self._wrap(self._order))
        r.post("/perps/order").mock(side_effect=self._wrap(self._perp_order))
        r.post("/orders/pair").mock(side_effect=self._wrap(self._pair))
        r.post(path__regex=r"/orders/pair/(?P<pair_id>[^/]+)/close$").mock(
            side_effect=self._wrap(self._close)
        )

    def _wrap(self, handler: Any, *, private: bool = True) -> Any:
        def side_effect(request: httpx.Request, **kwargs: Any) -> httpx.Response:
            self.requests.append(request)
            failure = self._failure(request)
            if failure is not None:
                return failure
            auth = request.headers.get("Authorization")
            if (auth is not None or private) and auth != f"Bearer {TOKEN}":
                return _error(401, "invalid or missing API key")
            return handler(request, **kwargs)  # type: ignore[no-any-return]

        return side_effect

    def _failure(self, request: httpx.Request) -> httpx.Response | None:
        if not self.failures:
            return None
        kind = self.failures.popleft()
        if kind == "connect":
            raise httpx.ConnectError("connection refused", request=request)
        if kind == "rate_limit":
            return _error(429, "rate limited", {"Retry-After": "2"})
        if kind == "server_error":
            return httpx.Response(502, text="<html><body>502 Bad Gateway</body></html>")
        if kind == "auth":
            return _error(401, "invalid or missing API key")
        return httpx.Response(200, json={})  # "malformed": an object missing every field

    def _next_id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}_{self._ids:06d}"

    def _fill(self, key: tuple[str, str | None], signed_qty: Decimal, price: Decimal) -> None:
        held = self.positions.get(key, Decimal(0))
        if held == 0 or (held > 0) == (signed_qty > 0):
            total = abs(held) + abs(signed_qty)
            entry = self.entries.get(key, price)
            self.entries[key] = (entry * abs(held) + price * abs(signed_qty)) / total
        self.positions[key] = held + signed_qty
        if self.positions[key] == 0:
            del self.positions[key]

    # --- market data --------------------------------------------------------------------

    def _prices(self, request: httpx.Request) -> httpx.Response:
        symbols = request.url.params.get("symbols", "").split(",")
        rows = [{"symbol": s, "price": float(self.spot[s])} for s in symbols if s in self.spot]
        return httpx.Response(200, json={"prices": rows})

    def _rates(self, request: httpx.Request) -> httpx.Response:
        rows = [
            {"symbol": s, "venue": v, "rate": rate}
            for s, by_venue in self.rates.items()
            for v, rate in by_venue.items()
        ]
        return httpx.Response(200, json={"rates": rows})

    def _basis(self, request: httpx.Request) -> httpx.Response:
        symbol = request.url.params.get("symbol", "")
        if symbol not in self.spot:
            return _error(404, f"unknown symbol {symbol}")
        venues = [{"venue": v, "basis_pct": float(b)} for v, b in self.basis_pct[symbol].items()]
        return httpx.Response(200, json={"spot_price": float(self.spot[symbol]), "venues": venues})

    # --- portfolio ----------------------------------------------------------------------

    def _positions(self, request: httpx.Request) -> httpx.Response:
        rows = []
        for (symbol, venue), qty in sorted(self.positions.items(), key=str):
            mark = self.spot[symbol] if venue is None else self.perp_price(symbol, venue)
            rows.append({
                "symbol": symbol, "venue": venue, "side": "long" if qty > 0 else "short",
                "size": float(abs(qty)), "entry_price": float(self.entries[(symbol, venue)]),
                "mark_price": float(mark),
            })  # fmt: skip
        return httpx.Response(200, json={"positions": rows})

    def _risk(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"portfolio_beta": 0.04, "gross_exposure": 0.0})

    # --- orders ---------------------------------------------------------------------------

    def _check_qty(self, symbol: str, qty: Decimal) -> httpx.Response | None:
        if symbol not in self.spot:
            return _error(400, f"unknown ticker {symbol}")
        if qty < MIN_QTY:
            return _error(400, "quantity below minimum order size")
        return None

    def _order(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        qty = Decimal(repr(body["quantity"]))
        refused = self._check_qty(body["ticker"], qty)
        if refused is not None:
            return refused
        price = self.spot[body["ticker"]]
        sign = 1 if body["side"] == "buy" else -1
        self._fill((body["ticker"], None), sign * qty, price)
        return httpx.Response(
            200, json={"order_id": self._next_id("pfo"), "fill_price": float(price)}
        )

    def _perp_order(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        qty = Decimal(repr(body["size"]))
        refused = self._check_qty(body["symbol"], qty)
        if refused is not None:
            return refused
        price = self.perp_price(body["symbol"], body["venue"])
        sign = 1 if body["side"] == "buy" else -1
        self._fill((body["symbol"], body["venue"]), sign * qty, price)
        return httpx.Response(200, json={"fill_price": float(price)})

    def _pair(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        legs = body.get("legs", [])
        if body.get("execution_mode") != "atomic_pair" or len(legs) != 2:
            return _error(400, "execution_mode must be atomic_pair with two legs")
        for leg in legs:
            refused = self._check_qty(leg["ticker"], Decimal(repr(leg["quantity"])))
            if refused is not None:
                return refused  # atomic: neither leg fills
        pair_id = self._next_id("pair")
        answer = self._fill_legs(pair_id, [dict(leg) for leg in legs])
        self.pairs[pair_id] = answer["legs"]
        return httpx.Response(200, json=answer)

    def _fill_legs(self, pair_id: str, legs: list[dict[str, Any]]) -> dict[str, Any]:
        for leg in legs:
            price = self.spot[leg["ticker"]]
            sign = 1 if leg["side"] == "buy" else -1
            self._fill((leg["ticker"], None), sign * Decimal(repr(leg["quantity"])), price)
            leg["fill_price"] = float(price)
        return {"pair_id": pair_id, "filled_at": self.time.now_ms(), "legs": legs}

    def _close(self, request: httpx.Request, pair_id: str) -> httpx.Response:
        opened = self.pairs.pop(pair_id, None)
        if opened is None:
            return _error(404, f"unknown pair {pair_id}")
        legs = [{**leg, "side": "sell" if leg["side"] == "buy" else "buy"} for leg in opened]
        return httpx.Response(200, json=self._fill_legs(pair_id, legs))


def instruments() -> list[Instrument]:
    """BTC spot and the BTC perp (hourly funding, configured: the API has no rules)."""
    spot = InstrumentId("purpleflea", InstrumentKind.SPOT, "BTC")
    eth = InstrumentId("purpleflea", InstrumentKind.SPOT, "ETH")
    perp = InstrumentId("purpleflea", InstrumentKind.PERP, "BTC")
    tick, step = Decimal("0.1"), Decimal("0.001")
    return [
        Instrument(spot, "BTC", "USDC", tick, step, MIN_QTY, Decimal(10)),
        Instrument(eth, "ETH", "USDC", Decimal("0.01"), step, MIN_QTY, Decimal(10)),
        Instrument(perp, "BTC", "USDC", tick, step, MIN_QTY, Decimal(10), funding_interval_s=3600),
    ]


def make_venue(fake: FakePurpleFlea, *, token: str | None = TOKEN) -> PurpleFleaVenue:
    """A ``PurpleFleaVenue`` on ``fake`` through :func:`create_venue` (fake sleep)."""
    credentials = None if token is None else Credentials(SecretStr(token))
    return create_venue(
        credentials,
        rest_url=BASE_URL,
        transport=httpx.MockTransport(fake.router.handler),
        sleep=fake.time.sleep,
        instruments=instruments(),
        perp_venue=PERP_VENUE,
        now_ms=fake.time.now_ms,
    )


async def make_harness() -> Any:
    """The contract-suite harness (a ``VenueHarness``); not discovered by the suite — see
    the module docstring."""
    from tests.contract.harness import VenueHarness

    fake = FakePurpleFlea()
    venue = make_venue(fake)
    perp = InstrumentId("purpleflea", InstrumentKind.PERP, "BTC")
    spot = InstrumentId("purpleflea", InstrumentKind.SPOT, "BTC")

    async def seed_market() -> None:
        basis = {"hyperliquid": "0.05", "binance": "0.08"}
        fake.seed("BTC", "60000", basis, {"hyperliquid": 0.0000125})
        fake.seed("ETH", "3000", {"hyperliquid": "0.02"}, {"hyperliquid": -0.00002})

    async def settle_funding() -> None:
        """Nothing to settle: the documented API has no funding payments to record."""

    harness = VenueHarness(
        venue, perp, spot, Decimal("0.01"), seed_market, settle_funding, fake.fail_next
    )
    harness.slept_s = fake.time.slept_s
    harness.unsupported = UNSUPPORTED
    return harness
