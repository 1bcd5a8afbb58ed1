"""The chaos exchange: Binance USDⓈ-M served for real on 127.0.0.1 (HTTP/1.1 + websocket), with
faults, on the virtual clock.

State and answers are :class:`tests.fakes.binance.BinanceFake`'s (orders keyed by client order
id, fills, one-way positions, the futures wallet, funding and income rows, ``X-MBX-APIKEY`` /
HMAC / ``recvWindow`` checks): each HTTP request read from the socket (``h11``, keep-alive) is
handed to the fake's router as an ``httpx.Request`` and its answer written back. Around it this
module adds what a live venue does over time and under stress:

* the virtual clock (:class:`tests.chaos.clock.VirtualClock`): server time, order and trade
  times, ``recvWindow``, hourly klines generated from a price path with seeded mark jumps,
  funding settled every 8 h (``FUNDING_FEE`` income on open positions);
* request weight per minute (``X-MBX-USED-WEIGHT-1M``; over 2400 → HTTP 429 with
  ``Retry-After``), and a count of requests sent inside a ``Retry-After`` window (Binance bans
  an IP that keeps sending: HTTP 418) — "General Info", "LIMITS"
  https://developers.binance.com/docs/derivatives/usds-margined-futures/general-info;
* the faults of :class:`tests.chaos.faults.FaultPlan`;
* ``<symbol>@markPrice@1s`` frames on ``/market/stream`` (combined-stream shape, SUBSCRIBE
  answered ``{"result": null, "id": 1}``), with drops and windows of silence;
* the agent process's *generation*: connections of a killed process are cut and their
  unanswered requests dropped; ``kill_between_legs`` kills the agent right after the exchange
  executed one leg of a pair (the other leg, in flight, never executes);
* a gate that holds new orders while the driver checks the journal after a restart;
* records for the invariants: every order POST by client order id, lookups, the moments an
  order's outcome became unknown to the client, the mark jumps.

Everything runs on one asyncio loop in its own thread (:class:`ExchangeThread`); the driver
reads and steers it with :meth:`ExchangeThread.call`, which runs a function on that loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

import h11
import httpx
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from tests.chaos import faults as f
from tests.chaos.clock import VirtualClock
from tests.chaos.faults import Fault, FaultPlan, MarkJump
from tests.fakes.binance import BinanceFake

_T = TypeVar("_T")
HOUR_MS = 3_600_000
FUNDING_INTERVAL_MS = 8 * HOUR_MS
FAKE_BASE = "http://chaos.invalid"
SYMBOLS = ("BTCUSDT", "ETHUSDT")
BASE_PRICES = {"BTCUSDT": Decimal(60_000), "ETHUSDT": Decimal(3_000)}
TICKS = {"BTCUSDT": Decimal("0.1"), "ETHUSDT": Decimal("0.01")}
FUNDING_RATE = Decimal("0.0001")
RECV_WINDOW_SLACK_REAL_S = 0.03
"""Real seconds added to ``recvWindow``: a pause of the agent's process between signing and
sending (a journal commit, the sibling leg's work) lasts ``speed`` × longer in virtual time.
Requests that needed it are counted (``Records.beyond_recv_window``)."""
WEIGHT_PER_MINUTE = {"fapi": 2_400, "api": 6_000}
"""Request weight a minute by product (USD-M ``exchangeInfo`` rateLimits; spot's)."""
RETRY_AFTER_S = 2
CLIENT_TIMEOUT_S = 10.0
"""The agent's HTTP timeout (``venues.http.RestClient``'s default), virtual seconds."""
WEIGHTS = {
    "/fapi/v1/klines": 2, "/fapi/v1/userTrades": 5, "/fapi/v3/positionRisk": 5,
    "/fapi/v3/balance": 5, "/fapi/v1/income": 30, "/fapi/v1/exchangeInfo": 1,
    "/api/v3/account": 20, "/api/v3/exchangeInfo": 20,
}  # fmt: skip
"""Request weight by path (Binance's documented weights; 1 when not listed)."""
Answer = tuple[int, list[tuple[str, str]], bytes]
"""An HTTP answer: status, headers, body."""
BAD_GATEWAY = b"<html><head><title>502 Bad Gateway</title></head><body>502</body></html>"


@dataclass
class PostRecord:
    """One ``POST /fapi/v1/order`` as received: virtual time, client order id, symbol, signed
    quantity asked, reduce-only, agent generation, fault, HTTP status answered (0: none)."""

    ts_ms: int
    cid: str
    symbol: str
    qty: Decimal
    reduce_only: bool
    generation: int
    fault: str
    status: int = 0


@dataclass
class UnknownOutcome:
    """An order whose outcome the client could not know: when it learned (virtual ms), the
    real time (s), the fault."""

    cid: str
    ts_ms: int
    real_s: float
    fault: str


@dataclass
class Records:
    """What the exchange saw, for the invariants and the reaction times."""

    posts: list[PostRecord] = field(default_factory=list)
    post_counts: Counter[str] = field(default_factory=Counter)
    lookups: dict[str, list[int]] = field(default_factory=dict)
    unknown: list[UnknownOutcome] = field(default_factory=list)
    jumps: list[MarkJump] = field(default_factory=list)
    faults: Counter[str] = field(default_factory=Counter)
    ws_connections: int = 0
    ws_drops: int = 0
    ws_silences: int = 0
    retry_after_violations: int = 0
    weight_429: int = 0
    beyond_recv_window: int = 0
    """Signed requests older than their ``recvWindow`` on arrival (let through by the slack)."""
    dropped_stale: int = 0
    kills_between_legs: int = 0
    adjustments: list[dict[str, Any]] = field(default_factory=list)
    """Position changes made by the operator (not trades): virtual time, symbol, qty."""
    last_post_s: float = 0.0
    last_position_read_s: float = 0.0
    last_request_s: float = 0.0
    """Real times (``time.monotonic``) of the last order POST, the last ``positionRisk`` read
    (the agent's position check after a step's orders) and the last request."""


class PricePath:
    """Mark of each symbol at a virtual time: the base price, the product of the plan's jumps
    since ``start_ms`` and a small hourly wiggle (±0.05 %, under any drift threshold),
    rounded to the tick."""

    def __init__(self, plan: FaultPlan, start_ms: int) -> None:
        self._plan = plan
        self._start_hour = start_ms // HOUR_MS
        self._factors: dict[str, list[float]] = {s: [1.0] for s in SYMBOLS}
        self._jumps: list[MarkJump] = []

    def _factor(self, symbol: str, ts_ms: int) -> float:
        hour = ts_ms // HOUR_MS
        if hour < self._start_hour:
            return 1.0
        factors = self._factors[symbol]
        while len(factors) <= hour - self._start_hour + 1:
            h = self._start_hour + len(factors) - 1
            jump = self._plan.jump(h, SYMBOLS)
            if symbol == SYMBOLS[0] and jump is not None:
                self._jumps.append(jump)
            factors.append(
                factors[-1] * (jump.factor if jump is not None and jump.symbol == symbol else 1.0)
            )
        before = factors[hour - self._start_hour]
        jump = self._plan.jump(hour, SYMBOLS)
        if jump is not None and jump.symbol == symbol and ts_ms >= jump.ts_ms:
            return before * jump.factor
        return before

    def jumps_until(self, ts_ms: int) -> list[MarkJump]:
        """The jumps scheduled up to ``ts_ms``, oldest first."""
        for symbol in SYMBOLS:
            self._factor(symbol, ts_ms)
        return [j for j in self._jumps if j.ts_ms <= ts_ms]

    def price(self, symbol: str, ts_ms: int) -> Decimal:
        wiggle = 1 + 0.0005 * math.sin(2 * math.pi * ts_ms / (5 * HOUR_MS))
        raw = float(BASE_PRICES[symbol]) * self._factor(symbol, ts_ms) * wiggle
        return Decimal(repr(raw)).quantize(TICKS[symbol], rounding=ROUND_HALF_EVEN)


class _Gate:
    """Holds order POSTs while closed (the driver's check after a restart)."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.open.set()
        self.held = threading.Event()


class ChaosExchange:
    """The exchange (module docstring). Build and serve it on a loop with :meth:`start`.

    Parameters
    ----------
    clock : VirtualClock
    plan : FaultPlan
    wallet_usdt : Decimal
        Futures wallet at the start (large: a long run pays many fees).
    mark_every_s : float
        Virtual seconds between mark frames of one symbol (Binance ``@1s``: the client's
        watchdog is 10 s).
    """

    def __init__(
        self,
        clock: VirtualClock,
        plan: FaultPlan,
        *,
        wallet_usdt: Decimal = Decimal(10_000_000),
        mark_every_s: float = 2.0,
    ) -> None:
        self.clock = clock
        self.plan = plan
        self.prices = PricePath(plan, clock.now_ms())
        self.fake = BinanceFake(FAKE_BASE, FAKE_BASE, now_ms=clock.now_ms)
        self.fake.perp.wallet = wallet_usdt
        self.fake.perp.fill_qty = self._fill_qty
        self.fake.recv_window_slack_ms = round(RECV_WINDOW_SLACK_REAL_S * clock.speed * 1000)
        self.records = Records()
        self.generation = 0
        self.kill_agent: Callable[[str], None] | None = None
        """Set by the driver: SIGKILLs the agent process (called on this loop)."""
        self.kill_between_legs = False
        """Armed by the driver: kill the agent right after the next pair leg executes."""
        self.gate = _Gate()
        self._mark_every_s = mark_every_s
        self._partial: dict[str, float] = {}
        self._ordinals: Counter[str] = Counter()
        self._weight: dict[str, tuple[int, int]] = {}  # product -> (minute, weight used)
        self._banned_until_ms: dict[str, int] = {}  # product -> end of its Retry-After window
        self._connections: dict[asyncio.StreamWriter, int] = {}
        self._websockets: dict[ServerConnection, int] = {}
        self._silenced_hours: set[int] = set()
        self._servers: list[Any] = []
        self.rest_url = ""
        self.ws_url = ""
        self._seed_funding_history()
        self._sync_market()

    # ---- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Serve HTTP and websockets on free loopback ports (:attr:`rest_url`, :attr:`ws_url`)
        and start the market ticker."""
        http = await asyncio.start_server(self._serve_http, "127.0.0.1", 0)
        ws = await serve(self._serve_ws, "127.0.0.1", 0, ping_interval=None)
        self._servers = [http, ws]
        self.rest_url = f"http://127.0.0.1:{http.sockets[0].getsockname()[1]}"
        self.ws_url = f"ws://127.0.0.1:{next(iter(ws.sockets)).getsockname()[1]}"
        self._ticker = asyncio.create_task(self._tick_forever(), name="chaos.ticker")

    async def stop(self) -> None:
        self._ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._ticker
        for writer in list(self._connections):
            writer.transport.abort()
        for server in self._servers:
            server.close()
        for ws in list(self._websockets):
            ws.transport.abort()

    def new_generation(self, reason: str) -> None:
        """The agent process is gone (or about to be): cut its connections; requests it sent
        that were not answered yet are dropped."""
        self.generation += 1
        for writer, gen in list(self._connections.items()):
            if gen < self.generation:
                writer.transport.abort()
        for ws, gen in list(self._websockets.items()):
            if gen < self.generation:
                ws.transport.abort()

    def operator_sets_position(self, symbol: str, qty: Decimal) -> None:
        """What an operator does after a refused start: make the exchange's position of
        ``symbol`` ``qty`` by hand (recorded as an adjustment, not a trade)."""
        perp = self.fake.perp
        held, entry, _ = perp.positions.get(symbol, (Decimal(0), Decimal(0), 0))
        now_ms = self.clock.now_ms()
        perp.positions[symbol] = (qty, entry if qty else Decimal(0), now_ms)
        self.records.adjustments.append({"time": now_ms, "symbol": symbol, "qty": qty - held})

    def idle(self, quiet_s: float) -> bool:
        """The agent looks idle between steps: its last step's orders were followed by its
        position check, and nothing came for ``quiet_s`` real seconds (its checkpoint is
        committed right after)."""
        r = self.records
        now = time.monotonic()
        return r.last_position_read_s > r.last_post_s and now - r.last_request_s >= quiet_s

    def kill(self, reason: str) -> None:
        """SIGKILL the agent (through :attr:`kill_agent`) and start a new generation."""
        if self.kill_agent is not None:
            self.kill_agent(reason)
        self.new_generation(reason)

    # ---- market over time --------------------------------------------------------------------

    def _seed_funding_history(self) -> None:
        """Two days of 8-hourly settlements before the start; the next one on the grid."""
        now_ms = self.clock.now_ms()
        last = now_ms // FUNDING_INTERVAL_MS * FUNDING_INTERVAL_MS
        for symbol in SYMBOLS:
            self.fake.funding.predicted[symbol] = FUNDING_RATE
            self.fake.funding.rows[symbol] = [
                {
                    "symbol": symbol,
                    "fundingRate": f"{FUNDING_RATE:.8f}",
                    "fundingTime": ts,
                    "markPrice": f"{self.prices.price(symbol, ts):.8f}",
                }
                for ts in range(last - 5 * FUNDING_INTERVAL_MS, last + 1, FUNDING_INTERVAL_MS)
            ]
            self.fake.funding.next_ms[symbol] = last + FUNDING_INTERVAL_MS

    def _sync_market(self) -> int:
        """Marks to the price path at virtual now; funding settled when due. Returns now."""
        now_ms = self.clock.now_ms()
        for symbol in SYMBOLS:
            self.fake.perp.marks[symbol] = self.prices.price(symbol, now_ms)
            while self.fake.funding.next_funding_ms(symbol) <= now_ms:
                self.fake.settle_funding(symbol)
        return now_ms

    async def _tick_forever(self) -> None:
        while True:
            self._sync_market()
            await asyncio.sleep(0.02)

    def snapshot(self) -> dict[str, Any]:
        """Positions, trades and orders now (copies), for the invariants (call on the loop)."""
        perp = self.fake.perp
        by_order_id = {o["orderId"]: cid for cid, o in perp.orders.items()}
        return {
            "ts_ms": self.clock.now_ms(),
            "positions": {s: perp.position_qty(s) for s in SYMBOLS},
            "trades": [
                {**t, "clientOrderId": by_order_id.get(t["orderId"], "")} for t in perp.trades
            ],
            "orders": {
                cid: (o["status"], Decimal(o["executedQty"])) for cid, o in perp.orders.items()
            },
            "post_counts": dict(self.records.post_counts),
            "adjustments": list(self.records.adjustments),
        }

    # ---- HTTP --------------------------------------------------------------------------------

    async def _serve_http(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections[writer] = self.generation
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                request, body = await _read_request(conn, reader)
                if request is None:
                    return
                answer = await self._answer(request, body, self._connections[writer], reader)
                if answer is None:  # cut
                    writer.transport.abort()
                    return
                status, headers, content = answer
                writer.write(conn.send(h11.Response(status_code=status, headers=headers)))
                writer.write(conn.send(h11.Data(data=content)))
                writer.write(conn.send(h11.EndOfMessage()))
                await writer.drain()
                if conn.our_state is h11.MUST_CLOSE:
                    return
                conn.start_next_cycle()
        except (ConnectionError, h11.RemoteProtocolError, asyncio.IncompleteReadError):
            return
        finally:
            self._connections.pop(writer, None)
            writer.close()

    async def _answer(
        self, head: h11.Request, body: bytes, generation: int, reader: asyncio.StreamReader
    ) -> Answer | None:
        """One request's answer (status, headers, body), or None to cut the connection."""
        if generation != self.generation:
            self.records.dropped_stale += 1
            return None
        target = head.target.decode("ascii")
        method = head.method.decode("ascii")
        path = urlsplit(target).path
        params = dict(parse_qsl(urlsplit(target).query, keep_blank_values=True))
        params.update(parse_qsl(body.decode("ascii", "replace"), keep_blank_values=True))
        kind = _kind(method, path)
        now_ms = self._sync_market()
        self.records.last_request_s = time.monotonic()
        if kind == "order_post":
            self.records.last_post_s = time.monotonic()
        elif path == "/fapi/v3/positionRisk":
            self.records.last_position_read_s = time.monotonic()
        if kind == "order_post" and not self.gate.open.is_set():
            self.gate.held.set()
            await self.gate.open.wait()
            if generation != self.generation:
                self.records.dropped_stale += 1
                return None
            now_ms = self._sync_market()
        if "timestamp" in params and now_ms - int(params["timestamp"]) > int(
            params.get("recvWindow", "5000")
        ):
            self.records.beyond_recv_window += 1
        limited = self._rate_limit(path, now_ms)
        if limited is not None:
            return limited
        fault = self.plan.for_request(kind, self._ordinals[kind])
        self._ordinals[kind] += 1
        if fault.kind != f.NONE:
            self.records.faults[f"{kind}:{fault.kind}"] += 1
        post = self._record(kind, params, generation, fault, now_ms)
        early = self._before(kind, fault, post, _product(path), now_ms)
        if early is not None:
            return early
        if kind == "klines":
            status, headers, content = 200, [], json.dumps(self._klines(params)).encode()
        else:
            status, headers, content = self._dispatch(method, target, head, body)
        if post is not None:
            post.status = status
        return await self._after(kind, fault, post, reader, (status, headers, content))

    def _record(
        self, kind: str, params: dict[str, str], generation: int, fault: Fault, now_ms: int
    ) -> PostRecord | None:
        if kind == "order_get":
            cid = params.get("origClientOrderId", "")
            self.records.lookups.setdefault(cid, []).append(now_ms)
        if kind != "order_post":
            return None
        cid = params.get("newClientOrderId", "")
        sign = 1 if params.get("side") == "BUY" else -1
        post = PostRecord(
            now_ms, cid, params.get("symbol", ""), sign * Decimal(params.get("quantity", "0")),
            params.get("reduceOnly") == "true", generation, fault.kind,
        )  # fmt: skip
        self.records.posts.append(post)
        self.records.post_counts[cid] += 1
        if fault.kind == f.PARTIAL:
            self._partial[cid] = fault.fill_frac
        return post

    def _before(
        self, kind: str, fault: Fault, post: PostRecord | None, product: str, now_ms: int
    ) -> Answer | None:
        """Faults that answer before anything executes."""
        if fault.kind == f.ERROR_BEFORE:
            answer = (502, [("Content-Type", "text/html")], BAD_GATEWAY)
        elif fault.kind == f.RATE_LIMITED:
            answer = self._too_many(product, now_ms)
        elif fault.kind == f.REJECT and post is not None:
            body = {"code": -2019, "msg": "Margin is insufficient."}
            return 400, [("Content-Type", "application/json")], json.dumps(body).encode()
        else:
            return None
        if post is not None:
            post.status = answer[0]
            self._unknown(post.cid, fault.kind)
        return answer

    async def _after(
        self,
        kind: str,
        fault: Fault,
        post: PostRecord | None,
        reader: asyncio.StreamReader,
        answer: Answer,
    ) -> Answer | None:
        """Faults once the request executed; the kill between legs."""
        accepted = post is not None and answer[0] == 200
        if accepted and self.kill_between_legs and post is not None and not post.reduce_only:
            self.kill_between_legs = False
            self.records.kills_between_legs += 1
            self.kill("between_legs")
            return None
        if fault.kind == f.LATENCY:
            await asyncio.sleep(self.clock.real_s(min(fault.delay_s, CLIENT_TIMEOUT_S / 2)))
        elif fault.kind == f.ERROR_AFTER_ACCEPT and post is not None:
            self._unknown(post.cid, fault.kind)
            return 503, [("Content-Type", "text/plain")], b"Service Unavailable"
        elif fault.kind == f.DROP_AFTER_ACCEPT and post is not None:
            self._unknown(post.cid, fault.kind)
            return None
        elif fault.kind == f.HOLD_AFTER_ACCEPT and post is not None:
            # Until the client gives up (its timeout closes the connection), at most 3 × it.
            with contextlib.suppress(TimeoutError, ConnectionError):
                async with asyncio.timeout(self.clock.real_s(3 * CLIENT_TIMEOUT_S)):
                    await reader.read(1)
            self._unknown(post.cid, fault.kind)
            return None
        return answer

    def _unknown(self, cid: str, fault: str) -> None:
        self.records.unknown.append(UnknownOutcome(cid, self.clock.now_ms(), _real_now(), fault))

    def _rate_limit(self, path: str, now_ms: int) -> Answer | None:
        """Binance's rules: a request inside a ``Retry-After`` window is counted (a real venue
        would ban the IP, HTTP 418) and refused; weight over the minute's limit → 429. USD-M
        (``/fapi``) and spot (``/api``) count apart, as on Binance."""
        product = _product(path)
        if now_ms < self._banned_until_ms.get(product, 0):
            self.records.retry_after_violations += 1
            return self._too_many(product, now_ms, extend=False)
        minute = now_ms // 60_000
        last_minute, used = self._weight.get(product, (minute, 0))
        used = (used if last_minute == minute else 0) + WEIGHTS.get(path, 1)
        self._weight[product] = (minute, used)
        if used > WEIGHT_PER_MINUTE[product]:
            self.records.weight_429 += 1
            return self._too_many(product, now_ms)
        return None

    def _too_many(self, product: str, now_ms: int, *, extend: bool = True) -> Answer:
        if extend:
            self._banned_until_ms[product] = now_ms + RETRY_AFTER_S * 1000
        left_s = max(1, math.ceil((self._banned_until_ms[product] - now_ms) / 1000))
        body = {
            "code": -1003,
            "msg": f"Too much request weight used; current limit is {WEIGHT_PER_MINUTE[product]}"
            " request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid"
            " polling the API.",
        }
        headers = [("Content-Type", "application/json"), ("Retry-After", str(left_s))]
        return 429, headers, json.dumps(body).encode()

    def _dispatch(self, method: str, target: str, head: h11.Request, body: bytes) -> Answer:
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in head.headers]
        request = httpx.Request(method, FAKE_BASE + target, headers=headers, content=body)
        response = self.fake.router.handler(request)
        self.fake.requests.clear()
        used = str(self._weight.get(_product(target), (0, 0))[1])
        out = [("Content-Type", response.headers.get("Content-Type", "application/json")),
               ("X-MBX-USED-WEIGHT-1M", used)]  # fmt: skip
        return response.status_code, out, response.content

    def _fill_qty(self, cid: str, qty: Decimal) -> Decimal:
        """The fake's fill hook: a ``partial`` fault fills that fraction (on the lot step)."""
        frac = self._partial.pop(cid, None)
        if frac is None:
            return qty
        step = Decimal("0.001")
        return (qty * Decimal(repr(frac)) / step).to_integral_value() * step

    def _klines(self, params: dict[str, str]) -> list[list[Any]]:
        """``GET /fapi/v1/klines`` (1h) from the price path: bars opened in the window up to
        now (the current one still open), ascending, at most ``limit``."""
        symbol = params.get("symbol", "")
        now_ms = self.clock.now_ms()
        start = int(params.get("startTime", str(now_ms - 499 * HOUR_MS)))
        end = min(int(params.get("endTime", str(now_ms))), now_ms)
        limit = int(params.get("limit", "500"))
        rows: list[list[Any]] = []
        first = -(-start // HOUR_MS) * HOUR_MS
        for ts in range(first, end + 1, HOUR_MS):
            close_ts = min(ts + HOUR_MS - 1, now_ms)
            o, c = self.prices.price(symbol, ts), self.prices.price(symbol, close_ts)
            rows.append([ts, str(o), str(max(o, c)), str(min(o, c)), str(c), "100.0",
                         ts + HOUR_MS - 1, "1000000.0", 100, "50.0", "500000.0", "0"])  # fmt: skip
            if len(rows) == limit:
                break
        return rows

    # ---- websocket ---------------------------------------------------------------------------

    async def _serve_ws(self, ws: ServerConnection) -> None:
        self._websockets[ws] = self.generation
        ordinal = self.records.ws_connections
        self.records.ws_connections += 1
        plan = self.plan.for_ws(ordinal)
        try:
            path = ws.request.path if ws.request is not None else ""
            request = json.loads(await ws.recv())
            await ws.send(json.dumps({"result": None, "id": request.get("id")}))
            if not path.startswith("/market"):
                await ws.wait_closed()
                return
            streams = list(request.get("params", []))
            sent = 0
            while True:
                now_ms = self._sync_market()
                if self._silent(now_ms):
                    await asyncio.sleep(self.clock.real_s(self._mark_every_s))
                    continue
                for name in streams:
                    frame = {"stream": name, "data": self._mark_frame(name, now_ms)}
                    await ws.send(json.dumps(frame))
                    sent += 1
                if plan.drop_after_frames is not None and sent >= plan.drop_after_frames:
                    self.records.ws_drops += 1
                    ws.transport.abort()
                    return
                await asyncio.sleep(self.clock.real_s(self._mark_every_s))
        except (ConnectionClosed, json.JSONDecodeError):
            return
        finally:
            self._websockets.pop(ws, None)

    def _silent(self, now_ms: int) -> bool:
        hour = now_ms // HOUR_MS
        window = self.plan.silence(hour)
        if window is None or not window[0] <= now_ms < window[1]:
            return False
        if hour not in self._silenced_hours:
            self._silenced_hours.add(hour)
            self.records.ws_silences += 1
        return True

    def _mark_frame(self, stream: str, now_ms: int) -> dict[str, Any]:
        symbol = stream.split("@")[0].upper()
        mark = f"{self.fake.perp.marks.get(symbol, Decimal(0)):.8f}"
        return {"e": "markPriceUpdate", "E": now_ms, "s": symbol, "p": mark, "i": mark,
                "P": mark, "r": f"{FUNDING_RATE:.8f}",
                "T": self.fake.funding.next_funding_ms(symbol)}  # fmt: skip


def _product(path: str) -> str:
    """``fapi`` (USD-M) or ``api`` (spot): their limits are counted apart."""
    return "fapi" if path.startswith("/fapi") else "api"


def _kind(method: str, path: str) -> str:
    if path == "/fapi/v1/order":
        return {"POST": "order_post", "GET": "order_get"}.get(method, "signed")
    if path == "/fapi/v1/klines":
        return "klines"
    if path in ("/fapi/v1/time", "/fapi/v1/exchangeInfo", "/fapi/v1/fundingInfo",
                "/fapi/v1/premiumIndex", "/fapi/v1/fundingRate", "/api/v3/exchangeInfo",
                "/api/v3/time"):  # fmt: skip
        return "public"
    return "signed"


async def _read_request(
    conn: h11.Connection, reader: asyncio.StreamReader
) -> tuple[h11.Request | None, bytes]:
    """The next request and its body, or (None, b"") when the client closed."""
    head: h11.Request | None = None
    body = bytearray()
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            data = await reader.read(65_536)
            conn.receive_data(data)
            continue
        if isinstance(event, h11.Request):
            head = event
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            return head, bytes(body)
        elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
            return None, b""


def _real_now() -> float:
    return time.time()


class ExchangeThread:
    """A :class:`ChaosExchange` serving from its own thread and event loop.

    ``with ExchangeThread(exchange) as ex:`` starts it (URLs ready) and stops it at the end;
    :meth:`call` runs a function on the exchange's loop and returns its result.
    """

    def __init__(self, exchange: ChaosExchange) -> None:
        self.exchange = exchange
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="chaos.exchange")  # fmt: skip

    def __enter__(self) -> ExchangeThread:
        self._thread.start()
        self._run(self.exchange.start())
        return self

    def __exit__(self, *exc: object) -> None:
        self._run(self.exchange.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def _run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    def call(self, fn: Callable[[], _T]) -> _T:
        """``fn()`` run on the exchange's loop (between two requests), its result returned."""

        async def run() -> _T:
            return fn()

        return self._run(run())
