"""The terminal progress bar (agent.progress) shares the log console: log lines print whole
above it, and no bar is drawn where log lines are JSON."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import pytest
import structlog

from agent.logs import configure_logging, terminal_console
from agent.progress import TerminalProgress, terminal_progress

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    yield
    configure_logging("warning", "json", stream=io.StringIO())


def _visible_lines(raw: str) -> list[str]:
    """What a terminal keeps: each line's text after its last carriage return / erase."""
    return [_ANSI.sub("", line.split("\r")[-1]) for line in raw.split("\n")]


def test_a_log_line_during_the_bar_prints_whole_above_it() -> None:
    out = Tty()
    configure_logging("info", "console", stream=out)
    bar = terminal_progress("replay", 10)
    assert bar is not None
    with bar:
        bar.update(3, "equity 100,000.00 USD")
        structlog.get_logger("zerobeta.test").warning("breaker_tripped", rule="drawdown")
        bar.update(10, "equity 101,000.00 USD")
    lines = [line for line in _visible_lines(out.getvalue()) if line.strip()]
    logged = [line for line in lines if "breaker_tripped" in line]
    assert len(logged) == 1
    assert "rule=drawdown" in logged[0]
    assert "━" not in logged[0]
    assert "USD" not in logged[0]
    assert "100%" in lines[-1]
    assert "equity 101,000.00 USD" in lines[-1]
    assert bar.completed == 10


def test_no_bar_where_log_lines_are_json() -> None:
    configure_logging("info", "json", stream=Tty())
    assert terminal_progress("replay", 10) is None


def test_a_command_stream_that_is_not_a_terminal_gets_no_bar() -> None:
    configure_logging("info", "json", stream=io.StringIO())
    assert terminal_progress("download", 1.0, io.StringIO()) is None
    assert terminal_progress("download", 1.0, Tty()) is not None


def test_nothing_to_do_draws_nothing() -> None:
    configure_logging("info", "console", stream=Tty())
    assert terminal_progress("replay", 0) is None
    console = terminal_console()
    assert console is not None
    with pytest.raises(ValueError, match="positive"):
        TerminalProgress(console, "replay", 0)
