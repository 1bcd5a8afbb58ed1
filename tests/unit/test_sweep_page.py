"""The sweep page (``zerobeta report --sweep TABLE --html OUT.html``): a heatmap of each
window's grid and the run table, every number equal to the table's cell.

The tables are written by the sweep's own writer (:func:`agent.research.table.write_table`)
from rows made up here; the page is read back with :class:`html.parser.HTMLParser` and every
cell compared with the CSV read by :mod:`csv`, printed values formatted here independently.
"""

from __future__ import annotations

import base64
import csv
import itertools
import json
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from agent.cli import main
from agent.research.table import write_table

ENTRY = [1.5, 2.0, 2.5]
EXIT = [0.25, 0.5]
WINDOWS = [("2025-06-01", "2025-07-01"), ("2025-07-01", "2025-08-01")]
PNG = b"\x89PNG\r\n\x1a\n"


def _metrics(n: int) -> dict[str, Any]:
    sharpe = None if n == 4 else round(1.7 - 0.37 * n, 6)  # run 4: an empty cell (NaN)
    return {
        "n_days": 30,
        "total_return_frac": 0.001 * (n - 5),
        "annualized_return_frac": 0.012 * (n - 5),
        "sharpe": sharpe,
        "max_drawdown_frac": 0.002 * (n + 1),
        "calmar": 0.5 * n,
        "beta": -0.01 * n,
        "initial_equity_usd": Decimal("100000"),
        "final_equity_usd": Decimal("100000") + Decimal(n * 100 - 500) + Decimal("0.123456"),
        "pnl_total_usd": Decimal(n * 100 - 500) + Decimal("0.123456"),
        "fees_paid_usd": Decimal("12.5") * (n + 1),
        "fills": 10 * n,
        "reason": "" if sharpe is not None else "flat",
    }


def _plain_rows() -> list[dict[str, Any]]:
    rows = []
    points = list(itertools.product(ENTRY, EXIT))
    for n, ((start, end), (z, x)) in enumerate(itertools.product(WINDOWS, points)):
        row: dict[str, Any] = {
            "run_id": n,
            "phase": "grid",
            "fold": None,
            "window_start": start,
            "window_end": end,
            "picked_from": None,
            "stat_arb.entry_z": json.dumps(z),
            "stat_arb.exit_z": json.dumps(x),
        }
        row.update(_metrics(n))
        rows.append(row)
    return rows


def _read(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return {r["run_id"]: r for r in csv.DictReader(f)}


class _Page(HTMLParser):
    """Number cells (with their section), grid tables, images and scripts of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[dict[str, str]] = []
        self.grids: dict[str, dict[str, Any]] = {}
        self.images: list[str] = []
        self.scripts = 0
        self.headings: list[str] = []
        self._section = ""
        self._table = ""
        self._in: str | None = None  # "th_head", "th_row", "td", "h2"
        self._text: list[str] = []
        self._attrs: dict[str, str] = {}
        self._row: list[Any] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.scripts += tag == "script"
        if tag == "section":
            self._section = a.get("id", "")
        elif tag == "table":
            self._table = a.get("class", "")
            if self._table == "grid":
                self.grids[self._section] = {"head": [], "rows": []}
        elif tag == "img":
            self.images.append(a.get("src", ""))
        elif tag == "tr":
            self._row = []
        elif tag in ("th", "td", "h2"):
            self._in, self._text, self._attrs = tag, [], a

    def handle_data(self, data: str) -> None:
        if self._in is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("th", "td", "h2") and self._in == tag:
            text = "".join(self._text)
            self._in = None
            if tag == "h2":
                self.headings.append(text)
                return
            cell = {**self._attrs, "text": text, "section": self._section}
            if "data-run-id" in self._attrs:
                self.cells.append(cell)
            self._row.append(cell)
        elif tag == "tr" and self._table == "grid":
            grid = self.grids[self._section]
            if not grid["head"]:
                grid["head"] = [c["text"] for c in self._row]
            else:
                grid["rows"].append(self._row)


def _expected(text: str, fmt: str) -> str:
    """How the page must print a table cell, written here apart from the page's code."""
    if text == "":
        return "n/a"
    if fmt == "usd":
        return f"{Decimal(text):,.2f}"
    if fmt == "pct":
        return f"{float(text) * 100:.2f}%"
    if fmt == "int":
        return f"{int(text):,}"
    return f"{float(text):.3f}"


def _render(tmp_path: Path, rows: list[dict[str, Any]], *args: str) -> tuple[int, Path, Path]:
    table = tmp_path / "sweep.csv"
    write_table(table, rows)
    out = tmp_path / "page" / "sweep.html"
    code = main(["report", "--sweep", str(table), "--html", str(out), *args])
    return code, table, out


def _parse(out: Path) -> _Page:
    page = _Page()
    page.feed(out.read_text(encoding="utf-8"))
    return page


def test_every_number_on_the_page_is_the_tables_cell(tmp_path: Path) -> None:
    code, table, out = _render(tmp_path, _plain_rows())
    assert code == 0
    runs = _read(table)
    page = _parse(out)
    assert page.cells
    for cell in page.cells:
        expected = runs[cell["data-run-id"]][cell["data-column"]]
        assert cell["data-value"] == expected, cell
        assert cell["text"] == _expected(expected, cell["data-format"]), cell
    shown = {(c["data-run-id"], c["data-column"]) for c in page.cells if c["section"] == "runs"}
    for run_id in runs:  # each run in the run table with the metric and the main figures
        for column in ("sharpe", "total_return_frac", "pnl_total_usd", "fills"):
            assert (run_id, column) in shown
    assert _expected(runs["4"]["sharpe"], "num3") == "n/a"  # the NaN run is shown as such


def test_each_windows_heatmap_grid_puts_every_run_in_its_cell(tmp_path: Path) -> None:
    code, table, out = _render(tmp_path, _plain_rows())
    assert code == 0
    runs = _read(table)
    page = _parse(out)
    assert page.headings[:2] == ["window 2025-06-01..2025-07-01", "window 2025-07-01..2025-08-01"]
    assert set(page.grids) == {"grid-0", "grid-1"}
    for index, (start, _) in enumerate(WINDOWS):
        grid = page.grids[f"grid-{index}"]
        assert grid["head"][1:] == ["1.5", "2.0", "2.5"]  # entry_z across, numeric order
        seen = []
        for row in grid["rows"]:
            label, *cells = row
            assert label["text"] in ("exit_z=0.25", "exit_z=0.5")
            for z, cell in zip(grid["head"][1:], cells, strict=True):
                run = runs[cell["data-run-id"]]
                assert run["window_start"] == start
                assert (run["stat_arb.entry_z"], f"exit_z={run['stat_arb.exit_z']}") == (
                    z,
                    label["text"],
                )
                assert cell["data-column"] == "sharpe"
                assert cell["data-value"] == run["sharpe"]
                seen.append(cell["data-run-id"])
        assert sorted(seen) == sorted(r for r, v in runs.items() if v["window_start"] == start)


def test_the_page_is_self_contained_with_one_heatmap_per_window(tmp_path: Path) -> None:
    code, _, out = _render(tmp_path, _plain_rows(), "--metric", "total_return_frac")
    assert code == 0
    page = _parse(out)
    assert page.scripts == 0
    assert len(page.images) == 2
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == PNG
    assert {c["data-column"] for c in page.cells if c["section"].startswith("grid")} == {
        "total_return_frac"
    }


def test_a_walk_forward_has_a_grid_per_training_fold_and_its_tests_in_the_run_table(
    tmp_path: Path,
) -> None:
    rows = []
    n = 0
    for fold in (1, 2):
        for z in ENTRY:  # one parameter: the rows of the grid are the window
            row = {
                "run_id": n, "phase": "train", "fold": fold,
                "window_start": f"2025-0{fold}-01", "window_end": f"2025-0{fold + 1}-01",
                "picked_from": None, "stat_arb.entry_z": json.dumps(z),
            }  # fmt: skip
            rows.append({**row, **_metrics(n)})
            n += 1
    for fold in (1, 2):
        row = {
            "run_id": n, "phase": "test", "fold": fold,
            "window_start": f"2025-0{fold + 1}-01", "window_end": f"2025-0{fold + 2}-01",
            "picked_from": 3 * (fold - 1), "stat_arb.entry_z": "1.5",
        }  # fmt: skip
        rows.append({**row, **_metrics(n)})
        n += 1
    code, table, out = _render(tmp_path, rows)
    assert code == 0
    runs = _read(table)
    page = _parse(out)
    assert page.headings[:2] == [
        "fold 1 training window 2025-01-01..2025-02-01",
        "fold 2 training window 2025-02-01..2025-03-01",
    ]
    grid_runs = {c["data-run-id"] for c in page.cells if c["section"].startswith("grid")}
    assert grid_runs == {r for r, v in runs.items() if v["phase"] == "train"}
    run_table = {c["data-run-id"] for c in page.cells if c["section"] == "runs"}
    assert run_table == set(runs)  # the test runs too
    (label, *_), *_ = page.grids["grid-0"]["rows"]
    assert label["text"] == "2025-01-01..2025-02-01"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--metric", "no_such_column"], "--metric: 'no_such_column' is not a figure"),
        (["--json"], "--sweep: not with --json"),
    ],
)
def test_a_bad_request_exits_2_naming_the_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, _, out = _render(tmp_path, _plain_rows(), *args)
    assert code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_a_file_that_is_not_a_run_table_or_no_html_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other.csv"
    other.write_text("day,return_frac\n2025-01-01,0.1\n", encoding="utf-8")
    assert main(["report", "--sweep", str(other), "--html", str(tmp_path / "x.html")]) == 2
    assert "not a sweep's run table (no column run_id" in capsys.readouterr().err
    assert main(["report", "--sweep", str(tmp_path / "missing.csv"), "--html", "x.html"]) == 2
    assert "missing.csv: no such file" in capsys.readouterr().err
    assert main(["report", "--sweep", str(other)]) == 2
    assert "--sweep: needs --html OUT.html" in capsys.readouterr().err
