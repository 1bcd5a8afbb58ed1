"""What leg faults cost a run: its figures against a clean run of the same window.

``zerobeta summary --against CLEAN`` and ``zerobeta report --against CLEAN`` (text and
``--json``, key ``against_clean``) compare the run journaled at ``--journal`` (typically a
replay with ``[venues.*] fault_*`` leg faults, :mod:`venues.paper.faults`) with ``CLEAN``, the
journal of the same configuration without them. Both come from their journals alone
(:func:`agent.reporting.report.build_summary`, the ``pair_exposure`` rows):

- final equity of each and the difference (``run − clean``: negative is what the faults
  cost), USD, exact;
- per strategy and in total, each P&L stream of each run and the difference (fees and
  slippage are P&L, so negative: a difference of −40 in ``fees_usd`` is 40 USD more fees);
- orders, fills and rejected orders of each run;
- per strategy, how its pairs ended (``pair_exposure.outcome``: ``filled``, ``unwound``,
  ``completed``, ``superseded``, ``open``, ...) in each run, and its leg risk
  (:class:`agent.reporting.summary.LegRiskStats`: unhedged USD·s, longest unhedged time,
  pairs past budget) in each run.

The two runs must cover the same window from the same initial equity (else the difference is
not the faults' doing): checked, :class:`agent.errors.ConfigError` naming ``--against``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from agent.errors import ConfigError
from agent.journal.journal import Journal
from agent.reporting.analysis import PNL_STREAMS
from agent.reporting.summary import LegRiskStats, RunSummary

ZERO = Decimal(0)
_NO_RISK = LegRiskStats(0, 0.0, 0.0, 0.0, 0)


@dataclass(frozen=True, slots=True)
class StreamsComparison:
    """P&L by stream (:data:`~agent.reporting.analysis.PNL_STREAMS`, costs negative) of the
    run, of the clean run and ``run − clean``, USD, exact."""

    run_usd: Mapping[str, Decimal]
    clean_usd: Mapping[str, Decimal]
    difference_usd: Mapping[str, Decimal]


@dataclass(frozen=True, slots=True)
class StrategyFaultCost:
    """One strategy in both runs.

    Attributes
    ----------
    pnl : StreamsComparison
    pair_outcomes_run, pair_outcomes_clean : Mapping[str, int]
        Its journaled pairs by outcome, each run.
    leg_risk_run, leg_risk_clean : LegRiskStats
        Its leg risk, each run (zeros where it sent no pair).
    """

    pnl: StreamsComparison
    pair_outcomes_run: Mapping[str, int]
    pair_outcomes_clean: Mapping[str, int]
    leg_risk_run: LegRiskStats
    leg_risk_clean: LegRiskStats


@dataclass(frozen=True, slots=True)
class FaultCost:
    """The run against the clean run (module docstring).

    Attributes
    ----------
    clean_journal : str
        Path of the clean run's journal.
    final_equity_run_usd, final_equity_clean_usd, final_equity_difference_usd : Decimal
    total : StreamsComparison
    by_strategy : Mapping[str, StrategyFaultCost]
        Every strategy of either run, sorted by name.
    orders, fills, rejected_orders : tuple[int, int]
        ``(run, clean)``.
    """

    clean_journal: str
    final_equity_run_usd: Decimal
    final_equity_clean_usd: Decimal
    final_equity_difference_usd: Decimal
    total: StreamsComparison
    by_strategy: Mapping[str, StrategyFaultCost]
    orders: tuple[int, int]
    fills: tuple[int, int]
    rejected_orders: tuple[int, int]


def _streams(run: Mapping[str, Decimal], clean: Mapping[str, Decimal]) -> StreamsComparison:
    keys = list(dict.fromkeys([*PNL_STREAMS, *run, *clean]))
    run_usd = {k: run.get(k, ZERO) for k in keys}
    clean_usd = {k: clean.get(k, ZERO) for k in keys}
    return StreamsComparison(run_usd, clean_usd, {k: run_usd[k] - clean_usd[k] for k in keys})


def compare_runs(
    run: RunSummary,
    clean: RunSummary,
    outcomes_run: Mapping[str, Mapping[str, int]],
    outcomes_clean: Mapping[str, Mapping[str, int]],
    clean_journal: str,
) -> FaultCost:
    """``run`` against ``clean`` (their summaries and pair outcomes by strategy).

    Raises
    ------
    ConfigError
        (key ``--against``) The runs cover different windows or start from different equity.
    """
    problems = []
    if (run.ts_start_ms, run.ts_end_ms) != (clean.ts_start_ms, clean.ts_end_ms):
        problems.append("covers another window than this run")
    if run.initial_equity_usd != clean.initial_equity_usd:
        problems.append(
            f"starts from {clean.initial_equity_usd} USD, this run from {run.initial_equity_usd}"
        )
    if problems:
        raise ConfigError([("--against", f"{clean_journal} {'; '.join(problems)}")])
    names = sorted({*run.pnl_by_strategy_usd, *clean.pnl_by_strategy_usd, *outcomes_run})
    by_strategy = {
        name: StrategyFaultCost(
            pnl=_streams(
                run.pnl_by_strategy_usd.get(name, {}), clean.pnl_by_strategy_usd.get(name, {})
            ),
            pair_outcomes_run=dict(outcomes_run.get(name, {})),
            pair_outcomes_clean=dict(outcomes_clean.get(name, {})),
            leg_risk_run=run.leg_risk.get(name, _NO_RISK),
            leg_risk_clean=clean.leg_risk.get(name, _NO_RISK),
        )
        for name in names
    }
    return FaultCost(
        clean_journal=clean_journal,
        final_equity_run_usd=run.final_equity_usd,
        final_equity_clean_usd=clean.final_equity_usd,
        final_equity_difference_usd=run.final_equity_usd - clean.final_equity_usd,
        total=_streams(run.pnl_usd, clean.pnl_usd),
        by_strategy=by_strategy,
        orders=(run.counts.orders, clean.counts.orders),
        fills=(run.counts.fills, clean.counts.fills),
        rejected_orders=(run.counts.rejected_orders, clean.counts.rejected_orders),
    )


def pair_outcomes(journal_path: Path) -> dict[str, dict[str, int]]:
    """Each strategy's pairs by outcome, from the journal at ``journal_path``."""
    with Journal.open(journal_path) as journal:
        return journal.pair_outcomes_by_strategy()


def build_fault_cost(run: RunSummary, journal_path: Path, clean_journal: Path) -> FaultCost:
    """The run summarised by ``run`` (journaled at ``journal_path``) against the clean run
    journaled at ``clean_journal``.

    Raises
    ------
    ConfigError
        (key ``--against``) No journal at ``clean_journal``, or not the same window and
        initial equity.
    AgentError, JournalError
        The clean journal is not a finished zerobeta run.
    """
    from agent.reporting.report import build_summary  # the ledger replay: only for this

    if not clean_journal.is_file():
        raise ConfigError([("--against", f"no journal at {clean_journal}")])
    clean = build_summary(clean_journal)
    return compare_runs(
        run, clean, pair_outcomes(journal_path), pair_outcomes(clean_journal), str(clean_journal)
    )


# ---------------------------------------------------------------------------------------------
# Output


def _usd(amount: Decimal) -> str:
    text = f"{amount:,.2f}"
    return text[1:] if text == "-0.00" else text


def _signed_usd(amount: Decimal) -> str:
    text = _usd(amount)
    return text if text.startswith("-") or text == "0.00" else "+" + text


def _outcomes(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items())) or "none"


def _table(title: str, headers: list[str], rows: list[tuple[str, list[str]]]) -> list[str]:
    widths = [max(len(h), *(len(cells[i]) for _, cells in rows)) for i, h in enumerate(headers)]
    name_w = max(len(title), *(len(name) for name, _ in rows))
    return [
        name.ljust(name_w) + "".join(f"  {c:>{w}}" for c, w in zip(cells, widths, strict=True))
        for name, cells in [(title, headers), *rows]
    ]


def format_fault_cost(cost: FaultCost) -> str:
    """The comparison as text: equity, P&L differences per strategy (total, fees, slippage),
    counts, and per strategy its pairs by outcome and leg risk in both runs."""
    head = [
        f"against the clean run {cost.clean_journal} (this run − clean; negative = cost)",
        f"  final equity        {_usd(cost.final_equity_run_usd)} USD vs "
        f"{_usd(cost.final_equity_clean_usd)} USD clean: "
        f"{_signed_usd(cost.final_equity_difference_usd)} USD",
        f"  orders              {cost.orders[0]:,} vs {cost.orders[1]:,}; fills "
        f"{cost.fills[0]:,} vs {cost.fills[1]:,}; rejected orders {cost.rejected_orders[0]:,} "
        f"vs {cost.rejected_orders[1]:,}",
    ]
    streams = ["total_usd", "fees_usd", "slippage_usd", "funding_usd"]
    headers = ["P&L", "clean", "difference", "fees diff", "slippage diff", "funding diff"]
    entries = [("total", cost.total)]
    entries += [(f"strategy {n}", s.pnl) for n, s in cost.by_strategy.items()]
    rows = [
        (
            f"  {name}",
            [
                _usd(c.run_usd["total_usd"]),
                _usd(c.clean_usd["total_usd"]),
                *(_signed_usd(c.difference_usd[k]) for k in streams),
            ],
        )
        for name, c in entries
    ]
    pnl = _table("P&L against clean (USD)", headers, rows)
    risk_headers = ["unhedged USD·s", "clean", "longest (s)", "clean", "past budget", "clean"]
    risk_rows = []
    outcome_lines = ["pairs by outcome (this run | clean)"]
    for name, s in cost.by_strategy.items():
        r, c = s.leg_risk_run, s.leg_risk_clean
        if not (s.pair_outcomes_run or s.pair_outcomes_clean):
            continue
        risk_rows.append(
            (
                f"  {name}",
                [
                    f"{r.unhedged_usd_s:,.0f}",
                    f"{c.unhedged_usd_s:,.0f}",
                    f"{r.longest_unhedged_s:,.0f}",
                    f"{c.longest_unhedged_s:,.0f}",
                    f"{r.pairs_past_budget:,}",
                    f"{c.pairs_past_budget:,}",
                ],
            )
        )
        outcome_lines.append(
            f"  {name}: {_outcomes(s.pair_outcomes_run)} | {_outcomes(s.pair_outcomes_clean)}"
        )
    sections = [head, pnl]
    if risk_rows:
        sections += [_table("leg risk against clean", risk_headers, risk_rows), outcome_lines]
    return "\n\n".join("\n".join(lines) for lines in sections)


def _streams_dict(c: StreamsComparison) -> dict[str, object]:
    return {
        "run_usd": {k: str(v) for k, v in c.run_usd.items()},
        "clean_usd": {k: str(v) for k, v in c.clean_usd.items()},
        "difference_usd": {k: str(v) for k, v in c.difference_usd.items()},
    }


def _risk_dict(r: LegRiskStats) -> dict[str, object]:
    return {
        "pairs": r.pairs,
        "unhedged_usd_s": r.unhedged_usd_s,
        "longest_unhedged_s": r.longest_unhedged_s,
        "max_unhedged_usd": r.max_unhedged_usd,
        "pairs_past_budget": r.pairs_past_budget,
        "pairs_open": r.pairs_open,
    }


def fault_cost_to_dict(cost: FaultCost) -> dict[str, object]:
    """JSON-ready dict (``against_clean`` of ``summary --json`` / ``report --json``): USD
    amounts as exact decimal strings, counts as ``{"run": n, "clean": n}``."""
    return {
        "clean_journal": cost.clean_journal,
        "final_equity_usd": {
            "run": str(cost.final_equity_run_usd),
            "clean": str(cost.final_equity_clean_usd),
            "difference": str(cost.final_equity_difference_usd),
        },
        "pnl_total": _streams_dict(cost.total),
        "by_strategy": {
            name: {
                "pnl": _streams_dict(s.pnl),
                "pair_outcomes": {"run": s.pair_outcomes_run, "clean": s.pair_outcomes_clean},
                "leg_risk": {
                    "run": _risk_dict(s.leg_risk_run),
                    "clean": _risk_dict(s.leg_risk_clean),
                },
            }
            for name, s in cost.by_strategy.items()
        },
        "orders": {"run": cost.orders[0], "clean": cost.orders[1]},
        "fills": {"run": cost.fills[0], "clean": cost.fills[1]},
        "rejected_orders": {"run": cost.rejected_orders[0], "clean": cost.rejected_orders[1]},
    }
