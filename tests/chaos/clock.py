"""The virtual clock shared by the chaos exchange and the agent process.

The agent runs under libfaketime at ``speed`` × real time (``FAKETIME="@<start> x<speed>"``), so
its hourly steps come every ``3600 / speed`` real seconds; the exchange reads the same virtual
time from :class:`VirtualClock` for its klines, funding, order times and the ``recvWindow``
rule. Every restart of the agent starts its fake clock at the virtual *now*, so time never goes
backwards across restarts. Virtual time is epoch ms UTC.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
"""Where Debian's ``libfaketime`` package puts the preload library."""


class VirtualClock:
    """``V(real) = start_ms + (real - real_start) × speed``, epoch ms.

    Parameters
    ----------
    start_ms : int
        Virtual time at creation, epoch ms UTC.
    speed : float
        Virtual seconds per real second (> 0).
    real_s : Callable[[], float]
        Real wall clock, epoch seconds.
    """

    def __init__(
        self, start_ms: int, speed: float, real_s: Callable[[], float] = time.time
    ) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        self.start_ms = start_ms
        self.speed = speed
        self._real_s = real_s
        self._real_start_s = real_s()

    def now_ms(self) -> int:
        """Virtual now, epoch ms UTC."""
        return self.start_ms + int((self._real_s() - self._real_start_s) * 1000 * self.speed)

    def real_s(self, virtual_s: float) -> float:
        """Real seconds that ``virtual_s`` virtual seconds take."""
        return virtual_s / self.speed

    def faketime_env(self) -> dict[str, str]:
        """libfaketime's settings for a process that starts now: its clock starts at the
        virtual now (whole seconds, UTC) and runs ``speed`` × faster; child processes keep it."""
        start = datetime.fromtimestamp(self.now_ms() // 1000, UTC)
        return {
            "LD_PRELOAD": LIBFAKETIME,
            "FAKETIME": f"@{start:%Y-%m-%d %H:%M:%S} x{self.speed:g}",
            "FAKETIME_DONT_RESET": "1",
            "TZ": "UTC",
        }
