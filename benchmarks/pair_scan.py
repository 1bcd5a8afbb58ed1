"""Batched Engle–Granger scan vs a loop of statsmodels ``coint`` calls: speed and agreement.

Usage (from the repository root)::

    .venv/bin/python benchmarks/pair_scan.py                      # 12 real symbols × 720 bars
    .venv/bin/python benchmarks/pair_scan.py --assets 100 --bars 720
    .venv/bin/python benchmarks/pair_scan.py --assets 100 --loop-pairs 300   # sampled loop

Data: the last ``--bars`` hourly closes of the bundled Binance perps
(``venues/replay/data/binance/perp/<SYM>_1h.csv.gz``), the 12 default stat-arb symbols first,
then the other bundled ones. When ``--assets`` asks for more columns than there are real
symbols (or the files are absent) the panel is filled with synthetic geometric random walks
(seed ``--seed``); the output says how many columns are synthetic.

The batched scan is timed as the best of ``--repeat`` runs after one warm-up run; the
statsmodels loop runs once over all pairs, or over a random sample of ``--loop-pairs`` pairs
whose time is then scaled to all pairs (the output says so). Both are timed in CPU time of
this process (``time.process_time``; wall time is printed too) with ``--threads`` BLAS
threads (default 1: one core each, and a multi-threaded BLAS on a loaded machine mostly
spins), so other load on the machine inflates the figures less; the load average is
printed. The goal (zerobeta issue 14, goal 4) is a speed-up of 1,000x at 100 assets × 720
bars with statistics equal within 1e-8.
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
import time
import warnings
from pathlib import Path


def _blas_threads() -> str:
    """``--threads`` from the command line (read before numpy loads its BLAS)."""
    for k, arg in enumerate(sys.argv):
        if arg == "--threads" and k + 1 < len(sys.argv):
            return sys.argv[k + 1]
        if arg.startswith("--threads="):
            return arg.split("=", 1)[1]
    return "1"


for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = _blas_threads()

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from statsmodels.tsa.stattools import coint  # noqa: E402

from strategies.stat_arb.config import DEFAULT_SYMBOLS  # noqa: E402
from strategies.stat_arb.signals import scan_pairs  # noqa: E402

PERP_DIR = ROOT / "venues" / "replay" / "data" / "binance" / "perp"


def real_closes(n_bars: int, max_assets: int) -> tuple[list[str], np.ndarray]:
    """Last ``n_bars`` closes of up to ``max_assets`` bundled perps, shape (n_bars, k)."""
    files = sorted(PERP_DIR.glob("*_1h.csv.gz")) if PERP_DIR.is_dir() else []
    by_symbol = {f.name.removesuffix("_1h.csv.gz"): f for f in files}
    order = [s for s in DEFAULT_SYMBOLS if s in by_symbol]
    order += sorted(s for s in by_symbol if s not in order)
    symbols, columns = [], []
    for symbol in order[:max_assets]:
        with gzip.open(by_symbol[symbol], "rt") as fh:
            closes = np.loadtxt(fh, delimiter=",", skiprows=1, usecols=4)
        if closes.shape[0] >= n_bars:
            symbols.append(symbol)
            columns.append(closes[-n_bars:])
    panel = np.column_stack(columns) if columns else np.empty((n_bars, 0))
    return symbols, panel


def build_panel(
    n_assets: int, n_bars: int, seed: int, synthetic_only: bool
) -> tuple[np.ndarray, int]:
    """Log-price panel (n_bars, n_assets) and the number of synthetic columns in it."""
    symbols, closes = (
        ([], np.empty((n_bars, 0))) if synthetic_only else real_closes(n_bars, n_assets)
    )
    n_synth = n_assets - len(symbols)
    rng = np.random.default_rng(seed)
    steps = rng.normal(0.0, 0.01, size=(n_bars, n_synth))
    synthetic = np.log(100.0) + np.cumsum(steps, axis=0)
    return np.column_stack([np.log(closes), synthetic]), n_synth


def time_batched(panel: np.ndarray, repeat: int, autolag: str | None):
    """Best CPU and best wall time of ``repeat`` scans after a warm-up, and the last result."""
    scan = scan_pairs(panel, autolag=autolag)
    best_cpu = best_wall = float("inf")
    for _ in range(repeat):
        start_cpu, start_wall = time.process_time(), time.perf_counter()
        scan = scan_pairs(panel, autolag=autolag)
        best_cpu = min(best_cpu, time.process_time() - start_cpu)
        best_wall = min(best_wall, time.perf_counter() - start_wall)
    return best_cpu, best_wall, scan


def time_loop(panel: np.ndarray, scan, pair_index: np.ndarray, autolag: str | None):
    """CPU and wall time of coint over the given pairs, max |Δ| of statistic and p-value."""
    max_dstat = max_dp = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # CollinearityWarning on synthetic near-duplicates
        start_cpu, start_wall = time.process_time(), time.perf_counter()
        results = [
            coint(panel[:, scan.i[k]], panel[:, scan.j[k]], trend="c", autolag=autolag)
            for k in pair_index
        ]
        elapsed = time.process_time() - start_cpu, time.perf_counter() - start_wall
    for k, (stat, pvalue, _) in zip(pair_index, results, strict=True):
        both_inf = np.isinf(stat) and stat == scan.adf_stat[k]
        max_dstat = max(max_dstat, 0.0 if both_inf else abs(stat - scan.adf_stat[k]))
        max_dp = max(max_dp, abs(pvalue - scan.p_value[k]))
    return elapsed, max_dstat, max_dp


def main() -> None:
    """Parse arguments, run both scans, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=12)
    parser.add_argument("--bars", type=int, default=720)
    parser.add_argument("--autolag", choices=["aic", "none"], default="aic")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--loop-pairs", type=int, default=0, help="0 = every pair")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--synthetic", action="store_true", help="random walks only")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    args = parser.parse_args()
    autolag = None if args.autolag == "none" else "aic"

    panel, n_synth = build_panel(args.assets, args.bars, args.seed, args.synthetic)
    load_before = os.getloadavg()[0]
    batched_s, batched_wall_s, scan = time_batched(panel, args.repeat, autolag)
    n_pairs = len(scan)
    rng = np.random.default_rng(args.seed + 1)
    sampled = 0 < args.loop_pairs < n_pairs
    pair_index = (
        np.sort(rng.choice(n_pairs, args.loop_pairs, replace=False))
        if sampled
        else np.arange(n_pairs)
    )
    (loop_s, loop_wall_s), max_dstat, max_dp = time_loop(panel, scan, pair_index, autolag)
    loop_all_s = loop_s * n_pairs / len(pair_index)
    loop_all_wall_s = loop_wall_s * n_pairs / len(pair_index)
    speed_up = loop_all_s / batched_s

    n_real = panel.shape[1] - n_synth
    print(f"data              : {n_real} real Binance perp closes (last {args.bars} bars)")
    print(f"                    + {n_synth} synthetic random walks (seed {args.seed})")
    print(f"n_assets          : {panel.shape[1]}")
    print(f"n_bars            : {panel.shape[0]}")
    print(f"n_pairs           : {n_pairs}")
    print(f"autolag           : {autolag}")
    print(f"cpu count         : {os.cpu_count()}; BLAS threads {args.threads}")
    print(f"load average      : {load_before:.2f} before, {os.getloadavg()[0]:.2f} after")
    print(
        f"batched scan      : {batched_s * 1e3:.1f} ms CPU, {batched_wall_s * 1e3:.1f} ms wall"
        f" (best of {args.repeat})"
    )
    loop_note = f" (measured on {len(pair_index)} sampled pairs, scaled)" if sampled else ""
    print(
        f"statsmodels loop  : {loop_all_s * 1e3:.1f} ms CPU, {loop_all_wall_s * 1e3:.1f} ms wall"
        f"{loop_note}"
    )
    print(f"                    {loop_all_s / n_pairs * 1e3:.2f} ms CPU per coint call")
    print(f"speed-up (CPU)    : {speed_up:.0f}x")
    verdict = "reached" if speed_up >= 1000 and max_dstat < 1e-8 else "not reached"
    print(f"goal              : >= 1000x with |d stat| < 1e-8 -> {verdict}")
    print(f"max |d stat|      : {max_dstat:.3e} over {len(pair_index)} pairs")
    print(f"max |d p-value|   : {max_dp:.3e}")
    lags = scan.lags[scan.lags >= 0]
    print(f"lags chosen       : min {lags.min()}, median {int(np.median(lags))}, max {lags.max()}")


if __name__ == "__main__":
    main()
