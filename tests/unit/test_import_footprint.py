"""A run pays in memory and start-up only for the features it uses (issue 14).

The large third-party libraries (scipy's optimizer, sparse matrices and special functions,
apprise, prometheus_client, httpx, websockets) are loaded where the feature that needs them
is built or run: a paper replay of one user strategy loads none of them, and enabling the
feature loads it. Each check runs in a fresh interpreter (``sys.modules`` of this test process
holds whatever other tests imported). structlog imports rich itself (``structlog.dev``), so
rich is loaded by every run and is not checked here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Packages checked by their submodules (the parent package ``scipy`` alone is small and may be
# imported by others).
HEAVY_PACKAGES = ("scipy.optimize", "scipy.sparse", "scipy.special")
HEAVY_MODULES = ("apprise", "prometheus_client", "httpx", "websockets")
FEATURE_MODULES = ("agent.control.server", "agent.engine.options", "agent.engine.live_options")

# A tiny paper replay: one user strategy (the benchmarks' EveryNBars, one order every 5 bars)
# on two perps over three days, every built-in strategy switched off.
REPLAY_TOML = """\
mode = "paper"
[market_data]
source = "replay"
start = 2025-03-01
end = 2025-03-04
warmup = false
[venues.bybit]
enabled = false
[venues.hyperliquid]
enabled = false
[journal]
path = "{journal}"
[logging]
level = "warning"
progress = false
{extra}
[strategies.funding_harvester]
enabled = false
[strategies.stat_arb]
enabled = false
[strategies.factor_neutral]
enabled = false
[strategies.cross_venue_arb]
enabled = false
[strategies.beta_hedger]
enabled = false
[strategies.funding_flip_monitor]
enabled = false
[strategies.every_n_bars]
class = "every_n_bars:EveryNBars"
symbols = ["BTCUSDT", "ETHUSDT"]
order_every_bars = 5
"""

PROBE = """
import asyncio, json, os, sys
from pathlib import Path
sys.path.insert(0, {benchmarks!r})

HEAVY_PACKAGES = {packages!r}
HEAVY_MODULES = {modules!r}
FEATURE_MODULES = {features!r}

def loaded():
    names = set(sys.modules)
    packages = [p for p in HEAVY_PACKAGES if any(n.startswith(p + ".") for n in names)]
    return packages + [m for m in HEAVY_MODULES + FEATURE_MODULES if m in names]

import agent.supervisor
from agent.config import load_config
from agent.logs import configure_logging
after_import = loaded()
config = load_config(Path({config!r}), env={{}})
configure_logging("warning", "json", open(os.devnull, "w"))
result = asyncio.run(agent.supervisor.Supervisor(config).run())
print(json.dumps({{
    "after_import": after_import,
    "after_run": loaded(),
    "steps": result.steps,
    "orders": result.counters["orders_sent"],
}}))
"""


def _run_python(code: str, cwd: Path) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=110
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _replay(tmp_path: Path, extra: str = "") -> dict[str, object]:
    config = tmp_path / "agent.toml"
    config.write_text(REPLAY_TOML.format(journal=tmp_path / "journal.sqlite", extra=extra))
    code = PROBE.format(
        benchmarks=str(ROOT / "benchmarks"),
        packages=HEAVY_PACKAGES,
        modules=HEAVY_MODULES,
        features=FEATURE_MODULES,
        config=str(config),
    )
    result: dict[str, object] = json.loads(_run_python(code, tmp_path).splitlines()[-1])
    return result


def test_a_paper_replay_of_one_user_strategy_loads_no_heavy_library(tmp_path: Path) -> None:
    result = _replay(tmp_path)
    assert result["after_import"] == []
    assert result["after_run"] == []
    # the replay did run, with orders (the strategy's path through the executor is covered)
    steps, orders = result["steps"], result["orders"]
    assert isinstance(steps, int)
    assert steps >= 3 * 24 - 1
    assert isinstance(orders, int)
    assert orders > 0


def test_the_features_load_their_libraries_when_enabled(tmp_path: Path) -> None:
    extra = '[control]\nhttp = "on"\nhttp_port = 0\n[option_chain]\nenabled = true\n'
    result = _replay(tmp_path, extra)
    assert result["after_import"] == []
    # the control surface (prometheus_client) and the options engine were built for this run
    assert "prometheus_client" in result["after_run"]
    assert "agent.control.server" in result["after_run"]
    assert "agent.engine.options" in result["after_run"]


def test_building_a_live_client_a_notifier_or_solving_loads_the_library(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """
        import json, sys
        import numpy as np
        from pydantic import SecretStr
        from agent.notify import AppriseSender
        from strategies.stat_arb.adf import mackinnon_pvalue_coint
        from venues.registry import create_market_data

        seen = {}
        seen["before"] = [m for m in ("httpx", "apprise") if m in sys.modules]
        seen["special_before"] = any(n.startswith("scipy.special.") for n in sys.modules)
        seen["optimize_before"] = any(n.startswith("scipy.optimize.") for n in sys.modules)
        create_market_data("binance")
        seen["httpx"] = "httpx" in sys.modules
        AppriseSender(SecretStr("json://127.0.0.1:9/hook")).shutdown()
        seen["apprise"] = "apprise" in sys.modules
        seen["p"] = float(mackinnon_pvalue_coint(np.array([-3.0]))[0])
        seen["special"] = any(n.startswith("scipy.special.") for n in sys.modules)
        print(json.dumps(seen))
        """
    )
    seen = json.loads(_run_python(code, tmp_path).splitlines()[-1])
    assert seen["before"] == []
    assert not seen["special_before"]
    assert not seen["optimize_before"]
    assert seen["httpx"]
    assert seen["apprise"]
    assert seen["special"]
    assert 0.0 < seen["p"] < 1.0
