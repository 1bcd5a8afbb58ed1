"""``zerobeta halt [--journal PATH | --config PATH] [--reduce-only | --flatten]`` and
``zerobeta resume [--journal PATH | --config PATH]``: the kill switch.

Each writes one record into the run's journal (:mod:`agent.journal.halt`), committed at once,
without the run's lock, so it reaches an agent running on that journal — at its next step or
mark tick (:class:`agent.engine.kill_switch.KillSwitch`) — and a stopped one when it starts
again: a halt stays in force across restarts until ``zerobeta resume``.

- ``--reduce-only`` (the default): no new positions; closes, unwinds and reverses go on.
- ``--flatten``: every position is closed at the agent's next hourly step, then reduce-only.

The journal is ``--journal``, else ``journal.path`` of ``--config`` (default ``./agent.toml``).
Exit 0 when the record is committed, 2 when the journal is missing or is not a zerobeta
journal (or the configuration is invalid).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, TextIO

from agent.config import load_config
from agent.errors import JournalError
from agent.journal.halt import HaltMode, HaltRecord, write_halt_record

EXIT_OK = 0
EXIT_USAGE = 2


def register_cli(sub: Any) -> None:
    """Add the ``halt`` and ``resume`` subcommands to the ``zerobeta`` parser's ``sub``."""
    halt: argparse.ArgumentParser = sub.add_parser(
        "halt", help="kill switch: stop opening positions (or flatten) until `zerobeta resume`"
    )
    _journal_args(halt)
    mode = halt.add_mutually_exclusive_group()
    mode.add_argument(
        "--reduce-only",
        dest="mode",
        action="store_const",
        const=HaltMode.REDUCE_ONLY,
        help="no new positions, closing allowed (default)",
    )
    mode.add_argument(
        "--flatten",
        dest="mode",
        action="store_const",
        const=HaltMode.FLATTEN,
        help="close every position at the next step, then reduce-only",
    )
    halt.set_defaults(mode=HaltMode.REDUCE_ONLY)
    resume: argparse.ArgumentParser = sub.add_parser(
        "resume", help="lift a `zerobeta halt`: the agent may open positions again"
    )
    _journal_args(resume)
    resume.set_defaults(mode=None)


def _journal_args(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--journal", type=Path, default=None, help="the run's journal")
    where.add_argument(
        "--config", type=Path, default=Path("agent.toml"), help="agent.toml (its journal.path)"
    )


def run_cli(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Write the halt (``args.mode`` a :class:`HaltMode`) or resume (``args.mode`` None)
    record; returns the exit code.

    Raises
    ------
    agent.errors.ConfigError
        If no ``--journal`` is given and the configuration is invalid.
    """
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    path = Path(args.journal) if args.journal is not None else load_config(args.config).journal.path
    if not path.is_file():
        print(f"zerobeta: no journal at {path}", file=err)
        return EXIT_USAGE
    # Imported here, when the command runs: the control surface (and prometheus_client under
    # it) stays off the import path of the other commands.
    from agent.control.server import wall_ms

    record = HaltRecord.by_this_process(args.mode, wall_ms())
    try:
        write_halt_record(path, record)
    except JournalError as error:
        print(f"zerobeta: cannot write to the journal\n{error}", file=err)
        return EXIT_USAGE
    if record.halted:
        then = (
            "a running agent closes every position at its next hourly step, then opens nothing"
            if args.mode is HaltMode.FLATTEN
            else "a running agent opens nothing more (closing allowed) from its next step or mark"
        )
        print(f"{record.describe()} recorded in {path}: {then}; in force across restarts "
              "until `zerobeta resume`", file=out)  # fmt: skip
    else:
        print(f"{record.describe()} recorded in {path}: opening allowed again", file=out)
    return EXIT_OK
