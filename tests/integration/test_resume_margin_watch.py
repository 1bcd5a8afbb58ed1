"""A resumed run does not raise ``margin_low`` again for a venue that was already low.

The alert level is set high (``risk.margin_alert_frac = 0.9``) so that the shipped strategies'
first positions take a paper account below it early in the window; the run is then split after
that alert, while the account stays low, and resumed on its journal. The journaled alerts must
be exactly those of the same window run in one go: the margin watch's alerted venues are in the
checkpoint (``margin_watch``), so the resumed run does not alert again.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from agent.config import AgentConfig, load_config
from agent.engine.resume import RESUME_KEY
from tests.integration.conftest import AGENT_TOML, run_replay

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

START, SPLIT, END = date(2025, 9, 1), date(2025, 9, 5), date(2025, 9, 8)
ALERT_BELOW_FRAC = 0.9


def _config(journal: Path, end: date, *, overwrite: bool) -> AgentConfig:
    overrides: dict[str, Any] = {
        "journal": {"path": str(journal), "overwrite": overwrite},
        "logging": {"level": "warning", "progress": False},
        "market_data": {"start": START.isoformat(), "end": end.isoformat()},
        "risk": {"margin_alert_frac": ALERT_BELOW_FRAC},
    }
    return load_config(AGENT_TOML, env={}, overrides=overrides)


def _margin_alerts(journal: Path) -> list[tuple[int, str, dict[str, str]]]:
    with sqlite3.connect(journal) as conn:
        rows = conn.execute(
            "SELECT ts_ms, kind, fields_json FROM alerts WHERE kind = 'margin_low' ORDER BY id"
        ).fetchall()
    return [(ts_ms, kind, json.loads(fields)) for ts_ms, kind, fields in rows]


def _checkpoint(journal: Path) -> dict[str, Any]:
    with sqlite3.connect(journal) as conn:
        sql = "SELECT value FROM run_meta WHERE key = ? ORDER BY id DESC LIMIT 1"  # the last
        (text,) = conn.execute(sql, (RESUME_KEY,)).fetchone()
    checkpoint: dict[str, Any] = json.loads(text)
    return checkpoint


def test_a_resumed_run_does_not_alert_again_for_a_venue_still_low(tmp_path: Path) -> None:
    whole, split = tmp_path / "whole.sqlite", tmp_path / "split.sqlite"
    run_replay(_config(whole, END, overwrite=True))
    run_replay(_config(split, SPLIT, overwrite=False))
    alerts_before_split = _margin_alerts(split)
    low_at_split = _checkpoint(split)["margin_watch"]["low_venues"]
    run_replay(_config(split, END, overwrite=False))

    split_ms = int(datetime(SPLIT.year, SPLIT.month, SPLIT.day, tzinfo=UTC).timestamp() * 1000)
    assert alerts_before_split, "the level must be crossed before the split for this test"
    assert {fields["venue"] for _, _, fields in alerts_before_split} <= set(low_at_split)
    assert low_at_split, "a venue must still be low at the split for this test"
    assert _margin_alerts(split) == _margin_alerts(whole)
    resumed = [fields["venue"] for ts_ms, _, fields in _margin_alerts(split) if ts_ms > split_ms]
    assert not set(resumed) & set(low_at_split)
