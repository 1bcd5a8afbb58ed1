"""Ex-post market neutrality of a finished (or running) run, per strategy and for the portfolio.

``zerobeta report`` prints, for the whole portfolio and for each strategy, the OLS regression
of daily returns on daily BTC returns (SEEDS.md "Measuring neutrality after the fact"): beta
with its t-statistic, p-value and 95 % interval, annualized alpha (× 365), tracking error,
information ratio, Sharpe, R², the 21-day rolling beta's mean / std / max |β|, the "truly
neutral" verdict and the SEEDS.md diagnoses; for a live run also the funding gaps per perp
(:mod:`agent.reporting.funding_gaps`). The statistics are
:func:`agent.reporting.analysis.ex_post_beta` and
:func:`agent.reporting.analysis.sharpe_annualized`, so the
portfolio block equals the neutrality section of ``zerobeta summary``.

Daily series: equity snapshots are resampled to UTC-day closes by
:func:`agent.reporting.analysis.daily_series` (snapshots without a BTC price are skipped). A
strategy's
daily return is its contribution to the portfolio return, ``(P_s[d] − P_s[d−1]) / E[d−1]``
(cumulative strategy P&L over portfolio equity at the previous day close; see
:mod:`agent.reporting.strategy_returns`), so the strategies' returns sum to the portfolio's and, OLS
being linear in the dependent variable, so do their betas and alphas. A strategy's Sharpe
ratio is that of its contribution series (the risk-free rate, 0 by default, is subtracted
from each series alike).

Degenerate input never raises: a strategy named in the run metadata without any P&L row
(never traded), one whose P&L never changed between day closes, or a journal with too few
days gives NaN statistics with ``neutrality.reason`` set. Errors: :class:`JournalError` when
the file is missing, not a zerobeta journal, of another schema version, or holds malformed
snapshots.

The journal is opened read-only, so a report can be taken while the daemon is writing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, is_dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

import numpy as np

from agent.errors import JournalError
from agent.reporting.analysis import (
    DAYS_PER_YEAR,
    DEFAULT_THRESHOLDS,
    MIN_REGRESSION_OBS,
    NO_PRICED_SNAPSHOTS,
    NeutralityStats,
    NeutralityThresholds,
    daily_series,
    ex_post_beta,
    sharpe_annualized,
)
from agent.reporting.funding_gaps import FundingGapStats, format_funding_gaps
from agent.reporting.strategy_returns import (
    FloatArray,
    IntArray,
    StrategyPnl,
    pnl_as_of,
    read_journal_series,
    strategy_daily_returns,
)

PORTFOLIO = "portfolio"
"""Name of the whole-portfolio entry."""
STRATEGY_RETURN_DEFINITION = (
    "daily change of the strategy's cumulative P&L / portfolio equity at the previous UTC "
    "day close (contribution to the portfolio return)"
)
_NEVER_TRADED = "no P&L snapshots in the journal: the strategy never traded"
_CONSTANT_PNL = "P&L never changed between UTC day closes (no position held over a close)"
_RETURN_DEFINITION_SHORT = "Δ strategy P&L / portfolio equity at the previous UTC day close"
_KEY_WIDTH = 18


# ---------------------------------------------------------------------------------------------
# Value types


@dataclass(frozen=True, slots=True)
class NeutralityEntry:
    """Neutrality of one return series: the portfolio's or one strategy's contribution.

    Attributes
    ----------
    name : str
        Strategy name, or :data:`PORTFOLIO`.
    pnl_usd : float
        Cumulative P&L since the run start at the last equity snapshot (with or without a BTC
        price), USD (portfolio: equity − initial equity; 0.0 for a strategy that never
        traded).
    n_pnl_snapshots : int
        Journal rows behind the series (equity snapshots for the portfolio, the strategy's
        ``strategy_pnl_snapshots`` rows otherwise).
    sharpe : float
        Annualized Sharpe ratio of the daily returns (× √365); NaN when undefined.
    neutrality : NeutralityStats
        Regression on BTC daily returns; all NaN with ``reason`` set when unavailable.
    """

    name: str
    pnl_usd: float
    n_pnl_snapshots: int
    sharpe: float
    neutrality: NeutralityStats


@dataclass(frozen=True, slots=True)
class NeutralityReport:
    """Ex-post neutrality of a run: the portfolio and each strategy.

    Attributes
    ----------
    journal_path : str
        The journal the report was read from.
    ts_first_day_ms, ts_last_day_ms : int or None
        Start (00:00 UTC) of the first and last UTC day with a snapshot, epoch ms; None
        without snapshots.
    n_days : int
        UTC days with at least one usable equity snapshot (``n_days − 1`` daily returns).
    risk_free_annual : float
        Risk-free rate used for the Sharpe ratios, fraction per year.
    portfolio : NeutralityEntry
        Whole portfolio (daily equity returns).
    strategies : tuple[NeutralityEntry, ...]
        One per strategy named in the run metadata or owning P&L rows, sorted by name.
    funding_gaps : tuple[FundingGapStats, ...]
        Live runs: each perp's funding payments against −rate × position × mark (count, sum
        and worst gap), sorted by instrument; empty for a replay or paper run.
    """

    journal_path: str
    ts_first_day_ms: int | None
    ts_last_day_ms: int | None
    n_days: int
    risk_free_annual: float
    portfolio: NeutralityEntry
    strategies: tuple[NeutralityEntry, ...]
    funding_gaps: tuple[FundingGapStats, ...] = ()


class _Settings(NamedTuple):
    risk_free_annual: float
    rolling_window: int
    thresholds: NeutralityThresholds


# ---------------------------------------------------------------------------------------------
# Report


def build_neutrality_report(
    journal_path: Path,
    *,
    risk_free_annual: float = 0.0,
    rolling_window: int = 21,
    thresholds: NeutralityThresholds = DEFAULT_THRESHOLDS,
) -> NeutralityReport:
    """Neutrality of the portfolio and of each strategy of the run journaled at a path.

    Parameters
    ----------
    journal_path : Path
        A zerobeta journal.
    risk_free_annual : float
        Risk-free rate for the Sharpe ratios, fraction per year.
    rolling_window : int
        Rolling-beta window, days (``>= 2``).
    thresholds : NeutralityThresholds
        Verdict and diagnosis limits (SEEDS.md defaults).

    Returns
    -------
    NeutralityReport

    Raises
    ------
    JournalError
        Unreadable journal (:func:`read_journal_series`), or snapshots that are malformed
        (equity <= 0, times going back, non-finite P&L).
    ValueError
        ``rolling_window < 2``.
    """
    if rolling_window < 2:
        raise ValueError(f"rolling_window must be >= 2, got {rolling_window}")
    data = read_journal_series(journal_path)
    keep = np.isfinite(data.btc_price_usd)
    ts, eq, btc = data.ts_ms[keep], data.equity_usd[keep], data.btc_price_usd[keep]
    settings = _Settings(risk_free_annual, rolling_window, thresholds)
    try:
        daily = daily_series(ts, eq, btc)
        names = sorted(set(data.strategies) | set(data.strategy_pnl))
        strategies = tuple(
            _strategy_entry(
                n, data.strategy_pnl.get(n), ts, eq, daily.btc_returns_frac, settings, data.ts_ms
            )
            for n in names
        )
    except ValueError as err:
        raise JournalError(f"malformed snapshots: {err}", path=str(journal_path)) from err
    # the P&L at the last snapshot, priced or not (the reference's data may end first)
    pnl_usd = float(data.equity_usd[-1]) - data.initial_equity_usd if data.ts_ms.size else 0.0
    reason = None if eq.size else NO_PRICED_SNAPSHOTS
    portfolio = _entry(
        PORTFOLIO,
        daily.equity_returns_frac,
        daily.btc_returns_frac,
        settings,
        pnl_usd=pnl_usd,
        n_rows=int(eq.size),
        reason=reason,
    )
    days = daily.ts_day_ms
    return NeutralityReport(
        journal_path=str(journal_path),
        ts_first_day_ms=int(days[0]) if days.size else None,
        ts_last_day_ms=int(days[-1]) if days.size else None,
        n_days=int(days.size),
        risk_free_annual=risk_free_annual,
        portfolio=portfolio,
        strategies=strategies,
        funding_gaps=data.funding_gaps,
    )


def _strategy_entry(
    name: str,
    pnl: StrategyPnl | None,
    ts: IntArray,
    eq: FloatArray,
    btc_returns: FloatArray,
    settings: _Settings,
    all_ts: IntArray,
) -> NeutralityEntry:
    """``ts``/``eq``: the snapshots with a BTC price; ``all_ts``: every snapshot's time."""
    if pnl is None:
        empty = np.empty(0)
        return _entry(name, empty, empty, settings, pnl_usd=0.0, n_rows=0, reason=_NEVER_TRADED)
    n_rows = int(pnl.ts_ms.size)
    last_ts = all_ts[-1:]  # empty without any snapshot: the last P&L row
    pnl_usd = float(pnl_as_of(last_ts, pnl)[0]) if last_ts.size else float(pnl.total_usd[-1])
    returns = strategy_daily_returns(ts, eq, pnl)
    reason = None
    if ts.size == 0:
        reason = NO_PRICED_SNAPSHOTS
    elif returns.size >= MIN_REGRESSION_OBS and np.ptp(returns) == 0.0:
        reason = _CONSTANT_PNL
    return _entry(
        name, returns, btc_returns, settings, pnl_usd=pnl_usd, n_rows=n_rows, reason=reason
    )


def _entry(
    name: str,
    returns: FloatArray,
    btc_returns: FloatArray,
    settings: _Settings,
    *,
    pnl_usd: float,
    n_rows: int,
    reason: str | None,
) -> NeutralityEntry:
    """Regression and Sharpe of one series; ``reason`` forces NaN statistics."""
    if reason is not None:
        stats = NeutralityStats.unavailable(reason, int(returns.size), settings.rolling_window)
        return NeutralityEntry(name, pnl_usd, n_rows, math.nan, stats)
    stats = ex_post_beta(
        returns,
        btc_returns,
        DAYS_PER_YEAR,
        rolling_window=settings.rolling_window,
        thresholds=settings.thresholds,
    )
    sharpe = sharpe_annualized(returns, DAYS_PER_YEAR, settings.risk_free_annual)
    return NeutralityEntry(name, pnl_usd, n_rows, sharpe, stats)


# ---------------------------------------------------------------------------------------------
# Output


def _num(value: float, digits: int = 2) -> str:
    return f"{value:.{digits}f}" if math.isfinite(value) else "n/a"


def _pct(frac: float) -> str:
    return f"{frac:.2%}" if math.isfinite(frac) else "n/a"


def _day(ts_ms: int | None) -> str:
    return (
        "n/a" if ts_ms is None else datetime.fromtimestamp(ts_ms / 1000, tz=UTC).date().isoformat()
    )


def _kv(pairs: list[tuple[str, str]]) -> list[str]:
    width = max(_KEY_WIDTH, *(len(k) for k, _ in pairs))
    return [f"  {k.ljust(width)}  {v}" for k, v in pairs]


def _header_lines(r: NeutralityReport) -> list[str]:
    n_ret = max(r.n_days - 1, 0)
    return [
        f"zerobeta neutrality report: {r.journal_path}",
        *_kv(
            [
                ("period", f"{_day(r.ts_first_day_ms)} → {_day(r.ts_last_day_ms)} UTC "
                           f"({r.n_days} days, {n_ret} daily returns)"),
                ("method", "OLS of daily returns on BTC daily returns; annualized × 365; "
                           f"risk-free {_pct(r.risk_free_annual)}"),
                ("strategy returns", _RETURN_DEFINITION_SHORT),
            ]
        ),
    ]  # fmt: skip


def _overview_lines(r: NeutralityReport) -> list[str]:
    """One row per entry: name, beta, p-value, R², Sharpe, verdict."""
    entries = [r.portfolio, *r.strategies]
    name_w = max(len("series"), *(len(e.name) for e in entries))
    head = f"{'series':<{name_w}}  {'beta':>7}  {'p':>6}  {'R²':>6}  {'Sharpe':>7}  neutral"
    rows = [head]
    for e in entries:
        n = e.neutrality
        verdict = "n/a" if n.reason else ("yes" if n.truly_neutral else "no")
        rows.append(
            f"{e.name:<{name_w}}  {_num(n.beta, 4):>7}  {_num(n.beta_pvalue, 3):>6}  "
            f"{_num(n.r_squared, 3):>6}  {_num(e.sharpe):>7}  {verdict}"
        )
    return rows


def _entry_lines(e: NeutralityEntry) -> list[str]:
    n = e.neutrality
    title = "portfolio" if e.name == PORTFOLIO else f"strategy {e.name}"
    head = f"{title} (P&L {e.pnl_usd:+,.2f} USD; n = {n.n_obs} daily returns)"
    if n.reason:
        return [head, f"  n/a: {n.reason}"]
    low, high = n.beta_ci95
    pairs = [
        ("beta", f"{n.beta:.4f} (t {n.beta_tstat:.2f}, p {n.beta_pvalue:.3f}, "
                 f"95% CI {low:.4f} … {high:.4f})"),
        ("alpha (annual)", _pct(n.alpha_annualized)),
        ("tracking error", f"{_pct(n.tracking_error_annualized)} (annualized)"),
        ("information ratio", _num(n.information_ratio)),
        ("Sharpe", _num(e.sharpe)),
        ("R²", f"{n.r_squared:.3f}"),
        (f"rolling beta {n.rolling_window}d", f"mean {_num(n.rolling_beta_mean, 4)}, std "
         f"{_num(n.rolling_beta_std, 4)}, max |β| {_num(n.rolling_beta_max_abs, 4)}"),
        ("truly neutral", "yes" if n.truly_neutral else "no"),
    ]  # fmt: skip
    return [head, *_kv(pairs), *(f"  diagnosis: {d}" for d in n.diagnoses)]


def format_neutrality_report(report: NeutralityReport) -> str:
    """Render a report as aligned plain text for a terminal.

    Sections, separated by blank lines: a header (journal, period, method), an overview
    table (one row per series), then one block for the portfolio and one per strategy, and
    the funding gaps of a live run (count, sum, worst per perp).
    Fractions print as percentages, NaN as ``n/a`` with the recorded reason.

    Parameters
    ----------
    report : NeutralityReport

    Returns
    -------
    str
        No trailing newline.
    """
    sections = [_header_lines(report), _overview_lines(report)]
    sections += [_entry_lines(e) for e in (report.portfolio, *report.strategies)]
    sections.append(format_funding_gaps(report.funding_gaps))
    return "\n\n".join("\n".join(lines) for lines in sections)


def _jsonable(value: object) -> object:
    """Non-finite float → None, dataclass → dict, tuple → list; recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return str(value)
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    return value


def neutrality_report_to_dict(report: NeutralityReport) -> dict[str, object]:
    """JSON-ready dict of a report (``zerobeta report --json``).

    Keys follow :class:`NeutralityReport`, except ``strategies``, a mapping from strategy
    name to its entry, and ``funding_gaps``, a mapping from instrument to its gap statistics
    (USD amounts as exact decimal strings); plus ``periods_per_year`` (365) and
    ``strategy_return_definition``.
    NaN/inf statistics are ``null``; tuples (the confidence interval, diagnoses) are lists.

    Parameters
    ----------
    report : NeutralityReport

    Returns
    -------
    dict[str, object]
        Serializable with ``json.dumps(..., allow_nan=False)``.
    """
    result: dict[str, object] = {
        f.name: _jsonable(getattr(report, f.name))
        for f in fields(report)
        if f.name not in ("strategies", "funding_gaps")
    }
    result["strategies"] = {e.name: _jsonable(e) for e in report.strategies}
    result["funding_gaps"] = {g.instrument: _jsonable(g) for g in report.funding_gaps}
    result["periods_per_year"] = DAYS_PER_YEAR
    result["strategy_return_definition"] = STRATEGY_RETURN_DEFINITION
    return result
