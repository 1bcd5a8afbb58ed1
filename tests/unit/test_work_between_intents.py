"""Live, between two intents of a step (:meth:`agent.engine.engine.Engine.work_between_intents`)
the follow-up timers and the naked budgets run on the wall clock: the engine's own clock stands
at the step's time while the step sends, so with it no timer would ever fall due mid-step."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from agent.engine.engine import Engine
from agent.live.timers import FollowUpTimers

STEP_MS = 1_741_298_400_000


class _Executor:
    def __init__(self) -> None:
        self.looked_up: list[tuple[int, tuple[str, ...]]] = []
        self.exposure_at: list[int] = []

    async def follow_up(self, now_ms: int, prices: Any, only: tuple[str, ...]) -> None:
        self.looked_up.append((now_ms, tuple(only)))

    async def check_exposure(self, now_ms: int, prices: Any) -> None:
        self.exposure_at.append(now_ms)


async def test_due_lookups_and_budgets_run_on_the_wall_clock_mid_step() -> None:
    executor = _Executor()
    engine: Any = SimpleNamespace(
        clock=SimpleNamespace(now_ms=lambda: STEP_MS),  # stands at the step's time
        between_steps=SimpleNamespace(timed_lookups=0),
        executor=executor,
        market=SimpleNamespace(prices={}),
    )
    timers = FollowUpTimers(lambda: ["order-1"])
    assert timers.next_due_ms(STEP_MS + 20_000) == STEP_MS + 21_000  # seen 20 s into the step
    wall = [STEP_MS + 20_500]

    await Engine.work_between_intents(engine, timers.take, lambda: wall[0])
    assert executor.looked_up == []  # not due yet
    wall[0] = STEP_MS + 21_000
    await Engine.work_between_intents(engine, timers.take, lambda: wall[0])

    assert executor.looked_up == [(STEP_MS + 21_000, ("order-1",))]
    assert executor.exposure_at == [STEP_MS + 20_500, STEP_MS + 21_000]
    assert engine.between_steps.timed_lookups == 1
