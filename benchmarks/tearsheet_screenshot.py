"""Render a run's tearsheet in headless Chromium: screenshot, console errors, numbers vs JSON.

Usage (from the repository root; needs Debian's ``chromium``: ``apt-get install -y chromium``)::

    python benchmarks/tearsheet_screenshot.py                       # short backtest, then check
    python benchmarks/tearsheet_screenshot.py --journal runs/zerobeta.sqlite --out /tmp/ts
    python benchmarks/tearsheet_screenshot.py --sweep runs/sweep.csv          # also a sweep

Steps:

1. without ``--journal``, a short backtest (2025-08-20 → 2025-09-20: all five strategies, three
   venues) journals into ``OUT/backtest.sqlite`` through ``zerobeta backtest``;
2. ``zerobeta report --journal J --html OUT/tearsheet.html --json`` writes the page and prints
   the JSON (kept as ``OUT/report.json``);
3. static checks of the page: no ``<script>``, every ``src``/``href`` a ``data:`` URI (the file
   is self-contained), and every number cell (``data-path``/``data-value``/``data-format``,
   :mod:`agent.reporting.tearsheet`) equal to the value at that path of the JSON and printed
   as its format says; the per-leg, funding and trip amounts of the JSON all have a cell;
4. headless Chromium opens ``file://OUT/tearsheet.html`` with console logging to stderr and
   saves ``OUT/tearsheet.png`` (``--window-size``, default 1400,3000); any console message
   (``:CONSOLE`` lines: ``console.*`` calls, uncaught exceptions) is a failure;
5. with ``--sweep TABLE`` (a run table of ``zerobeta sweep``), or without it when Ray is
   installed (then a 2×2 grid of the funding harvester on 2025-09-01 → 09-15 through
   ``zerobeta sweep --html``, table ``OUT/sweep.csv``): ``zerobeta report --sweep TABLE
   --html OUT/sweep.html``, the same static checks against the table (every number cell's
   ``data-value`` equal to the table's cell at ``data-run-id``/``data-column`` and printed as
   its format says; one heatmap image per selection) and a screenshot ``OUT/sweep.png``
   without console messages.

Prints what it checked and the wall time of each step; exits 1 on any failure, 2 when Chromium
is not installed.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from agent.cli import main  # noqa: E402 - after the path set-up

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--enable-logging=stderr",
    "--v=0",
)
WINDOW = ("2025-08-20", "2025-09-20")


class _Cells(HTMLParser):
    """Collects number cells, ``src``/``href`` values and script tags of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[tuple[list[Any], Any, str, str]] = []
        self.links: list[str] = []
        self.scripts = 0
        self._open: tuple[list[Any], Any, str] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.scripts += tag == "script"
        self.links += [v for k, v in attrs if k in ("src", "href") and v is not None]
        if "data-path" in a:
            path = json.loads(a["data-path"] or "null")
            self._open = (path, json.loads(a["data-value"] or "null"), a.get("data-format") or "")
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._open is not None:
            path, value, fmt = self._open
            self.cells.append((path, value, fmt, "".join(self._text)))
            self._open = None


def _expected_text(value: Any, fmt: str) -> str:
    """The printed form of a JSON value, written here apart from the tearsheet's code."""
    if value is None:
        return "n/a"
    if fmt == "usd":
        text = f"{Decimal(str(value)):,.2f}"
        return "0.00" if text == "-0.00" else text
    if fmt == "int":
        return f"{int(value):,}"
    if fmt == "pct":
        return f"{float(value) * 100:.2f}%"
    if fmt.startswith("num"):
        return f"{float(value):.{int(fmt[3:])}f}"
    return str(value)


def _at(data: Any, path: list[Any]) -> Any:
    for key in path:
        data = data[key]
    return data


def _required_paths(data: dict[str, Any]) -> set[tuple[Any, ...]]:
    """Paths of the amounts the page must show: every leg stream, funding row, trip total."""
    paths: set[tuple[Any, ...]] = set()
    for strategy, legs in data["pnl"]["by_leg_usd"].items():
        for iid, streams in legs.items():
            paths |= {("pnl", "by_leg_usd", strategy, iid, s) for s in streams}
    for iid in data["funding"]:
        paths |= {("funding", iid, k) for k in ("received_usd", "paid_usd", "net_usd")}
    for strategy, of in data["trades"].items():
        for i, pair in enumerate(of["pairs"]):
            for t in range(len(pair["trips"])):
                paths.add(("trades", strategy, "pairs", i, "trips", t, "total_usd"))
    return paths


def check_page(page: str, data: dict[str, Any]) -> list[str]:
    """Problems of a tearsheet page against the report's JSON (empty when none)."""
    parser = _Cells()
    parser.feed(page)
    problems = [f"{parser.scripts} <script> element(s)"] if parser.scripts else []
    problems += [
        f"external resource {link[:60]!r}" for link in parser.links if not link.startswith("data:")
    ]
    for path, value, fmt, text in parser.cells:
        if _at(data, path) != value:
            problems.append(f"{path}: page says {value!r}, JSON says {_at(data, path)!r}")
        if text != _expected_text(value, fmt):
            problems.append(f"{path}: printed {text!r}, expected {_expected_text(value, fmt)!r}")
    shown = {tuple(p) for p, _, _, _ in parser.cells}
    missing = sorted(map(str, _required_paths(data) - shown))
    problems += [f"no cell for {p}" for p in missing[:10]]
    if not parser.cells:
        problems.append("no number cells")
    return problems


class _SweepCells(HTMLParser):
    """Number cells (``data-run-id``), images and script tags of a sweep page."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[tuple[str, str, str, str, str]] = []
        self.links: list[str] = []
        self.images = 0
        self.scripts = 0
        self._open: tuple[str, str, str, str] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.scripts += tag == "script"
        self.images += tag == "img"
        self.links += [v for k, v in attrs if k in ("src", "href") and v is not None]
        if "data-run-id" in a:
            self._open = (a["data-run-id"], a["data-column"], a["data-value"], a["data-format"])
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._open is not None:
            self.cells.append((*self._open, "".join(self._text)))
            self._open = None


def _cell_text(text: str, fmt: str) -> str:
    """The printed form of a run table's cell, written here apart from the page's code."""
    return "n/a" if text == "" else _expected_text(text, fmt)


def check_sweep_page(page: str, table: Path) -> list[str]:
    """Problems of a sweep page against its run table (CSV) (empty when none)."""
    with table.open(newline="", encoding="utf-8") as f:
        runs = {r["run_id"]: r for r in csv.DictReader(f)}
    parser = _SweepCells()
    parser.feed(page)
    problems = [f"{parser.scripts} <script> element(s)"] if parser.scripts else []
    problems += [
        f"external resource {link[:60]!r}" for link in parser.links if not link.startswith("data:")
    ]
    for run_id, column, value, fmt, text in parser.cells:
        cell = runs[run_id][column]
        if value != cell:
            problems.append(f"run {run_id} {column}: page says {value!r}, table says {cell!r}")
        if text != _cell_text(cell, fmt):
            want = _cell_text(cell, fmt)
            problems.append(f"run {run_id} {column}: printed {text!r}, expected {want!r}")
    if {r for r, *_ in parser.cells} != set(runs):
        problems.append("not every run of the table has a cell")
    if not parser.images:
        problems.append("no heatmap")
    return problems


def console_messages(stderr: str) -> list[str]:
    """Console lines of Chromium's stderr log (``console.*`` calls, uncaught exceptions)."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


def screenshot(chromium: str, page: Path, png: Path, window: str) -> tuple[int, str]:
    """Run headless Chromium on ``page``; its exit code and stderr."""
    with tempfile.TemporaryDirectory(prefix="zb-chromium-") as profile:
        proc = subprocess.run(
            [
                chromium,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--screenshot={png}",
                f"--window-size={window}",
                page.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    return proc.returncode, proc.stderr


def _cli(argv: list[str]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(argv)
    if code != 0:
        raise SystemExit(f"zerobeta {' '.join(argv)} exited {code}")
    return out.getvalue()


def run(journal: Path | None, out: Path, window: str, chromium: str) -> int:
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if journal is None:
        os.environ.setdefault("ZEROBETA_LOGGING__LEVEL", "warning")  # not the per-fill lines
        journal = out / "backtest.sqlite"
        journal.unlink(missing_ok=True)
        _cli(["backtest", "--config", str(REPO_ROOT / "agent.toml"), "--from", WINDOW[0],
              "--to", WINDOW[1], "--journal", str(journal)])  # fmt: skip
        print(f"backtest {WINDOW[0]} → {WINDOW[1]}: {time.perf_counter() - started:.1f} s")
    page = out / "tearsheet.html"
    t0 = time.perf_counter()
    text = _cli(["report", "--journal", str(journal), "--html", str(page), "--json"])
    (out / "report.json").write_text(text, encoding="utf-8")
    data = json.loads(text)
    print(f"report --html --json: {time.perf_counter() - t0:.1f} s, {page.stat().st_size:,} bytes")
    problems = check_page(page.read_text(encoding="utf-8"), data)
    print(f"static checks and numbers vs JSON: {len(problems)} problem(s)")
    png = out / "tearsheet.png"
    png.unlink(missing_ok=True)
    t0 = time.perf_counter()
    code, stderr = screenshot(chromium, page, png, window)
    (out / "chromium.log").write_text(stderr, encoding="utf-8")
    console = console_messages(stderr)
    took_s = time.perf_counter() - t0
    print(f"chromium: exit {code}, {len(console)} console message(s), {took_s:.1f} s")
    if code != 0:
        problems.append(f"chromium exited {code} (log: {out / 'chromium.log'})")
    problems += [f"console: {line}" for line in console]
    if not png.is_file() or png.read_bytes()[:8] != b"\x89PNG\r\n\x1a\n":
        problems.append(f"no screenshot at {png}")
    else:
        print(f"screenshot: {png} ({png.stat().st_size:,} bytes)")
    for problem in problems:
        print(f"FAIL {problem}")
    print("OK" if not problems else f"{len(problems)} problem(s)")
    return 0 if not problems else 1


def _sweep_table(out: Path) -> Path | None:
    """A 2×2 sweep through ``zerobeta sweep --html`` (None without Ray)."""
    if importlib.util.find_spec("ray") is None:
        print("sweep page: skipped (Ray not installed; or pass --sweep TABLE)")
        return None
    grid = out / "grid.toml"
    grid.write_text(
        '[sweep]\nstrategies = ["funding_harvester"]\nstart = 2025-09-01\nend = 2025-09-15\n'
        "pbo_blocks = 4\n\n[grid.funding_harvester]\nmin_net_apr_frac = [0.02, 0.05]\n"
        "max_positions = [1, 3]\n",
        encoding="utf-8",
    )
    table = out / "sweep.csv"
    t0 = time.perf_counter()
    _cli(["sweep", "--grid", str(grid), "--config", str(REPO_ROOT / "agent.toml"),
          "--out", str(table), "--workers", "2",
          "--html", str(out / "sweep-from-sweep.html")])  # fmt: skip
    print(f"sweep 2x2: {time.perf_counter() - t0:.1f} s")
    return table


def run_sweep(table: Path | None, out: Path, window: str, chromium: str) -> int:
    """Step 5 of the module docstring; 0 when the page passes every check."""
    out.mkdir(parents=True, exist_ok=True)
    table = table if table is not None else _sweep_table(out)
    if table is None:
        return 0
    page = out / "sweep.html"
    _cli(["report", "--sweep", str(table), "--html", str(page)])
    problems = check_sweep_page(page.read_text(encoding="utf-8"), table)
    print(f"sweep page vs {table.name}: {len(problems)} problem(s)")
    png = out / "sweep.png"
    png.unlink(missing_ok=True)
    code, stderr = screenshot(chromium, page, png, window)
    (out / "chromium-sweep.log").write_text(stderr, encoding="utf-8")
    console = console_messages(stderr)
    print(f"chromium (sweep page): exit {code}, {len(console)} console message(s)")
    if code != 0:
        problems.append(f"chromium exited {code} on the sweep page")
    problems += [f"console: {line}" for line in console]
    if not png.is_file() or png.read_bytes()[:8] != b"\x89PNG\r\n\x1a\n":
        problems.append(f"no screenshot at {png}")
    else:
        print(f"screenshot: {png} ({png.stat().st_size:,} bytes)")
    for problem in problems:
        print(f"FAIL {problem}")
    print("sweep OK" if not problems else f"sweep: {len(problems)} problem(s)")
    return 0 if not problems else 1


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--journal", type=Path, default=None, help="default: a short backtest")
    parser.add_argument("--out", type=Path, default=None, help="default: a new temporary dir")
    parser.add_argument("--window-size", default="1400,3000", help="WIDTH,HEIGHT in px")
    parser.add_argument("--chromium", default=None, help="default: chromium on the PATH")
    parser.add_argument(
        "--sweep", type=Path, default=None, metavar="TABLE",
        help="a sweep's run table (CSV) for the sweep page (default: a 2x2 sweep if Ray is "
        "installed)",
    )  # fmt: skip
    parser.add_argument("--no-sweep", action="store_true", help="skip the sweep page")
    return parser.parse_args()


if __name__ == "__main__":
    args = _args()
    browser = args.chromium or shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        print("chromium not found: apt-get install -y chromium", file=sys.stderr)
        raise SystemExit(2)
    target = args.out or Path(tempfile.mkdtemp(prefix="zb-tearsheet-"))
    code = run(args.journal, target, args.window_size, browser)
    if not args.no_sweep:
        code = max(code, run_sweep(args.sweep, target, args.window_size, browser))
    raise SystemExit(code)
