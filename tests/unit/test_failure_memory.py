"""The run-ending notice remembered across restarts (agent/notify/failure_memory.py)."""

from __future__ import annotations

from pathlib import Path

from structlog.testing import capture_logs

from agent.notify.failure_memory import FailureMemory
from agent.notify.notice import Notice, Severity

WINDOW_S = 600.0
T_MS = 1_800_000_000_000


def notice(message: str = "start refused: ReconciliationError: holds -0.5") -> Notice:
    return Notice("start_refused", "ReconciliationError", message, Severity.ERROR)


def test_the_same_failure_is_sent_once_per_window_and_counted(tmp_path: Path) -> None:
    memory = FailureMemory(tmp_path / "j.sqlite.last-failure.json", WINDOW_S)
    assert memory.admit(notice(), T_MS) == notice()
    assert memory.admit(notice(), T_MS + 10_000) is None
    assert memory.admit(notice(), T_MS + 20_000) is None
    later = memory.admit(notice(), T_MS + int(WINDOW_S * 1000))  # the window has passed
    assert later is not None
    assert "ended 2 more start(s)" in later.note
    assert memory.admit(notice(), T_MS + int(WINDOW_S * 1000) + 1) is None  # a new window


def test_a_different_failure_is_sent_at_once(tmp_path: Path) -> None:
    memory = FailureMemory(tmp_path / "m.json", WINDOW_S)
    assert memory.admit(notice(), T_MS) is not None
    other = notice("the agent stopped on an error: RuntimeError: boom")
    assert memory.admit(other, T_MS + 1) == other


def test_a_malformed_memory_counts_as_none(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text("{not json")
    assert FailureMemory(path, WINDOW_S).admit(notice(), T_MS) == notice()


def test_an_unwritable_memory_never_holds_a_notice_back(tmp_path: Path) -> None:
    memory = FailureMemory(tmp_path / "missing-dir" / "m.json", WINDOW_S)
    with capture_logs() as logs:
        assert memory.admit(notice(), T_MS) == notice()
        assert memory.admit(notice(), T_MS + 1) == notice()  # nothing remembered: sent again
    assert [e["event"] for e in logs] == ["failure_memory_unwritable"] * 2
