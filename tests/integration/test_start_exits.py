"""How ``zerobeta run`` ends when its start is interrupted or fails: SIGTERM/SIGINT at any
moment stop it gracefully (exit 0, no traceback); an unexpected error is one ``agent_failed``
JSON line carrying the traceback as a field (exit 1), never a bare traceback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from agent import cli

pytestmark = pytest.mark.timeout(90)

REPO = Path(__file__).resolve().parents[2]


def _start_run(tmp_path: Path) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "ZEROBETA_JOURNAL__PATH": str(tmp_path / "run.sqlite"),
        "ZEROBETA_LOGGING__FORMAT": "json",
    }
    env.pop("NOTIFY_SOCKET", None)
    return subprocess.Popen(
        [sys.executable, "-m", "agent.cli", "run", "--config", str(REPO / "agent.toml")],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _stop_when(proc: subprocess.Popen[str], sig: signal.Signals, event: str) -> tuple[str, str]:
    """Send ``sig`` as soon as the run logs ``event`` (read line by line); its output."""
    assert proc.stderr is not None
    seen: list[str] = []
    for line in proc.stderr:
        seen.append(line)
        if json.loads(line).get("event") == event:
            proc.send_signal(sig)
            break
    out, err = proc.communicate(timeout=60)
    return out, "".join(seen) + err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_right_after_start_stops_gracefully(tmp_path: Path, sig: signal.Signals) -> None:
    proc = _start_run(tmp_path)
    out, err = _stop_when(proc, sig, "agent_starting")  # the first line: before the data load
    assert proc.returncode == 0, err
    assert "Traceback" not in out + err
    events = [json.loads(line)["event"] for line in err.splitlines() if line.startswith("{")]
    # Stopped during the start-up (nothing to summarize) or, if the signal was handled only
    # once the replay ran, at its first steps: graceful either way.
    assert "stopped_during_start" in events or "replay_finished" in events


def _handles(pid: int, sig: signal.Signals) -> bool:
    """Whether process ``pid`` has a handler of its own for ``sig`` (``SigCgt`` of
    ``/proc/<pid>/status``: the caught-signals bit mask, bit ``sig - 1``)."""
    status = Path(f"/proc/{pid}/status").read_text()
    caught = next(line for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(caught.split()[1], 16) >> (sig - 1) & 1)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_while_the_console_script_imports_stops_gracefully(
    tmp_path: Path, sig: signal.Signals
) -> None:
    """The console script's entry (agent.entry) takes the signals before importing the
    command line (~0.5 s): a signal the moment the handler exists lands during those imports,
    long before the first log line, and still ends in exit 0 without a traceback."""
    env = {**os.environ, "ZEROBETA_JOURNAL__PATH": str(tmp_path / "run.sqlite")}
    env["ZEROBETA_LOGGING__FORMAT"] = "json"
    env.pop("NOTIFY_SOCKET", None)
    script = "import sys; from agent.entry import main; sys.exit(main())"
    proc = subprocess.Popen(
        [sys.executable, "-c", script, "run", "--config", str(REPO / "agent.toml")],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Python catches SIGINT itself from its start; SIGTERM is caught only once StopSignals
    # installed both (SIGINT first): wait for that, busy-waiting on /proc (no fixed delay).
    while not _handles(proc.pid, signal.SIGTERM):
        assert proc.poll() is None, "the process ended before taking the signal"
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Traceback" not in out + err
    assert "stopped by signal before the run started" in err
    assert not (tmp_path / "run.sqlite").exists()  # stopped before the journal was claimed


def test_the_console_script_entry_imports_nothing_slow() -> None:
    """What the signal test above relies on: until its handlers are installed the entry has
    imported no project module but itself (and, in main, the signal handlers), and nothing of
    the third-party stack."""
    probe = (
        "import sys; from agent.entry import main; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('agent', 'strategies', 'venues', 'structlog', 'pydantic', 'numpy', 'httpx')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert out.strip() == "['agent', 'agent.entry']"  # main() adds only agent.signals


def test_a_signal_once_stepping_stops_with_a_summary(tmp_path: Path) -> None:
    proc = _start_run(tmp_path)
    out, err = _stop_when(proc, signal.SIGTERM, "replay_started")
    assert proc.returncode == 0, err
    assert "Traceback" not in out + err
    events = [json.loads(line)["event"] for line in err.splitlines() if line.startswith("{")]
    assert "replay_finished" in events


def test_an_unexpected_error_is_one_agent_failed_json_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from agent.supervisor import Supervisor

    async def broken(self: Supervisor) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(Supervisor, "run", broken)
    monkeypatch.setenv("ZEROBETA_JOURNAL__PATH", str(tmp_path / "run.sqlite"))
    monkeypatch.setenv("ZEROBETA_LOGGING__FORMAT", "json")
    code = cli.main(["run", "--config", str(REPO / "agent.toml")])
    signal.signal(signal.SIGINT, signal.default_int_handler)  # main() took the signals
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    assert code == 1
    err = capsys.readouterr().err
    assert not err.startswith("Traceback")
    failed = [json.loads(line) for line in err.splitlines() if '"agent_failed"' in line]
    assert len(failed) == 1
    assert failed[0]["error_type"] == "RuntimeError"
    assert failed[0]["error"] == "boom"
    assert "exception" in failed[0]  # the traceback, as a structured field
    assert all(line.startswith("{") for line in err.splitlines() if line.strip())
