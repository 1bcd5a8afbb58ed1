"""A replay on the bundled 1m bars (README "Sub-hour bars"), run as a user would run it.

The README's ``pair_revert`` module and its ``[strategies.pair_revert_1m]`` section (between the
``user-strategy:module`` and ``replay-1m:config`` markers) are written next to a copy of the
shipped ``agent.toml``; ``zerobeta backtest`` runs in-process with ``ZEROBETA_MARKET_DATA__
BAR_INTERVAL=1m`` and ``ZEROBETA_EXECUTION__DRIFT_CHECK=ratio`` over the three bundled days.

Expected values come from the raw 1m files (csv + gzip only) and the journal rows (sqlite3,
``Decimal``): the legs' notional-ratio drift is recomputed here from the bar closes, never read
from the code.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import re
import sqlite3
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, localcontext

import pytest

from agent.cli import main
from tests.integration.conftest import (
    AGENT_TOML,
    DATA_DIR,
    EXACT_DIGITS,
    HOUR_MS,
    REPO_ROOT,
    JournalData,
    RawMarket,
    read_journal,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

README = REPO_ROOT / "README.md"
MODULE = "pair_revert"
NAME = "pair_revert_1m"
START, END = "2025-06-21", "2025-06-24"
A, B = "binance:perp:BTCUSDT", "binance:perp:ETHUSDT"  # the section's symbol_a, symbol_b
MINUTE_MS = 60_000
DRIFT_FRAC = Decimal("0.008")  # agent.toml [execution] drift_frac
INITIAL_EQUITY_USD = Decimal("100000")  # agent.toml [capital] initial_equity_usd
TOLERANCE_USD = Decimal("1e-6")


def _readme_block(marker: str) -> str:
    text = README.read_text(encoding="utf-8")
    found = re.search(
        rf"<!-- {re.escape(marker)} -->\n```\w+\n(.*?)```\n<!-- /{re.escape(marker)} -->",
        text,
        re.DOTALL,
    )
    assert found, f"README.md has no block marked {marker}"
    return found.group(1)


def _utc_ms(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp() * 1000)


def _closes_1m(instrument: str) -> dict[int, Decimal]:
    """Bar close time (ms) → close of the bundled 1m file of a Binance perp."""
    symbol = instrument.split(":")[2]
    path = DATA_DIR / "binance" / "perp" / f"{symbol}_1m.csv.gz"
    with gzip.open(path, "rt", encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))[1:]
    return {int(r[0]) + MINUTE_MS: Decimal(r[4]) for r in rows}


@dataclass(frozen=True, slots=True)
class Intent:
    ts_ms: int
    intent_id: str
    reason: str
    targets: dict[str, Decimal]


@dataclass(frozen=True, slots=True)
class Run:
    journal: JournalData
    intents: list[Intent]
    closes: dict[str, dict[int, Decimal]]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The README's 1m backtest, once for the module."""
    assert MODULE not in sys.modules
    root = tmp_path_factory.mktemp("replay_1m")
    folder = root / "my_zerobeta"
    folder.mkdir()
    (folder / f"{MODULE}.py").write_text(_readme_block("user-strategy:module"), encoding="utf-8")
    config = AGENT_TOML.read_text(encoding="utf-8") + "\n" + _readme_block("replay-1m:config")
    (folder / "agent.toml").write_text(config, encoding="utf-8")
    journal = root / "pair_1m.sqlite"
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if n.upper().startswith("ZEROBETA_")]:
            mp.delenv(name)
        mp.setenv("ZEROBETA_MARKET_DATA__BAR_INTERVAL", "1m")
        mp.setenv("ZEROBETA_EXECUTION__DRIFT_CHECK", "ratio")
        mp.chdir(root)
        argv = ["backtest", "--config", str(folder / "agent.toml"), "--from", START]
        argv += ["--to", END, "--strategy", NAME, "--journal", str(journal)]
        assert main(argv) == 0
    sys.modules.pop(MODULE, None)
    with sqlite3.connect(journal) as conn:
        rows = conn.execute(
            "SELECT ts_ms, intent_id, reason, legs_json FROM intents WHERE strategy = ? "
            "ORDER BY id",
            (NAME,),
        ).fetchall()
    intents = [
        Intent(
            ts,
            intent_id,
            reason,
            {leg["instrument"]: Decimal(repr(leg["target_qty"])) for leg in json.loads(legs)},
        )
        for ts, intent_id, reason, legs in rows
    ]
    return Run(read_journal(journal), intents, {i: _closes_1m(i) for i in (A, B)})


def _held(run: Run, instrument: str, before_ms: int) -> Decimal:
    """The strategy's position in ``instrument`` from its fills before ``before_ms``."""
    with localcontext() as ctx:
        ctx.prec = EXACT_DIGITS
        return sum(
            (
                f.signed_qty
                for f in run.journal.fills
                if f.instrument == instrument and f.ts_ms < before_ms
            ),
            Decimal(0),
        )


def _ratio_target_b(set_: Intent, run: Run, ts_ms: int) -> Decimal:
    """Leg B's target restated at ``ts_ms`` so the legs' notional ratio is the one ``set_``
    left (README: leg A kept, leg B resized by (pA_now / pA_set) / (pB_now / pB_set))."""
    ca, cb = run.closes[A], run.closes[B]
    with localcontext() as ctx:
        ctx.prec = EXACT_DIGITS
        move_a = ca[ts_ms] / ca[set_.ts_ms]
        move_b = cb[ts_ms] / cb[set_.ts_ms]
        return set_.targets[B] * move_a / move_b


def _off(target: Decimal, held: Decimal) -> bool:
    """The drift rule: off by more than drift_frac of the target."""
    return abs(target - held) > DRIFT_FRAC * abs(target)


def test_strategy_decides_on_the_hour_and_rebalances_within_it(run: Run) -> None:
    decided = [i for i in run.intents if i.reason != "drift_rebalance"]
    rebalances = [i for i in run.intents if i.reason == "drift_rebalance"]
    assert {i.reason for i in decided} == {"enter", "exit"}
    assert all(i.ts_ms % HOUR_MS == 0 for i in decided)  # hourly cadence kept
    assert len(rebalances) >= 3
    assert any(i.ts_ms % HOUR_MS != 0 for i in rebalances)  # within the hour, on a minute bar
    assert all(i.ts_ms % MINUTE_MS == 0 for i in rebalances)


def test_each_rebalance_comes_at_the_first_bar_the_ratio_drifted_past_the_threshold(
    run: Run,
) -> None:
    checked = 0
    for k, intent in enumerate(run.intents):
        if intent.reason != "drift_rebalance":
            continue
        set_ = run.intents[k - 1]  # the intent whose targets stood: the entry or last rebalance
        assert set_.reason in {"enter", "drift_rebalance"}
        assert intent.targets[A] == set_.targets[A]  # the first leg is kept
        target_b = _ratio_target_b(set_, run, intent.ts_ms)
        assert abs(intent.targets[B] - target_b) <= abs(target_b) * Decimal("1e-12")
        held_b = _held(run, B, intent.ts_ms)
        assert _off(target_b, held_b), f"rebalance at {intent.ts_ms} without drift"
        for ts in range(set_.ts_ms + MINUTE_MS, intent.ts_ms, MINUTE_MS):  # every bar between
            assert not _off(_ratio_target_b(set_, run, ts), _held(run, B, ts + 1)), (
                f"drift past {DRIFT_FRAC} at {ts} not rebalanced until {intent.ts_ms}"
            )
        fills_b = [f for f in run.journal.fills if f.ts_ms == intent.ts_ms]
        assert {f.instrument for f in fills_b} == {B}  # only the resized leg trades
        checked += 1
    assert checked >= 3


def test_no_drift_is_left_unrebalanced_while_a_pair_is_open(run: Run) -> None:
    """From each entry to its exit, every minute bar's ratio drift is within the threshold
    once the rebalances of that bar are done (rebuilt from the bars and the fills)."""
    standing: Intent | None = None
    by_ts = {i.ts_ms: i for i in run.intents}
    first, last = min(run.closes[A]), max(run.closes[A])
    for ts in range(first, last + MINUTE_MS, MINUTE_MS):
        intent = by_ts.get(ts)
        if intent is not None:
            standing = intent if intent.reason != "exit" else None
            continue
        if standing is None:
            continue
        assert not _off(_ratio_target_b(standing, run, ts), _held(run, B, ts + 1)), ts


def test_pnl_identity_holds_and_equity_rebuilds_from_fills_funding_and_closes(run: Run) -> None:
    data = run.journal
    with localcontext() as ctx:
        ctx.prec = EXACT_DIGITS
        for snap in data.snapshots:
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
        final = data.snapshots[-1]
        cash = -sum((f.signed_qty * f.price for f in data.fills), Decimal(0))
        fees = sum((f.fee_usd for f in data.fills), Decimal(0))
        funding = sum((p.amount_usd for p in data.funding), Decimal(0))
        marked = sum(
            (_held(run, i, final.ts_ms + 1) * run.closes[i][final.ts_ms] for i in (A, B)),
            Decimal(0),
        )
        rebuilt = INITIAL_EQUITY_USD + cash - fees + funding + marked
    assert final.ts_ms == _utc_ms(END)
    assert abs(final.equity_usd - rebuilt) <= TOLERANCE_USD


def test_funding_settles_at_its_settlement_times_on_1m_bars(run: Run) -> None:
    raw = RawMarket()
    paid = run.journal.funding
    open_at = [
        ts
        for ts in range(_utc_ms(START), _utc_ms(END) + HOUR_MS, 8 * HOUR_MS)
        if ts > _utc_ms(START) and _held(run, A, ts) != 0  # held into the settlement
    ]
    assert {(p.ts_ms, p.instrument) for p in paid} == {(t, i) for t in open_at for i in (A, B)}
    with localcontext() as ctx:
        ctx.prec = EXACT_DIGITS
        for p in paid:
            assert p.ts_ms == p.ts_funding_ms
            assert p.ts_ms % (8 * HOUR_MS) == 0
            settlement = raw.settlements(p.instrument)[p.ts_ms]
            assert p.position_qty == _held(run, p.instrument, p.ts_ms)  # before the step trades
            assert p.mark_price == raw.funding_mark(p.instrument, p.ts_ms)
            expected = -p.position_qty * p.mark_price * settlement.rate
            assert abs(p.amount_usd - expected) <= TOLERANCE_USD
