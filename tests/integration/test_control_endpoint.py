"""The HTTP control surface of a running agent: a replay on real data with the endpoint on
127.0.0.1 (any free port), held between two steps by a test hook, read with a real HTTP client;
``/metrics`` parsed with prometheus_client's parser and checked against the engine's ledger;
a stale engine turns ``/healthz`` to 503."""

from __future__ import annotations

import asyncio
import io
import json
import re
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from agent.cli import main
from agent.config import AgentConfig, ConfigError, load_config
from agent.engine.engine import Engine, MarketStep
from agent.logs import configure_logging
from agent.supervisor import RunResult, Supervisor
from tests.integration.conftest import AGENT_TOML, REPO_ROOT
from tests.support.fake_market import FakeMarketData, FakeWall, instrument
from venues.model import HOUR_MS, FundingRate, InstrumentId, InstrumentKind, MarkPrice

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

DASHBOARD = REPO_ROOT / "deploy" / "grafana-dashboard.json"
PAUSE_AFTER_STEPS = 300  # 2025-09-01 + 300 h: every strategy has traded by then


def _config(journal: Path, end: str = "2025-09-20", **control: Any) -> AgentConfig:
    overrides: dict[str, Any] = {
        # overwrite = false: a resumable replay commits each step, so /status reads the
        # journal up to the step the hook holds.
        "journal": {"path": str(journal), "overwrite": False},
        "logging": {"level": "warning", "progress": False},
        "market_data": {"start": "2025-09-01", "end": end},
        "control": {"http": "on", "http_port": 0, "heartbeat_s": 0.02, **control},
    }
    return load_config(AGENT_TOML, env={}, overrides=overrides)


@dataclass
class StepGate:
    """Holds the replay after ``pause_after`` steps until released (wraps ``Engine.step``)."""

    pause_after: int
    steps: int = 0
    engine: Engine | None = None
    paused: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def wrap(self, original: Callable[[Engine, MarketStep], Any]) -> Callable[..., Any]:
        async def step(engine: Engine, market_step: MarketStep) -> None:
            await original(engine, market_step)
            self.steps += 1
            self.engine = engine
            if self.steps == self.pause_after:
                self.paused.set()
                await self.release.wait()

        return step


class FakeMonotonic:
    """Starts at the real monotonic time and moves only when told."""

    def __init__(self, start_s: float) -> None:
        self.now_s = start_s

    def __call__(self) -> float:
        return self.now_s


@dataclass
class Running:
    supervisor: Supervisor
    gate: StepGate
    task: asyncio.Task[RunResult]
    client: httpx.AsyncClient
    config: AgentConfig

    @property
    def engine(self) -> Engine:
        assert self.gate.engine is not None
        return self.gate.engine


@pytest.fixture
async def running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Running]:
    configure_logging("warning", "json", io.StringIO())
    gate = StepGate(PAUSE_AFTER_STEPS)
    monkeypatch.setattr(Engine, "step", gate.wrap(Engine.step))
    config = _config(tmp_path / "run.sqlite")
    supervisor = Supervisor(config)
    task = asyncio.create_task(supervisor.run())
    paused = asyncio.create_task(gate.paused.wait())
    await asyncio.wait([task, paused], return_when=asyncio.FIRST_COMPLETED)
    if task.done():  # the run ended (or failed) before the hook held it
        paused.cancel()
        raise AssertionError(f"the run ended before step {PAUSE_AFTER_STEPS}: {task.result()}")
    assert supervisor.control is not None
    base = f"http://127.0.0.1:{supervisor.control.port}"
    async with httpx.AsyncClient(base_url=base, timeout=10.0) as client:
        try:
            yield Running(supervisor, gate, task, client, config)
        finally:
            gate.release.set()
            result = await task
    assert not result.stopped_early
    assert result.steps > PAUSE_AFTER_STEPS


def _families(text: str) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def _sample(families: dict[str, Any], name: str, **labels: str) -> float:
    family = families[name]
    values = [
        s.value for s in family.samples if all(s.labels.get(k) == v for k, v in labels.items())
    ]
    assert len(values) == 1, (name, labels, values)
    return float(values[0])


async def test_healthz_is_200_while_the_engine_steps(running: Running) -> None:
    answer = await running.client.get("/healthz")
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "ok"
    assert body["checks"]["market_data"]["limit_s"] == 7200.0


async def test_metrics_are_the_engines_ledger(running: Running) -> None:
    answer = await running.client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = _families(answer.text)
    portfolio = running.engine.portfolio
    pnl = portfolio.pnl()
    assert _sample(families, "zerobeta_equity_usd") == float(portfolio.equity_usd())
    assert _sample(families, "zerobeta_net_delta_usd") == float(portfolio.net_delta_usd())
    assert _sample(families, "zerobeta_gross_notional_usd") == float(portfolio.gross_notional_usd())
    for stream in ("price_spot", "price_perp", "funding", "fees", "slippage", "total"):
        expected = float(getattr(pnl, f"{stream}_usd"))
        assert _sample(families, "zerobeta_pnl_usd", stream=stream) == expected
    assert len(pnl.by_strategy) >= 3
    for strategy, streams in pnl.by_strategy.items():
        got = _sample(families, "zerobeta_strategy_pnl_usd", strategy=strategy, stream="total")
        assert got == float(streams.total_usd)
    positions = portfolio.positions()
    assert positions
    marks = portfolio.marks()
    for iid, qty in positions.items():
        assert _sample(families, "zerobeta_position_qty", instrument=str(iid)) == float(qty)
        notional = _sample(families, "zerobeta_position_notional_usd", instrument=str(iid))
        assert notional == float(qty * marks[iid])
    executor = running.engine.executor
    assert _sample(families, "zerobeta_orders_sent") == executor.orders_sent  # _total sample
    assert _sample(families, "zerobeta_orders_rejected") == executor.orders_rejected
    assert _sample(families, "zerobeta_risk_rejections") == executor.risk_rejections
    assert _sample(families, "zerobeta_unresolved_orders") == len(executor.unresolved)
    assert _sample(families, "zerobeta_unhedged_usd_seconds") == executor.unhedged_usd_s_total
    assert _sample(families, "zerobeta_pairs_past_budget") == executor.pairs_past_budget
    assert _sample(families, "zerobeta_open_pairs") == executor.open_pairs
    status = (await running.client.get("/status")).json()["live"]["engine"]
    for venue in status["venue_health"]:  # the safety guard's readings, as /status shows them
        healthy = _sample(families, "zerobeta_venue_healthy", venue=venue["venue"])
        assert healthy == float(venue["healthy"])
    legs = [leg for leg in status["liquidation"] if leg["distance_frac"] is not None]
    assert legs  # the paper venues model the held perps' liquidation prices
    for leg in legs:
        distance = _sample(
            families, "zerobeta_liquidation_distance_frac", instrument=leg["instrument"]
        )
        price = _sample(families, "zerobeta_liquidation_price_usd", instrument=leg["instrument"])
        mark = float(leg["mark_usd"])
        assert distance == pytest.approx(abs(mark - price) / mark, rel=1e-9)
    latency = families["zerobeta_order_latency_seconds"]
    counts = [s.value for s in latency.samples if s.name.endswith("_count")]
    # every order was answered by a paper venue (filled or rejected) and timed
    assert sum(counts) == executor.orders_sent > 0
    assert families["zerobeta_funding_rate"].samples  # the perps' latest settled rates
    assert _sample(families, "zerobeta_healthy") == 1.0


async def test_status_is_the_journal_plus_the_engine_now(running: Running) -> None:
    answer = await running.client.get("/status")
    assert answer.status_code == 200
    status = answer.json()
    assert status["status_version"] == 1
    assert (status["mode"], status["source"], status["finished"]) == ("paper", "replay", False)
    engine_clock_ms = running.engine.clock.now_ms()
    assert status["last_step_ms"] == engine_clock_ms  # the held step was committed
    portfolio = running.engine.portfolio
    # the step's snapshot in the journal is the ledger now (nothing moved since)
    assert Decimal(status["equity_usd"]) == portfolio.equity_usd()
    live = status["live"]
    assert live["health"]["status"] == "ok"
    assert live["process"]["uptime_s"] >= 0
    engine = live["engine"]
    assert engine["engine_clock_ms"] == engine_clock_ms
    assert Decimal(engine["equity_usd"]) == portfolio.equity_usd()
    assert engine["feed"] is None  # a replay streams nothing
    shown = {(p["strategy"], p["instrument"]): Decimal(p["qty"]) for p in engine["positions"]}
    expected = {
        (name, str(iid)): qty
        for name in portfolio.pnl().by_strategy
        for iid, qty in portfolio.positions(name).items()
    }
    assert shown == expected
    assert engine["counters"]["orders_sent"] == running.engine.executor.orders_sent


async def test_a_stale_engine_turns_healthz_to_503(running: Running) -> None:
    control = running.supervisor.control
    assert control is not None
    fake = FakeMonotonic(control.heartbeat.monotonic())
    control.heartbeat.monotonic = fake
    fake.now_s += running.config.market_data.stale_after_s + 1.0  # the replay is held
    await control.heartbeat.wait_beat()  # the loop still beats: only the data is stale
    answer = await running.client.get("/healthz")
    assert answer.status_code == 503
    body = answer.json()
    assert body["status"] == "unhealthy"
    assert body["checks"]["event_loop"]["ok"] is True
    assert body["checks"]["market_data"]["ok"] is False
    assert body["checks"]["market_data"]["value_s"] > 7200.0
    assert len(body["reasons"]) == 1
    assert "no step or mark" in body["reasons"][0]
    metrics = _families((await running.client.get("/metrics")).text)
    assert _sample(metrics, "zerobeta_healthy") == 0.0
    assert _sample(metrics, "zerobeta_last_event_age_seconds") > 7200.0


async def test_zerobeta_status_merges_the_running_agents_live_part(
    running: Running, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    control = running.supervisor.control
    assert control is not None
    config_file = tmp_path / "agent.toml"
    config_file.write_text(
        f'[journal]\npath = "{running.config.journal.path}"\n'
        f'[control]\nhttp = "on"\nhttp_port = {control.port}\n',
        encoding="utf-8",
    )
    # the CLI is synchronous: run it in a thread while this loop serves the endpoint
    code = await asyncio.to_thread(main, ["status", "--config", str(config_file), "--json"])
    # main() pointed the logs at this test's captured stderr; the agent keeps running (and
    # logging) until the fixture stops it, after capsys has closed that stream
    configure_logging("warning", "json", io.StringIO())
    assert code == 0
    status = json.loads(capsys.readouterr().out)
    assert status["live_error"] is None
    assert status["live"]["engine"]["engine_clock_ms"] == running.engine.clock.now_ms()


async def test_the_endpoint_closes_with_the_run(tmp_path: Path) -> None:
    configure_logging("warning", "json", io.StringIO())
    supervisor = Supervisor(_config(tmp_path / "short.sqlite", end="2025-09-03"))
    result = await supervisor.run()
    assert result.steps > 0
    assert supervisor.control is not None
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", supervisor.control.port)


async def test_a_taken_port_is_a_config_error(tmp_path: Path) -> None:
    configure_logging("warning", "json", io.StringIO())
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        supervisor = Supervisor(_config(tmp_path / "taken.sqlite", http_port=port))
        with pytest.raises(ConfigError) as info:
            await supervisor.run()
    assert [path for path, _ in info.value.errors] == ["control.http_port"]
    assert f"127.0.0.1:{port}" in info.value.errors[0][1]
    assert not (tmp_path / "taken.sqlite").exists()  # refused before any data or journal


def test_a_public_bind_is_refused_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config_file = tmp_path / "agent.toml"
    config_file.write_text('[control]\nhttp_bind = "0.0.0.0"\n', encoding="utf-8")
    assert main(["run", "--config", str(config_file)]) == 2
    assert "control.http_bind" in capsys.readouterr().err


# ---- paper on live data: stream health ---------------------------------------------------------

H = HOUR_MS
T = 480_100 * H
PERP = InstrumentId("binance", InstrumentKind.PERP, "BTCUSDT")
SPOT = InstrumentId("binance", InstrumentKind.SPOT, "BTCUSDT")


def _live_config(journal: Path) -> AgentConfig:
    overrides: dict[str, Any] = {
        "market_data": {"source": "live", "live_bar_delay_s": 15, "live_mark_every_s": 60},
        "venues": {
            "bybit": {"enabled": False, "collateral_frac": 0.0},
            "hyperliquid": {"enabled": False, "collateral_frac": 0.0},
        },
        "journal": {"path": str(journal)},
        "control": {"http_port": 0},  # on by default for live data; any free port here
        "strategies": {
            "stat_arb": {"enabled": False},
            "factor_neutral": {"enabled": False},
            "cross_venue_arb": {"enabled": False},
            "beta_hedger": {"enabled": False},
            "funding_harvester": {"symbols": ["BTCUSDT"], "rate_lookback_settlements": 1},
        },
    }
    return load_config(None, env={}, overrides=overrides)


async def test_paper_on_live_serves_stream_health(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure_logging("warning", "json", io.StringIO())
    gate = StepGate(pause_after=1)
    monkeypatch.setattr(Engine, "step", gate.wrap(Engine.step))
    wall = FakeWall(T - H + 5_000)
    binance = FakeMarketData(
        "binance", {PERP: instrument(PERP), SPOT: instrument(SPOT)}, now_ms=wall.now_ms
    )
    binance.settlements = [FundingRate(PERP, 0.001, 28_800, T - 8 * H, T)]
    mark_ms = T - H + 2_000
    binance.marks.put_nowait(MarkPrice(PERP, 60_100.5, mark_ms))
    supervisor = Supervisor(
        _live_config(tmp_path / "live.sqlite"),
        market_data_factory=lambda _: binance,
        clock=wall,
        sleep=wall.sleep,
    )
    wall.on_sleep = lambda clock: supervisor.request_stop() if clock.now >= T + H else None
    task = asyncio.create_task(supervisor.run())
    await gate.paused.wait()
    assert supervisor.control is not None
    try:
        base = f"http://127.0.0.1:{supervisor.control.port}"
        async with httpx.AsyncClient(base_url=base, timeout=10.0) as client:
            metrics = _families((await client.get("/metrics")).text)
            status = (await client.get("/status")).json()
        age_s = (wall.now - mark_ms) / 1000
        assert _sample(metrics, "zerobeta_stream_staleness_seconds", venue="binance") == age_s
        assert _sample(metrics, "zerobeta_marks_received") == 1.0
        assert _sample(metrics, "zerobeta_venue_healthy", venue="binance") == 1.0  # reads answer
        assert _sample(metrics, "zerobeta_marks_dropped") == 0.0
        rate = _sample(metrics, "zerobeta_funding_rate", instrument=str(PERP))
        assert rate == 0.001
        assert (
            _sample(
                metrics, "zerobeta_funding_next_settlement_timestamp_seconds", instrument=str(PERP)
            )
            == T / 1000
        )
        # every metric the shipped Grafana dashboard charts is one the agent serves
        charted = set(re.findall(r"zerobeta_[a-z_]+", DASHBOARD.read_text(encoding="utf-8")))
        served = {sample.name for family in metrics.values() for sample in family.samples}
        # a counter with no sample yet (no reconnect in this run) is served as its family
        served |= {f"{f.name}_total" for f in metrics.values() if f.type == "counter"}
        assert len(charted) >= 10
        assert charted <= served, charted - served
        assert status["clock"] == "wall"
        assert status["now_ms"] == wall.now
        feed = status["live"]["engine"]["feed"]
        assert feed["venues"] == [
            {"venue": "binance", "last_mark_ms": mark_ms, "age_s": age_s, "instruments": 1}
        ]
    finally:
        gate.release.set()
        result = await task
    assert result.steps == 2
