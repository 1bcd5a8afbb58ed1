"""The kill switch's parts: the risk engine's halt rules, the halt record, the record
written by one connection seen by the agent's own (``PRAGMA data_version``), and the switch's
looks at the journal spaced by a monotonic clock the tests step."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.config import RiskConfig
from agent.engine.kill_switch import KillSwitch
from agent.engine.runner import StrategyRunner
from agent.errors import JournalError
from agent.journal.halt import HALT_KEY, HaltMode, HaltRecord, write_halt_record
from agent.journal.journal import Journal
from agent.notify import DISCARD
from agent.risk import KILL_SWITCH, MANUAL_HALT, LegDelta, RiskEngine
from venues.model import InstrumentId, InstrumentKind

BTC = InstrumentId("binance", InstrumentKind.PERP, "BTCUSDT")
LOOSE = {
    "max_position_frac": 1.0,
    "max_leverage": 10.0,
    "max_venue_frac": 1.0,
    "max_order_notional_usd": 1e9,
}


def _risk() -> RiskEngine:
    return RiskEngine(RiskConfig(**LOOSE), {"binance": 5.0}, 100_000.0)


def _opening(risk: RiskEngine) -> str | None:
    leg = LegDelta(BTC, Decimal("0.1"), 50_000.0)
    rejected = risk.check([leg], {}, {BTC: 50_000.0}, 100_000.0, opening=True)
    return None if rejected is None else rejected.rule


def test_kill_switch_halt_blocks_opening_and_is_lifted_on_its_own() -> None:
    risk = _risk()
    assert _opening(risk) is None
    risk.halt(1, rule=KILL_SWITCH)
    risk.halt(2)  # a position mismatch too
    assert _opening(risk) == KILL_SWITCH
    leg = LegDelta(BTC, Decimal("-0.1"), 50_000.0)
    assert risk.check([leg], {BTC: Decimal("0.1")}, {}, 100_000.0, opening=False) is None
    risk.resume_opening(KILL_SWITCH)
    assert _opening(risk) == MANUAL_HALT  # the mismatch still holds
    risk.resume_opening()
    assert _opening(risk) is None


def test_kill_switch_halt_survives_the_risk_state_round_trip() -> None:
    risk = _risk()
    risk.halt(5, rule=KILL_SWITCH)
    restored = _risk()
    restored.restore(risk.state())
    assert restored.halted
    assert restored.is_halted_by(KILL_SWITCH)


def test_halt_record_round_trips_and_refuses_an_unknown_mode() -> None:
    record = HaltRecord(True, "flatten", 1_000, 42, "alice", "h")
    assert HaltRecord.from_json(record.to_json()) == record
    assert record.describe() == "halt (flatten) by alice, pid 42 on host h"
    with pytest.raises(ValueError, match="halt record"):
        HaltRecord.from_json('{"halted": true}')
    bad = HaltRecord(True, "explode", 1, 1, "", "").to_json()
    with pytest.raises(ValueError, match="explode"):
        HaltRecord.from_json(bad)


def test_a_record_written_by_another_connection_is_seen_by_the_journal(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with Journal.open(path) as journal:
        journal.record_meta({"mode": "paper"})
        journal.flush()
        before = journal.data_version()
        assert journal.data_version() == before  # its own reads change nothing
        record = HaltRecord.by_this_process(HaltMode.REDUCE_ONLY, 7)
        write_halt_record(path, record)
        assert journal.data_version() != before
        row = journal.latest_meta_row(HALT_KEY)
        assert row is not None
        assert HaltRecord.from_json(row[1]) == record
        resume = HaltRecord.by_this_process(None, 8)
        write_halt_record(path, resume)
        latest = journal.latest_meta_row(HALT_KEY)
        assert latest is not None
        assert latest[0] > row[0]
        assert not HaltRecord.from_json(latest[1]).halted


def test_write_halt_record_refuses_what_is_not_a_journal(tmp_path: Path) -> None:
    with pytest.raises(JournalError):
        write_halt_record(tmp_path / "missing.sqlite", HaltRecord.by_this_process(None, 1))
    assert not (tmp_path / "missing.sqlite").exists()
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(JournalError):
        write_halt_record(text, HaltRecord.by_this_process(None, 1))


def test_data_version_of_a_closed_journal_raises(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path / "j.sqlite")
    journal.data_version()
    journal.close()
    with pytest.raises(JournalError, match="closed"):
        journal.data_version()


class _SteppedClock:
    """A monotonic clock the test sets (seconds): the kill switch's looks without sleeping."""

    def __init__(self) -> None:
        self.now_s = 0.0

    def __call__(self) -> float:
        return self.now_s


class _Runner:
    """The runner's part a halt and a resume reach."""

    def request_flatten(self, *, at_once: bool) -> None:
        raise AssertionError("a reduce_only halt requests no flatten")

    def cancel_flatten(self) -> None:
        pass


def _switch(journal: Journal, clock: _SteppedClock, look_every_s: float) -> KillSwitch:
    runner = cast(StrategyRunner, _Runner())
    return KillSwitch(
        journal, _risk(), runner, DISCARD, look_every_s=look_every_s, monotonic_s=clock
    )


def test_the_first_look_is_always_made(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with Journal.open(path) as journal:
        journal.record_meta({"mode": "paper"})
        journal.flush()
        write_halt_record(path, HaltRecord.by_this_process(HaltMode.REDUCE_ONLY, 1))
        switch = _switch(journal, _SteppedClock(), look_every_s=1e9)
        switch.poll(5)
        assert switch.halted


def test_a_halt_is_seen_once_look_every_s_passed_since_the_last_look(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    clock = _SteppedClock()
    with Journal.open(path) as journal:
        journal.record_meta({"mode": "paper"})
        journal.flush()
        switch = _switch(journal, clock, look_every_s=0.1)
        switch.poll(1)  # the first look, at 0 s: nothing to apply
        assert not switch.halted
        write_halt_record(path, HaltRecord.by_this_process(HaltMode.REDUCE_ONLY, 2))
        clock.now_s = 0.099
        switch.poll(2)  # too soon after the last look: not looked
        assert not switch.halted
        clock.now_s = 0.1
        switch.poll(3)
        assert switch.halted
        assert switch._risk.is_halted_by(KILL_SWITCH)
        write_halt_record(path, HaltRecord.by_this_process(None, 4))  # a resume
        clock.now_s = 0.15
        switch.poll(4)
        assert switch.halted  # the next look is at 0.2 s
        clock.now_s = 0.2
        switch.poll(5)
        assert not switch.halted


@settings(max_examples=25, deadline=None)
@given(
    gaps_s=st.lists(st.floats(0.0, 0.3), min_size=1, max_size=12),
    commit_at=st.integers(0, 11),
    look_every_s=st.sampled_from([0.0, 0.05, 0.1]),
)
def test_a_halt_is_applied_by_the_first_poll_at_its_commit_plus_look_every_s(
    tmp_path_factory: pytest.TempPathFactory,
    gaps_s: list[float],
    commit_at: int,
    look_every_s: float,
) -> None:
    """Polls at times ``cumsum(gaps_s)``; the halt is committed just after the poll
    ``commit_at`` (clamped). It is applied by the first later poll at or after ``commit time +
    look_every_s`` (or earlier), never before the commit."""
    path = tmp_path_factory.mktemp("ks") / "j.sqlite"
    times_s = [sum(gaps_s[: i + 1]) for i in range(len(gaps_s))]
    commit_at = min(commit_at, len(times_s) - 1)
    clock = _SteppedClock()
    applied_at: int | None = None
    with Journal.open(path) as journal:
        journal.record_meta({"mode": "paper"})
        journal.flush()
        switch = _switch(journal, clock, look_every_s)
        for i, now_s in enumerate(times_s):
            clock.now_s = now_s
            switch.poll(i)
            if switch.halted and applied_at is None:
                applied_at = i
            if i == commit_at:
                write_halt_record(path, HaltRecord.by_this_process(HaltMode.REDUCE_ONLY, i))
    due_s = times_s[commit_at] + look_every_s
    later = range(commit_at + 1, len(times_s))
    bound = next((i for i in later if times_s[i] >= due_s), None)
    if bound is not None:
        assert applied_at is not None
        assert commit_at < applied_at <= bound
    else:
        assert applied_at is None or applied_at > commit_at
