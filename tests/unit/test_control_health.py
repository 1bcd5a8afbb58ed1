"""The health rule and the heartbeat it reads: healthy only while the loop beats and the
engine's clock moves."""

from __future__ import annotations

import asyncio

from agent.control.health import HealthInputs, HealthLimits, evaluate
from agent.control.probe import Heartbeat

LIMITS = HealthLimits(heartbeat_timeout_s=5.0, stale_after_s=7200.0)


class Monotonic:
    def __init__(self) -> None:
        self.now_s = 100.0

    def __call__(self) -> float:
        return self.now_s


class EngineClock:
    def __init__(self) -> None:
        self.ms = 1_700_000_000_000

    def now_ms(self) -> int:
        return self.ms


def _inputs(heartbeat_age_s: float | None, event_age_s: float | None) -> HealthInputs:
    return HealthInputs(True, True, heartbeat_age_s, event_age_s)


def test_healthy_when_the_loop_beats_and_a_step_came_within_the_limit() -> None:
    health = evaluate(_inputs(0.5, 7200.0), LIMITS)
    assert health.ok
    assert health.to_dict()["status"] == "ok"
    assert health.to_dict()["reasons"] == []


def test_stale_market_data_is_unhealthy_with_its_reason() -> None:
    health = evaluate(_inputs(0.5, 7200.5), LIMITS)
    body = health.to_dict()
    assert not health.ok
    assert body["status"] == "unhealthy"
    assert body["checks"]["market_data"] == {"ok": False, "value_s": 7200.5, "limit_s": 7200.0}
    assert body["checks"]["event_loop"]["ok"] is True
    assert len(body["reasons"]) == 1
    assert "7200.5 s" in body["reasons"][0]


def test_a_late_heartbeat_is_unhealthy() -> None:
    body = evaluate(_inputs(5.5, 1.0), LIMITS).to_dict()
    assert body["status"] == "unhealthy"
    assert body["checks"]["event_loop"]["ok"] is False
    assert "heartbeat" in body["reasons"][0]


def test_before_the_engine_runs_it_is_starting() -> None:
    for inputs in (HealthInputs(False, False, None, None), HealthInputs(True, False, None, 0.0)):
        health = evaluate(inputs, LIMITS)
        assert not health.ok
        assert health.status == "starting"


def test_the_heartbeat_sees_the_engine_clock_move() -> None:
    mono, clock = Monotonic(), EngineClock()
    beat = Heartbeat(mono)
    assert beat.event_age_s() is None
    assert beat.heartbeat_age_s() is None
    beat.follow(clock)
    beat.beat()
    mono.now_s += 30.0
    beat.beat()  # the clock did not move: the last event stays 30 s old
    assert beat.event_age_s() == 30.0
    assert beat.heartbeat_age_s() == 0.0
    clock.ms += 3_600_000
    mono.now_s += 10.0
    beat.beat()
    assert beat.event_age_s() == 0.0
    mono.now_s += 4.0
    assert beat.heartbeat_age_s() == 4.0
    assert beat.beats == 3


async def test_the_heartbeat_runs_until_its_driver_is_done() -> None:
    beat = Heartbeat()
    driver: asyncio.Future[object] = asyncio.get_running_loop().create_future()
    runner = asyncio.create_task(beat.run(0.01, driver))
    await beat.wait_beat()
    await beat.wait_beat()
    assert beat.beats >= 2
    driver.set_result(None)
    await runner
    assert runner.done()
