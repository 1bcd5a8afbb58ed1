"""Live start-up that waits for the network: opening the venues, loading their instruments
and reading the start-up history are retried with backoff on transport errors, 5xx and
rate limits (logged ``venue_unreachable_at_start``), and a stop request ends the wait
(``ShutdownRequested``: the CLI exits 0). No real sleeps: the wall clock is a fake."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog

from agent.config import load_config
from agent.errors import ReconciliationError, ShutdownRequested
from agent.live.retry import StartRetry, retry_at_start
from agent.supervisor import Supervisor
from tests.fakes import binance as binance_fake
from tests.fakes import bybit as bybit_fake
from tests.support.fake_market import FakeMarketData, FakeWall, instrument
from tests.support.live_venues import live_toml, make_fakes, venue_factory
from venues.errors import AuthError, RateLimited, TransportError, VenueUnavailable
from venues.model import HOUR_MS, Instrument, InstrumentId, InstrumentKind

pytestmark = pytest.mark.timeout(30)

H = HOUR_MS
T = 480_100 * H
PERP = InstrumentId("binance", InstrumentKind.PERP, "BTCUSDT")
SPOT = InstrumentId("binance", InstrumentKind.SPOT, "BTCUSDT")
FAST = StartRetry(initial_s=0.01, max_s=0.05)
LIVE_KEYS = {
    "ZEROBETA_VENUES__BINANCE__API_KEY": binance_fake.API_KEY,
    "ZEROBETA_VENUES__BINANCE__API_SECRET": binance_fake.API_SECRET,
    "ZEROBETA_VENUES__BYBIT__API_KEY": bybit_fake.API_KEY,
    "ZEROBETA_VENUES__BYBIT__API_SECRET": bybit_fake.API_SECRET,
}


def _config(journal: Path) -> Any:
    overrides = {
        "market_data": {"source": "live", "live_bar_delay_s": 15, "live_mark_every_s": 60},
        "venues": {
            "bybit": {"enabled": False, "collateral_frac": 0.0},
            "hyperliquid": {"enabled": False, "collateral_frac": 0.0},
        },
        "journal": {"path": str(journal)},
        "strategies": {
            "stat_arb": {"enabled": False},
            "factor_neutral": {"enabled": False},
            "cross_venue_arb": {"enabled": False},
            "beta_hedger": {"enabled": False},
            "funding_harvester": {"symbols": ["BTCUSDT"], "rate_lookback_settlements": 1},
        },
    }
    return load_config(None, env={}, overrides=overrides)


class FlakyMarketData(FakeMarketData):
    """Fails ``open`` and ``load_instruments`` a given number of times (``None``: forever)."""

    def __init__(self, *args: Any, open_failures: int | None, load_failures: int, **kw: Any):
        super().__init__(*args, **kw)
        self.open_failures = open_failures
        self.load_failures = load_failures
        self.open_attempts = 0
        self.load_attempts = 0

    async def open(self) -> None:
        self.open_attempts += 1
        if self.open_failures is None or self.open_attempts <= self.open_failures:
            raise TransportError("connect failed: name resolution", venue="binance")
        await super().open()

    async def load_instruments(self) -> Mapping[InstrumentId, Instrument]:
        self.load_attempts += 1
        if self.load_attempts <= self.load_failures:
            raise VenueUnavailable("GET /fapi/v1/exchangeInfo: HTTP 503", venue="binance")
        return await super().load_instruments()


async def test_start_up_retries_until_the_venue_answers(tmp_path: Path) -> None:
    wall = FakeWall(T - H + 5_000)
    binance = FlakyMarketData(
        "binance",
        {PERP: instrument(PERP), SPOT: instrument(SPOT)},
        now_ms=wall.now_ms,
        open_failures=3,
        load_failures=2,
    )
    supervisor = Supervisor(
        _config(tmp_path / "live.sqlite"),
        market_data_factory=lambda name: binance,
        clock=wall,
        sleep=wall.sleep,
        start_retry=FAST,
    )

    def stop_after_a_step(clock: FakeWall) -> None:
        if clock.now >= T:
            supervisor.request_stop()

    wall.on_sleep = stop_after_a_step
    with structlog.testing.capture_logs() as logs:
        result = await supervisor.run()

    assert (binance.open_attempts, binance.load_attempts) == (4, 3)
    assert result.steps >= 1
    retries = [e for e in logs if e["event"] == "venue_unreachable_at_start"]
    assert [(e["operation"], e["attempt"]) for e in retries] == [
        ("open binance", 1),
        ("open binance", 2),
        ("open binance", 3),
        ("load_instruments", 1),
        ("load_instruments", 2),
    ]
    assert retries[0]["venue"] == "binance"
    assert retries[0]["error_type"] == "TransportError"
    assert all(0 <= e["next_delay_s"] <= FAST.max_s for e in retries)
    assert wall.sleeps_s[:5] == pytest.approx([e["next_delay_s"] for e in retries], abs=1e-3)


async def test_a_venue_that_never_answers_is_waited_for_until_stopped(tmp_path: Path) -> None:
    wall = FakeWall(T - H + 5_000)
    binance = FlakyMarketData(
        "binance",
        {PERP: instrument(PERP), SPOT: instrument(SPOT)},
        now_ms=wall.now_ms,
        open_failures=None,
        load_failures=0,
    )
    supervisor = Supervisor(
        _config(tmp_path / "live.sqlite"),
        market_data_factory=lambda name: binance,
        clock=wall,
        sleep=wall.sleep,
        start_retry=FAST,
    )

    def stop_after_ten_waits(clock: FakeWall) -> None:
        if len(clock.sleeps_s) >= 10:
            supervisor.request_stop()  # what SIGTERM does

    wall.on_sleep = stop_after_ten_waits
    with pytest.raises(ShutdownRequested):
        await supervisor.run()
    assert binance.open_attempts == 10
    assert not (tmp_path / "live.sqlite").exists()  # nothing was started


async def _never_sleep(_seconds: float) -> None:
    raise AssertionError("a non-retryable error must not wait")


async def test_backoff_grows_is_capped_and_honours_retry_after() -> None:
    errors: list[Exception] = [
        TransportError("down", venue="okx"),
        TransportError("down", venue="okx"),
        RateLimited("429", venue="okx", retry_after_s=7.0),
        VenueUnavailable("503", venue="okx"),
    ]
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    async def read() -> str:
        if errors:
            raise errors.pop(0)
        return "answer"

    policy = StartRetry(initial_s=1.0, max_s=4.0)
    answer = await retry_at_start(read, what="x", stop=asyncio.Event(), sleep=record, policy=policy)
    assert answer == "answer"
    assert len(waits) == 4
    assert all(0 <= w <= 4.0 for i, w in enumerate(waits) if i != 2)
    assert waits[2] == 7.0  # the venue's Retry-After beats the capped backoff


async def test_a_non_retryable_error_goes_straight_through() -> None:
    async def read() -> None:
        raise AuthError("HTTP 401", venue="okx")

    with pytest.raises(AuthError):
        await retry_at_start(read, what="x", stop=asyncio.Event(), sleep=_never_sleep)


async def test_a_stop_already_requested_makes_no_attempt() -> None:
    stop = asyncio.Event()
    stop.set()

    async def read() -> None:
        raise AssertionError("no attempt after a stop")

    with pytest.raises(ShutdownRequested):
        await retry_at_start(read, what="x", stop=stop, sleep=_never_sleep)


class FailingPaths(httpx.AsyncBaseTransport):
    """A venue's transport whose first ``failures`` requests to each path answer HTTP 503."""

    def __init__(self, inner: httpx.AsyncBaseTransport, failures: Mapping[str, int]) -> None:
        self.inner = inner
        self.left = dict(failures)
        self.failed: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if self.left.get(path, 0) > 0:
            self.left[path] -= 1
            self.failed.append(path)
            return httpx.Response(503, text="Service Unavailable", request=request)
        return await self.inner.handle_async_request(request)


async def test_live_account_setup_balances_and_reconciliation_are_retried(
    tmp_path: Path,
) -> None:
    """Account setup, the balance read and the start-up reconciliation wait for a venue that
    answers 503 like the other start-up reads; the start then goes on — here to the refusal
    a foreign position must cause (a person must act: not retried)."""
    wall = FakeWall(T - H + 5_000)
    binance, bybit = make_fakes(wall)
    binance.perp.positions["BTCUSDT"] = (Decimal("-0.5"), Decimal(60_000), T - 10 * H)
    paths = {"/fapi/v1/positionSide/dual": 6, "/fapi/v3/balance": 6, "/fapi/v3/positionRisk": 6}
    flaky = FailingPaths(binance.transport, paths)
    transports: dict[str, httpx.AsyncBaseTransport] = {
        "binance": flaky,
        "bybit": bybit.transport(),
    }
    path = tmp_path / "agent.toml"
    path.write_text(live_toml(tmp_path / "live.sqlite", "ws://127.0.0.1:9", mode="live"))
    config = load_config(path, env=LIVE_KEYS)

    factory = venue_factory(config, transports)

    supervisor = Supervisor(
        config, venue_factory=factory, clock=wall, sleep=wall.sleep, start_retry=FAST
    )
    with structlog.testing.capture_logs() as logs, pytest.raises(ReconciliationError):
        await supervisor.run()
    assert all(n == 0 for n in flaky.left.values()), flaky.left  # every 503 was served
    retried = {e["operation"] for e in logs if e["event"] == "venue_unreachable_at_start"}
    assert {"account_setup", "balances", "reconcile"} <= retried
    assert not [e for e in logs if e["event"] == "live_setup_failed"]
