"""Per-strategy ex-post neutrality from a journal.

The journal is written by the real ledger and journal over 60 days of synthetic hourly
prices: ``beta_half`` holds BTC worth 0.5 × equity (plus a small idiosyncratic asset),
rebalanced at every UTC day close at the mark price with no fee, so its daily contribution is
≈ 0.5 × the BTC return; ``noise`` holds an asset independent of BTC; ``flat`` trades once and
holds nothing; ``idle`` is named in the run metadata but never trades. Expected values come
from each strategy's P&L computed here from its own positions and prices (not from the
ledger), regressed with numpy.
"""

from __future__ import annotations

import json
import math
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from agent.errors import JournalError
from agent.journal.journal import Journal
from agent.portfolio.ledger import Portfolio
from agent.reporting.analysis import NeutralityThresholds, daily_series
from agent.reporting.neutrality_report import (
    PORTFOLIO,
    NeutralityEntry,
    NeutralityReport,
    build_neutrality_report,
    format_neutrality_report,
    neutrality_report_to_dict,
)
from agent.reporting.strategy_returns import (
    StrategyPnl,
    day_close_indices,
    pnl_as_of,
    strategy_daily_returns,
)
from venues.model import Fill, InstrumentId, InstrumentKind, Liquidity, Side

D = Decimal
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
START_MS = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp() * 1000)
N_DAYS = 60
CAPITAL = D(100_000)
BTC = InstrumentId("binance", InstrumentKind.PERP, "BTCUSDT")
AAA = InstrumentId("binance", InstrumentKind.PERP, "AAAUSDT")
BBB = InstrumentId("binance", InstrumentKind.PERP, "BBBUSDT")
STRATEGIES = ("beta_half", "flat", "idle", "noise")


@dataclass
class Built:
    """A journal plus the daily series computed independently while building it."""

    path: Path
    btc_close: np.ndarray  # BTC price at each day close, USD, shape (60,)
    equity_close: np.ndarray  # equity at each day close, USD, shape (60,)
    pnl_close: dict[str, np.ndarray]  # cumulative P&L per strategy at each close, USD

    def returns(self, strategy: str) -> np.ndarray:
        if strategy == PORTFOLIO:
            return self.equity_close[1:] / self.equity_close[:-1] - 1.0
        return np.diff(self.pnl_close[strategy]) / self.equity_close[:-1]

    @property
    def btc_returns(self) -> np.ndarray:
        return self.btc_close[1:] / self.btc_close[:-1] - 1.0


def _prices(rng: np.random.Generator, start: float, vol: float, n: int, digits: int) -> list[D]:
    path = start * np.exp(np.cumsum(rng.normal(0.0, vol, n)))
    return [D(f"{p:.{digits}f}") for p in path]


def _fill(iid: InstrumentId, delta: D, price: D, n: int) -> Fill:
    return Fill(
        instrument_id=iid,
        client_order_id=f"c{n}",
        venue_order_id=f"v{n}",
        trade_id=f"t{n}",
        side=Side.BUY if delta > 0 else Side.SELL,
        qty=abs(delta),
        price=price,
        fee_usd=D(0),
        liquidity=Liquidity.MAKER,
        ts_event_ms=n,
        reference_price=price,
    )


class _Book:
    """Targets per strategy, booked in the ledger and the journal at the mark price."""

    def __init__(self, journal: Journal, portfolio: Portfolio) -> None:
        self.journal, self.portfolio = journal, portfolio
        self.qty: dict[tuple[str, InstrumentId], D] = {}
        self.n = 0

    def target(self, ts_ms: int, strategy: str, iid: InstrumentId, qty: D, price: D) -> None:
        delta = qty - self.qty.get((strategy, iid), D(0))
        if delta == 0:
            return
        self.n += 1
        fill = _fill(iid, delta, price, self.n)
        self.portfolio.apply_fill(strategy, fill, InstrumentKind.PERP)
        self.journal.record_fill(ts_ms, strategy, fill)
        self.qty[(strategy, iid)] = qty

    def day_pnl(self, strategy: str, old: dict[InstrumentId, D], new: dict[InstrumentId, D]) -> D:
        """P&L over a day of the positions held since the last close (fills at the mark)."""
        return sum((q * (new[i] - old[i]) for (s, i), q in self.qty.items() if s == strategy), D(0))


def _build(path: Path) -> Built:
    rng = np.random.default_rng(20240101)
    hours = N_DAYS * 24
    prices = {
        BTC: _prices(rng, 40_000.0, 0.006, hours, 2),
        AAA: _prices(rng, 100.0, 0.004, hours, 4),
        BBB: _prices(rng, 50.0, 0.006, hours, 4),
    }
    portfolio = Portfolio({"binance": CAPITAL})
    journal = Journal.open(path)
    journal.record_meta({"strategies": ",".join(STRATEGIES), "mode": "paper"})
    book = _Book(journal, portfolio)
    cum = {s: D(0) for s in STRATEGIES}
    closes: list[dict[InstrumentId, D]] = []
    equity_close, pnl_close = [], {s: [] for s in STRATEGIES}
    for h in range(hours):
        ts = START_MS + h * HOUR_MS
        mark = {iid: p[h] for iid, p in prices.items()}
        portfolio.mark(mark)
        journal.record_equity_snapshot(ts, portfolio, float(mark[BTC]))
        if h % 24 != 23:
            continue
        for s in STRATEGIES:
            cum[s] += book.day_pnl(s, closes[-1], mark) if closes else D(0)
            pnl_close[s].append(float(cum[s]))
        closes.append(mark)
        equity = CAPITAL + sum(cum.values(), D(0))
        equity_close.append(float(equity))
        _rebalance(book, ts, equity, mark, first=len(closes) == 1)
    journal.close()
    return Built(
        path,
        np.array([float(c[BTC]) for c in closes]),
        np.array(equity_close),
        {s: np.array(v) for s, v in pnl_close.items()},
    )


def _rebalance(book: _Book, ts: int, equity: D, mark: dict[InstrumentId, D], first: bool) -> None:
    def qty(frac: str, iid: InstrumentId) -> D:
        return (D(frac) * equity / mark[iid]).quantize(D("0.000001"))

    book.target(ts, "beta_half", BTC, qty("0.5", BTC), mark[BTC])
    book.target(ts, "beta_half", AAA, qty("0.05", AAA), mark[AAA])
    book.target(ts, "noise", BBB, qty("0.5", BBB), mark[BBB])
    if first:  # a round trip at the mark: P&L rows exist but never change
        book.target(ts, "flat", AAA, D(3), mark[AAA])
        book.target(ts, "flat", AAA, D(0), mark[AAA])


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return _build(tmp_path_factory.mktemp("neutrality") / "journal.sqlite")


@pytest.fixture(scope="module")
def report(built: Built) -> NeutralityReport:
    return build_neutrality_report(built.path)


def _entry(report: NeutralityReport, name: str) -> NeutralityEntry:
    if name == PORTFOLIO:
        return report.portfolio
    (entry,) = [e for e in report.strategies if e.name == name]
    return entry


@dataclass
class Ols:
    beta: float
    alpha_ann: float
    tstat: float
    pvalue: float
    ci: tuple[float, float]
    r_squared: float
    te_ann: float
    sharpe: float
    roll: np.ndarray


def _ols(y: np.ndarray, x: np.ndarray, window: int = 21) -> Ols:
    design = np.column_stack([np.ones_like(x), x])
    (alpha, beta), *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - alpha - beta * x
    n = y.size
    se = math.sqrt(resid @ resid / (n - 2) / np.sum((x - x.mean()) ** 2))
    half = stats.t.ppf(0.975, n - 2) * se
    roll = np.array(
        [np.polyfit(x[i - window : i], y[i - window : i], 1)[0] for i in range(window, n + 1)]
    )
    return Ols(
        beta=beta,
        alpha_ann=alpha * 365,
        tstat=beta / se,
        pvalue=2 * stats.t.sf(abs(beta / se), n - 2),
        ci=(beta - half, beta + half),
        r_squared=1 - resid @ resid / np.sum((y - y.mean()) ** 2),
        te_ann=np.std(resid, ddof=1) * math.sqrt(365),
        sharpe=y.mean() / np.std(y, ddof=1) * math.sqrt(365),
        roll=roll,
    )


# --- regression per strategy -----------------------------------------------------------------


@pytest.mark.parametrize("name", [PORTFOLIO, "beta_half", "noise"])
def test_statistics_equal_numpy_ols_of_independently_built_daily_series(
    built: Built, report: NeutralityReport, name: str
) -> None:
    expected = _ols(built.returns(name), built.btc_returns)
    n = _entry(report, name).neutrality
    assert n.reason is None
    assert n.n_obs == N_DAYS - 1
    assert n.beta == pytest.approx(expected.beta, rel=1e-9, abs=1e-12)
    assert n.beta_tstat == pytest.approx(expected.tstat, rel=1e-7)
    assert n.beta_pvalue == pytest.approx(expected.pvalue, rel=1e-6, abs=1e-12)
    assert n.beta_ci95 == pytest.approx(expected.ci, rel=1e-7, abs=1e-12)
    assert n.alpha_annualized == pytest.approx(expected.alpha_ann, rel=1e-7, abs=1e-12)
    assert n.r_squared == pytest.approx(expected.r_squared, rel=1e-9)
    assert n.tracking_error_annualized == pytest.approx(expected.te_ann, rel=1e-9)
    assert n.information_ratio == pytest.approx(expected.alpha_ann / expected.te_ann, rel=1e-7)
    assert _entry(report, name).sharpe == pytest.approx(expected.sharpe, rel=1e-9)
    assert n.rolling_beta_mean == pytest.approx(expected.roll.mean(), rel=1e-7)
    assert n.rolling_beta_std == pytest.approx(np.std(expected.roll, ddof=1), rel=1e-7)
    assert n.rolling_beta_max_abs == pytest.approx(np.max(np.abs(expected.roll)), rel=1e-7)


def test_constructed_betas_come_out_near_half_and_zero(report: NeutralityReport) -> None:
    half = _entry(report, "beta_half").neutrality
    noise = _entry(report, "noise").neutrality
    assert half.beta == pytest.approx(0.5, abs=0.03)
    assert half.beta_ci95[0] < 0.5 < half.beta_ci95[1]
    assert abs(noise.beta) < 0.15
    assert noise.beta_ci95[0] < 0.0 < noise.beta_ci95[1]
    assert _entry(report, PORTFOLIO).neutrality.beta == pytest.approx(0.5, abs=0.05)


def test_strategy_betas_and_alphas_add_up_to_the_portfolio(report: NeutralityReport) -> None:
    traded = [e.neutrality for e in report.strategies if e.neutrality.reason is None]
    p = report.portfolio.neutrality
    assert sum(n.beta for n in traded) == pytest.approx(p.beta, rel=1e-9)
    assert sum(n.alpha_annualized for n in traded) == pytest.approx(p.alpha_annualized, rel=1e-7)


def test_pnl_and_row_counts(built: Built, report: NeutralityReport) -> None:
    assert report.n_days == N_DAYS
    assert report.ts_first_day_ms == START_MS
    assert report.ts_last_day_ms == START_MS + (N_DAYS - 1) * DAY_MS
    assert report.portfolio.n_pnl_snapshots == N_DAYS * 24
    assert report.portfolio.pnl_usd == pytest.approx(built.equity_close[-1] - float(CAPITAL))
    half = _entry(report, "beta_half")
    assert half.pnl_usd == pytest.approx(built.pnl_close["beta_half"][-1], abs=1e-6)
    # rows start at the first snapshot after the first fill (day 0, 23:00 UTC)
    assert half.n_pnl_snapshots == N_DAYS * 24 - 24
    assert [e.name for e in report.strategies] == sorted(STRATEGIES)


# --- degenerate strategies -------------------------------------------------------------------


def test_strategy_that_never_traded_has_nan_stats_and_a_reason(report: NeutralityReport) -> None:
    idle = _entry(report, "idle")
    n = idle.neutrality
    assert n.reason is not None
    assert "never traded" in n.reason
    assert math.isnan(n.beta)
    assert math.isnan(n.beta_pvalue)
    assert math.isnan(idle.sharpe)
    assert n.truly_neutral is False
    assert n.diagnoses == ()
    assert (idle.pnl_usd, idle.n_pnl_snapshots) == (0.0, 0)


def test_strategy_whose_pnl_never_changes_has_nan_stats_and_a_reason(
    built: Built, report: NeutralityReport
) -> None:
    assert not built.pnl_close["flat"].any()  # the construction really is flat
    flat = _entry(report, "flat")
    assert flat.n_pnl_snapshots > 0
    assert flat.neutrality.reason is not None
    assert "never changed" in flat.neutrality.reason
    assert math.isnan(flat.neutrality.beta)


# --- diagnoses -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [PORTFOLIO, "beta_half", "noise"])
def test_default_diagnoses_follow_the_seeds_thresholds(
    built: Built, report: NeutralityReport, name: str
) -> None:
    expected = _ols(built.returns(name), built.btc_returns)
    text = " | ".join(_entry(report, name).neutrality.diagnoses)
    assert ("estimation lag" in text) == (abs(expected.beta) > 0.15)
    assert ("unstable betas" in text) == (np.std(expected.roll, ddof=1) > 0.20)
    assert ("factor exposure" in text) == (expected.r_squared > 0.30)
    assert ("signal decay" in text) == (expected.alpha_ann < 0)
    verdict = bool(abs(expected.beta) < 0.10 and expected.pvalue > 0.05)
    assert _entry(report, name).neutrality.truly_neutral is verdict


def test_beta_half_crosses_lag_and_factor_thresholds_and_noise_does_not(
    report: NeutralityReport,
) -> None:
    half = " | ".join(_entry(report, "beta_half").neutrality.diagnoses)
    noise = " | ".join(_entry(report, "noise").neutrality.diagnoses)
    assert "estimation lag" in half
    assert "factor exposure" in half
    assert "estimation lag" not in noise
    assert "factor exposure" not in noise


def test_lowered_thresholds_make_every_diagnosis_appear(built: Built) -> None:
    strict = NeutralityThresholds(lag_beta_abs=0.0, unstable_rolling_std=0.0, factor_r_squared=0.0)
    noise = _entry(build_neutrality_report(built.path, thresholds=strict), "noise")
    text = " | ".join(noise.neutrality.diagnoses)
    assert "estimation lag" in text
    assert "unstable betas" in text
    assert "factor exposure" in text


def test_risk_free_rate_and_rolling_window_are_applied(built: Built) -> None:
    r = build_neutrality_report(built.path, risk_free_annual=0.05, rolling_window=10)
    y = built.returns("noise") - 0.05 / 365
    expected_sharpe = y.mean() / np.std(y, ddof=1) * math.sqrt(365)
    entry = _entry(r, "noise")
    assert entry.sharpe == pytest.approx(expected_sharpe, rel=1e-9)
    roll = _ols(built.returns("noise"), built.btc_returns, window=10).roll
    assert entry.neutrality.rolling_window == 10
    assert entry.neutrality.rolling_beta_mean == pytest.approx(roll.mean(), rel=1e-7)


# --- output ----------------------------------------------------------------------------------


def test_json_has_no_nan_and_null_for_unavailable_stats(report: NeutralityReport) -> None:
    d = neutrality_report_to_dict(report)
    back = json.loads(json.dumps(d, allow_nan=False))
    strategies = back["strategies"]
    assert sorted(strategies) == sorted(STRATEGIES)
    idle = strategies["idle"]["neutrality"]
    assert idle["beta"] is None
    assert idle["beta_ci95"] == [None, None]
    assert "never traded" in idle["reason"]
    half = strategies["beta_half"]["neutrality"]
    assert half["beta"] == pytest.approx(_entry(report, "beta_half").neutrality.beta)
    assert back["portfolio"]["name"] == PORTFOLIO
    assert back["periods_per_year"] == 365
    assert "previous" in back["strategy_return_definition"]


def _block(text: str, title: str) -> str:
    (block,) = [b for b in text.split("\n\n") if b.startswith(title)]
    return block


def test_text_has_a_block_per_strategy_and_the_portfolio(
    built: Built, report: NeutralityReport
) -> None:
    text = format_neutrality_report(report)
    assert "nan" not in text.lower()
    for name in ("beta_half", "noise"):
        expected = _ols(built.returns(name), built.btc_returns)
        block = _block(text, f"strategy {name} ")
        assert f"{expected.beta:.4f} (t {expected.tstat:.2f}" in block
        assert f"R²                  {expected.r_squared:.3f}" in block
    assert "estimation lag" in _block(text, "strategy beta_half ")
    assert "n/a: no P&L snapshots" in _block(text, "strategy idle ")
    assert "n/a: P&L never changed" in _block(text, "strategy flat ")
    portfolio = _block(text, "portfolio ")
    assert f"{_ols(built.returns(PORTFOLIO), built.btc_returns).beta:.4f}" in portfolio
    assert f"2024-01-01 → 2024-02-29 UTC ({N_DAYS} days, {N_DAYS - 1} daily returns)" in text


# --- journal edge cases ----------------------------------------------------------------------


def test_missing_file_and_foreign_database_raise_journal_error(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="no journal file"):
        build_neutrality_report(tmp_path / "absent.sqlite")
    assert not (tmp_path / "absent.sqlite").exists()
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    with pytest.raises(JournalError, match="not a zerobeta journal"):
        build_neutrality_report(other)


def test_journal_without_snapshots_gives_nan_with_reasons(tmp_path: Path) -> None:
    path = tmp_path / "empty.sqlite"
    with Journal.open(path) as journal:
        journal.record_meta({"strategies": "a,b"})
    r = build_neutrality_report(path)
    assert r.n_days == 0
    assert r.ts_first_day_ms is None
    assert r.portfolio.neutrality.reason == "no equity snapshots with a BTC price in the journal"
    assert [e.name for e in r.strategies] == ["a", "b"]
    assert all("never traded" in (e.neutrality.reason or "") for e in r.strategies)
    json.dumps(neutrality_report_to_dict(r), allow_nan=False)
    assert "n/a" in format_neutrality_report(r)


def test_snapshots_without_btc_price_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "nobtc.sqlite"
    portfolio = Portfolio({"binance": CAPITAL})
    with Journal.open(path) as journal:
        journal.record_equity_snapshot(START_MS, portfolio, None)
        for day in range(5):
            journal.record_equity_snapshot(START_MS + day * DAY_MS + HOUR_MS, portfolio, 40_000.0)
    r = build_neutrality_report(path)
    assert r.n_days == 5
    assert r.portfolio.n_pnl_snapshots == 5
    assert r.portfolio.neutrality.reason is not None  # constant equity, never a crash


# --- pure helpers ----------------------------------------------------------------------------


def test_day_close_indices_pick_the_snapshots_daily_series_picks() -> None:
    ts = np.array([0, 5, DAY_MS - 1, DAY_MS, DAY_MS + 7, 3 * DAY_MS + 1], dtype=np.int64)
    assert day_close_indices(ts).tolist() == [2, 4, 5]
    equity = np.arange(1.0, 7.0)
    d = daily_series(ts, equity, np.full(6, 100.0))
    assert d.equity_usd.tolist() == equity[[2, 4, 5]].tolist()
    assert day_close_indices(np.empty(0, dtype=np.int64)).size == 0


def test_pnl_as_of_takes_last_row_at_or_before_and_zero_before_the_first() -> None:
    pnl = StrategyPnl(np.array([10, 20, 20, 30]), np.array([1.0, 2.0, 2.5, -4.0]))
    got = pnl_as_of(np.array([5, 10, 15, 20, 29, 30, 99]), pnl)
    assert got.tolist() == [0.0, 1.0, 1.0, 2.5, 2.5, -4.0, -4.0]
    with pytest.raises(ValueError, match="non-decreasing"):
        pnl_as_of(np.array([1]), StrategyPnl(np.array([2, 1]), np.array([0.0, 0.0])))


def test_strategy_daily_returns_by_hand() -> None:
    # day 0 closes at index 1, day 1 at index 3, day 2 at index 4
    ts = np.array([1, 2, DAY_MS + 1, DAY_MS + 2, 2 * DAY_MS], dtype=np.int64)
    equity = np.array([1000.0, 1010.0, 990.0, 1020.0, 1030.0])
    pnl = StrategyPnl(np.array([2, DAY_MS + 2, 2 * DAY_MS]), np.array([5.0, 25.0, 15.0]))
    got = strategy_daily_returns(ts, equity, pnl)
    assert got == pytest.approx([(25.0 - 5.0) / 1010.0, (15.0 - 25.0) / 1020.0])
