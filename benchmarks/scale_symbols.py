"""Scale: the replay with N = 15, 50, 100, 200 symbols in every strategy, wall time and peak RSS.

Usage (from the repository root)::

    python benchmarks/scale_symbols.py                   # full bundled window, N = 15 50 100 200
    python benchmarks/scale_symbols.py --days 90         # the last 90 days before 2026-03-01
    python benchmarks/scale_symbols.py --symbols 15 50   # some N only
    python benchmarks/scale_symbols.py --symbols 200 --days 90 --keep-journal /tmp/j.sqlite

The bundled data has 15 Binance perps (10 with spot klines; Bybit and Hyperliquid funding for
13). N = 15 is the bundled data as it is; above 15 the data folder (built in a temporary
directory) holds the 15 real symbols plus N − 15 **synthetic** ones, each a documented
resampling of a real series: symbol ``S<k>`` takes a template among the 9 bundled assets that
have perp and spot klines and funding on all three venues (BTC ETH SOL BNB XRP DOGE AVAX LINK
LTC), and **rotates** the template's real hourly bars in time by a whole number of days
(13 × (k // 9 + 1) days, circularly over the file's span): each bar's open, high, low and close
relative to the previous close and its volume are the template's from that many days later, and
the prices are rebuilt from the template's first close by chaining those ratios (rounded to the
tick). Spot and perp use the same shift, so the synthetic basis is the template's, shifted;
each venue's funding rates are the template's rotated by the same days (settlement times kept
on the grid; the recorded mark price is dropped, so a payment uses the synthetic price). The
series keep real returns, volatility, volumes and funding, and are decorrelated from their
template in time (except at the one wrap-around bar).

Each N runs the shipped ``agent.toml`` (all five strategies, the funding-flip monitor) in a
process of its own — ``asyncio.run(Supervisor(config).run())``, journal in a temporary folder,
logs at warning — with ``[market_data] data_dir`` the folder built and every strategy's symbol
list set to the N symbols (``funding_harvester.symbols``: those with spot klines;
``cross_venue_arb.symbols``: those with Bybit and Hyperliquid funding; ``stat_arb.symbols``,
``factor_neutral.symbols``, ``beta_hedger.universe``: all N). Printed per N: steps, total wall
(load, replay, journal), the replay loop alone, orders and peak RSS (``ru_maxrss`` of that
process); then the fit of wall ∝ N^k (least squares on log wall against log N) against goal 3
of issue 14 (N = 200 under 60 s and 500 MB, k ≤ 1).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import math
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from venues.model import InstrumentKind  # noqa: E402
from venues.replay.instruments_file import (  # noqa: E402
    InstrumentRules,
    instruments_path,
    read_rules,
    write_rules,
)
from venues.replay.loader import bundled_data_dir  # noqa: E402

REAL = (
    "BTC",
    "ETH",
    "SOL",
    "BNB",
    "XRP",
    "DOGE",
    "ADA",
    "AVAX",
    "LINK",
    "LTC",
    "DOT",
    "TRX",
    "INJ",
    "TIA",
    "TON",
)
TEMPLATES = ("BTC", "ETH", "SOL", "BNB", "XRP", "DOGE", "AVAX", "LINK", "LTC")
SHIFT_STEP_DAYS = 13
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
GOAL_WALL_S = 60.0
GOAL_RSS_MB = 500.0
GOAL_EXPONENT = 1.0
WINDOW_END = datetime(2026, 3, 1, tzinfo=UTC)


# ---- the data folder ---------------------------------------------------------------------------


def rotate_klines(src: Path, dest: Path, shift_ms: int, tick: Decimal | None) -> None:
    """Write ``src``'s klines rotated by ``shift_ms`` (see the module docstring) to ``dest``."""
    with gzip.open(src, "rt", newline="") as fh:
        rows = [(int(r[0]), *map(float, r[1:6])) for r in list(csv.reader(fh))[1:]]
    first_ms, span_ms = rows[0][0], rows[-1][0] - rows[0][0] + HOUR_MS
    by_time = {r[0]: r for r in rows}
    moved = []
    for t, o, h, lo, c, v in rows:
        prev = by_time.get(t - HOUR_MS)
        base = prev[4] if prev is not None else o
        out_ms = first_ms + (t - first_ms - shift_ms) % span_ms
        moved.append((out_ms, o / base, h / base, lo / base, c / base, v))
    moved.sort()
    decimals = max(0, -int(tick.normalize().as_tuple().exponent)) if tick else 8
    close = rows[0][4]
    with gzip.open(dest, "wt", newline="", compresslevel=1) as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(["open_time_ms", "open", "high", "low", "close", "volume"])
        for t, o, h, lo, c, v in moved:
            prices = [round(close * x, decimals) for x in (o, h, lo, c)]
            o_p, c_p = prices[0], prices[3]
            h_p, lo_p = max(prices), min(prices)  # rounding keeps low <= open, close <= high
            out.writerow([t, o_p, h_p, lo_p, c_p, v])
            close = c_p if c_p > 0 else close


def rotate_funding(src: Path, dest: Path, shift_ms: int) -> None:
    """Write ``src``'s funding rates rotated by ``shift_ms`` to ``dest`` (mark price dropped)."""
    with gzip.open(src, "rt", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows = [(int(r[0]), r[1]) for r in reader]
    grid = [(t + HOUR_MS // 2) // HOUR_MS * HOUR_MS for t, _ in rows]
    first_ms, step_ms = grid[0], min(b - a for a, b in pairwise(grid))
    span_ms = grid[-1] - first_ms + step_ms
    moved = sorted(
        (first_ms + (g - first_ms - shift_ms) % span_ms, rate)
        for g, (_, rate) in zip(grid, rows, strict=True)
    )
    deduped = dict(moved)  # a wrap-around landing on a settlement time keeps one rate
    with gzip.open(dest, "wt", newline="", compresslevel=1) as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(header)
        for t, rate in sorted(deduped.items()):
            out.writerow([t, rate, *([""] if len(header) > 2 else [])])


def venue_file(venue: str, base: str) -> str:
    return f"{base}.csv.gz" if venue == "hyperliquid" else f"{base}USDT.csv.gz"


def venue_symbol(venue: str, base: str) -> str:
    return base if venue == "hyperliquid" else f"{base}USDT"


def build_folder(root: Path, n: int) -> list[str]:
    """The data folder of ``n`` symbols (module docstring); their base assets."""
    src = bundled_data_dir()
    shutil.copytree(src, root, dirs_exist_ok=True)
    if n <= len(REAL):
        return list(REAL[:n])
    rules = {v: read_rules(instruments_path(src, v)) for v in ("binance", "bybit", "hyperliquid")}
    added: dict[str, list[InstrumentRules]] = {v: [] for v in rules}
    bases = list(REAL)
    for k in range(n - len(REAL)):
        template, base = TEMPLATES[k % len(TEMPLATES)], f"S{k:03d}"
        shift_ms = SHIFT_STEP_DAYS * (k // len(TEMPLATES) + 1) * DAY_MS
        bases.append(base)
        for kind, folder in ((InstrumentKind.PERP, "perp"), (InstrumentKind.SPOT, "spot")):
            rule = rules["binance"][(kind, f"{template}USDT")]
            rotate_klines(
                src / "binance" / folder / f"{template}USDT_1h.csv.gz",
                root / "binance" / folder / f"{base}USDT_1h.csv.gz",
                shift_ms,
                rule.tick_size,
            )
            added["binance"].append(renamed(rule, f"{base}USDT"))
        for venue in ("binance", "bybit", "hyperliquid"):
            rotate_funding(
                src / venue / "funding" / venue_file(venue, template),
                root / venue / "funding" / venue_file(venue, base),
                shift_ms,
            )
            if venue != "binance":
                rule = rules[venue][(InstrumentKind.PERP, venue_symbol(venue, template))]
                added[venue].append(renamed(rule, venue_symbol(venue, base)))
    for venue, rows in added.items():
        write_rules(instruments_path(root, venue), [*rules[venue].values(), *rows])
    return bases


def renamed(rule: InstrumentRules, symbol: str) -> InstrumentRules:
    values = {f.name: getattr(rule, f.name) for f in fields(rule)}
    return InstrumentRules(**{**values, "symbol": symbol})


def has_spot(root: Path, base: str) -> bool:
    return (root / "binance" / "spot" / f"{base}USDT_1h.csv.gz").exists()


def has_cross_venue(root: Path, base: str) -> bool:
    return all(
        (root / v / "funding" / venue_file(v, base)).exists() for v in ("bybit", "hyperliquid")
    )


# ---- one run -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Run:
    """One N's figures (what a ``--child`` prints as JSON)."""

    n: int
    steps: int
    total_s: float
    loop_s: float
    orders: int
    peak_rss_mb: float


def overrides(root: Path, bases: list[str], journal: Path, days: int | None) -> dict[str, object]:
    perps = [f"{b}USDT" for b in bases]
    market: dict[str, object] = {"data_dir": str(root)}
    if days is not None:
        market["start"] = (WINDOW_END - timedelta(days=days)).isoformat()
        market["end"] = WINDOW_END.isoformat()
    return {
        "market_data": market,
        "journal": {"path": str(journal)},
        "logging": {"level": "warning", "progress": False},
        "strategies": {
            "funding_harvester": {"symbols": [f"{b}USDT" for b in bases if has_spot(root, b)]},
            "stat_arb": {"symbols": perps},
            "factor_neutral": {"symbols": perps},
            "cross_venue_arb": {"symbols": [b for b in bases if has_cross_venue(root, b)]},
            "beta_hedger": {"universe": bases},
        },
    }


def run_child(n: int, days: int | None, keep_journal: Path | None = None) -> Run:
    """Build the folder and replay it in this process; the journal copied to
    ``keep_journal`` when given (to compare two revisions' results row by row with
    ``benchmarks/journal_diff.py``)."""
    import asyncio
    import os
    import shutil

    from agent.config import load_config
    from agent.logs import configure_logging
    from agent.supervisor import Supervisor

    with tempfile.TemporaryDirectory(prefix="zerobeta-scale-") as tmp:
        root = Path(tmp) / "data"
        bases = build_folder(root, n)
        config = load_config(
            ROOT / "agent.toml",
            env={},
            overrides=overrides(root, bases, Path(tmp) / "journal.sqlite", days),
        )
        # lines are rendered and written, not held (a StringIO would count in the RSS)
        sink = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
        configure_logging("warning", "json", sink)
        start = time.perf_counter()
        result = asyncio.run(Supervisor(config).run())
        total_s = time.perf_counter() - start
        if keep_journal is not None:
            shutil.copyfile(Path(tmp) / "journal.sqlite", keep_journal)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    orders = result.counters["orders_sent"]
    return Run(n, result.steps, total_s, result.wall_time_s, orders, peak)


def fit_exponent(runs: list[Run]) -> float:
    """k of wall ∝ N^k: least squares slope of log(total wall) on log(N)."""
    xs = [math.log(r.n) for r in runs]
    ys = [math.log(r.total_s) for r in runs]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, nargs="+", default=[15, 50, 100, 200])
    parser.add_argument(
        "--days", type=int, default=None, help="window of the last DAYS before 2026-03-01"
    )
    parser.add_argument(
        "--keep-journal",
        type=Path,
        default=None,
        help="with one N: copy that run's journal to this path (for journal_diff.py)",
    )
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.keep_journal is not None and len(args.symbols) != 1 and args.child is None:
        parser.error("--keep-journal needs exactly one N in --symbols")
    if args.child is not None:
        print(json.dumps(asdict(run_child(args.child, args.days, args.keep_journal))))
        return
    window = "the full bundled window" if args.days is None else f"the last {args.days} days"
    print(f"shipped agent.toml, all strategies, {window}; each N in a process of its own")
    print(f"N > {len(REAL)}: the {len(REAL)} bundled symbols + synthetic ones (real bars rotated)")
    runs = []
    print(f"{'N':>5}{'steps':>8}{'wall s':>9}{'loop s':>9}{'orders':>8}{'peak RSS MB':>13}")
    for n in args.symbols:
        cmd = [sys.executable, str(Path(__file__)), "--child", str(n)]
        if args.days is not None:
            cmd += ["--days", str(args.days)]
        if args.keep_journal is not None:
            cmd += ["--keep-journal", str(args.keep_journal.resolve())]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT)
        if done.returncode != 0:
            raise RuntimeError(f"N = {n} failed:\n{done.stderr[-4000:]}")
        run = Run(**json.loads(done.stdout.strip().splitlines()[-1]))
        runs.append(run)
        print(
            f"{run.n:>5}{run.steps:>8,}{run.total_s:>9.1f}{run.loop_s:>9.1f}{run.orders:>8,}"
            f"{run.peak_rss_mb:>13.0f}",
            flush=True,
        )
    if len(runs) >= 2:
        k = fit_exponent(runs)
        verdict = "met" if k <= GOAL_EXPONENT else "NOT met"
        print(f"wall ∝ N^{k:.2f} over N = {runs[0].n}..{runs[-1].n} (goal k <= 1: {verdict})")
    largest = runs[-1]
    wall_ok = "met" if largest.total_s < GOAL_WALL_S else "NOT met"
    rss_ok = "met" if largest.peak_rss_mb < GOAL_RSS_MB else "NOT met"
    print(
        f"N = {largest.n}: {largest.total_s:.1f} s (goal < {GOAL_WALL_S:.0f} s: {wall_ok}), "
        f"{largest.peak_rss_mb:.0f} MB (goal < {GOAL_RSS_MB:.0f} MB: {rss_ok})"
    )


if __name__ == "__main__":
    main()
