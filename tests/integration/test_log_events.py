"""The log of a real run is an audit trail: one JSON line per fill and per funding payment the
journal holds (counted from the journal with ``sqlite3``, not from the code), fixed keys and
numbers as numbers, per-cycle lines at debug only, the end-of-run summary as one
``run_summary`` event; syslog priority prefixes under journald; errors of every command on
stderr; ``--help`` without the numerical stack.
"""

from __future__ import annotations

import io
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from agent.cli import main
from agent.logs import configure_logging, get_logger
from tests.integration.conftest import AGENT_TOML

ROOT = Path(__file__).resolve().parents[2]
FIXED_KEYS = ("venue", "instrument", "strategy", "qty", "price", "ts_ms")


def _journal_count(journal: Path, table: str, what: str = "*") -> int:
    with sqlite3.connect(f"file:{journal}?mode=ro", uri=True) as conn:
        (count,) = conn.execute(f"SELECT COUNT({what}) FROM {table}").fetchone()
    return int(count)


def test_backtest_log_has_one_event_per_fill_and_funding_payment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    journal = tmp_path / "bt.sqlite"
    argv = ["backtest", "--config", str(AGENT_TOML), "--from", "2024-11-01", "--to", "2024-11-20"]
    assert main([*argv, "--journal", str(journal)]) == 0
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.err.splitlines()]  # every line is JSON
    assert captured.out.startswith("zerobeta run summary")  # the text: stdout, not the log
    by_event: dict[str, list[dict[str, object]]] = {}
    for line in lines:
        by_event.setdefault(str(line["event"]), []).append(line)

    fills = _journal_count(journal, "fills")
    payments = _journal_count(journal, "funding_payments")
    assert fills > 0
    assert payments > 0
    assert len(by_event["order_filled"]) == fills
    assert len(by_event["funding_settled"]) == payments
    orders = _journal_count(journal, "orders", "DISTINCT client_order_id")
    assert len(by_event["order_sent"]) == orders
    assert len(by_event["order_updated"]) == orders  # one answer per IOC order here
    assert "cycle_completed" not in by_event  # debug only
    assert by_event["position_opened"]
    for event in ("order_sent", "order_filled", "funding_settled", "position_opened"):
        for line in by_event[event]:
            assert line["level"] == "info"
            assert all(key in line for key in FIXED_KEYS), line
            assert isinstance(line["qty"], float)
            assert isinstance(line["ts_ms"], int)
    for line in by_event["order_filled"]:
        assert isinstance(line["price"], float)
        assert isinstance(line["fee_usd"], float)
        assert line["side"] in ("buy", "sell")
    (summary,) = by_event["run_summary"]
    assert summary["counts"]["fills"] == fills  # type: ignore[index]
    assert isinstance(summary["final_equity_usd"], float)


def test_lines_carry_syslog_priorities_under_journald(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "journal-stream"
    with path.open("w", encoding="utf-8") as stream:
        stat = os.fstat(stream.fileno())
        monkeypatch.setenv("JOURNAL_STREAM", f"{stat.st_dev}:{stat.st_ino}")
        configure_logging("debug", "json", stream)
        log = get_logger("zerobeta.test")
        log.debug("a_debug")
        log.info("an_info")
        log.warning("a_warning")
        log.error("an_error")
        configure_logging("warning", "json", io.StringIO())
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [line[:3] for line in lines] == ["<7>", "<6>", "<4>", "<3>"]
    assert json.loads(lines[2][3:])["event"] == "a_warning"


def test_no_prefix_when_the_stream_is_not_journald(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOURNAL_STREAM", "1:2")  # inherited, but this stream is a file
    path = tmp_path / "log"
    with path.open("w", encoding="utf-8") as stream:
        configure_logging("info", "json", stream)
        get_logger("zerobeta.test").warning("a_warning")
        configure_logging("warning", "json", io.StringIO())
    assert path.read_text(encoding="utf-8").startswith("{")


def test_summary_errors_go_to_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    not_a_journal = tmp_path / "notes.sqlite"
    not_a_journal.write_text("not a database", encoding="utf-8")
    code = main(["summary", "--journal", str(not_a_journal), "--json"])
    captured = capsys.readouterr()
    assert code != 0
    assert captured.out == ""
    assert captured.err
    assert main(["summary", "--journal", str(tmp_path / "missing.sqlite"), "--json"]) != 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "missing.sqlite" in captured.err


def test_help_does_not_import_the_numerical_stack() -> None:
    code = (
        "import sys\n"
        "from agent.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = [m for m in ('scipy', 'statsmodels', 'agent.supervisor') "
        "if m in sys.modules]\n"
        "print(heavy, file=sys.stderr)\n"
        "sys.exit(1 if heavy else 0)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "usage: zerobeta" in done.stdout
