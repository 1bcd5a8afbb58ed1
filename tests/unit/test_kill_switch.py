"""The kill switch's parts: the risk engine's halt rules, the halt record, and the record
written by one connection seen by the agent's own (``PRAGMA data_version``)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from agent.config import RiskConfig
from agent.errors import JournalError
from agent.journal.halt import HALT_KEY, HaltMode, HaltRecord, write_halt_record
from agent.journal.journal import Journal
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
