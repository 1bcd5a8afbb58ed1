"""Solve time of the factor-neutral book for N = 15, 100, 500 random problems.

Usage (from the repository root)::

    .venv/bin/python benchmarks/factor_qp.py                  # 30 problems per size
    .venv/bin/python benchmarks/factor_qp.py --sizes 15 100 500 1000 --problems 50

Each problem: alphas and two factor exposures z-scored N(0, 1) draws, betas N(1, 0.4),
gross 2, factor bands ±0.02, max weight 0.25 for N < 40 and SEEDS' 0.05 from N = 40 (the
smallest N that 0.05 can carry). For every size it prints the median / 90th percentile / max
wall time of :func:`~strategies.factor_neutral.optimizer.solve_factor_neutral` (validation,
LP, MILP fallback when the LP overlaps, re-check), how many problems took each path, and the
median time of the MILP path forced on the same problems (the worst case: the exact
mixed-integer program plus its sign-fixed LP re-solve), via the module's private stages.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from strategies.factor_neutral import optimizer  # noqa: E402


def problem(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Alphas (n,), betas (n,), factors (n, 2) as the strategy would produce them."""

    def z(x: np.ndarray) -> np.ndarray:
        return (x - x.mean(axis=0)) / x.std(axis=0)

    return z(rng.normal(size=n)), rng.normal(1.0, 0.4, n), z(rng.normal(size=(n, 2)))


def max_weight_for(n: int) -> float:
    """0.25 for small universes, SEEDS' 0.05 once N can carry it (N ≥ 40)."""
    return 0.05 if n >= optimizer.min_assets_for(2.0, 0.05) else 0.25


def time_size(n: int, problems: int, seed: int) -> None:
    """Print the timing line of one universe size."""
    rng = np.random.default_rng(seed + n)
    m = max_weight_for(n)
    times, forced, paths = [], [], {"lp": 0, "milp": 0, "infeasible": 0}
    for _ in range(problems):
        alpha, beta, factors = problem(rng, n)
        start = time.perf_counter()
        try:
            sol = optimizer.solve_factor_neutral(alpha, beta, factors, max_weight=m)
            paths[sol.method] += 1
        except optimizer.InfeasibleError:
            paths["infeasible"] += 1
        times.append(time.perf_counter() - start)
        internal = optimizer._validated(alpha, beta, factors, 2.0, m, 0.02)
        start = time.perf_counter()
        with contextlib.suppress(optimizer.InfeasibleError):
            optimizer._solve_milp(internal)
        forced.append(time.perf_counter() - start)
    ms = np.array(times) * 1e3
    print(
        f"N={n:5d}  M={m:.2f}  solve median {np.median(ms):8.2f} ms  p90 "
        f"{np.percentile(ms, 90):8.2f} ms  max {ms.max():8.2f} ms  paths {paths}  "
        f"forced-MILP median {np.median(forced) * 1e3:8.2f} ms"
    )


def main() -> None:
    """Parse arguments and print one line per size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[15, 100, 500])
    parser.add_argument("--problems", type=int, default=30, help="random problems per size")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"{args.problems} random problems per size, gross 2, factor bands ±0.02, 2 factors")
    for n in args.sizes:
        time_size(n, args.problems, args.seed)


if __name__ == "__main__":
    main()
