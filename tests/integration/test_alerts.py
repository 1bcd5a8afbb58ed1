"""Alerts from the supervisor, end to end: a refused live start and a failing run page a person
through apprise (a real webhook on 127.0.0.1), exactly once, before the error leaves
``Supervisor.run``; a backtest pages nobody, failing or not.
"""

from __future__ import annotations

import io
import json
from decimal import Decimal
from pathlib import Path

import pytest

from agent.config import AgentConfig, load_config
from agent.engine.runner import StrategyRunner
from agent.errors import ReconciliationError
from agent.logs import configure_logging
from agent.supervisor import Supervisor
from tests.fakes import binance as binance_fake
from tests.fakes import bybit as bybit_fake
from tests.integration.conftest import AGENT_TOML
from tests.support.fake_market import FakeWall
from tests.support.live_venues import H, T, live_toml, make_fakes, venue_factory
from tests.support.webhook import WebhookServer

pytestmark = pytest.mark.timeout(120)

TOKEN = "tok-integration-3c9e51"
KEYS = {
    "ZEROBETA_VENUES__BINANCE__API_KEY": binance_fake.API_KEY,
    "ZEROBETA_VENUES__BINANCE__API_SECRET": binance_fake.API_SECRET,
    "ZEROBETA_VENUES__BYBIT__API_KEY": bybit_fake.API_KEY,
    "ZEROBETA_VENUES__BYBIT__API_SECRET": bybit_fake.API_SECRET,
}


async def test_a_refused_live_start_pages_once_before_the_error_is_raised(
    tmp_path: Path,
) -> None:
    wall = FakeWall(T - H + 5_000)
    binance, bybit = make_fakes(wall)
    binance.perp.positions["BTCUSDT"] = (Decimal("-0.5"), Decimal(60_000), T - 10 * H)
    transports = {"binance": binance.transport, "bybit": bybit.transport()}
    async with WebhookServer() as server:
        path = tmp_path / "agent.toml"
        # The start is refused before any stream opens: the websocket URL is never dialled.
        path.write_text(live_toml(tmp_path / "live.sqlite", "ws://127.0.0.1:9", mode="live"))
        env = {**KEYS, "ZEROBETA_ALERTS__URLS": server.url(TOKEN)}
        config = load_config(path, env=env)

        factory = venue_factory(config, transports)

        supervisor = Supervisor(config, venue_factory=factory, clock=wall)
        with pytest.raises(ReconciliationError):
            await supervisor.run()
        received = server.received_so_far()
    assert [r.kind for r in received] == ["start_refused"]
    assert received[0].payload["type"] == "failure"
    assert "binance:perp:BTCUSDT: the venue holds -0.5, the journal 0" in received[0].message
    assert supervisor.alerts.counts.sent == 1


async def test_a_crash_loop_pages_once_per_dedup_window(tmp_path: Path) -> None:
    """Restarted by its service manager after the same refusal, the agent pages once; the
    starts held back are counted beside the journal and told with the next page."""
    wall = FakeWall(T - H + 5_000)
    async with WebhookServer() as server:
        path = tmp_path / "agent.toml"
        path.write_text(live_toml(tmp_path / "live.sqlite", "ws://127.0.0.1:9", mode="live"))
        env = {**KEYS, "ZEROBETA_ALERTS__URLS": server.url(TOKEN)}
        config = load_config(path, env=env)

        async def start_once() -> None:
            binance, bybit = make_fakes(wall)  # a fresh process: fresh venue answers
            binance.perp.positions["BTCUSDT"] = (Decimal("-0.5"), Decimal(60_000), T - 10 * H)
            transports = {"binance": binance.transport, "bybit": bybit.transport()}

            factory = venue_factory(config, transports)

            with pytest.raises(ReconciliationError):
                await Supervisor(config, venue_factory=factory, clock=wall).run()

        for _ in range(3):
            await start_once()
        assert [r.kind for r in server.received_so_far()] == ["start_refused"]
        memory_file = Path(f"{tmp_path / 'live.sqlite'}.last-failure.json")
        text = _read(memory_file)
        assert "BTCUSDT" not in text  # a digest, never the error's text
        memory = json.loads(text)
        assert memory["held_back"] == 2
        # the dedup window has passed since that page:
        memory["sent_ms"] -= int(config.alerts.dedup_window_s * 1000) + 1
        _write(memory_file, json.dumps(memory))
        await start_once()
        received = server.received_so_far()
    assert [r.kind for r in received] == ["start_refused"]  # the page after the window
    assert "ended 2 more start(s) since the last notification" in received[0].message


def _read(path: Path) -> str:
    return path.read_text()


def _write(path: Path, text: str) -> None:
    path.write_text(text)


def _failing_replay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, *, in_replay: bool
) -> AgentConfig:
    """Two days of the bundled data, funding harvester only, and a runner that raises (its
    text holding the notification URL) at the first step."""

    async def boom(self: StrategyRunner, ts_ms: int) -> None:
        raise RuntimeError(f"boom at {ts_ms}; it had posted to {url}")

    monkeypatch.setattr(StrategyRunner, "run_step", boom)
    env = {"ZEROBETA_ALERTS__URLS": url, "ZEROBETA_ALERTS__IN_REPLAY": str(in_replay).lower()}
    off = {"enabled": False}
    overrides = {
        "journal": {"path": str(tmp_path / "replay.sqlite")},
        "logging": {"level": "warning", "progress": False},
        "market_data": {"start": "2025-09-01", "end": "2025-09-03"},
        "strategies": {n: off for n in ("stat_arb", "factor_neutral", "cross_venue_arb")},
    }
    return load_config(AGENT_TOML, env=env, overrides=overrides)


async def test_a_failing_run_pages_agent_failed_with_the_url_redacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = io.StringIO()
    configure_logging("info", "json", stream)
    async with WebhookServer() as server:
        config = _failing_replay(tmp_path, monkeypatch, server.url(TOKEN), in_replay=True)
        supervisor = Supervisor(config)
        with pytest.raises(RuntimeError, match="boom"):
            await supervisor.run()
        received = server.received_so_far()
    assert [r.kind for r in received] == ["agent_failed"]
    assert "RuntimeError: boom at" in received[0].message
    assert "it had posted to **********" in received[0].message
    assert TOKEN not in received[0].message
    assert TOKEN not in stream.getvalue()
    assert '"event": "alert_sent"' in stream.getvalue()


async def test_a_backtest_pages_nobody_even_when_it_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with WebhookServer() as server:
        config = _failing_replay(tmp_path, monkeypatch, server.url(TOKEN), in_replay=False)
        supervisor = Supervisor(config)
        with pytest.raises(RuntimeError, match="boom"):
            await supervisor.run()
        assert server.received_so_far() == []
    assert not supervisor.alerts.enabled
