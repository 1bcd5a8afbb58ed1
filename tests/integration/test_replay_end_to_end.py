"""The supervisor end to end on the bundled real data, checked against the raw files.

Each slice is replayed once per module with the shipped ``agent.toml`` (journal in a temp
dir). Every expected number is rebuilt here from the raw ``csv.gz`` files and the journal's
own fill/funding rows (``conftest``), never taken from the ledger, the report or the summary.

Slices:

- ``high_funding_2024q4`` (2024-11-01 → 2025-01-15): funding was high after the US election,
  the harvester enters and holds; Binance files have no ``mark_price`` yet, so settlements are
  marked at the Binance perp close of the bar ending at the settlement;
- ``mark_price_2025q3`` (2025-08-21 → 2025-10-15): Binance files carry ``mark_price``
  (except ADA and DOT, which never do), so both mark sources are exercised.

Stat arb trades in both once its 252-bar calibration window has filled (~10.5 days in).
"""

from __future__ import annotations

import bisect
import shutil
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, localcontext
from pathlib import Path

import numpy as np
import pytest

from agent.cli import main
from agent.config import AgentConfig
from agent.journal.journal import TABLES
from agent.supervisor import RunResult
from tests.integration.conftest import (
    AGENT_TOML,
    DATA_DIR,
    DAY_MS,
    EXACT_DIGITS,
    HOUR_MS,
    FillRow,
    JournalData,
    RawMarket,
    SnapshotRow,
    corrupt_field,
    dump_tables,
    net_positions,
    read_journal,
    replay_config,
    run_replay,
)
from venues.replay.loader import DataFileError

INITIAL_EQUITY_USD = Decimal("100000")  # agent.toml [capital] initial_equity_usd
STRATEGIES = {"funding_harvester", "stat_arb"}
TOLERANCE_USD = Decimal("1e-6")


@dataclass(frozen=True, slots=True)
class Slice:
    """A replay window ``[start, end]`` (dates, 00:00 UTC) and what the data holds there."""

    name: str
    start: date
    end: date
    mark_price_recorded: bool


SLICES = (
    Slice("high_funding_2024q4", date(2024, 11, 1), date(2025, 1, 15), False),
    Slice("mark_price_2025q3", date(2025, 8, 21), date(2025, 10, 15), True),
)


@dataclass(frozen=True, slots=True)
class Replayed:
    """One finished slice replay: its config, run result and journal contents."""

    slice: Slice
    config: AgentConfig
    result: RunResult
    journal: JournalData


def _ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


@pytest.fixture(scope="module")
def market() -> RawMarket:
    return RawMarket()


@pytest.fixture(scope="module", params=SLICES, ids=lambda s: s.name)
def replayed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Replayed:
    chosen: Slice = request.param
    path = tmp_path_factory.mktemp(chosen.name) / "journal.sqlite"
    config = replay_config(path, chosen.start, chosen.end)
    result = run_replay(config)
    return Replayed(chosen, config, result, read_journal(path))


# --------------------------------------------------------------------------------------------
# Independent rebuilds
# --------------------------------------------------------------------------------------------


class _PositionTimeline:
    """Net qty of one instrument (base units) as a step function of the fill times."""

    def __init__(self, fills: Sequence[FillRow]) -> None:
        self.times: list[int] = []
        self.after: list[Decimal] = []
        qty = Decimal(0)
        for fill in fills:
            qty += fill.signed_qty
            self.times.append(fill.ts_ms)
            self.after.append(qty)

    def before(self, ts_ms: int) -> Decimal:
        """Net qty from fills strictly before ``ts_ms`` (funding settles before trading)."""
        k = bisect.bisect_left(self.times, ts_ms)
        return self.after[k - 1] if k else Decimal(0)


def _timelines(fills: Sequence[FillRow]) -> dict[str, _PositionTimeline]:
    assert [f.ts_ms for f in fills] == sorted(f.ts_ms for f in fills), "fills out of time order"
    by_instrument: dict[str, list[FillRow]] = {}
    for fill in fills:
        by_instrument.setdefault(fill.instrument, []).append(fill)
    return {i: _PositionTimeline(rows) for i, rows in by_instrument.items()}


def _rebuilt_equity(
    journal: JournalData, market: RawMarket
) -> Iterator[tuple[SnapshotRow, Decimal]]:
    """Per snapshot: initial − Σ(sign·qty·price + fee) + Σ funding + Σ net qty × raw close."""
    fills, funding = journal.fills, journal.funding
    cash, net = INITIAL_EQUITY_USD, dict[str, Decimal]()
    next_fill = next_funding = 0
    with localcontext() as ctx:
        ctx.prec = EXACT_DIGITS
        for snap in journal.snapshots:
            while next_fill < len(fills) and fills[next_fill].ts_ms <= snap.ts_ms:
                fill = fills[next_fill]
                cash -= fill.signed_qty * fill.price + fill.fee_usd
                net[fill.instrument] = net.get(fill.instrument, Decimal(0)) + fill.signed_qty
                next_fill += 1
            while next_funding < len(funding) and funding[next_funding].ts_ms <= snap.ts_ms:
                cash += funding[next_funding].amount_usd
                next_funding += 1
            held = sum((q * market.close(i, snap.ts_ms) for i, q in net.items() if q), Decimal(0))
            yield snap, cash + held


def _equity_mismatches(rows: Iterator[tuple[SnapshotRow, Decimal]]) -> list[str]:
    return [
        f"{snap.ts_ms}: journal {snap.equity_usd} vs rebuilt {rebuilt}"
        for snap, rebuilt in rows
        if abs(snap.equity_usd - rebuilt) > TOLERANCE_USD
    ]


# --------------------------------------------------------------------------------------------
# The slices
# --------------------------------------------------------------------------------------------


def test_replay_covers_the_window_hour_by_hour(replayed: Replayed) -> None:
    start_ms, end_ms = _ms(replayed.slice.start), _ms(replayed.slice.end)
    assert not replayed.result.stopped_early
    assert replayed.result.steps == (end_ms - start_ms) // HOUR_MS + 1
    times = [s.ts_ms for s in replayed.journal.snapshots]
    assert times[0] == start_ms
    assert times[-1] == end_ms


def test_both_strategies_fill(replayed: Replayed) -> None:
    counts: dict[str, int] = {}
    for fill in replayed.journal.fills:
        counts[fill.strategy] = counts.get(fill.strategy, 0) + 1
    assert set(counts) >= STRATEGIES, counts
    assert min(counts[name] for name in STRATEGIES) >= 10, counts


def test_funding_payment_is_minus_rate_times_position_times_mark(
    replayed: Replayed, market: RawMarket
) -> None:
    rows = replayed.journal.funding
    assert rows, "no funding payment in the slice"
    timelines = _timelines(replayed.journal.fills)
    problems: list[str] = []
    with localcontext() as ctx:
        ctx.prec = EXACT_DIGITS
        for row in rows:
            raw = market.settlements(row.instrument)[row.ts_funding_ms]
            mark = market.funding_mark(row.instrument, row.ts_funding_ms)
            qty = timelines[row.instrument].before(row.ts_funding_ms)
            expected = -raw.rate * qty * mark
            got = (row.ts_ms, row.rate, row.position_qty, row.mark_price, row.amount_usd)
            want = (row.ts_funding_ms, float(raw.rate_text), qty, mark, expected)
            if got != want:
                problems.append(f"{row.instrument} @ {row.ts_funding_ms}: {got} != {want}")
    assert not problems, f"{len(problems)} of {len(rows)} rows wrong, e.g. {problems[:3]}"


def test_every_settlement_on_an_open_position_is_paid_once(
    replayed: Replayed, market: RawMarket
) -> None:
    first_ms = replayed.journal.snapshots[0].ts_ms
    last_ms = replayed.journal.snapshots[-1].ts_ms
    expected: set[tuple[str, int]] = set()
    for instrument, timeline in _timelines(replayed.journal.fills).items():
        if ":perp:" not in instrument:
            continue
        for ts_ms in market.settlements(instrument):
            if first_ms <= ts_ms <= last_ms and timeline.before(ts_ms) != 0:
                expected.add((instrument, ts_ms))
    paid = [(row.instrument, row.ts_funding_ms) for row in replayed.journal.funding]
    assert len(paid) == len(set(paid)), "a settlement was paid twice"
    assert set(paid) == expected


def test_positive_rate_short_receives_and_long_pays(replayed: Replayed) -> None:
    rows = replayed.journal.funding
    short_positive = [r for r in rows if r.rate > 0 and r.position_qty < 0]
    short_negative = [r for r in rows if r.rate < 0 and r.position_qty < 0]
    long_positive = [r for r in rows if r.rate > 0 and r.position_qty > 0]
    assert short_positive, "the slice should hold a short perp through positive funding"
    assert all(r.amount_usd > 0 for r in short_positive)
    assert all(r.amount_usd < 0 for r in short_negative)
    assert all(r.amount_usd < 0 for r in long_positive)


def test_funding_mark_source_matches_the_data_period(replayed: Replayed, market: RawMarket) -> None:
    # Binance files carry mark_price from 2025-08-21 (ADA and DOT never do), so the later
    # slice exercises both mark sources and the earlier one only the perp close.
    recorded = [
        market.settlements(r.instrument)[r.ts_funding_ms].mark_price is not None
        for r in replayed.journal.funding
    ]
    assert any(recorded) == replayed.slice.mark_price_recorded


def test_each_snapshot_row_satisfies_the_pnl_identity(replayed: Replayed) -> None:
    with localcontext() as ctx:
        ctx.prec = EXACT_DIGITS
        for snap in replayed.journal.snapshots:
            s = snap.streams_usd
            streams = (
                s["price_spot_usd"]
                + s["price_perp_usd"]
                + s["funding_usd"]
                - s["fees_usd"]
                - s["slippage_usd"]
            )
            assert snap.initial_equity_usd == INITIAL_EQUITY_USD
            assert abs(snap.equity_usd - snap.initial_equity_usd - streams) <= TOLERANCE_USD
            assert abs(s["total_pnl_usd"] - streams) <= TOLERANCE_USD


def test_equity_matches_raw_rebuild_at_snapshots_of_steps_without_fills(
    replayed: Replayed, market: RawMarket
) -> None:
    fill_times = {f.ts_ms for f in replayed.journal.fills}
    rows = [
        (s, e) for s, e in _rebuilt_equity(replayed.journal, market) if s.ts_ms not in fill_times
    ]
    assert len(rows) > len(replayed.journal.snapshots) // 2
    mismatches = _equity_mismatches(iter(rows))
    assert not mismatches, f"{len(mismatches)} snapshots off, e.g. {mismatches[:3]}"


def test_equity_matches_raw_rebuild_at_every_snapshot(
    replayed: Replayed, market: RawMarket
) -> None:
    mismatches = _equity_mismatches(_rebuilt_equity(replayed.journal, market))
    assert not mismatches, f"{len(mismatches)} snapshots off, e.g. {mismatches[:3]}"


def _ends_of_steps(fills: Sequence[FillRow]) -> Iterator[tuple[int, list[FillRow]]]:
    """``(ts_ms, fills up to and including that step)`` for every step with a fill."""
    for k, fill in enumerate(fills):
        if k + 1 == len(fills) or fills[k + 1].ts_ms != fill.ts_ms:
            yield fill.ts_ms, list(fills[: k + 1])


def test_funding_harvester_spot_and_perp_legs_match_after_every_step(replayed: Replayed) -> None:
    fills = [f for f in replayed.journal.fills if f.strategy == "funding_harvester"]
    for ts_ms, upto in _ends_of_steps(fills):
        held = net_positions(upto)
        symbols = {instrument.split(":")[2] for instrument in held}
        for symbol in symbols:
            spot = held.get(f"binance:spot:{symbol}", Decimal(0))
            perp = held.get(f"binance:perp:{symbol}", Decimal(0))
            assert spot == -perp, f"{symbol} at {ts_ms}: spot {spot}, perp {perp}"


def test_stat_arb_positions_are_whole_open_pairs_after_every_step(replayed: Replayed) -> None:
    # The strategy journals its state whenever it changes; the open pairs in force at the
    # end of a step are those of the latest state row at or before that step.
    states = [(ts, st) for ts, name, st in replayed.journal.strategy_states if name == "stat_arb"]
    times = [ts for ts, _ in states]
    fills = [f for f in replayed.journal.fills if f.strategy == "stat_arb"]
    complete_pairs = 0
    for ts_ms, upto in _ends_of_steps(fills):
        held = net_positions(upto)
        open_pairs = states[bisect.bisect_right(times, ts_ms) - 1][1]["open"].values()
        legs: set[str] = set()
        for pair in open_pairs:
            a, b = (f"binance:perp:{pair[k]}" for k in ("a", "b"))
            legs |= {a, b}
            assert (a in held) == (b in held), f"one leg of {a}/{b} at {ts_ms}: {held}"
            complete_pairs += a in held
        assert set(held) <= legs, f"stat arb holds legs of no open pair at {ts_ms}: {held}"
    assert complete_pairs > 0


def test_second_run_writes_identical_journal(replayed: Replayed) -> None:
    # Same config (the journal path is part of its hash): the rerun overwrites the file,
    # whose first contents the fixture already holds in memory.
    first = replayed.journal.tables
    result = run_replay(replayed.config)
    second = dump_tables(replayed.config.journal.path)
    assert set(first) == set(TABLES)
    assert all(first[t] for t in ("fills", "funding_payments", "equity_snapshots"))
    for table in TABLES:
        assert second[table] == first[table], f"table {table} differs between runs"
    assert result.counters == replayed.result.counters


# --------------------------------------------------------------------------------------------
# Malformed data
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("relative", "line", "column", "value", "words"),
    [
        ("binance/perp/ETHUSDT_1h.csv.gz", 500, 4, "12x4.5", ("close", "'12x4.5'")),
        ("binance/spot/BTCUSDT_1h.csv.gz", 7, 5, None, ("columns",)),
        ("binance/funding/SOLUSDT.csv.gz", 42, 1, "abc", ("funding_rate", "'abc'")),
    ],
    ids=["kline_bad_number", "kline_missing_column", "funding_bad_rate"],
)
def test_malformed_data_file_raises_with_file_line_and_reason(
    tmp_path: Path, relative: str, line: int, column: int, value: str | None, words: tuple[str, ...]
) -> None:
    data_dir = tmp_path / "data"
    shutil.copytree(DATA_DIR, data_dir)
    corrupt_field(data_dir / relative, line, column, value)
    config = replay_config(
        tmp_path / "journal.sqlite", date(2024, 11, 1), date(2024, 11, 3), data_dir=data_dir
    )
    with pytest.raises(DataFileError) as info:
        run_replay(config)
    error = info.value
    assert error.path == data_dir / relative
    assert error.line == line
    assert all(word in error.reason for word in words), error.reason
    assert str(error).startswith(f"{data_dir / relative}:{line}: ")


# --------------------------------------------------------------------------------------------
# The default run
# --------------------------------------------------------------------------------------------


def _daily_beta(snapshots: Sequence[SnapshotRow], market: RawMarket) -> tuple[float, int]:
    """OLS slope of daily equity returns on daily BTC perp returns (UTC-day closes) and the
    number of returns. The BTC price is the raw Binance perp close at each day's last
    snapshot."""
    last_of_day: dict[int, SnapshotRow] = {}
    for snap in snapshots:
        last_of_day[snap.ts_ms // DAY_MS] = snap
    closes = [last_of_day[day] for day in sorted(last_of_day)]
    equity = np.array([float(s.equity_usd) for s in closes])
    btc = np.array([float(market.close("binance:perp:BTCUSDT", s.ts_ms)) for s in closes])
    r_equity = equity[1:] / equity[:-1] - 1.0
    r_btc = btc[1:] / btc[:-1] - 1.0
    design = np.column_stack([np.ones_like(r_btc), r_btc])
    (_, beta), *_ = np.linalg.lstsq(design, r_equity, rcond=None)
    return float(beta), int(r_equity.shape[0])


def _daily_beta_ci95(snapshots: Sequence[SnapshotRow], market: RawMarket) -> tuple[float, float]:
    """95 % confidence interval of that slope (classical OLS standard error, Student t)."""
    from scipy import stats

    last_of_day: dict[int, SnapshotRow] = {}
    for snap in snapshots:
        last_of_day[snap.ts_ms // DAY_MS] = snap
    closes = [last_of_day[day] for day in sorted(last_of_day)]
    equity = np.array([float(s.equity_usd) for s in closes])
    btc = np.array([float(market.close("binance:perp:BTCUSDT", s.ts_ms)) for s in closes])
    y, x = equity[1:] / equity[:-1] - 1.0, btc[1:] / btc[:-1] - 1.0
    n = y.shape[0]
    xc = x - x.mean()
    beta = float(xc @ (y - y.mean()) / (xc @ xc))
    resid = y - y.mean() - beta * xc
    se = float(np.sqrt(resid @ resid / (n - 2) / (xc @ xc)))
    t = float(stats.t.ppf(0.975, n - 2))
    return beta - t * se, beta + t * se


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_default_run_trades_both_strategies_and_stays_beta_neutral(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    market: RawMarket,
) -> None:
    journal = tmp_path / "zerobeta.sqlite"
    monkeypatch.setenv("ZEROBETA_JOURNAL__PATH", str(journal))
    monkeypatch.chdir(tmp_path)  # nothing may land in the repository
    code = main(["run", "--config", str(AGENT_TOML)])
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("zerobeta run summary")
    assert "2024-10-23 09:00 → 2026-03-19 19:00 UTC" in out
    data = read_journal(journal)
    assert {f.strategy for f in data.fills} >= STRATEGIES
    # First bar opens 2024-10-23 08:00 and the last 2026-03-19 18:00 (PROVENANCE.md).
    assert data.snapshots[0].ts_ms == _ms(date(2024, 10, 23)) + 9 * HOUR_MS
    assert data.snapshots[-1].ts_ms == _ms(date(2026, 3, 19)) + 19 * HOUR_MS
    beta, n_returns = _daily_beta(data.snapshots, market)
    assert n_returns == 512  # 513 UTC days from 2024-10-23 to 2026-03-19
    assert abs(beta) <= 0.05, beta  # issue 3: everything on, |beta| <= 0.05 ...
    low, high = _daily_beta_ci95(data.snapshots, market)
    assert low <= 0.0 <= high, (low, high)  # ... and its 95 % CI contains 0
    every = {"funding_harvester", "stat_arb", "cross_venue_arb", "factor_neutral", "beta_hedger"}
    assert {f.strategy for f in data.fills} == every
    with sqlite3.connect(journal) as db:
        monitor_closes = db.execute(
            "SELECT count(*) FROM intents WHERE reason = 'exit_funding_flip_monitor'"
        ).fetchone()[0]
        interval_alerts = db.execute(
            "SELECT count(*) FROM alerts WHERE kind = 'funding_interval_changed'"
        ).fetchone()[0]
    assert monitor_closes > 0
    assert interval_alerts == 3  # Bybit INJUSDT: 8h -> 1h -> 6h -> 8h (PROVENANCE.md)
