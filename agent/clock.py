"""Clocks: wall time for live runs, an event-driven clock for replays.

The replay clock never sleeps: the replay driver sets it to each event's time, so a year of
hourly data replays as fast as the CPU allows and two runs give identical journals.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Source of the current time, epoch ms UTC."""

    def now_ms(self) -> int:
        """Current time, epoch milliseconds UTC."""
        ...


class LiveClock:
    """Wall-clock time (``time.time``), epoch ms UTC."""

    def now_ms(self) -> int:
        """Current wall time, epoch ms UTC."""
        return time.time_ns() // 1_000_000


class ReplayClock:
    """A clock that only moves when the replay driver advances it.

    Parameters
    ----------
    start_ms : int
        Initial time, epoch ms UTC.
    """

    def __init__(self, start_ms: int) -> None:
        self._now_ms = start_ms

    def now_ms(self) -> int:
        """The replay's current time, epoch ms UTC."""
        return self._now_ms

    def advance_to(self, ts_ms: int) -> None:
        """Jump to ``ts_ms``.

        Raises
        ------
        ValueError
            If ``ts_ms`` is earlier than the current time (replays never go back).
        """
        if ts_ms < self._now_ms:
            raise ValueError(f"replay clock cannot go back from {self._now_ms} to {ts_ms}")
        self._now_ms = ts_ms
