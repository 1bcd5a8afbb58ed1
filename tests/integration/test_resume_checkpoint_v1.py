"""A checkpoint written before strategy state was typed still resumes, exactly.

``tests/fixtures/checkpoints/replay_v1_2025-09-01_2025-09-15.sqlite.gz`` (see its README) is
the journal of a replay of the shipped ``agent.toml`` over 2025-09-01 → 2025-09-15 written by
the code of commit 6c79ba9: strategy states in their version-1 JSON layout (no ``version``
key), checkpoint version 1. Resumed to 2025-09-24 by the current code, it keeps the fixture's
fills and, for the strategy whose rules have not changed since (the funding harvester, closed by
the funding-flip monitor), books exactly the fills of an uninterrupted replay of 2025-09-01 →
2025-09-24 — so its state and the monitor's were decoded from that layout without loss.
"""

from __future__ import annotations

import gzip
import json
import shutil
import sqlite3
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from agent.config import AgentConfig, load_config
from agent.errors import JournalError
from tests.integration.conftest import AGENT_TOML, REPO_ROOT, read_journal, run_replay

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

FIXTURE = REPO_ROOT / "tests" / "fixtures" / "checkpoints"
CHECKPOINT = FIXTURE / "replay_v1_2025-09-01_2025-09-15.sqlite.gz"
START, END = date(2025, 9, 1), date(2025, 9, 24)
CHECKPOINT_LAST_STEP_MS = 1_757_894_400_000  # 2025-09-15 00:00 UTC, the fixture's last step


def _config(journal: Path, *, overwrite: bool) -> AgentConfig:
    overrides: dict[str, Any] = {
        "journal": {"path": str(journal), "overwrite": overwrite},
        "logging": {"level": "warning", "progress": False},
        # cold, as the fixture's run was (written before backtests warmed up)
        "market_data": {"start": START.isoformat(), "end": END.isoformat(), "warmup": False},
        # the fixture's run traded before issue 13 item 4's exits and limits: switched off (or
        # made inert) here so both runs trade the same rules from the same checkpoint
        "strategies": {
            "stat_arb": {"stress_sizing": False, "drift_noisy_spread_vol_h_frac": 0.0},
            "funding_harvester": {"flip_exit_horizon_h": 1e9, "basis_take_enabled": False},
        },
    }
    return load_config(AGENT_TOML, env={}, overrides=overrides)


def _unpack(path: Path) -> Path:
    with gzip.open(CHECKPOINT) as packed, path.open("wb") as unpacked:
        shutil.copyfileobj(packed, unpacked)
    return path


def test_a_version_1_checkpoint_resumes_to_the_uninterrupted_bookings(tmp_path: Path) -> None:
    resumed = _unpack(tmp_path / "resumed.sqlite")
    before = read_journal(resumed)
    assert before.meta["resume_json"]  # a checkpoint to resume from, not a new run
    assert all("version" not in state for _, _, state in before.strategy_states)

    run_replay(_config(resumed, overwrite=False))
    run_replay(_config(tmp_path / "whole.sqlite", overwrite=True))

    after = read_journal(resumed)
    whole = read_journal(tmp_path / "whole.sqlite")
    assert len(after.fills) > len(before.fills)  # trading carried on after the checkpoint
    assert any(f.ts_ms > CHECKPOINT_LAST_STEP_MS for f in after.fills)
    assert after.fills[: len(before.fills)] == before.fills  # the checkpoint's past is kept
    # Stat arb's sizing changed after the fixture was written (legs sized to the hedge ratio,
    # and the health check), so the positions it held at the checkpoint differ from today's
    # uninterrupted run, and with them the equity the beta hedger, factor-neutral and the
    # cross-venue arb size from. The funding harvester's rules and sizing did not change: its
    # bookings after the checkpoint — decoded from its version-1 state, closed by the
    # funding-flip monitor from its own — must equal the uninterrupted run's exactly. (Stat
    # arb's own version-1 state is decoded in tests/unit/test_strategy_state.py.)
    assert _of(after.fills, UNCHANGED) == _of(whole.fills, UNCHANGED)
    assert any(f.ts_ms > CHECKPOINT_LAST_STEP_MS for f in _of(after.fills, UNCHANGED))
    assert len(after.funding) > len(before.funding)


UNCHANGED = "funding_harvester"


def _of(rows: list[Any], strategy: str) -> list[Any]:
    """The fills of ``strategy``."""
    return [r for r in rows if r.strategy == strategy]


def test_a_malformed_journaled_state_is_refused_naming_the_field(tmp_path: Path) -> None:
    damaged = _unpack(tmp_path / "damaged.sqlite")
    broken = json.dumps({"rates": {}, "positions": {"ADAUSDT": {}}})  # a record lost its fields
    with sqlite3.connect(damaged) as conn:
        conn.execute(
            "INSERT INTO strategy_state (ts_ms, strategy, state_json) VALUES (?, ?, ?)",
            (CHECKPOINT_LAST_STEP_MS, "funding_harvester", broken),
        )
    conn.close()
    with pytest.raises(
        JournalError, match=r"cannot resume: .*positions\['ADAUSDT'\]\.\w+: missing"
    ):
        run_replay(_config(damaged, overwrite=False))
