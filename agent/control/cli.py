"""``zerobeta status [--journal PATH] [--config PATH] [--json] [--no-live]``.

Reads the journal read-only (:mod:`agent.control.status`: it works while the agent writes it
and on a finished run) and, unless ``--no-live``, asks the running agent's endpoint
(``/status`` at ``[control] http_bind``:``http_port`` of the configuration) for what only it
knows — kept under ``live`` when that agent writes this journal, else ``live`` is null and
``live_error`` says why. The configuration (``--config``, default ``./agent.toml``) also gives
the drawdown limits; with ``--journal`` and no configuration file, the status has no limits and
no live part.

``--json`` prints one JSON object (:func:`agent.control.status.status_to_dict`); otherwise a
compact table (:mod:`agent.control.status_text`). Errors go to stderr; exit 2 when the journal
is missing or cannot be read as one (or the configuration is invalid), 0 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from agent.config import AgentConfig, load_config
from agent.control.status import RiskLimits, read_status, status_to_dict
from agent.control.status_text import format_status
from agent.errors import JournalError

EXIT_OK = 0
EXIT_USAGE = 2
LIVE_TIMEOUT_S = 2.0
"""How long ``zerobeta status`` waits for the running agent's endpoint, seconds."""


def register_cli(sub: Any) -> None:
    """Add the ``status`` subcommand to the ``zerobeta`` parser's subparsers ``sub``."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "status", help="a run's state from its journal (also while the agent runs)"
    )
    parser.add_argument(
        "--journal", type=Path, default=None, help="default: journal.path of the config"
    )
    parser.add_argument("--config", type=Path, default=Path("agent.toml"), help="agent.toml")
    parser.add_argument("--json", action="store_true", help="one JSON object")
    parser.add_argument(
        "--no-live", action="store_true", help="do not ask the running agent's endpoint"
    )


def run_cli(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run ``zerobeta status``, printing to ``out`` / ``err`` (default: ``sys.stdout`` /
    ``sys.stderr`` at the time of the call); returns the exit code.

    Raises
    ------
    agent.errors.ConfigError
        If the configuration is needed (no ``--journal``) or exists and is invalid.
    """
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    config = _config(args.config, required=args.journal is None)
    path = Path(args.journal) if args.journal is not None else _journal_of(config)
    if not path.is_file():
        print(f"zerobeta: no journal at {path}", file=err)
        return EXIT_USAGE
    # Imported here, when the command runs: the control surface (and prometheus_client under
    # it) stays off the import path of the other commands.
    from agent.control.server import wall_ms

    limits = None
    if config is not None:
        limits = RiskLimits(config.risk.daily_drawdown_frac, config.risk.total_drawdown_frac)
    try:
        status = read_status(path, limits=limits, wall_ms=wall_ms())
    except JournalError as error:
        print(f"zerobeta: cannot read the journal\n{error}", file=err)
        return EXIT_USAGE
    if args.no_live:
        status = replace(status, live_error="not asked (--no-live)")
    else:
        live, why = fetch_live(config, path)
        status = replace(status, live=live, live_error=why)
    if args.json:
        print(json.dumps(status_to_dict(status), indent=2, allow_nan=False), file=out)
    else:
        print(format_status(status), file=out)
    return EXIT_OK


def _config(path: Path, *, required: bool) -> AgentConfig | None:
    if not required and not path.is_file():
        return None
    return load_config(path)


def _journal_of(config: AgentConfig | None) -> Path:
    assert config is not None  # loaded when no --journal is given
    return Path(config.journal.path)


def endpoint_url(config: AgentConfig) -> str | None:
    """The ``/status`` address of the agent run with ``config``, None when it serves none or
    its port is chosen at start (``http_port = 0``)."""
    control = config.control
    if not control.http_enabled(config.market_data.source) or control.http_port == 0:
        return None
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(control.http_bind, control.http_bind)  # noqa: S104 - mapping a wildcard bind to loopback
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{control.http_port}/status"


def fetch_live(
    config: AgentConfig | None, journal: Path
) -> tuple[dict[str, Any] | None, str | None]:
    """The running agent's ``live`` block when it writes ``journal``; else None and why."""
    if config is None:
        return None, "no configuration file: the agent's endpoint is unknown"
    url = endpoint_url(config)
    if url is None:
        return None, "this configuration serves no endpoint with a known port ([control])"
    import httpx  # only when an agent is asked: off the import path of the other commands

    try:
        answer = httpx.get(url, timeout=LIVE_TIMEOUT_S)
        data = answer.json()
    except (httpx.HTTPError, ValueError) as error:
        return None, f"no agent answering at {url} ({type(error).__name__})"
    if not isinstance(data, dict):
        return None, f"{url} answered something that is not a status"
    theirs = str(data.get("journal", ""))
    if not theirs or Path(theirs).resolve() != journal.resolve():
        return None, f"the agent at {url} writes another journal ({theirs or 'unknown'})"
    live = data.get("live")
    return (live, None) if isinstance(live, dict) else (None, f"{url} gave no live part")
