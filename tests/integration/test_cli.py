"""The ``zerobeta`` command line, in-process (``agent.cli.main``) and as a real process.

Exit codes (``agent.cli``): 0 success, also after a graceful SIGTERM; 2 configuration, usage
or market-data error, reported before anything starts. Expected figures are read from the
journal with ``sqlite3`` (``conftest``), never from the code's own output.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tomllib
from datetime import UTC, datetime
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any

import pytest

from agent.cli import main
from tests.integration.conftest import (
    AGENT_TOML,
    DATA_DIR,
    EXACT_DIGITS,
    JournalData,
    corrupt_field,
    net_positions,
    read_journal,
)

SECRET_IN_FILE = "AKIA-written-in-toml-0042"
SECRET_IN_ENV = "zb-env-key-4f1c2e9a7b"
FULL_WINDOW_LAST_CLOSE_MS = 1_773_946_800_000  # 2026-03-19 19:00 UTC, close of the last bar


def _write_toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _backtest_argv(journal: Path, *extra: str) -> list[str]:
    return [
        "backtest",
        "--config",
        str(AGENT_TOML),
        "--from",
        "2024-11-01",
        "--to",
        "2024-11-20",
        "--journal",
        str(journal),
        *extra,
    ]


def _utc(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


# --------------------------------------------------------------------------------------------
# Configuration and usage errors
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["run", "check-config", "backtest"])
@pytest.mark.parametrize(
    ("toml", "key_path"),
    [
        ("[risk]\nmax_levrage = 1.5\n", "risk.max_levrage"),
        ("[risk]\nmax_leverage = -1.0\n", "risk.max_leverage"),
        (f'[venues.binance]\napi_key = "{SECRET_IN_FILE}"\n', "venues.binance.api_key"),
        ('[strategies.mine]\nclass = "zb_cli_no_such_module:Mine"\n', "strategies.mine.class"),
        ("[strategies.stat_arb]\nentry_z = 9.0\n", "strategies.stat_arb"),
    ],
    ids=["unknown_key", "bad_value", "secret_in_toml", "strategy_class", "strategy_param"],
)
def test_config_error_exits_2_naming_the_key_path(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: str,
    toml: str,
    key_path: str,
) -> None:
    monkeypatch.chdir(tmp_path)  # a run that started anyway would write runs/ here
    argv = [command, "--config", str(_write_toml(tmp_path, toml))]
    if command == "backtest":
        argv += ["--from", "2024-11-01", "--to", "2024-11-03"]
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 2
    assert re.search(rf"^{re.escape(key_path)}: ", captured.err, re.MULTILINE), captured.err
    assert captured.out == ""
    assert SECRET_IN_FILE not in captured.err
    assert not (tmp_path / "runs").exists()


def test_check_config_prints_secrets_redacted(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ZEROBETA_VENUES__BINANCE__API_KEY", SECRET_IN_ENV)
    code = main(["check-config", "--config", str(AGENT_TOML)])
    captured = capsys.readouterr()
    assert code == 0
    assert SECRET_IN_ENV not in captured.out + captured.err
    printed = tomllib.loads(captured.out)
    assert printed["venues"]["binance"]["api_key"] == "**********"
    assert "api_key" not in printed["venues"]["bybit"]
    assert printed["capital"]["initial_equity_usd"] == 100000.0
    assert printed["strategies"]["stat_arb"]["entry_z"] == 2.0


def test_backtest_unknown_strategy_exits_2_before_starting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    journal = tmp_path / "bt.sqlite"
    code = main(_backtest_argv(journal, "--strategy", "nonexistent"))
    captured = capsys.readouterr()
    assert code == 2
    assert "nonexistent" in captured.err
    assert "--strategy" in captured.err
    assert not journal.exists()


def test_backtest_from_after_to_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    journal = tmp_path / "bt.sqlite"
    argv = ["backtest", "--config", str(AGENT_TOML), "--from", "2025-01-02"]
    code = main([*argv, "--to", "2025-01-01", "--journal", str(journal)])
    assert code == 2
    assert "--from" in capsys.readouterr().err
    assert not journal.exists()


def test_backtest_malformed_date_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(
            ["backtest", "--config", str(AGENT_TOML), "--from", "2025-13-01", "--to", "2026-01-01"]
        )
    assert info.value.code == 2
    assert "2025-13-01" in capsys.readouterr().err


def test_summary_without_journal_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "none.sqlite"
    assert main(["summary", "--journal", str(missing)]) == 2
    assert str(missing) in capsys.readouterr().err


def test_malformed_data_file_exits_2_with_file_line_and_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "data"
    shutil.copytree(DATA_DIR, data_dir)
    bad_file = data_dir / "binance" / "perp" / "BTCUSDT_1h.csv.gz"
    corrupt_field(bad_file, 1234, 4, "not-a-price")
    monkeypatch.setenv("ZEROBETA_MARKET_DATA__DATA_DIR", str(data_dir))
    journal = tmp_path / "bt.sqlite"
    code = main(_backtest_argv(journal))
    err = capsys.readouterr().err
    assert code == 2
    assert f"{bad_file}:1234: " in err
    assert "'not-a-price'" in err
    assert "Traceback" not in err


# --------------------------------------------------------------------------------------------
# summary re-prints the run
# --------------------------------------------------------------------------------------------


def _journal_figures(journal: Path) -> tuple[Decimal, int]:
    """Last snapshot's equity (USD) and the number of fills, straight from the journal."""
    data = read_journal(journal)
    return data.snapshots[-1].equity_usd, len(data.fills)


def _printed(text: str, label: str) -> str:
    match = re.search(rf"^  {label}\s+(\S+)", text, re.MULTILINE)
    assert match is not None, f"no {label!r} line in:\n{text}"
    return match.group(1).replace(",", "")


def test_summary_reprints_the_figures_of_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ZEROBETA_LOGGING__LEVEL", "warning")
    # Console logs: the run prints the summary for people (with JSON logs off a terminal it is
    # the `run_summary` event instead; tests/integration/test_log_events.py).
    monkeypatch.setenv("ZEROBETA_LOGGING__FORMAT", "console")
    journal = tmp_path / "bt.sqlite"
    assert main(_backtest_argv(journal)) == 0
    run_out = capsys.readouterr().out
    assert main(["summary", "--journal", str(journal)]) == 0
    summary_out = capsys.readouterr().out

    run_lines = [ln for ln in run_out.splitlines() if not ln.startswith("  wall time")]
    assert run_lines == summary_out.splitlines()
    equity_usd, fills = _journal_figures(journal)
    assert fills > 0
    assert Decimal(_printed(summary_out, "final equity")) == equity_usd.quantize(Decimal("0.01"))
    assert int(_printed(summary_out, "fills")) == fills


def _no_constants(name: str) -> Any:
    raise AssertionError(f"summary --json printed the non-JSON constant {name}")


def test_summary_json_parses_and_matches_the_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ZEROBETA_LOGGING__LEVEL", "warning")
    journal = tmp_path / "bt.sqlite"
    assert main(_backtest_argv(journal)) == 0
    capsys.readouterr()
    assert main(["summary", "--journal", str(journal), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out, parse_constant=_no_constants)
    equity_usd, fills = _journal_figures(journal)
    assert Decimal(printed["final_equity_usd"]) == equity_usd
    assert Decimal(printed["initial_equity_usd"]) == Decimal(100_000)
    assert printed["counts"]["fills"] == fills
    assert {"funding_harvester", "stat_arb"} <= set(printed["pnl_by_strategy_usd"])


# --------------------------------------------------------------------------------------------
# Graceful stop of a real process
# --------------------------------------------------------------------------------------------


def _events(lines: list[str]) -> list[dict[str, Any]]:
    """JSON log lines as dicts (other lines, if any, skipped)."""
    out: list[dict[str, Any]] = []
    for line in lines:
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(event, dict):
            out.append(event)
    return out


def _stop_after_start(proc: subprocess.Popen[str]) -> tuple[str, list[str]]:
    """Block on the log pipe until ``replay_started``, send SIGTERM, then read to EOF."""
    assert proc.stdout is not None
    assert proc.stderr is not None
    for line in proc.stderr:
        if any(e.get("event") == "replay_started" for e in _events([line])):
            break
    else:
        raise AssertionError("the process ended without logging replay_started")
    proc.send_signal(signal.SIGTERM)
    rest = proc.stderr.read().splitlines()  # the summary on stdout is a few kB: no deadlock
    out = proc.stdout.read()
    proc.wait(timeout=60)
    return out, rest


def _assert_final_snapshot_consistent(data: JournalData) -> None:
    """Last snapshot = cash rebuilt from fills and funding + positions at the run's final
    marks; equity − initial = Σ streams in the row."""
    last = data.snapshots[-1]
    assert last.ts_ms == int(data.meta["window_last_ms"])
    marks = {k: Decimal(v) for k, v in json.loads(data.meta["final_marks_json"]).items()}
    with localcontext() as ctx:
        ctx.prec = EXACT_DIGITS
        cash = Decimal(100_000)
        cash -= sum((f.signed_qty * f.price + f.fee_usd for f in data.fills), Decimal(0))
        cash += sum((p.amount_usd for p in data.funding), Decimal(0))
        held = sum((q * marks[i] for i, q in net_positions(data.fills).items()), Decimal(0))
        assert abs(cash + held - last.equity_usd) <= Decimal("1e-6")
        s = last.streams_usd
        streams = (
            s["price_spot_usd"]
            + s["price_perp_usd"]
            + s["funding_usd"]
            - s["fees_usd"]
            - s["slippage_usd"]
        )
        assert abs(last.equity_usd - last.initial_equity_usd - streams) <= Decimal("1e-6")


@pytest.mark.timeout(300)
def test_sigterm_stops_the_run_gracefully(tmp_path: Path) -> None:
    journal = tmp_path / "run.sqlite"
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("ZEROBETA_")}
    env |= {
        "ZEROBETA_JOURNAL__PATH": str(journal),
        "ZEROBETA_LOGGING__FORMAT": "json",
        "ZEROBETA_LOGGING__LEVEL": "info",
    }
    argv = [sys.executable, "-m", "agent.cli", "run", "--config", str(AGENT_TOML)]
    with subprocess.Popen(
        argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        try:
            out, rest = _stop_after_start(proc)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, "\n".join(rest[-20:])
    finished = [e for e in _events(rest) if e.get("event") == "replay_finished"]
    assert len(finished) == 1
    assert finished[0]["stopped_early"] is True
    # JSON logs: the summary is also one `run_summary` log event; the text is on stdout.
    (summary,) = [e for e in _events(rest) if e.get("event") == "run_summary"]
    assert summary["stopped_early"] is True
    data = read_journal(journal)
    last_ms = data.snapshots[-1].ts_ms
    assert last_ms < FULL_WINDOW_LAST_CLOSE_MS
    assert f"→ {_utc(last_ms)} UTC" in out
    _assert_final_snapshot_consistent(data)


def test_a_refused_live_start_exits_2_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Account setup or reconciliation refusals need a person: exit 2 (no restart loop)."""
    from agent.errors import ReconciliationError

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ZEROBETA_VENUES__BINANCE__API_KEY", "k" * 16)
    monkeypatch.setenv("ZEROBETA_VENUES__BINANCE__API_SECRET", "s" * 16)

    async def refuse(self: object) -> None:
        raise ReconciliationError("binance:perp:BTCUSDT: the venue holds -0.5, the journal 0")

    monkeypatch.setattr("agent.supervisor.Supervisor.run", refuse)
    toml = (
        'mode = "live"\n[market_data]\nsource = "live"\n'
        "[venues.bybit]\nenabled = false\n[venues.hyperliquid]\nenabled = false\n"
        "[strategies.cross_venue_arb]\nenabled = false\n"
    )
    code = main(["run", "--config", str(_write_toml(tmp_path, toml))])
    captured = capsys.readouterr()
    assert code == 2
    assert "live start refused" in captured.err
    assert "the venue holds -0.5" in captured.err
    assert "s" * 16 not in captured.err + captured.out


def test_data_download_unknown_venue_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["data", "download", "--venue", "kraken", "--symbols", "BTCUSDT"]
    code = main([*argv, "--from", "2025-01-01", "--to", "2025-01-02"])
    assert code == 2
    assert "kraken" in capsys.readouterr().err


def test_replay_with_a_venue_it_has_no_data_for_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ZEROBETA_VENUES__OKX__ENABLED", "true")
    assert main(["run", "--config", str(AGENT_TOML)]) == 2
    assert re.search(
        r"^venues\.okx\.enabled: the replay has no recorded data",
        capsys.readouterr().err,
        re.MULTILINE,
    )
    assert not (tmp_path / "runs").exists()
