"""Fixtures shared by the unit tests."""

from __future__ import annotations

import pytest
import structlog


@pytest.fixture(autouse=True)
def _default_logging() -> None:
    """Each unit test starts from structlog's defaults (an earlier test may have configured a
    level filter that would hide the events ``capture_logs`` looks for)."""
    structlog.reset_defaults()


class FakeClock:
    """Monotonic clock in seconds whose async sleep advances it and records the wait."""

    def __init__(self) -> None:
        self.now_s = 1_000.0
        self.sleeps_s: list[float] = []

    def __call__(self) -> float:
        return self.now_s

    async def sleep(self, seconds: float) -> None:
        self.sleeps_s.append(seconds)
        self.now_s += seconds


@pytest.fixture
def clock() -> FakeClock:
    """A fresh :class:`FakeClock` (rate limiter and retry tests: no real sleeps)."""
    return FakeClock()
