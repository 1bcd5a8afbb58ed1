"""A stateful dYdX v4 Indexer fake on respx (market data only), answering in the recorded shapes.

Every answer has the shape of a recorded payload of ``tests/fixtures/dydx-v4/`` (rows are copies of
the fixture rows with the fields that matter replaced) and follows the Indexer API documentation
https://github.com/dydxprotocol/v4-chain/blob/main/indexer/services/comlink/public/api-documentation.md
and its rate limiter and error handler
(https://github.com/dydxprotocol/v4-chain/tree/main/indexer/services/comlink/src):

* ``GET /v4/perpetualMarkets[?ticker=|?market=]``: ``{"markets": {ticker: market}}``, the
  recorded BTC/ETH/SOL markets; :meth:`FakeDydx.seed_price` sets a market's ``oraclePrice`` and
  ``nextFundingRate``. An unknown ticker is HTTP 400 (not 404), both filters at once too;
* ``GET /v4/historicalFunding/{ticker}``: settled hourly rates, **newest first** (by height),
  ``limit`` ≤ 1000 (default 1000), ``effectiveBeforeOrAt`` / ``effectiveBeforeOrAtHeight``
  inclusive; starts with the recorded BTC-USD rows, :meth:`FakeDydx.settle_funding` appends the
  next tick (at the top of the next hour plus a few hundred ms, as recorded);
* ``GET /v4/candles/perpetualMarkets/{ticker}?resolution=``: candles of
  :meth:`FakeDydx.set_candles`, newest first, ``fromISO`` inclusive and ``toISO`` exclusive on
  ``startedAt``, ``limit`` ≤ 1000 (default 1000); a missing or unknown resolution is HTTP 400.

Validation errors are the ``{"errors": [{"msg", ...}]}`` bodies of ``errors.json``.
:meth:`FakeDydx.fail_next` injects the failure kinds of ``tests/contract/harness.py`` in dYdX's
own shapes: 429 ``{"errors":[{"msg":"Too many requests"}]}`` with ``Retry-After`` in
**milliseconds** (``2000``) and the ``RateLimit-*`` headers, 502 HTML, 200 bodies with the right
top-level key and a row missing its fields. The Indexer has no authentication, so there is
no ``auth`` answer to imitate: asking for one is a ``ValueError``. :meth:`FakeDydx.sleep` records
every wait in ``slept_s`` and never waits.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections import deque
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import httpx
import respx

FIXTURES = Path(__file__).parent.parent / "fixtures" / "dydx-v4"
BASE_URL = "https://indexer.dydx.fake.test"  # the Indexer base without /v4, as create_venue
NOW_MS = 1_765_210_290_000  # 2025-12-08T16:11:30Z: just after the newest recorded funding tick
HOUR_MS = 3_600_000
PAGE_LIMIT = 1000
BLOCKS_PER_HOUR = 5_566  # 66622979 − 66617413 in historical_funding_btc.json
EFFECTIVE_AFTER_HOUR_MS = 219  # "2025-12-08T16:00:00.219Z": a tick lands just after the hour
RATE_STEP = Decimal("0.000000125")  # settled rates are ppm / 8 / 1e6 (Indexer funding handler)
RESOLUTION_MS = {
    "1MIN": 60_000,
    "5MINS": 300_000,
    "15MINS": 900_000,
    "30MINS": 1_800_000,
    "1HOUR": HOUR_MS,
    "4HOURS": 4 * HOUR_MS,
    "1DAY": 24 * HOUR_MS,
}
FAILURE_KINDS = ("connect", "rate_limit", "server_error", "malformed")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Handler = Callable[[httpx.Request], httpx.Response]


class Ohlcv(Protocol):
    """One candle to serve: open time (epoch ms), prices and base volume (e.g. the contract
    suite's ``OhlcvRow``)."""

    @property
    def ts_open_ms(self) -> int: ...
    @property
    def open(self) -> Decimal: ...
    @property
    def high(self) -> Decimal: ...
    @property
    def low(self) -> Decimal: ...
    @property
    def close(self) -> Decimal: ...
    @property
    def volume(self) -> Decimal: ...


def load(name: str) -> Any:
    """A fixture of ``tests/fixtures/dydx-v4/`` as decoded JSON."""
    return json.loads((FIXTURES / name).read_text())


def iso(ts_ms: int) -> str:
    """Epoch ms → the Indexer's ``2025-12-08T16:00:00.219Z``."""
    moment = _EPOCH + timedelta(milliseconds=ts_ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts_ms % 1000:03d}Z"


def iso_ms(text: str) -> int:
    """The Indexer's ISO time (or a query's) → epoch ms."""
    return (datetime.fromisoformat(text) - _EPOCH) // timedelta(milliseconds=1)


def _text(value: Decimal) -> str:
    return format(value.normalize(), "f") if value != 0 else "0"


def _errors(name: str, status: int, **fields: Any) -> httpx.Response:
    """The ``errors.json`` body ``name`` (first item's fields replaced) with ``status``."""
    body = copy.deepcopy(load("errors.json")[name])
    body["errors"][0].update(fields)
    return httpx.Response(status, json=body)


def _invalid_ticker(ticker: str, location: str) -> httpx.Response:
    return _errors("http_400_invalid_ticker", 400, value=ticker, location=location)


class BadRequest(Exception):
    """Raised by a handler: answer with this HTTP 400 response."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def _limit(request: httpx.Request) -> int:
    raw = request.url.params.get("limit")
    if raw is None:
        return PAGE_LIMIT
    value = int(raw) if raw.isdigit() else 0
    if not 0 < value <= PAGE_LIMIT:
        raise BadRequest(_errors("http_400_limit", 400, value=raw))
    return value


class FakeDydx:
    """The fake Indexer: ``router``/``transport`` to plug into the venue, state and hooks."""

    def __init__(self, *, base_url: str = BASE_URL, now_ms: int = NOW_MS) -> None:
        self.router = respx.MockRouter(
            assert_all_mocked=True, assert_all_called=False, base_url=base_url
        )
        self.transport = httpx.MockTransport(self.router.handler)
        self.now_ms = now_ms
        self.requests: list[httpx.Request] = []
        self.slept_s: list[float] = []
        self.markets: dict[str, dict[str, Any]] = load("perpetual_markets_btc_eth_sol.json")[
            "markets"
        ]
        """Ticker → market object (recorded fields, prices as seeded)."""
        recorded = load("historical_funding_btc.json")["historicalFunding"]
        self.funding: dict[str, list[dict[str, Any]]] = {t: [] for t in self.markets}
        """Ticker → settled funding rows (recorded shape), any order; served newest first."""
        self.funding["BTC-USD"] = list(recorded)
        self.candles: dict[tuple[str, str], list[dict[str, Any]]] = {}
        """(ticker, resolution) → candle rows (recorded shape), any order; served newest first."""
        self._candle_template: dict[str, Any] = load("candles_btc_1min.json")["candles"][0]
        self._failures: deque[str] = deque()
        self._routes()

    # --- hooks ----------------------------------------------------------------------------

    async def sleep(self, seconds: float) -> None:
        """Fake sleep: records ``seconds`` and only yields to the event loop."""
        self.slept_s.append(seconds)
        await asyncio.sleep(0)

    def fail_next(self, kind: str, times: int = 1) -> None:
        """Make the next ``times`` requests fail as ``kind`` (``tests/contract/harness.py``).

        Raises ``ValueError`` for ``auth``: the Indexer is public and has no such answer."""
        if kind == "auth":
            raise ValueError("the dYdX Indexer has no authentication: no auth failure to fake")
        if kind not in FAILURE_KINDS:
            raise ValueError(f"unknown failure kind {kind!r}")
        self._failures.extend([kind] * times)

    def seed_price(self, ticker: str, oracle_price: Decimal, next_funding_rate: Decimal) -> None:
        """Set the market's ``oraclePrice`` and ``nextFundingRate`` (a 1-hour rate)."""
        market = self.markets[ticker]
        market["oraclePrice"] = _text(oracle_price)
        market["nextFundingRate"] = _text(next_funding_rate)

    def settle_funding(self, ticker: str = "BTC-USD") -> dict[str, Any]:
        """Settle the next hourly tick of ``ticker``: a row with the market's
        ``nextFundingRate`` rounded to the 0.000000125 step and its oracle price, one hour
        (``BLOCKS_PER_HOUR`` blocks) after the newest row; the clock moves past it. Returns the
        row."""
        rows = self.funding[ticker]
        market = self.markets[ticker]
        if rows:
            newest = max(rows, key=lambda r: int(r["effectiveAtHeight"]))
            tick_ms = iso_ms(newest["effectiveAt"]) // HOUR_MS * HOUR_MS + HOUR_MS
            height = int(newest["effectiveAtHeight"]) + BLOCKS_PER_HOUR
        else:
            tick_ms = self.now_ms // HOUR_MS * HOUR_MS
            height = 66_000_000
        rate = (Decimal(market["nextFundingRate"]) / RATE_STEP).to_integral_value() * RATE_STEP
        row = {
            "ticker": ticker,
            "rate": _text(rate),
            "price": market["oraclePrice"],
            "effectiveAtHeight": str(height),
            "effectiveAt": iso(tick_ms + EFFECTIVE_AFTER_HOUR_MS),
        }
        rows.append(row)
        self.now_ms = max(self.now_ms, tick_ms + EFFECTIVE_AFTER_HOUR_MS + 1)
        return row

    def set_candles(self, ticker: str, resolution: str, bars: Iterable[Ohlcv]) -> None:
        """Serve ``bars`` as the ``resolution`` candles of ``ticker`` (recorded row shape)."""
        rows = []
        for k, bar in enumerate(bars):
            row = dict(self._candle_template)
            row.update(
                startedAt=iso(bar.ts_open_ms),
                ticker=ticker,
                resolution=resolution,
                low=_text(bar.low),
                high=_text(bar.high),
                open=_text(bar.open),
                close=_text(bar.close),
                baseTokenVolume=_text(bar.volume),
                usdVolume=_text((bar.volume * bar.close).quantize(Decimal("0.0001"))),
                trades=40 + k % 30,
                orderbookMidPriceOpen=_text(bar.open),
                orderbookMidPriceClose=_text(bar.close),
            )
            rows.append(row)
        self.candles[(ticker, resolution)] = rows

    # --- plumbing -------------------------------------------------------------------------

    def _routes(self) -> None:
        self.router.get(path="/v4/perpetualMarkets").mock(
            side_effect=self._wrap(self._perpetual_markets, "markets")
        )
        self.router.get(path__regex=r"^/v4/historicalFunding/[^/]+$").mock(
            side_effect=self._wrap(self._historical_funding, "historicalFunding")
        )
        self.router.get(path__regex=r"^/v4/candles/perpetualMarkets/[^/]+$").mock(
            side_effect=self._wrap(self._candles, "candles")
        )

    def _wrap(self, handler: Handler, key: str) -> Handler:
        def respond(request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            if self._failures:
                return self._failure(self._failures.popleft(), key, request)
            try:
                return handler(request)
            except BadRequest as e:
                return e.response

        return respond

    def _failure(self, kind: str, key: str, request: httpx.Request) -> httpx.Response:
        if kind == "connect":
            raise httpx.ConnectError("connection refused (fake)", request=request)
        if kind == "rate_limit":
            headers = {
                "Retry-After": "2000",  # milliseconds on the Indexer (lib/rate-limit.ts)
                "RateLimit-Limit": "100",
                "RateLimit-Remaining": "0",
                "RateLimit-Reset": str(self.now_ms + 2_000),
            }
            body = load("errors.json")["http_429_rate_limited"]
            return httpx.Response(429, json=body, headers=headers)
        if kind == "server_error":
            return httpx.Response(502, text="<html><body>502 Bad Gateway</body></html>")
        ticker = request.url.path.rsplit("/", 1)[-1]
        if key == "markets":  # malformed: the right shape, a market missing its fields
            ticker = request.url.params.get("ticker", "BTC-USD")
            return httpx.Response(200, json={"markets": {ticker: {"ticker": ticker}}})
        return httpx.Response(200, json={key: [{"ticker": ticker}]})

    def _ticker_of_path(self, request: httpx.Request) -> str:
        ticker = request.url.path.rsplit("/", 1)[-1]
        if ticker not in self.markets:
            raise BadRequest(_invalid_ticker(ticker, "params"))
        return ticker

    # --- endpoints ------------------------------------------------------------------------

    def _perpetual_markets(self, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        if "ticker" in params and "market" in params:
            raise BadRequest(_errors("http_400_ticker_and_market", 400))
        ticker = params.get("ticker") or params.get("market")
        if ticker is None:
            tickers = list(self.markets)[: _limit(request)]
        elif ticker in self.markets:
            tickers = [ticker]
        else:
            raise BadRequest(_invalid_ticker(ticker, "query"))
        return httpx.Response(200, json={"markets": {t: self.markets[t] for t in tickers}})

    def _historical_funding(self, request: httpx.Request) -> httpx.Response:
        ticker = self._ticker_of_path(request)
        limit = _limit(request)
        params = request.url.params
        before_ms = (
            iso_ms(params["effectiveBeforeOrAt"]) if "effectiveBeforeOrAt" in params else None
        )
        before_height = (
            int(params["effectiveBeforeOrAtHeight"])
            if "effectiveBeforeOrAtHeight" in params
            else None
        )
        rows = sorted(self.funding[ticker], key=lambda r: -int(r["effectiveAtHeight"]))
        served = [
            r
            for r in rows
            if (before_ms is None or iso_ms(r["effectiveAt"]) <= before_ms)
            and (before_height is None or int(r["effectiveAtHeight"]) <= before_height)
        ]
        return httpx.Response(200, json={"historicalFunding": served[:limit]})

    def _candles(self, request: httpx.Request) -> httpx.Response:
        ticker = self._ticker_of_path(request)
        params = request.url.params
        resolution = params.get("resolution")
        if resolution not in RESOLUTION_MS:
            message = "resolution must be a valid Candle Resolution, one of " + ",".join(
                RESOLUTION_MS
            )
            body = {"errors": [{"value": resolution, "msg": message, "param": "resolution",
                                "location": "query"}]}  # fmt: skip
            raise BadRequest(httpx.Response(400, json=body))
        limit = _limit(request)
        from_ms = iso_ms(params["fromISO"]) if "fromISO" in params else None
        to_ms = iso_ms(params["toISO"]) if "toISO" in params else None
        rows = sorted(
            self.candles.get((ticker, resolution), []), key=lambda r: -iso_ms(r["startedAt"])
        )
        served = [
            r
            for r in rows
            if (from_ms is None or from_ms <= iso_ms(r["startedAt"]))
            and (to_ms is None or iso_ms(r["startedAt"]) < to_ms)
        ]
        return httpx.Response(200, json={"candles": served[:limit]})
