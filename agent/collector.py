"""The cyclic garbage collector's pace during a run (issue 14: performance).

CPython starts a young-generation collection after 700 net container allocations. A replay
allocates millions of short-lived containers (rows, snapshots, intents), almost all freed by
reference counting, so at that pace the collector walks the young objects thousands of times
for next to nothing: ~8 % of the CPU of a 200-symbol replay, ~2 % of the default one. A run
raises that first threshold to :data:`YOUNG_THRESHOLD` (the older generations' multipliers
are left alone, and CPython still runs a full collection only when the long-lived objects grew
by a quarter), then puts back whatever it found. What is collected does not change, only how
often the collector looks: cyclic garbage waits for at most that many allocations.

Source: https://docs.python.org/3/library/gc.html#gc.set_threshold and
https://devguide.python.org/internals/garbage-collector/ (generations, thresholds, the 25 %
rule for full collections).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

YOUNG_THRESHOLD: Final = 50_000
"""Net container allocations between two young-generation collections during a run (CPython's
default is 700)."""


@contextmanager
def run_pace() -> Iterator[None]:
    """Collect the young generation every :data:`YOUNG_THRESHOLD` allocations while the block
    runs; the thresholds in force before are restored on exit (also on an error)."""
    previous = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, *previous[1:])
    try:
        yield
    finally:
        gc.set_threshold(*previous)
