"""``[market_data] reference_instrument``: the supervisor loads it in both drivers.

Replay: an instrument without recorded Binance klines is a configuration error naming the key,
reported before anything starts. Paper on live data: the reference is one of the instruments
read from its venue, so a venue that does not list it stops the start with its name.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from agent.cli import main
from agent.config import load_config
from agent.errors import LiveDataError
from agent.supervisor import Supervisor
from tests.integration.conftest import AGENT_TOML
from tests.support.fake_market import FakeMarketData, FakeWall, instrument
from venues.model import HOUR_MS, InstrumentId, InstrumentKind

pytestmark = pytest.mark.timeout(30)

KEY = "ZEROBETA_MARKET_DATA__REFERENCE_INSTRUMENT"
T = 480_100 * HOUR_MS
PERP = InstrumentId("binance", InstrumentKind.PERP, "BTCUSDT")
SPOT = InstrumentId("binance", InstrumentKind.SPOT, "BTCUSDT")


@pytest.mark.parametrize(
    "reference",
    ["binance:perp:NOPEUSDT", "binance:spot:NOPEUSDT", "bybit:perp:BTCUSDT"],
)
def test_replay_refuses_a_reference_without_recorded_prices(
    reference: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(KEY, reference)
    assert main(["run", "--config", str(AGENT_TOML)]) == 2
    err = capsys.readouterr().err
    pattern = rf"^market_data\.reference_instrument: the replay has no prices for {reference}"
    assert re.search(pattern, err, re.MULTILINE)
    assert "BTCUSDT" in err  # the symbols it does have are listed
    assert not (tmp_path / "runs").exists()


def _live_config(journal: Path, reference: str) -> Any:
    overrides = {
        "market_data": {"source": "live", "reference_instrument": reference},
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
            "funding_harvester": {"symbols": ["BTCUSDT"]},
        },
    }
    return load_config(None, env={}, overrides=overrides)


async def test_paper_on_live_reads_the_reference_from_its_venue(tmp_path: Path) -> None:
    wall = FakeWall(T - HOUR_MS + 5_000)
    binance = FakeMarketData(
        "binance", {PERP: instrument(PERP), SPOT: instrument(SPOT)}, now_ms=wall.now_ms
    )
    supervisor = Supervisor(
        _live_config(tmp_path / "live.sqlite", "binance:perp:ETHUSDT"),
        market_data_factory=lambda _: binance,
        clock=wall,
        sleep=wall.sleep,
    )
    with pytest.raises(LiveDataError, match="binance lists no perp 'ETHUSDT'"):
        await supervisor.run()
