"""The kill switch (``zerobeta halt`` / ``resume``) and the stop policy (``[execution]
on_shutdown``) on real replays.

The halt is written by the CLI between two replay steps: the replay's step iterator is wrapped
so that a hook runs when step ``k`` is handed to the driver, i.e. after step ``k - 1`` completed
and before step ``k`` runs — no sleeps, no threads. Expected values come from the journal's raw
rows (``sqlite3``), positions rebuilt here from the fills. The kill switch looks at the journal
at every step here (:data:`agent.engine.kill_switch.LOOK_EVERY_S` 0), as it does live, where
mark ticks are seconds apart: a replay's steps are a millisecond apart.
"""

from __future__ import annotations

import asyncio
import io
import sqlite3
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from agent.cli import main
from agent.config import AgentConfig, load_config
from agent.control.status import read_status
from agent.control.status_text import format_status
from agent.engine import kill_switch
from agent.engine.engine import Engine
from agent.logs import configure_logging
from agent.supervisor import RunResult, Supervisor
from tests.integration.conftest import AGENT_TOML, run_replay
from venues.replay.source import ReplayDataset, ReplayStep

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

START = date(2025, 9, 1)
HALT_AT_MS = 1_757_721_600_000  # 2025-09-13T00:00Z: every strategy has traded by then
END = date(2025, 9, 25)


@pytest.fixture(autouse=True)
def _look_at_every_step(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kill_switch, "LOOK_EVERY_S", 0.0)


def _config(
    journal: Path, end: date = END, *, overwrite: bool = True, **execution: Any
) -> AgentConfig:
    overrides: dict[str, Any] = {
        "journal": {"path": str(journal), "overwrite": overwrite},
        "logging": {"level": "warning", "progress": False},
        "market_data": {"start": START.isoformat(), "end": end.isoformat()},
    }
    if execution:
        overrides["execution"] = execution
    return load_config(AGENT_TOML, env={}, overrides=overrides)


def _hook_steps(monkeypatch: pytest.MonkeyPatch, at_ms: int, hook: Callable[[], None]) -> None:
    """Run ``hook`` once, just before the replay step closing at ``at_ms`` runs."""
    original = ReplayDataset.steps

    def steps(self: ReplayDataset) -> Iterator[ReplayStep]:
        for step in original(self):
            if step.ts_ms == at_ms:
                hook()
            yield step

    monkeypatch.setattr(ReplayDataset, "steps", steps)


def _cli(*argv: str) -> int:
    return main(list(argv))


def _positions(journal: Path, until_ms: int | None = None) -> dict[tuple[str, str], Decimal]:
    """Net position per (strategy, instrument), base units, from the fills (up to ``until_ms``)."""
    held: dict[tuple[str, str], Decimal] = {}
    with sqlite3.connect(journal) as conn:
        rows = conn.execute("SELECT ts_ms, strategy, instrument, side, qty FROM fills ORDER BY seq")
        for ts_ms, strategy, instrument, side, qty in rows:
            if until_ms is not None and ts_ms > until_ms:
                break
            sign = 1 if side == "buy" else -1
            key = (strategy, instrument)
            held[key] = held.get(key, Decimal(0)) + sign * Decimal(qty)
    return {k: v for k, v in held.items() if v}


def _fills_only_reduce(journal: Path, from_ms: int) -> int:
    """Assert every fill at or after ``from_ms`` shrinks its strategy's position toward flat;
    returns how many there were."""
    held: dict[tuple[str, str], Decimal] = {}
    checked = 0
    with sqlite3.connect(journal) as conn:
        rows = conn.execute("SELECT ts_ms, strategy, instrument, side, qty FROM fills ORDER BY seq")
        for ts_ms, strategy, instrument, side, qty in rows:
            key = (strategy, instrument)
            before = held.get(key, Decimal(0))
            after = before + (1 if side == "buy" else -1) * Decimal(qty)
            if ts_ms >= from_ms:
                assert abs(after) <= abs(before), (key, before, after)
                assert after * before >= 0, (key, before, after)
                checked += 1
            held[key] = after
    return checked


def _opening_orders(journal: Path, from_ms: int) -> int:
    with sqlite3.connect(journal) as conn:
        sql = (
            "SELECT count(*) FROM orders o JOIN intents i ON o.intent_id = i.intent_id"
            " AND o.strategy = i.strategy WHERE i.opening = 1 AND o.ts_ms >= ?"
        )
        return int(conn.execute(sql, (from_ms,)).fetchone()[0])


def _kill_switch_alerts(journal: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(journal) as conn:
        sql = "SELECT ts_ms, message FROM alerts WHERE kind = 'kill_switch' ORDER BY id"
        return [(int(r[0]), str(r[1])) for r in conn.execute(sql)]


def test_halt_reduce_only_stops_opening_and_only_reduces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = tmp_path / "j.sqlite"
    codes: list[int] = []
    _hook_steps(
        monkeypatch, HALT_AT_MS, lambda: codes.append(_cli("halt", "--journal", str(journal)))
    )
    run_replay(_config(journal))

    assert codes == [0]
    assert _positions(journal, HALT_AT_MS - 1)  # positions were open when the halt came
    assert _opening_orders(journal, HALT_AT_MS) == 0
    _fills_only_reduce(journal, HALT_AT_MS)
    alerts = _kill_switch_alerts(journal)
    assert [ts for ts, _ in alerts] == [HALT_AT_MS]
    assert "halt (reduce_only)" in alerts[0][1]
    # the same window without a halt opens positions after that time: the halt is what stopped it
    free = tmp_path / "free.sqlite"
    run_replay(_config(free))
    assert _opening_orders(free, HALT_AT_MS) > 0


def test_halt_flatten_closes_every_position_at_the_next_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = tmp_path / "j.sqlite"
    _hook_steps(
        monkeypatch, HALT_AT_MS, lambda: _cli("halt", "--flatten", "--journal", str(journal))
    )
    run_replay(_config(journal))

    assert _positions(journal, HALT_AT_MS - 1)
    assert _positions(journal, HALT_AT_MS) == {}  # flat by the end of the halt's step
    assert _positions(journal) == {}  # and nothing opened since
    assert _opening_orders(journal, HALT_AT_MS) == 0
    assert _fills_only_reduce(journal, HALT_AT_MS) > 0


def test_halt_survives_a_restart_until_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = tmp_path / "j.sqlite"
    split = date(2025, 9, 16)
    _hook_steps(monkeypatch, HALT_AT_MS, lambda: _cli("halt", "--journal", str(journal)))
    first = run_replay(_config(journal, split, overwrite=False))
    monkeypatch.undo()  # the restarted runs write no halt of their own

    second = run_replay(_config(journal, END, overwrite=False))
    assert first.steps > 0
    assert second.steps > 0
    assert _opening_orders(journal, HALT_AT_MS) == 0
    _fills_only_reduce(journal, HALT_AT_MS)

    halted = read_status(journal, limits=None, wall_ms=None)
    assert halted.kill_switch is not None
    assert (halted.kill_switch.halted, halted.kill_switch.mode) == (True, "reduce_only")
    assert "KILL SWITCH: halted (reduce_only)" in format_status(halted)  # `zerobeta status`

    end_halted = _last_order_ms(journal)
    assert _cli("resume", "--journal", str(journal)) == 0
    resumed = read_status(journal, limits=None, wall_ms=None).kill_switch
    assert resumed is not None
    assert (resumed.halted, resumed.mode) == (False, "")
    assert resumed.at_ms >= halted.kill_switch.at_ms
    run_replay(_config(journal, date(2025, 10, 10), overwrite=False))
    assert _opening_orders(journal, end_halted + 1) > 0  # opening again after the resume
    messages = [m for _, m in _kill_switch_alerts(journal)]
    assert messages[-1].startswith("resume by ")


def test_halt_written_while_stopped_applies_from_the_restart(tmp_path: Path) -> None:
    journal = tmp_path / "j.sqlite"
    first = run_replay(_config(journal, date(2025, 9, 13), overwrite=False))
    assert _cli("halt", "--journal", str(journal)) == 0
    run_replay(_config(journal, END, overwrite=False))
    assert _opening_orders(journal, first.end_ms + 1) == 0
    _fills_only_reduce(journal, first.end_ms + 1)
    assert [ts for ts, _ in _kill_switch_alerts(journal)] == [first.end_ms]


def _last_order_ms(journal: Path) -> int:
    with sqlite3.connect(journal) as conn:
        return int(conn.execute("SELECT coalesce(max(ts_ms), 0) FROM orders").fetchone()[0])


def test_halt_and_resume_exit_2_without_a_journal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "none.sqlite"
    assert _cli("halt", "--journal", str(missing)) == 2
    assert _cli("resume", "--journal", str(missing)) == 2
    assert "no journal at" in capsys.readouterr().err
    assert not missing.exists()
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    assert _cli("halt", "--flatten", "--journal", str(other)) == 2


def _run_with_stop_at(cfg: AgentConfig, monkeypatch: pytest.MonkeyPatch, at_ms: int) -> RunResult:
    configure_logging("warning", "json", io.StringIO())
    supervisor = Supervisor(cfg)
    _hook_steps(monkeypatch, at_ms, supervisor.request_stop)
    return asyncio.run(supervisor.run())


def test_on_shutdown_flatten_closes_every_position_before_exit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = tmp_path / "j.sqlite"
    result = _run_with_stop_at(_config(journal, on_shutdown="flatten"), monkeypatch, HALT_AT_MS)
    assert result.stopped_early
    assert result.end_ms < HALT_AT_MS
    assert _positions(journal, result.end_ms - 1)  # open before the stop
    assert _positions(journal) == {}  # flat when the run ended
    # the last step traded as usual (it may open), then the stop closed everything: every
    # intent of the shutdown is a close, and they are the last ones
    with sqlite3.connect(journal) as conn:
        rows = conn.execute("SELECT reason, opening FROM intents ORDER BY id").fetchall()
    flatten = [i for i, (reason, _) in enumerate(rows) if reason == "shutdown_flatten"]
    assert flatten
    assert flatten == list(range(len(rows) - len(flatten), len(rows)))
    assert all(rows[i][1] == 0 for i in flatten)


def test_on_shutdown_leave_keeps_positions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    journal = tmp_path / "j.sqlite"
    result = _run_with_stop_at(_config(journal), monkeypatch, HALT_AT_MS)
    assert result.stopped_early
    assert _positions(journal) == _positions(journal, result.end_ms)
    assert _positions(journal)


def test_flatten_between_steps_closes_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Live runs call ``Engine.flatten_on_halt`` after each mark tick: a ``--flatten`` noticed
    there closes every position before the next hourly step."""
    journal = tmp_path / "j.sqlite"
    flat_before_step: list[bool] = []
    original = Engine.step

    async def step(self: Engine, market_step: Any) -> None:
        if market_step.ts_ms == HALT_AT_MS:
            assert _cli("halt", "--flatten", "--journal", str(journal)) == 0
            self.kill_switch.poll(self.clock.now_ms())  # as a mark tick does
            await self.flatten_on_halt()
            flat_before_step.append(not any(self.portfolio.positions().values()))
            await self.flatten_on_halt()  # once per halt: nothing left to do, nothing sent
        await original(self, market_step)

    monkeypatch.setattr(Engine, "step", step)
    run_replay(_config(journal))
    assert flat_before_step == [True]
    assert _positions(journal, HALT_AT_MS - 1) == {}  # closed at the previous step's time
    assert _positions(journal) == {}
    assert _opening_orders(journal, HALT_AT_MS) == 0  # nothing opened once halted
    with sqlite3.connect(journal) as conn:
        sql = "SELECT DISTINCT opening FROM intents WHERE reason = 'kill_switch_flatten'"
        assert conn.execute(sql).fetchall() == [(0,)]  # the flatten only closed
