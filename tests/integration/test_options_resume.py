"""A paper run holding model-priced options ([option_chain]) killed and resumed on its journal
books exactly what an uninterrupted run books: the options the journal traded are listed again
from their symbols (instrument map, paper venue, market data, expiry settlement), so the paper
venue is rebuilt from their fills, they are marked on the next step's chain, rolled and settled
as before.

Run A goes from START to END in one go; run B stops at SPLIT (a long BTC straddle and its perp
hedge open) and run C resumes B's journal to END, through the straddle's roll before its
expiry. Fills, funding, snapshots (equity and net delta) and the strategy's state must agree.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import net_positions, read_journal, run_replay
from tests.integration.test_options_replay import STRATEGY
from tests.integration.test_options_replay import _config as options_config

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

START = datetime(2025, 1, 1, tzinfo=UTC)
SPLIT = datetime(2025, 1, 20, tzinfo=UTC)  # the 31 JAN 25 straddle held, rolled on 29 Jan
END = datetime(2025, 2, 10, tzinfo=UTC)


def _config(journal: Path, end: datetime, *, overwrite: bool) -> Any:
    config = options_config(journal)
    market_data = config.market_data.model_copy(update={"end": end})
    journal_cfg = config.journal.model_copy(update={"overwrite": overwrite})
    return config.model_copy(update={"market_data": market_data, "journal": journal_cfg})


def _snapshots(path: Path) -> list[tuple[Any, ...]]:
    """Distinct snapshots by time (a stopped run's last one is written again at its end)."""
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT ts_ms, equity_usd, gross_notional_usd, net_delta_usd FROM equity_snapshots"
        ).fetchall()
    return sorted(set(rows))


def test_a_paper_run_holding_options_resumes_and_books_what_an_uninterrupted_run_books(
    tmp_path: Path,
) -> None:
    whole, split = tmp_path / "whole.sqlite", tmp_path / "split.sqlite"
    uninterrupted = run_replay(_config(whole, END, overwrite=True))
    first = run_replay(_config(split, SPLIT, overwrite=False))
    at_split = read_journal(split)
    held = {i: q for i, q in net_positions(at_split.fills).items() if q}
    assert sum(":option:" in i for i in held) == 2  # the straddle is open at the kill
    second = run_replay(_config(split, END, overwrite=False))

    a, b = read_journal(whole), read_journal(split)
    assert b.fills == a.fills
    assert b.funding == a.funding
    assert _snapshots(split) == _snapshots(whole)
    assert first.steps + second.steps == uninterrupted.steps
    # after the resume the straddle held at the kill was closed by the roll and a new one
    # opened: the resumed run traded the options it listed again
    after = [f for f in a.fills if f.ts_ms >= int(SPLIT.timestamp() * 1000)]
    closed = {f.instrument for f in after if f.instrument in held and ":option:" in f.instrument}
    assert closed == {i for i in held if ":option:" in i}
    assert {f.instrument for f in after if ":option:" in f.instrument} - closed
    states_a = [s for _, n, s in a.strategy_states if n == STRATEGY]
    states_b = [s for _, n, s in b.strategy_states if n == STRATEGY]
    assert states_b[-1] == states_a[-1]
