"""P&L per leg, ``zerobeta report --json`` and the HTML tearsheet, on a short real replay.

One replay per module (2025-08-20 → 2025-09-20 of the bundled data with the shipped
``agent.toml``: all five strategies, three venues). Expected numbers are rebuilt here from the
journal's own rows with ``sqlite3`` and ``Decimal`` (fills, funding allocations, the run's final
marks, the strategy P&L rows the live ledger journaled), never from the report code; the
page's numbers are read back with ``html.parser``.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sqlite3
import subprocess
import sys
from datetime import date
from decimal import Decimal, localcontext
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from agent.cli import main
from tests.integration.conftest import EXACT_DIGITS, REPO_ROOT, replay_config, run_replay

START, END = date(2025, 8, 20), date(2025, 9, 20)
STREAMS = ("price_spot_usd", "price_perp_usd", "funding_usd", "fees_usd", "slippage_usd")
ZERO = Decimal(0)


@pytest.fixture(scope="module")
def journal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tearsheet") / "journal.sqlite"
    run_replay(replay_config(path, START, END))
    return path


def _cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert main(list(argv)) == 0
    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    return data


@pytest.fixture
def report_json(journal: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    return _cli_json(capsys, "report", "--journal", str(journal), "--json")


# --------------------------------------------------------------------------------------------
# Expected per-leg P&L, from the journal's rows alone
# --------------------------------------------------------------------------------------------


def _legs_from_rows(path: Path) -> dict[tuple[str, str], dict[str, Decimal]]:
    """Signed streams per (strategy, instrument): fees and slippage of its fills, funding of
    its allocations, price P&L at reference-price basis = qty × final mark − Σ signed qty ×
    reference price (realized + unrealized of average-cost accounting, summed)."""
    conn = sqlite3.connect(path)
    try:
        meta = dict(conn.execute("SELECT key, value FROM run_meta ORDER BY id"))
        fills = conn.execute(
            "SELECT strategy, instrument, side, qty, price, fee_usd, reference_price FROM fills"
        ).fetchall()
        shares = conn.execute(
            "SELECT strategy, instrument, amount_usd FROM funding_allocations"
        ).fetchall()
    finally:
        conn.close()
    marks = {k: Decimal(v) for k, v in json.loads(meta["final_marks_json"]).items()}
    legs: dict[tuple[str, str], dict[str, Decimal]] = {}
    qty: dict[tuple[str, str], Decimal] = {}
    with localcontext() as ctx:
        ctx.prec = EXACT_DIGITS
        for strategy, instrument, side, q, price, fee, ref in fills:
            leg = legs.setdefault((strategy, instrument), dict.fromkeys(STREAMS, ZERO))
            signed = Decimal(q) if side == "buy" else -Decimal(q)
            reference = Decimal(ref if ref is not None else price)
            price_key = "price_perp_usd" if ":perp:" in instrument else "price_spot_usd"
            leg[price_key] -= signed * reference
            leg["fees_usd"] -= Decimal(fee)
            leg["slippage_usd"] -= signed * (Decimal(price) - reference)
            qty[(strategy, instrument)] = qty.get((strategy, instrument), ZERO) + signed
        for (strategy, instrument), held in qty.items():
            price_key = "price_perp_usd" if ":perp:" in instrument else "price_spot_usd"
            if held:
                legs[(strategy, instrument)][price_key] += held * marks[instrument]
        for strategy, instrument, amount in shares:
            leg = legs.setdefault((strategy, instrument), dict.fromkeys(STREAMS, ZERO))
            leg["funding_usd"] += Decimal(amount)
        for leg in legs.values():
            leg["total_usd"] = sum((leg[s] for s in STREAMS), ZERO)
    return legs


def _last_strategy_rows(path: Path) -> dict[str, dict[str, Decimal]]:
    """Each strategy's streams in the live ledger's last ``strategy_pnl_snapshots`` row
    (costs journaled positive: negated here)."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT strategy, price_spot_usd, price_perp_usd, funding_usd, fees_usd,"
            " slippage_usd, total_pnl_usd FROM strategy_pnl_snapshots WHERE id IN"
            " (SELECT max(id) FROM strategy_pnl_snapshots GROUP BY strategy)"
        ).fetchall()
    finally:
        conn.close()
    return {
        r[0]: {
            "price_spot_usd": Decimal(r[1]),
            "price_perp_usd": Decimal(r[2]),
            "funding_usd": Decimal(r[3]),
            "fees_usd": -Decimal(r[4]),
            "slippage_usd": -Decimal(r[5]),
            "total_usd": Decimal(r[6]),
        }
        for r in rows
    }


def test_legs_sum_exactly_to_each_strategy_and_match_the_journal_rows(
    journal: Path, report_json: dict[str, Any]
) -> None:
    pnl = report_json["pnl"]
    by_leg, by_strategy = pnl["by_leg_usd"], pnl["by_strategy_usd"]
    live = _last_strategy_rows(journal)
    assert {"beta_hedger", "cross_venue_arb", "factor_neutral", "funding_harvester"} <= set(live)
    assert set(by_leg) == set(live) == set(by_strategy)
    for strategy, legs in by_leg.items():
        for stream in (*STREAMS, "total_usd"):
            with localcontext() as ctx:
                ctx.prec = EXACT_DIGITS
                legs_sum = sum((Decimal(row[stream]) for row in legs.values()), ZERO)
            # exact: Decimal equality, no tolerance
            assert legs_sum == Decimal(by_strategy[strategy][stream]), (strategy, stream)
            assert legs_sum == live[strategy][stream], (strategy, stream)
    expected = _legs_from_rows(journal)
    printed = {
        (s, iid): {k: Decimal(v) for k, v in row.items()}
        for s, legs in by_leg.items()
        for iid, row in legs.items()
    }
    assert set(printed) == set(expected)
    for key, row in expected.items():
        for stream, value in row.items():
            assert printed[key][stream] == value, (key, stream)
    assert len({iid.split(":")[0] for _, iid in printed}) == 3  # binance, bybit, hyperliquid


def test_summary_json_carries_the_same_legs(
    journal: Path, report_json: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    summary = _cli_json(capsys, "summary", "--journal", str(journal), "--json")
    assert summary["pnl_by_leg_usd"] == report_json["pnl"]["by_leg_usd"]
    assert summary["pnl_by_strategy_usd"] == report_json["pnl"]["by_strategy_usd"]


def test_trips_and_funding_outside_them_add_up_to_each_strategy(
    report_json: dict[str, Any],
) -> None:
    trades, by_strategy = report_json["trades"], report_json["pnl"]["by_strategy_usd"]
    assert set(trades) == set(by_strategy)
    with localcontext() as ctx:
        ctx.prec = EXACT_DIGITS
        for strategy, of in trades.items():
            trips = [t for pair in of["pairs"] for t in pair["trips"]]
            assert trips, strategy
            for t in trips:
                parts = Decimal(t["price_usd"]) + Decimal(t["funding_usd"]) + Decimal(t["fees_usd"])
                assert parts == Decimal(t["total_usd"])
                assert t["closed_ms"] is None or t["closed_ms"] >= t["opened_ms"]
            total = sum((Decimal(t["total_usd"]) for t in trips), ZERO)
            total += Decimal(of["funding_outside_trips_usd"])
            assert total == Decimal(by_strategy[strategy]["total_usd"]), strategy


def test_funding_per_instrument_is_the_sum_of_the_payments(
    journal: Path, report_json: dict[str, Any]
) -> None:
    conn = sqlite3.connect(journal)
    try:
        rows = conn.execute("SELECT instrument, amount_usd FROM funding_payments").fetchall()
    finally:
        conn.close()
    expected: dict[str, list[Decimal]] = {}
    for instrument, amount in rows:
        expected.setdefault(instrument, []).append(Decimal(amount))
    funding = report_json["funding"]
    assert set(funding) == set(expected)
    for instrument, amounts in expected.items():
        row = funding[instrument]
        assert row["payments"] == len(amounts)
        assert Decimal(row["net_usd"]) == sum(amounts, ZERO)
        assert Decimal(row["received_usd"]) == sum((a for a in amounts if a > 0), ZERO)


# --------------------------------------------------------------------------------------------
# The HTML tearsheet against the JSON
# --------------------------------------------------------------------------------------------


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.cells: list[tuple[list[Any], Any, str, str]] = []
        self.links: list[str] = []
        self.tags: set[str] = set()
        self.images = 0
        self._cell: tuple[list[Any], Any, str] | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.tags.add(tag)
        self.links += [a[k] for k in ("src", "href") if k in a]
        self.images += tag == "img" and a.get("src", "").startswith("data:image/png;base64,")
        if "data-path" in a:
            self._cell = (json.loads(a["data-path"]), json.loads(a["data-value"]), a["data-format"])
            self._text = ""

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            self.cells.append((*self._cell, self._text))
            self._cell = None


def _shown(value: Any, fmt: str) -> str:
    if value is None:
        return "n/a"
    if fmt == "usd":
        text = f"{Decimal(str(value)):,.2f}"
        return "0.00" if text == "-0.00" else text
    if fmt == "int":
        return f"{int(value):,}"
    if fmt == "pct":
        return f"{float(value) * 100:.2f}%"
    assert fmt.startswith("num"), fmt
    return f"{float(value):.{int(fmt[3:])}f}"


def _at(data: Any, path: list[Any]) -> Any:
    for key in path:
        data = data[key]
    return data


@pytest.fixture
def page(journal: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> _Page:
    out = tmp_path / "tearsheet.html"
    pngs = tmp_path / "png"
    assert (
        main(["report", "--journal", str(journal), "--html", str(out), "--png-dir", str(pngs)]) == 0
    )
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == f"wrote {out}"
    names = {p.name for p in pngs.iterdir()}
    assert {"equity_drawdown.png", "rolling_beta.png", "funding.png", "pnl_by_leg.png"} <= names
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs.iterdir())
    parsed = _Page()
    parsed.feed(out.read_text(encoding="utf-8"))
    return parsed


def test_page_is_self_contained_and_scriptless(page: _Page) -> None:
    assert "script" not in page.tags
    assert page.links
    assert all(link.startswith("data:") for link in page.links)
    assert page.images == 6


def test_every_number_on_the_page_equals_report_json(
    page: _Page, report_json: dict[str, Any]
) -> None:
    assert len(page.cells) > 500
    for path, value, fmt, text in page.cells:
        assert _at(report_json, path) == value, path
        assert text == _shown(value, fmt), path
    shown = {tuple(p) for p, _, _, _ in page.cells}
    pnl = report_json["pnl"]
    for strategy, legs in pnl["by_leg_usd"].items():
        for iid, row in legs.items():
            for stream in row:
                assert ("pnl", "by_leg_usd", strategy, iid, stream) in shown
        assert ("pnl", "by_strategy_usd", strategy, "total_usd") in shown
    for iid in report_json["funding"]:
        assert ("funding", iid, "net_usd") in shown
    for strategy, of in report_json["trades"].items():
        for i, pair in enumerate(of["pairs"]):
            for t in range(len(pair["trips"])):
                assert ("trades", strategy, "pairs", i, "trips", t, "total_usd") in shown
    for key in ("beta", "beta_pvalue", "rolling_beta_max_abs"):
        assert ("portfolio", "neutrality", key) in shown
    assert ("performance", "max_drawdown_frac") in shown


def test_report_text_lists_each_leg_with_the_json_amounts(
    journal: Path, report_json: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "--journal", str(journal)]) == 0
    lines = capsys.readouterr().out.splitlines()
    for strategy, legs in report_json["pnl"]["by_leg_usd"].items():
        for iid, row in legs.items():
            (line,) = [ln for ln in lines if ln.startswith(f"{strategy}  {iid} ")]
            assert line.split()[2:] == [_shown(row[s], "usd") for s in (*STREAMS, "total_usd")]


# --------------------------------------------------------------------------------------------
# Headless Chromium (skipped where it is not installed)
# --------------------------------------------------------------------------------------------


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    return found


def _screenshot_script() -> Any:
    """``benchmarks/tearsheet_screenshot.py`` as a module (benchmarks/ is not a package)."""
    path = REPO_ROOT / "benchmarks" / "tearsheet_screenshot.py"
    spec = importlib.util.spec_from_file_location("tearsheet_screenshot", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(header[16:20]), int.from_bytes(header[20:24])


@pytest.mark.timeout(300)
def test_chromium_renders_the_page_without_console_errors(journal: Path, tmp_path: Path) -> None:
    chromium = _chromium()
    script = REPO_ROOT / "benchmarks" / "tearsheet_screenshot.py"
    proc = subprocess.run(
        [sys.executable, str(script), "--journal", str(journal), "--out", str(tmp_path),
         "--no-sweep", "--chromium", chromium],
        capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 console message(s)" in proc.stdout
    assert _png_size(tmp_path / "tearsheet.png") == (1400, 3000)


@pytest.mark.timeout(120)
def test_the_console_check_sees_an_error_and_an_uncaught_exception(tmp_path: Path) -> None:
    """The check above can fail: a page that logs an error and throws is caught."""
    chromium = _chromium()
    bad = tmp_path / "bad.html"
    bad.write_text(
        "<!DOCTYPE html><html><head><title>bad</title></head><body><p>x</p><script>"
        'console.error("zb-check-error"); throw new Error("zb-check-throw");'
        "</script></body></html>",
        encoding="utf-8",
    )
    module = _screenshot_script()
    code, stderr = module.screenshot(chromium, bad, tmp_path / "bad.png", "800,600")
    assert code == 0
    messages = module.console_messages(stderr)
    assert any("zb-check-error" in m for m in messages)
    assert any("Uncaught Error: zb-check-throw" in m for m in messages)
    assert _png_size(tmp_path / "bad.png") == (800, 600)


def test_a_run_still_going_is_valued_at_last_fill_prices_and_its_legs_still_add_up(
    journal: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without the final marks (a run that has not ended yet), open positions are valued at
    the reference price of their instrument's last fill; the legs still sum exactly."""
    going = tmp_path / "going.sqlite"
    shutil.copy(journal, going)
    conn = sqlite3.connect(going)
    try:
        conn.execute("DELETE FROM run_meta WHERE key IN ('final_marks_json', 'window_last_ms')")
        conn.commit()
    finally:
        conn.close()
    data = _cli_json(capsys, "report", "--journal", str(going), "--json")
    assert data["equity"]["valued_at"] == "last fill reference prices"
    with localcontext() as ctx:
        ctx.prec = EXACT_DIGITS
        for strategy, legs in data["pnl"]["by_leg_usd"].items():
            total = sum((Decimal(row["total_usd"]) for row in legs.values()), ZERO)
            assert total == Decimal(data["pnl"]["by_strategy_usd"][strategy]["total_usd"])
