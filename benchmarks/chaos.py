"""The chaos benchmark: the real ``zerobeta run`` in live mode against the chaos exchange for
>= 10,000 paired orders and >= 50 SIGKILL restarts, then the invariants and reaction times.

Usage (from the repository root; needs Debian's ``faketime`` package)::

    .venv/bin/python benchmarks/chaos.py                         # defaults below (~25 min)
    .venv/bin/python benchmarks/chaos.py --pairs 500 --kills 5   # a short one
    .venv/bin/python benchmarks/chaos.py --kill-kinds idle,startup --no-operator-repair

The harness is ``tests/chaos`` (the exchange on 127.0.0.1, the seeded fault schedule, the churn
strategy, the driver; see ``tests/chaos/driver.py``). Kills are drawn from the seed among
``random`` (any moment), ``between_legs`` (right after the exchange executed one leg of a pair),
``idle`` (between steps) and ``startup``. A start the agent refuses is repaired as the refusal
asks a person to (the exchange's positions set to the journal's by hand, recorded; the fills the
agent lost stay counted as lost) unless ``--no-operator-repair``, which ends the run there.

Printed: progress every 5 s, then the table of ``tests.chaos.invariants.format_table`` —
duplicate orders, lost fills, unresolved intents at the end, pairs unbalanced past their budget
(``--leg-budget-s``; none by default: the longest is printed), journal positions against the
exchange's after every restart — and the reaction times on loopback (unknown outcome -> lookup,
mark breach -> order; p50/p99, virtual seconds and real ms), then one JSON line of the headline
figures. Exit code 0 when every invariant holds, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.chaos.driver import (  # noqa: E402 - the repository root is put on the path first
    KILL_KINDS,
    ChaosConfig,
    faketime_available,
    figures_json,
    run_chaos,
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=10_000, help="paired orders to reach")
    parser.add_argument("--kills", type=int, default=50, help="SIGKILL restarts to deliver")
    parser.add_argument("--seed", type=int, default=1, help="seeds faults, prices and kills")
    parser.add_argument("--speed", type=float, default=600.0, help="virtual s per real s")
    parser.add_argument("--flips-per-step", type=int, default=40, help="2 paired orders each")
    parser.add_argument(
        "--kill-kinds", default=",".join(KILL_KINDS), help=f"comma-separated of {KILL_KINDS}"
    )
    parser.add_argument(
        "--no-operator-repair", action="store_true", help="a refused start ends the run"
    )
    parser.add_argument("--leg-budget-s", type=float, default=None, help="virtual seconds")
    parser.add_argument("--max-wall-s", type=float, default=4 * 3600.0, help="hard limit")
    parser.add_argument("--workdir", type=Path, default=None, help="default: a temp dir")
    return parser


def main() -> int:
    args = _parser().parse_args()
    if not faketime_available():
        print("chaos: libfaketime is not installed (apt-get install faketime)", file=sys.stderr)
        return 2
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="zerobeta-chaos-"))
    config = ChaosConfig(
        workdir=workdir,
        seed=args.seed,
        pairs=args.pairs,
        kills=args.kills,
        speed=args.speed,
        flips_per_step=args.flips_per_step,
        leg_budget_s=args.leg_budget_s,
        kill_kinds=tuple(k for k in args.kill_kinds.split(",") if k),
        operator_repair=not args.no_operator_repair,
        max_wall_s=args.max_wall_s,
        progress=sys.stdout,
    )
    print(f"chaos: workdir {workdir} (journal, agent.log, exchange.json)", flush=True)
    figures, table = run_chaos(config)
    print(table)
    print(figures_json(figures))
    broken = (
        figures.duplicate_orders
        or figures.lost_fills
        or figures.unresolved_intents
        or figures.position_mismatches
        or figures.refused_starts
        or figures.unbalanced_past_budget
    )
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
