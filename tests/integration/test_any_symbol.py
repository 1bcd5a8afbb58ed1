"""A symbol outside the bundle replays in every strategy that can take it (issue 12, "any
symbol"): a data folder of the bundled data in which LINK is replaced by LINKX, a symbol the
bundle does not have, written in the documented format (``<venue>/instruments.csv`` rows
through :mod:`venues.replay.instruments_file`, klines and funding files under the new name:
Binance perp, spot and funding, Bybit and Hyperliquid funding) from LINK's real rows.

LINKX holds LINK's very data and sorts where LINK does among the other symbols, so the replay
with LINKX in place of LINK in every strategy's list must be the same run with another name:
each strategy's P&L equal to the bundled run's, every LINK fill a LINKX fill. What is compared
is read from the two journals here; the P&L identity is checked on every snapshot.
"""

from __future__ import annotations

import dataclasses
import shutil
import sqlite3
import tomllib
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any

import pytest

from agent.config import load_config
from tests.integration.conftest import AGENT_TOML, DATA_DIR, read_journal, run_replay
from venues.replay.instruments_file import instruments_path, read_rules, write_rules

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

WINDOW = {"start": "2025-09-20", "end": "2025-10-25"}
LISTS = {  # each strategy's list of symbols with LINK, as agent.toml has them
    "funding_harvester": "symbols",
    "stat_arb": "symbols",
    "factor_neutral": "symbols",
    "cross_venue_arb": "symbols",
    "beta_hedger": "universe",
}
FILES = {  # LINK's files → LINKX's
    "binance/perp/LINKUSDT_1h.csv.gz": "binance/perp/LINKXUSDT_1h.csv.gz",
    "binance/spot/LINKUSDT_1h.csv.gz": "binance/spot/LINKXUSDT_1h.csv.gz",
    "binance/funding/LINKUSDT.csv.gz": "binance/funding/LINKXUSDT.csv.gz",
    "bybit/funding/LINKUSDT.csv.gz": "bybit/funding/LINKXUSDT.csv.gz",
    "hyperliquid/funding/LINK.csv.gz": "hyperliquid/funding/LINKX.csv.gz",
}


def _renamed(name: str) -> str:
    return {"LINKUSDT": "LINKXUSDT", "LINK": "LINKX"}.get(name, name)


def _linkx_data(root: Path) -> Path:
    """The bundled folder with LINK's files and rules moved to LINKX."""
    data = root / "data"
    shutil.copytree(DATA_DIR, data)
    for old, new in FILES.items():
        (data / old).rename(data / new)
    assert not list(data.rglob("LINKUSDT*"))
    assert not list(data.rglob("LINK.*"))
    for venue in ("binance", "bybit", "hyperliquid"):
        path = instruments_path(data, venue)
        rows = read_rules(path).values()
        write_rules(path, [dataclasses.replace(r, symbol=_renamed(r.symbol)) for r in rows])
    return data


def _config(journal: Path, data_dir: Path | None) -> Any:
    overrides: dict[str, Any] = {
        "journal": {"path": str(journal)},
        "logging": {"level": "warning", "progress": False},
        "market_data": dict(WINDOW),
    }
    if data_dir is not None:
        shipped = tomllib.loads(AGENT_TOML.read_text(encoding="utf-8"))["strategies"]
        assert all("LINK" in " ".join(shipped[n][k]) for n, k in LISTS.items())
        overrides["market_data"]["data_dir"] = str(data_dir)
        overrides["strategies"] = {
            name: {key: [_renamed(s) for s in shipped[name][key]]} for name, key in LISTS.items()
        }
    return load_config(AGENT_TOML, env={}, overrides=overrides)


def _rows(journal: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(journal) as conn:
        return conn.execute(sql).fetchall()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("any_symbol")
    bundled, linkx = tmp / "bundled.sqlite", tmp / "linkx.sqlite"
    run_replay(_config(bundled, None))
    run_replay(_config(linkx, _linkx_data(tmp)))
    return bundled, linkx


def test_the_new_symbol_trades_in_every_strategy_that_traded_link(
    runs: tuple[Path, Path],
) -> None:
    bundled, linkx = runs
    fills = "SELECT strategy, instrument, side, qty, price, ts_ms FROM fills ORDER BY seq"
    before = [
        (s, i.replace("LINK", "LINKX"), side, q, p, t)
        for s, i, side, q, p, t in _rows(bundled, fills)
    ]
    after = _rows(linkx, fills)
    assert after == before  # the same run, LINK renamed
    traded = {(s, i.split(":")[0]) for s, i, *_ in after if "LINKX" in i}
    # every strategy with LINK in its list trades the new symbol in this window (the beta
    # hedger only ever trades BTC: it measures LINKX's beta)
    assert {s for s, _ in traded} == {
        "funding_harvester",
        "stat_arb",
        "factor_neutral",
        "cross_venue_arb",
    }
    assert {v for s, v in traded if s == "cross_venue_arb"} >= {"binance"}
    assert not _rows(linkx, "SELECT 1 FROM fills WHERE instrument LIKE '%:LINKUSDT'")


def test_each_strategys_pnl_is_the_bundled_runs_and_the_identity_holds(
    runs: tuple[Path, Path],
) -> None:
    bundled, linkx = runs
    last = (
        "SELECT strategy, total_pnl_usd, fees_usd, funding_usd FROM strategy_pnl_snapshots"
        " WHERE ts_ms = (SELECT max(ts_ms) FROM strategy_pnl_snapshots) ORDER BY strategy"
    )
    assert _rows(linkx, last) == _rows(bundled, last)
    funding = "SELECT count(*), total(CAST(amount_usd AS REAL)) FROM funding_payments"
    assert _rows(linkx, funding) == _rows(bundled, funding)
    journal = read_journal(linkx)
    assert journal.snapshots
    with localcontext() as ctx:
        ctx.prec = 50
        for snap in journal.snapshots:
            s = snap.streams_usd
            streams = (
                s["price_spot_usd"] + s["price_perp_usd"] + s["funding_usd"]
                - s["fees_usd"] - s["slippage_usd"]
            )  # fmt: skip
            assert abs(snap.equity_usd - snap.initial_equity_usd - streams) <= Decimal("1e-6")
