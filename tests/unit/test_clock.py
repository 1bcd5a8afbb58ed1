"""Clocks: the replay clock only moves forward; the live clock reads wall time."""

from __future__ import annotations

import time

import pytest

from agent.clock import Clock, LiveClock, ReplayClock

T0_MS = 1_700_006_400_000


def test_replay_clock_starts_where_told_and_moves_only_when_advanced() -> None:
    clock = ReplayClock(T0_MS)
    assert clock.now_ms() == T0_MS
    assert clock.now_ms() == T0_MS  # no wall time leaks in
    clock.advance_to(T0_MS + 3_600_000)
    assert clock.now_ms() == T0_MS + 3_600_000


def test_replay_clock_accepts_the_same_time_again() -> None:
    clock = ReplayClock(T0_MS)
    clock.advance_to(T0_MS)
    assert clock.now_ms() == T0_MS


def test_replay_clock_refuses_to_go_back() -> None:
    clock = ReplayClock(T0_MS)
    clock.advance_to(T0_MS + 10)
    with pytest.raises(ValueError, match=f"from {T0_MS + 10} to {T0_MS + 9}"):
        clock.advance_to(T0_MS + 9)
    assert clock.now_ms() == T0_MS + 10  # unchanged by the refused move


def test_live_clock_reads_wall_time_in_epoch_ms() -> None:
    before_ms = time.time_ns() // 1_000_000
    now_ms = LiveClock().now_ms()
    after_ms = time.time_ns() // 1_000_000
    assert isinstance(now_ms, int)
    assert before_ms <= now_ms <= after_ms


def test_both_clocks_satisfy_the_protocol() -> None:
    clocks: list[Clock] = [LiveClock(), ReplayClock(T0_MS)]
    assert all(isinstance(c.now_ms(), int) for c in clocks)
