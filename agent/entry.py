"""The ``zerobeta`` console script: stop signals taken before anything slow is imported.

Importing the command line (:mod:`agent.cli`: configuration models, strategies, the control
and data commands) takes about half a second. A SIGTERM or SIGINT in that time — systemd
stopping a unit that just started, a PM2 restart, Ctrl-C — would otherwise kill the process
with the default action (exit 143) or a ``KeyboardInterrupt`` traceback (exit 130). For the
commands that run the agent (``run``, ``backtest``) this module installs
:class:`agent.signals.StopSignals` first, importing only the standard library's ``signal``,
so a signal at any moment after the interpreter started ends in a graceful stop (exit 0, the
README's exit-code contract). Other commands keep Python's default handlers (Ctrl-C stops
``zerobeta status`` at once).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``zerobeta`` console script; returns the process exit code."""
    from agent.signals import AGENT_COMMANDS, StopSignals  # the standard library's signal only

    args = list(sys.argv[1:] if argv is None else argv)
    signals = None
    if args and args[0] in AGENT_COMMANDS:
        signals = StopSignals()
        signals.install()
    from agent.cli import main as cli_main  # the slow import, signals already handled

    return cli_main(args, signals=signals)
