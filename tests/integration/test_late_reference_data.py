"""A replay whose reference instrument (BTC perp) has data starting after the window's first
step: the first equity snapshots have no BTC price.

The data folder is the bundled one with the first days of ``binance/perp/BTCUSDT_1h.csv.gz``
cut off. ``zerobeta run``, ``summary``, ``report``, ``report --html`` and ``status`` must all
succeed; the equity statistics come from every snapshot and the beta to BTC from the snapshots
with a BTC price, the summary's equal to the report's. Expected values are computed here with
``sqlite3`` and numpy from the journal's rows, never from the code under test.
"""

from __future__ import annotations

import csv
import gzip
import json
import math
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent.cli import main
from tests.integration.conftest import AGENT_TOML, DATA_DIR

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

DAY_MS = 86_400_000
START_MS = 1_767_225_600_000  # 2026-01-01 00:00 UTC, the window's start
BTC_FROM_MS = START_MS + 3 * DAY_MS  # the BTC perp's first bar opens 2026-01-04 00:00 UTC
WINDOW = {"START": "2026-01-01", "END": "2026-01-12"}


def _btc_data(root: Path, keep: Callable[[int], bool]) -> Path:
    """The bundled data with only the BTC perp bars whose open time passes ``keep``."""
    data = root / "data"
    shutil.copytree(DATA_DIR, data)
    path = data / "binance" / "perp" / "BTCUSDT_1h.csv.gz"
    with gzip.open(path, "rt", newline="") as f:
        rows = list(csv.reader(f))
    kept = [rows[0], *(r for r in rows[1:] if keep(int(r[0])))]
    assert 1 < len(kept) < len(rows)
    with gzip.open(path, "wt", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(kept)
    return data


def _late_btc_data(root: Path) -> Path:
    return _btc_data(root, lambda open_ms: open_ms >= BTC_FROM_MS)


def _snapshots(journal: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with sqlite3.connect(journal) as conn:
        rows = conn.execute(
            "SELECT ts_ms, equity_usd, btc_price FROM equity_snapshots ORDER BY ts_ms, id"
        ).fetchall()
    ts = np.array([r[0] for r in rows], dtype=np.int64)
    equity = np.array([float(r[1]) for r in rows])
    btc = np.array([math.nan if r[2] is None else float(r[2]) for r in rows])
    return ts, equity, btc


def _day_close_returns(ts: np.ndarray, *columns: np.ndarray) -> list[np.ndarray]:
    day = ts // DAY_MS
    last = [int(np.flatnonzero(day == d)[-1]) for d in np.unique(day)]
    return [c[last][1:] / c[last][:-1] - 1.0 for c in columns]


def _window_env(monkeypatch: pytest.MonkeyPatch, data: Path, journal: Path) -> list[str]:
    monkeypatch.setenv("ZEROBETA_MARKET_DATA__DATA_DIR", str(data))
    for key, value in WINDOW.items():
        monkeypatch.setenv(f"ZEROBETA_MARKET_DATA__{key}", value)
    monkeypatch.setenv("ZEROBETA_JOURNAL__PATH", str(journal))
    monkeypatch.setenv("ZEROBETA_LOGGING__LEVEL", "warning")
    monkeypatch.setenv("ZEROBETA_LOGGING__FORMAT", "console")
    return ["--config", str(AGENT_TOML)]


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> Any:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_a_reference_starting_late_is_reported_not_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    journal = tmp_path / "late.sqlite"
    config = _window_env(monkeypatch, _late_btc_data(tmp_path), journal)

    assert main(["run", *config]) == 0
    assert "neutrality vs BTC" in capsys.readouterr().out
    ts, equity, btc = _snapshots(journal)
    priced = np.isfinite(btc)
    assert ts[0] == START_MS
    assert not priced[0]  # the shape under test: snapshots before the reference's first price
    assert priced[-1]
    assert ts[np.argmax(priced)] > BTC_FROM_MS

    summary = _json(capsys, ["summary", *config, "--json"])
    report = _json(capsys, ["report", *config, "--json"])
    perf = summary["performance"]
    assert report["performance"] == perf
    assert report["portfolio"]["neutrality"] == perf["neutrality"]

    # equity statistics: every snapshot
    assert perf["n_days"] == np.unique(ts // DAY_MS).size == 12
    assert perf["total_return_frac"] == pytest.approx(equity[-1] / equity[0] - 1, rel=1e-12)
    peak = np.maximum.accumulate(equity)
    assert perf["max_drawdown_frac"] == pytest.approx(np.max((peak - equity) / peak), rel=1e-12)
    (r_all,) = _day_close_returns(ts, equity)
    sharpe = r_all.mean() / r_all.std(ddof=1) * math.sqrt(365)
    assert perf["sharpe"] == pytest.approx(sharpe, rel=1e-9)
    # neutrality: the snapshots with a BTC price
    rp, rm = _day_close_returns(ts[priced], equity[priced], btc[priced])
    assert perf["neutrality"]["n_obs"] == rp.size == 8
    beta = np.cov(rp, rm)[0, 1] / np.var(rm, ddof=1)
    assert perf["neutrality"]["beta"] == pytest.approx(beta, rel=1e-9)

    assert main(["summary", *config]) == 0
    assert f"n = {rp.size})" in capsys.readouterr().out
    assert main(["report", *config]) == 0
    assert f"portfolio (P&L {equity[-1] - 100_000:+,.2f} USD; n = {rp.size}" in (
        capsys.readouterr().out
    )
    html = tmp_path / "tearsheet.html"
    assert main(["report", *config, "--html", str(html)]) == 0
    assert f"wrote {html}" in capsys.readouterr().out
    assert '<img alt="equity and drawdown"' in html.read_text(encoding="utf-8")
    assert main(["status", *config, "--no-live"]) == 0
    assert "finished" in capsys.readouterr().out


def test_a_reference_whose_data_ends_is_unknown_once_stale_and_not_traded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The BTC perp's recorded bars end 2026-01-08 00:00 (a delisting): from the time its last
    close is older than stale_after_s (agent.toml: 7200 s) the snapshots carry no BTC price —
    not the frozen last close, whose zero returns would bias the beta — and nothing trades it
    (the beta hedger's hedge perp) at that frozen price."""
    journal = tmp_path / "ends.sqlite"
    ends_ms = START_MS + 7 * DAY_MS
    config = _window_env(monkeypatch, _btc_data(tmp_path, lambda t: t < ends_ms), journal)
    assert main(["run", *config]) == 0
    capsys.readouterr()
    stale_from_ms = ends_ms + 2 * 3_600_000  # the last close is at ends_ms; stale after 2 h
    ts, equity, btc = _snapshots(journal)
    assert np.isfinite(btc[ts <= stale_from_ms]).all()
    assert np.isnan(btc[ts > stale_from_ms]).all()
    assert (ts > stale_from_ms).sum() > 24 * 3
    with sqlite3.connect(journal) as conn:
        late = conn.execute(
            "SELECT count(*) FROM fills WHERE instrument = 'binance:perp:BTCUSDT' AND ts_ms > ?",
            (stale_from_ms,),
        ).fetchone()[0]
        earlier = conn.execute(
            "SELECT count(*) FROM fills WHERE instrument = 'binance:perp:BTCUSDT'"
        ).fetchone()[0]
        last_pnl = dict(
            conn.execute(
                "SELECT strategy, total_pnl_usd FROM strategy_pnl_snapshots WHERE ts_ms ="
                " (SELECT max(ts_ms) FROM strategy_pnl_snapshots) ORDER BY id"
            ).fetchall()
        )
    assert late == 0
    assert earlier > 0  # BTC traded while it had prices (the beta hedger would trade it later)

    summary = _json(capsys, ["summary", *config, "--json"])
    report = _json(capsys, ["report", *config, "--json"])
    assert report["performance"] == summary["performance"]
    priced = np.isfinite(btc)
    rp, rm = _day_close_returns(ts[priced], equity[priced], btc[priced])
    neutrality = summary["performance"]["neutrality"]
    assert neutrality["n_obs"] == rp.size
    beta = np.cov(rp, rm)[0, 1] / np.var(rm, ddof=1)
    assert neutrality["beta"] == pytest.approx(beta, rel=1e-9)
    # the P&L the report states is the run's, at its last snapshot, not at the last BTC price
    assert report["portfolio"]["pnl_usd"] == pytest.approx(equity[-1] - 100_000, abs=1e-6)
    for name, entry in report["strategies"].items():
        assert entry["pnl_usd"] == pytest.approx(float(last_pnl.get(name, 0.0)), abs=1e-9)
    assert main(["status", *config, "--no-live"]) == 0
