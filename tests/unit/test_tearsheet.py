"""The tearsheet's pieces: the sweep heatmap, PNG rendering, lazy matplotlib, and a report of a
journal without run metadata (no ledger: neutrality only).

The end-to-end checks on a real replay (numbers of the page against ``report --json``, P&L
per leg, headless Chromium) are in ``tests/integration/test_tearsheet.py``.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from agent.journal.journal import Journal
from agent.portfolio.ledger import Portfolio
from agent.reporting.plots import png_bytes, sweep_heatmap
from agent.reporting.run_report import (
    NO_LEDGER,
    build_run_report,
    format_run_report,
    run_report_to_dict,
)
from agent.reporting.tearsheet import write_tearsheet
from venues.model import InstrumentId, InstrumentKind

HOUR_MS = 3_600_000
START_MS = int(datetime(2024, 3, 1, tzinfo=UTC).timestamp() * 1000)
BTC = InstrumentId("binance", InstrumentKind.PERP, "BTCUSDT")


def _rows() -> list[dict[str, object]]:
    sharpe = {(100, 1.0): 0.5, (100, 1.5): 1.25, (100, 2.0): -0.75, (50, 1.0): 2.0, (50, 2.0): None}
    sharpe[(50, 1.5)] = Decimal("0.125")
    return [{"lookback": lb, "entry_z": z, "sharpe": v} for (lb, z), v in sharpe.items()]


def test_sweep_heatmap_places_each_point_in_its_cell() -> None:
    fig = sweep_heatmap(_rows(), "entry_z", "lookback", "sharpe", metric_label="Sharpe (annual)")
    ax = fig.axes[0]
    grid = np.ma.filled(ax.images[0].get_array(), np.nan)
    # rows: lookback 50 then 100 (numeric order), columns: entry_z 1.0, 1.5, 2.0
    expected = np.array([[2.0, 0.125, np.nan], [0.5, 1.25, -0.75]])
    np.testing.assert_array_equal(grid, expected)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1.0", "1.5", "2.0"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["50", "100"]
    assert sorted(t.get_text() for t in ax.texts) == sorted(["2", "0.125", "0.5", "1.25", "-0.75"])
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("entry_z", "lookback")
    assert fig.axes[1].get_ylabel() == "Sharpe (annual)"
    # values of both signs: a diverging map centred on 0
    assert ax.images[0].get_clim() == (-2.0, 2.0)
    assert png_bytes(fig)[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([], "at least one row"),
        ([{"a": 1, "b": 2}], "has no m"),
        ([{"a": 1, "b": 2, "m": 1.0}, {"a": 1, "b": 2, "m": 2.0}], "repeats a=1, b=2"),
        ([{"a": 1, "b": 2, "m": "high"}], "'high' is not a number"),
    ],
)
def test_sweep_heatmap_refuses_a_malformed_table(
    rows: list[dict[str, object]], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        sweep_heatmap(rows, "a", "b", "m")


def test_the_command_line_and_the_report_do_not_import_matplotlib() -> None:
    code = (
        "import sys, agent.cli, agent.reporting.run_report, agent.reporting.report; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert out.strip() == "[]"


def _journal_without_run_metadata(path: Path) -> None:
    """Ten days of hourly snapshots (BTC drifting up, equity flat) written by the real
    journal, with the strategy names but no initial cash in the run metadata."""
    portfolio = Portfolio({"binance": Decimal(1000)})
    with Journal.open(path) as journal:
        journal.record_meta({"strategies": "idle", "mode": "paper"})
        for h in range(240):
            btc = 40_000.0 * (1.0 + 0.001 * math.sin(h / 5.0) + h * 1e-4)
            journal.record_equity_snapshot(START_MS + h * HOUR_MS, portfolio, btc)


def test_a_journal_without_run_metadata_reports_neutrality_only(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    _journal_without_run_metadata(path)
    report = build_run_report(path)
    assert report.ledger is None
    data = run_report_to_dict(report)
    assert (data["pnl"], data["trades"], data["ledger_reason"]) == (None, None, NO_LEDGER)
    assert data["n_days"] == 10
    json.dumps(data, allow_nan=False)
    assert f"n/a: {NO_LEDGER}" in format_run_report(report)

    page = tmp_path / "t.html"
    written = write_tearsheet(path, report, html_path=page, png_dir=tmp_path / "png")
    assert written[0] == page
    assert {p.name for p in written[1:]} == {
        "equity_drawdown.png", "pnl_by_stream.png", "pnl_by_strategy.png", "rolling_beta.png"
    }  # fmt: skip
    text = page.read_text(encoding="utf-8")
    assert NO_LEDGER in text
    assert 'id="legs"' not in text
    assert '<section id="neutrality">' in text
