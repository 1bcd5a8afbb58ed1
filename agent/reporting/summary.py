"""The run summary: what ``zerobeta run`` and ``zerobeta summary`` print (text or JSON).

:class:`RunSummary` holds a finished run's figures (built from the journal by
``agent.reporting.report.build_summary``); :func:`format_summary` renders fixed-width text tables
(USD
with thousands separators and 2 decimals, fractions as %, NaN as ``n/a`` with its reason) and
:func:`summary_to_dict` a JSON-ready mapping (Decimals as strings, NaN as ``null``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import UTC, datetime
from decimal import Decimal

from agent.reporting.analysis import MS_PER_DAY, PNL_STREAMS, NeutralityStats, PerformanceStats
from agent.reporting.greeks_attribution import format_greeks_attribution
from agent.reporting.pnl_breakdown import format_leg_table

_KEY_WIDTH = 18  # label column of the summary's key/value sections


@dataclass(frozen=True, slots=True)
class RunCounts:
    """Event counts of a run (all ``>= 0``)."""

    orders: int
    fills: int
    rejected_orders: int
    risk_rejections: int
    funding_payments: int
    unresolved_orders: int = 0
    """Orders whose outcome was still unknown at the last checkpoint (live runs)."""


@dataclass(frozen=True, slots=True)
class LegRiskStats:
    """One strategy's leg risk over a run, from its ``pair_exposure`` rows
    (:mod:`agent.execution.exposure`).

    Attributes
    ----------
    pairs : int
        Pairs journaled (sent as two or more separate orders).
    unhedged_usd_s : float
        Their unhedged notional integrated over time, summed, USD·s.
    longest_unhedged_s : float
        The longest time one of them stayed unhedged, s.
    max_unhedged_usd : float
        The largest unhedged notional one of them reached, USD.
    pairs_past_budget : int
        Pairs whose unhedged USD·s went past ``naked_budget_usd_s`` (completed or unwound by
        the engine).
    pairs_open : int
        Pairs still unbalanced when the run ended.
    """

    pairs: int
    unhedged_usd_s: float
    longest_unhedged_s: float
    max_unhedged_usd: float
    pairs_past_budget: int
    pairs_open: int = 0


@dataclass(frozen=True, slots=True)
class RunSummary:
    """Everything ``zerobeta run`` / ``zerobeta summary`` prints about a finished run.

    Attributes
    ----------
    ts_start_ms, ts_end_ms : int
        First and last event of the run, epoch ms UTC.
    initial_equity_usd, final_equity_usd : Decimal
        Equity at start and end, USD.
    pnl_usd : Mapping[str, Decimal]
        Whole-run P&L by stream (:data:`PNL_STREAMS`; costs negative), USD.
    pnl_by_strategy_usd, pnl_by_venue_usd : Mapping[str, Mapping[str, Decimal]]
        The same streams per strategy name / per venue name, USD.
    pnl_by_leg_usd : Mapping[str, Mapping[str, Mapping[str, Decimal]]]
        The same streams per strategy, per instrument id it traded (its legs); a strategy's
        legs sum to its ``pnl_by_strategy_usd`` row exactly, USD.
    counts : RunCounts
        Orders, fills, rejected orders, risk rejections, funding payments.
    fees_paid_usd, funding_received_usd, funding_paid_usd : Decimal
        Gross amounts, each ``>= 0``, USD.
    performance : PerformanceStats
        Drawdown, Sharpe, CAGR, Calmar and neutrality (:func:`performance_stats`).
    wall_time_s : float or None
        Wall-clock duration of the run, seconds, when known.
    leg_risk : Mapping[str, LegRiskStats]
        Per strategy name (strategies that sent pairs), sorted by name; empty for a journal
        without ``pair_exposure`` rows.
    greeks_attribution_usd : Mapping[str, Mapping[str, float]]
        Per options strategy, its book's price P&L split by greek over the run, USD
        (:mod:`agent.reporting.greeks_attribution`); empty without one.
    """

    ts_start_ms: int
    ts_end_ms: int
    initial_equity_usd: Decimal
    final_equity_usd: Decimal
    pnl_usd: Mapping[str, Decimal]
    pnl_by_strategy_usd: Mapping[str, Mapping[str, Decimal]]
    pnl_by_venue_usd: Mapping[str, Mapping[str, Decimal]]
    counts: RunCounts
    fees_paid_usd: Decimal
    funding_received_usd: Decimal
    funding_paid_usd: Decimal
    performance: PerformanceStats
    wall_time_s: float | None = field(default=None)
    leg_risk: Mapping[str, LegRiskStats] = field(default_factory=dict)
    pnl_by_leg_usd: Mapping[str, Mapping[str, Mapping[str, Decimal]]] = field(default_factory=dict)
    greeks_attribution_usd: Mapping[str, Mapping[str, float]] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# Output


def _usd(amount: Decimal) -> str:
    """``1234.5`` → ``1,234.50``; never prints ``-0.00``."""
    text = f"{amount:,.2f}"
    return text[1:] if text == "-0.00" else text


def _pct(frac: float) -> str:
    return f"{frac:.2%}" if math.isfinite(frac) else "n/a"


def _signed(text: str) -> str:
    """Prefix ``+`` to a formatted positive number (not to ``0.00``, ``-…`` or ``n/a``)."""
    return "+" + text if text[0].isdigit() and text.strip("0.,%") else text


def _num(value: float, digits: int = 2) -> str:
    return f"{value:.{digits}f}" if math.isfinite(value) else "n/a"


def _utc(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def _stream_columns(summary: RunSummary) -> list[str]:
    rows = [summary.pnl_usd, *summary.pnl_by_strategy_usd.values()]
    rows += summary.pnl_by_venue_usd.values()
    extra = sorted({k for row in rows for k in row} - set(PNL_STREAMS))
    return [*PNL_STREAMS, *extra]


def _pnl_table(summary: RunSummary) -> list[str]:
    """Fixed-width P&L table: one row per total / strategy / venue, one column per stream."""
    columns = _stream_columns(summary)
    rows: list[tuple[str, Mapping[str, Decimal]]] = [("total", summary.pnl_usd)]
    rows += [(f"strategy {k}", v) for k, v in sorted(summary.pnl_by_strategy_usd.items())]
    rows += [(f"venue {k}", v) for k, v in sorted(summary.pnl_by_venue_usd.items())]
    cells = [[_usd(row[c]) if c in row else "-" for c in columns] for _, row in rows]
    headers = [c.removesuffix("_usd").replace("_", " ") for c in columns]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    names = ["P&L (USD)", *(name for name, _ in rows)]
    name_w = max(len(name) for name in names)
    return [
        name.ljust(name_w) + "".join(f"  {c:>{w}}" for c, w in zip(line, widths, strict=True))
        for name, line in zip(names, [headers, *cells], strict=True)
    ]


def _kv(pairs: list[tuple[str, str]]) -> list[str]:
    """Indented ``key  value`` lines; keys padded to one width across all sections."""
    width = max(_KEY_WIDTH, *(len(k) for k, _ in pairs))
    return [f"  {k.ljust(width)}  {v}" for k, v in pairs]


def _header_lines(s: RunSummary) -> list[str]:
    days = (s.ts_end_ms - s.ts_start_ms) / MS_PER_DAY
    change = s.final_equity_usd - s.initial_equity_usd
    change_frac = float(change / s.initial_equity_usd) if s.initial_equity_usd else math.nan
    pairs = [
        ("period", f"{_utc(s.ts_start_ms)} → {_utc(s.ts_end_ms)} UTC ({days:.2f} days)"),
        ("initial equity", f"{_usd(s.initial_equity_usd)} USD"),
        ("final equity", f"{_usd(s.final_equity_usd)} USD"),
        ("change", f"{_signed(_usd(change))} USD ({_signed(_pct(change_frac))})"),
    ]
    if s.wall_time_s is not None:
        pairs.append(("wall time", f"{s.wall_time_s:.1f} s"))
    return ["zerobeta run summary", *_kv(pairs)]


def _activity_lines(s: RunSummary) -> list[str]:
    c = s.counts
    return [
        "activity",
        *_kv(
            [
                ("orders", f"{c.orders:,}"),
                ("fills", f"{c.fills:,}"),
                ("rejected orders", f"{c.rejected_orders:,}"),
                ("risk rejections", f"{c.risk_rejections:,}"),
                ("funding payments", f"{c.funding_payments:,}"),
                *(
                    [("unresolved orders", f"{c.unresolved_orders:,} (looked up every step)")]
                    if c.unresolved_orders
                    else []
                ),
                ("fees paid", f"{_usd(s.fees_paid_usd)} USD"),
                ("funding received", f"{_usd(s.funding_received_usd)} USD"),
                ("funding paid", f"{_usd(s.funding_paid_usd)} USD"),
            ]
        ),
    ]


def _leg_risk_lines(s: RunSummary) -> list[str]:
    """Fixed-width table: one row per strategy that sent pairs (empty without any)."""
    if not s.leg_risk:
        return []
    headers = ["pairs", "unhedged USD·s", "longest unhedged", "max unhedged USD", "past budget"]
    rows = [
        (
            f"  {name}",
            [
                f"{r.pairs:,}",
                f"{r.unhedged_usd_s:,.2f}",
                f"{r.longest_unhedged_s:,.1f} s",
                _usd(Decimal(repr(r.max_unhedged_usd))),
                f"{r.pairs_past_budget:,}" + (f" ({r.pairs_open:,} open)" if r.pairs_open else ""),
            ],
        )
        for name, r in sorted(s.leg_risk.items())
    ]
    widths = [max(len(h), *(len(cells[i]) for _, cells in rows)) for i, h in enumerate(headers)]
    title = "leg risk (per strategy)"
    name_w = max(len(title), *(len(name) for name, _ in rows))
    return [
        name.ljust(name_w) + "".join(f"  {c:>{w}}" for c, w in zip(cells, widths, strict=True))
        for name, cells in [(title, headers), *rows]
    ]


def _performance_lines(p: PerformanceStats) -> list[str]:
    dd = _pct(p.max_drawdown_frac)
    peak_ms, trough_ms = p.drawdown_peak_ts_ms, p.drawdown_trough_ts_ms
    if peak_ms is not None and trough_ms is not None and p.max_drawdown_frac > 0:
        dd += f" ({_utc(peak_ms)} → {_utc(trough_ms)} UTC)"
    lines = [
        f"performance ({p.n_days} UTC days; ratios from daily returns, annualized × 365)",
        *_kv(
            [
                ("total return", _pct(p.total_return_frac)),
                ("CAGR", _pct(p.annualized_return_frac)),
                ("max drawdown", dd),
                ("Sharpe", _num(p.sharpe)),
                ("Calmar", _num(p.calmar)),
            ]
        ),
    ]
    if p.reason:
        lines.append(f"  note: {p.reason}")
    return lines


def _neutrality_lines(n: NeutralityStats) -> list[str]:
    head = f"neutrality vs BTC (OLS of daily returns, n = {n.n_obs})"
    if n.reason:
        return [head, f"  n/a: {n.reason}"]
    low, high = n.beta_ci95
    pairs = [
        (
            "beta",
            f"{n.beta:.3f} (t {n.beta_tstat:.2f}, p {n.beta_pvalue:.3f}, "
            f"95% CI {low:.3f} … {high:.3f})",
        ),
        ("alpha (annual)", _pct(n.alpha_annualized)),
        ("R²", f"{n.r_squared:.3f}"),
        ("tracking error", f"{_pct(n.tracking_error_annualized)} (annualized)"),
        ("information ratio", _num(n.information_ratio)),
        (
            f"rolling beta {n.rolling_window}d",
            f"mean {_num(n.rolling_beta_mean, 3)}, "
            f"std {_num(n.rolling_beta_std, 3)}, max |β| {_num(n.rolling_beta_max_abs, 3)}",
        ),
        ("truly neutral", "yes" if n.truly_neutral else "no"),
    ]
    lines = [head, *_kv(pairs)]
    lines += [f"  diagnosis: {d}" for d in n.diagnoses]
    return lines


def format_summary(summary: RunSummary) -> str:
    """Render a run summary as a plain, aligned text block for a terminal.

    Sections: header, P&L by stream per total / strategy / venue, P&L per leg (each
    instrument of each strategy, with the strategy's total), activity, performance,
    neutrality, leg risk. USD amounts have 2 decimals and thousands separators, fractions are
    printed as percentages, NaN statistics as ``n/a`` (with the recorded reason). The leg-risk
    table (per strategy: pairs, unhedged USD·s, longest unhedged time, largest unhedged
    notional, pairs past their naked budget) is left out when no pair was journaled.

    Parameters
    ----------
    summary : RunSummary

    Returns
    -------
    str
        Several sections separated by blank lines, no trailing newline.
    """
    sections = [
        _header_lines(summary),
        _pnl_table(summary),
        *([format_leg_table(summary.pnl_by_leg_usd)] if summary.pnl_by_leg_usd else []),
        format_greeks_attribution(summary.greeks_attribution_usd),
        _activity_lines(summary),
        _leg_risk_lines(summary),
        _performance_lines(summary.performance),
        _neutrality_lines(summary.performance.neutrality),
    ]
    return "\n\n".join("\n".join(lines) for lines in sections if lines)


def _jsonable(value: object, exact: bool = True) -> object:
    """Decimal → str (float unless ``exact``), non-finite float → None, dataclass/Mapping →
    dict, tuple → list."""
    if isinstance(value, Decimal):
        return str(value) if exact else float(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name), exact) for f in fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v, exact) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_jsonable(v, exact) for v in value]
    return value


def summary_to_dict(summary: RunSummary, *, exact: bool = True) -> dict[str, object]:
    """JSON-ready dict of a run summary (for ``zerobeta summary --json``).

    Field names follow :class:`RunSummary` (nested dataclasses become dicts); Decimals are
    strings (exact), NaN/inf statistics are ``null``, tuples are lists.

    Parameters
    ----------
    summary : RunSummary
    exact : bool
        False: Decimals become floats (the log's ``run_summary`` event, numbers as numbers).

    Returns
    -------
    dict[str, object]
        Serializable with ``json.dumps(..., allow_nan=False)``.
    """
    result = _jsonable(summary, exact)
    assert isinstance(result, dict)  # a dataclass always maps to a dict
    return result
