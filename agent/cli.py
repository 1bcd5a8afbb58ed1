"""``zerobeta`` command line: run, backtest, sweep, check-config, init, summary, report, status,
data download; ``--version``.

Exit codes: 0 success (also after a graceful SIGINT/SIGTERM stop), 2 configuration or usage
error (printed before anything starts), 1 any other failure (systemd/PM2 restart the process).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from agent.config import MONITOR_SECTION, AgentConfig, load_config, redacted_dump
from agent.config.default_file import write_default_config
from agent.control.cli import register_cli as register_status_cli
from agent.control.cli import run_cli as run_status_cli
from agent.control.halt_cli import register_cli as register_halt_cli
from agent.control.halt_cli import run_cli as run_halt_cli
from agent.data.download import register_cli as register_download_cli
from agent.data.download import run_cli as run_download_cli
from agent.errors import (
    ConfigError,
    JournalRefused,
    LiveSetupError,
    ReconciliationError,
    ShutdownRequested,
)
from agent.logs import configure_logging, is_journal_stream, is_json_logging
from agent.research.cli import register_cli as register_sweep_cli
from agent.research.cli import run_cli as run_sweep_cli
from agent.signals import AGENT_COMMANDS, StopSignals
from venues.replay.loader import DataFileError

if TYPE_CHECKING:
    from agent.reporting.fault_cost import FaultCost

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2
DEFAULT_CONFIG = Path("agent.toml")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zerobeta", description="Market-neutral crypto strategy daemon."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    init = sub.add_parser("init", help="write the documented default agent.toml into DIR")
    init.add_argument("dir", nargs="?", type=Path, default=Path(), help="default: .")
    init.add_argument("--force", action="store_true", help="replace an existing agent.toml")
    run = sub.add_parser(
        "run", help="run the agent with a config (default: replay the bundled data)"
    )
    _config_args(run)
    _execution_args(run)
    run.add_argument("--journal", type=Path, default=None, help="journal path for this run")
    bt = sub.add_parser("backtest", help="replay a chosen window with the same engine")
    _config_args(bt)
    _execution_args(bt)
    bt.add_argument("--from", dest="date_from", type=_parse_date, required=True, help="UTC date")
    bt.add_argument("--to", dest="date_to", type=_parse_date, required=True, help="UTC date")
    bt.add_argument("--strategy", action="append", default=None, help="only these (repeatable)")
    bt.add_argument("--journal", type=Path, default=None, help="journal path for this backtest")
    check = sub.add_parser("check-config", help="validate and print the effective config")
    _config_args(check)
    summary = sub.add_parser("summary", help="re-print a finished run's summary from its journal")
    summary.add_argument(
        "--journal", type=Path, default=None, help="default: journal.path of the config"
    )
    summary.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    summary.add_argument("--json", action="store_true", help="machine-readable output")
    summary.add_argument(
        "--against", type=Path, default=None, metavar="CLEAN",
        help="also compare with CLEAN, the journal of the same run without leg faults: what "
        "the faults cost (equity, P&L, fees, slippage, pairs unwound, unhedged USD·s)",
    )  # fmt: skip
    report = sub.add_parser(
        "report",
        help="neutrality (beta to BTC), P&L per stream, strategy, venue and leg, funding and "
        "trades of a run; --html writes a tearsheet",
    )
    report.add_argument(
        "--journal", type=Path, default=None, help="default: journal.path of the config"
    )
    report.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    report.add_argument("--json", action="store_true", help="machine-readable output")
    report.add_argument(
        "--against", type=Path, default=None, metavar="CLEAN",
        help="also compare with CLEAN, the journal of the same run without leg faults",
    )  # fmt: skip
    report.add_argument(
        "--html", type=Path, default=None, metavar="OUT.html",
        help="also write the tearsheet: one self-contained HTML file with plots",
    )  # fmt: skip
    report.add_argument(
        "--png-dir", type=Path, default=None, metavar="DIR",
        help="also write the tearsheet's plots as PNG files into DIR",
    )  # fmt: skip
    report.add_argument(
        "--sweep", type=Path, default=None, metavar="TABLE",
        help="instead of a journal: the run table of `zerobeta sweep` (.csv/.parquet); with "
        "--html, a page with the heatmap of its grid",
    )  # fmt: skip
    report.add_argument(
        "--metric", default="sharpe",
        help="with --sweep: the table's column the heatmaps show (default: sharpe)",
    )  # fmt: skip
    register_status_cli(sub)
    register_halt_cli(sub)
    register_download_cli(sub)
    register_sweep_cli(sub)
    return parser


def _version() -> str:
    """The installed distribution's version (``unknown`` when run from an uninstalled tree)."""
    try:
        return version("zerobeta")
    except PackageNotFoundError:
        return "unknown"


def _config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="path to agent.toml")
    parser.add_argument("--secrets-dir", type=Path, default=None, help="directory of secret files")


def _execution_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--execution-style",
        choices=("taker", "maker_first"),
        default=None,
        help="override every strategy's execution_style for this run",
    )


def _parse_date(text: str) -> date:
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC).date()
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date of the form YYYY-MM-DD") from err


def main(argv: Sequence[str] | None = None, *, signals: StopSignals | None = None) -> int:
    """The command line's work (the console script enters through :mod:`agent.entry`, which
    installs ``signals`` before importing this module); returns the process exit code.

    ``signals``: the stop signals already taken for ``run``/``backtest``; None takes them
    here (``python -m agent.cli``, tests)."""
    args = _parser().parse_args(argv)
    if signals is None:
        signals = StopSignals()
        if args.command in AGENT_COMMANDS:
            signals.install()  # from here SIGTERM/SIGINT stop the run gracefully (exit 0)
    # Until a command configures its own logging, every line (an error of `summary`, `report`,
    # `check-config`...) goes to stderr: stdout carries only the command's output.
    configure_logging("warning", "auto")
    try:
        return _dispatch(args, signals)
    except ConfigError as err:
        print(f"zerobeta: configuration error\n{err}", file=sys.stderr)
        return EXIT_CONFIG
    except DataFileError as err:
        print(f"zerobeta: market data error\n{err}", file=sys.stderr)
        return EXIT_CONFIG
    except (LiveSetupError, ReconciliationError) as err:
        # A person must act (account modes, foreign positions): restarting cannot fix it.
        print(f"zerobeta: live start refused\n{err}", file=sys.stderr)
        return EXIT_CONFIG
    except JournalRefused as err:
        # Held by another run, or not a journal: a person must act, restarting cannot fix it.
        print(f"zerobeta: journal refused\n{err}", file=sys.stderr)
        return EXIT_CONFIG
    except Exception as err:  # noqa: BLE001 - the last resort: log it with its traceback, exit 1
        # Anything else (an AgentError, a venue's error, a bug): one `agent_failed` event with
        # the traceback as a field (JSON logs) or below it (console), never a bare traceback.
        structlog.get_logger("zerobeta").error(
            "agent_failed", error_type=type(err).__name__, error=str(err), exc_info=err
        )
        return EXIT_FAILURE


def _dispatch(args: argparse.Namespace, signals: StopSignals) -> int:
    if args.command == "init":
        return _init(args)
    if args.command == "data":
        from venues.registry import create_market_data  # heavy imports: only for the command

        configure_logging("info", "auto")
        return run_download_cli(args, factory=create_market_data)
    if args.command == "status":
        return run_status_cli(args)
    if args.command == "sweep":
        return run_sweep_cli(args)
    if args.command in ("halt", "resume"):
        return run_halt_cli(args)
    if args.command == "summary":
        return _summary(args)
    if args.command == "report":
        return _report(args)
    config = _load(args)
    if args.command == "check-config":
        print(redacted_dump(config))
        return EXIT_OK
    configure_logging(config.logging.level, config.logging.format)
    return _run(config, signals)


def _load(args: argparse.Namespace) -> AgentConfig:
    _require_config_file(args.config)
    config = load_config(args.config, secrets_dir=args.secrets_dir)
    overrides: dict[str, object] = {}
    if args.command == "backtest":
        if args.date_from >= args.date_to:
            raise ConfigError([("--from/--to", "--from must be before --to")])
        overrides["market_data"] = {
            "source": "replay",
            "start": args.date_from.isoformat(),
            "end": args.date_to.isoformat(),
        }
        if args.strategy:
            overrides["strategies"] = _only_strategies(config, args.strategy)
    if getattr(args, "journal", None) is not None:
        overrides["journal"] = {"path": str(args.journal)}
    style = getattr(args, "execution_style", None)
    if style is not None:
        sections = overrides.setdefault("strategies", {})
        assert isinstance(sections, dict)
        for name in config.strategies.names():
            sections.setdefault(name, {})["execution_style"] = style
    if not overrides:
        return config
    return load_config(args.config, secrets_dir=args.secrets_dir, overrides=overrides)


def _require_config_file(path: Path) -> None:
    """Refuse the default ``./agent.toml`` when it is missing, saying how to create it."""
    if path == DEFAULT_CONFIG and not path.exists():
        reason = (
            "no ./agent.toml here and no --config given; run `zerobeta init` to write the "
            "documented default configuration into this directory (or pass --config PATH)"
        )
        raise ConfigError([(str(path), reason)])


def _init(args: argparse.Namespace) -> int:
    try:
        target = write_default_config(args.dir, force=args.force)
    except FileExistsError:
        path = args.dir / "agent.toml"
        print(f"zerobeta: {path} exists; not overwritten (--force replaces it)", file=sys.stderr)
        return EXIT_CONFIG
    except OSError as err:
        print(f"zerobeta: cannot write {args.dir / 'agent.toml'}: {err}", file=sys.stderr)
        return EXIT_CONFIG
    print(f"wrote {target}; check it with `zerobeta check-config`, then `zerobeta run`")
    return EXIT_OK


def _only_strategies(config: AgentConfig, wanted: Sequence[str]) -> dict[str, object]:
    """Overrides enabling the ``[strategies.*]`` sections named in ``wanted`` (built-in or
    the user's own, and the funding-flip monitor) and disabling every other one, in the
    configuration's order.

    Raises
    ------
    ConfigError
        If a name is not a section of the configuration.
    """
    known = [*config.strategies.names(), MONITOR_SECTION]
    unknown = sorted(set(wanted) - set(known))
    if unknown:
        reason = f"unknown strategy {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        raise ConfigError([("--strategy", reason)])
    return {name: {"enabled": name in wanted} for name in known}


def _run(config: AgentConfig, signals: StopSignals) -> int:
    from agent.reporting.report import build_summary  # heavy imports (scipy, statsmodels):
    from agent.supervisor import Supervisor  # only for the commands using them

    supervisor = Supervisor(config, show_progress=config.logging.progress, signals=signals)
    try:
        result = asyncio.run(supervisor.run())
    except ShutdownRequested:
        print("zerobeta: stopped by signal before the run started", file=sys.stderr)
        return EXIT_OK
    summary = build_summary(result.journal_path, wall_time_s=result.wall_time_s)
    from agent.reporting.summary import format_summary, summary_to_dict

    # JSON logs: the summary is also one `run_summary` event of the log stream. The text for
    # people goes to stdout, except where stdout is systemd's journal stream: a service's
    # journal stays JSON only (deploy/README's jq filters).
    if is_json_logging():
        structlog.get_logger("zerobeta").info(
            "run_summary",
            stopped_early=result.stopped_early,
            **summary_to_dict(summary, exact=False),
        )
    if is_journal_stream(sys.stdout):
        return EXIT_OK
    print(format_summary(summary))
    if result.stopped_early:
        print("(stopped early by signal; the journal holds everything up to the stop)")
    return EXIT_OK


def _journal_arg(args: argparse.Namespace) -> Path | None:
    """The journal named on the command line, else the config's; None (and a message) if it
    does not exist."""
    path = Path(args.journal) if args.journal is not None else load_config(args.config).journal.path
    if not Path(path).exists():
        print(f"zerobeta: no journal at {path}", file=sys.stderr)
        return None
    return Path(path)


def _report(args: argparse.Namespace) -> int:
    """The report as text or JSON on stdout; with ``--html``/``--png-dir`` the tearsheet
    files instead of the text (their paths on stdout, or on stderr beside ``--json``);
    with ``--sweep TABLE --html OUT.html`` the sweep's page."""
    if args.sweep is not None:
        return _sweep_page(args)
    path = _journal_arg(args)
    if path is None:
        return EXIT_CONFIG
    from agent.reporting.run_report import build_run_report, format_run_report, run_report_to_dict

    report = build_run_report(path)
    if args.html is not None or args.png_dir is not None:
        from agent.reporting.tearsheet import write_tearsheet  # matplotlib: only for this path

        try:
            written = write_tearsheet(path, report, html_path=args.html, png_dir=args.png_dir)
        except OSError as err:
            print(f"zerobeta: cannot write the tearsheet: {err}", file=sys.stderr)
            return EXIT_CONFIG
        for target in written:
            print(f"wrote {target}", file=sys.stderr if args.json else sys.stdout)
        if not args.json:
            return EXIT_OK
    cost = _fault_cost(path, args.against)
    if args.json:
        data = run_report_to_dict(report)
        if cost is not None:
            from agent.reporting.fault_cost import fault_cost_to_dict

            data["against_clean"] = fault_cost_to_dict(cost)
        print(json.dumps(data, indent=2, sort_keys=True, allow_nan=False))
    else:
        print(format_run_report(report))
        _print_fault_cost(cost)
    return EXIT_OK


def _fault_cost(path: Path, clean: Path | None) -> FaultCost | None:
    """The run at ``path`` against the clean run journaled at ``clean`` (``--against``), or
    None without one."""
    if clean is None:
        return None
    from agent.reporting.fault_cost import build_fault_cost
    from agent.reporting.report import build_summary

    return build_fault_cost(build_summary(path), path, clean)


def _print_fault_cost(cost: FaultCost | None) -> None:
    if cost is not None:
        from agent.reporting.fault_cost import format_fault_cost

        print()
        print(format_fault_cost(cost))


def _sweep_page(args: argparse.Namespace) -> int:
    """``report --sweep TABLE --html OUT.html``: the sweep's page
    (:mod:`agent.research.sweep_page`), its path on stdout.

    Raises
    ------
    ConfigError
        ``--sweep`` without ``--html`` or with ``--json``/``--png-dir``/``--journal``; a table
        that is not a sweep's; ``--metric`` not one of its columns.
    """
    others = [
        flag
        for flag, given in (("--json", args.json), ("--png-dir", args.png_dir is not None))
        if given
    ]
    if args.journal is not None:
        others.append("--journal")
    if args.html is None or others:
        reason = "needs --html OUT.html" if args.html is None else f"not with {', '.join(others)}"
        raise ConfigError([("--sweep", reason)])
    from agent.research.sweep_page import write_sweep_page  # matplotlib: only for this path

    try:
        written = write_sweep_page(args.sweep, args.html, metric=args.metric)
    except OSError as err:
        print(f"zerobeta: cannot write the sweep page: {err}", file=sys.stderr)
        return EXIT_CONFIG
    print(f"wrote {written}")
    return EXIT_OK


def _summary(args: argparse.Namespace) -> int:
    path = _journal_arg(args)
    if path is None:
        return EXIT_CONFIG
    from agent.reporting.report import build_summary
    from agent.reporting.summary import format_summary, summary_to_dict

    summary = build_summary(path)
    cost = None
    if args.against is not None:
        from agent.reporting.fault_cost import build_fault_cost

        cost = build_fault_cost(summary, path, args.against)
    if args.json:
        data = summary_to_dict(summary)
        if cost is not None:
            from agent.reporting.fault_cost import fault_cost_to_dict

            data["against_clean"] = fault_cost_to_dict(cost)
        print(json.dumps(data, indent=2, sort_keys=True))
    else:
        print(format_summary(summary))
        _print_fault_cost(cost)
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
