"""Stop signals: SIGTERM and SIGINT ask the agent to stop, at any moment of its life.

The event loop's own handlers (``loop.add_signal_handler``, installed by the supervisor) only
exist while the loop runs. :class:`StopSignals` covers the rest of a ``run``/``backtest``
process — argument parsing, configuration loading, the summary after the loop — by recording
the signal instead of letting Python raise ``KeyboardInterrupt`` (a traceback, exit 130) or
the default SIGTERM action kill the process (exit 143). The supervisor asks
:attr:`StopSignals.received` when its loop starts and re-installs these handlers when its
loop's are removed, so a signal is never lost and always ends in a graceful stop (exit 0).
"""

from __future__ import annotations

import signal
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
AGENT_COMMANDS = frozenset({"run", "backtest"})
"""The ``zerobeta`` commands that run the agent: their stop signals are graceful from the
first instant (:mod:`agent.entry`)."""


class StopSignals:
    """Records SIGTERM/SIGINT (main thread only) until someone asks.

    Attributes
    ----------
    received : signal.Signals | None
        The first stop signal received, None while none arrived.
    """

    def __init__(self) -> None:
        self.received: signal.Signals | None = None

    def install(self) -> None:
        """Handle SIGTERM and SIGINT by recording them (replaces the current handlers)."""
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._record)

    def _record(self, signum: int, _frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signal.Signals(signum)
