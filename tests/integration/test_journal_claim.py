"""Claiming a run's journal through the command line: one process per journal, an old journal
moved aside (never deleted), anything else refused — each refusal exit 2, naming the path,
before any market data is loaded.

The other process holding a journal is a real one (``tests.support.child``); "before any data"
is checked by making the replay's data loader fail the test if it is called.
"""

from __future__ import annotations

import os
import re
import sqlite3
from pathlib import Path

import pytest

from agent.cli import main
from tests.integration.conftest import AGENT_TOML, dump_tables
from tests.support.child import running_child
from venues.replay.source import ReplayDataset

HOLD_LOCK = """
import sys
from agent.journal.lock import JournalLock
lock = JournalLock.acquire(sys.argv[1])
print("locked", flush=True)
sys.stdin.read()
"""


def _backtest(journal: Path | str, to: str = "2024-11-03") -> list[str]:
    return ["backtest", "--config", str(AGENT_TOML), "--from", "2024-11-01", "--to", to,
            "--journal", str(journal)]  # fmt: skip


@pytest.fixture
def no_data(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading the replay data fails the test: a refusal must come first."""

    def load(*args: object, **kwargs: object) -> ReplayDataset:
        raise AssertionError("market data loaded before the journal was claimed")

    monkeypatch.setattr(ReplayDataset, "load", load)


@pytest.mark.usefixtures("no_data")
@pytest.mark.parametrize("command", ["run", "backtest"])
def test_a_second_run_on_a_held_journal_exits_2_naming_the_holder(
    tmp_path: Path,
    command: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    journal = tmp_path / "zb.sqlite"
    with running_child(HOLD_LOCK, str(journal), ready="locked") as holder:
        if command == "run":
            monkeypatch.setenv("ZEROBETA_JOURNAL__PATH", str(journal))
            code = main(["run", "--config", str(AGENT_TOML)])
        else:
            code = main(_backtest(journal))
        assert code == 2
    err = capsys.readouterr().err
    assert f"journal {journal}: in use by another zerobeta process (pid {holder.pid} " in err


def test_overwrite_moves_the_previous_journal_aside_and_keeps_it(tmp_path: Path) -> None:
    journal = tmp_path / "zb.sqlite"
    assert main(_backtest(journal, to="2024-11-12")) == 0
    first = dump_tables(journal)
    assert first["fills"]
    assert main(_backtest(journal, to="2024-11-12")) == 0
    backups = sorted(tmp_path.glob("zb.sqlite.*.bak"))
    assert [re.fullmatch(r"zb\.sqlite\.\d{8}T\d{6}Z\.bak", b.name) is not None
            for b in backups] == [True]  # fmt: skip
    assert dump_tables(backups[0]) == first  # the first run, intact
    assert dump_tables(journal) == first  # the rerun, identical row by row


def _text_file(path: Path) -> None:
    path.write_text("not a journal\n")


def _other_sqlite(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
    conn.close()


@pytest.mark.usefixtures("no_data")
@pytest.mark.parametrize("overwrite", ["true", "false"])
@pytest.mark.parametrize(
    ("make", "what"),
    [
        (_text_file, "is not an SQLite database, not a zerobeta journal"),
        (_other_sqlite, "is an SQLite database with tables notes, not a zerobeta journal"),
        (Path.mkdir, "is a directory"),
    ],
    ids=["text_file", "other_sqlite", "directory"],
)
def test_what_is_not_a_journal_is_refused_and_left_alone(
    tmp_path: Path,
    make: object,
    what: str,
    overwrite: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("ZEROBETA_JOURNAL__OVERWRITE", overwrite)
    path = tmp_path / "zb.sqlite"
    make(path)  # type: ignore[operator]
    before = sorted(os.listdir(tmp_path))
    content = path.read_bytes() if path.is_file() else None
    assert main(_backtest(path)) == 2
    assert f"journal {path}: {what}" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == before  # nothing moved, nothing beside it
    assert (path.read_bytes() if path.is_file() else None) == content


@pytest.mark.usefixtures("no_data")
def test_an_empty_journal_path_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = AGENT_TOML.read_text(encoding="utf-8")
    config = tmp_path / "agent.toml"
    emptied, n = re.subn(r'(?m)^path = "runs/zerobeta\.sqlite"$', 'path = ""', text)
    assert n == 1
    config.write_text(emptied, encoding="utf-8")
    assert main(["run", "--config", str(config)]) == 2
    assert "journal.path is empty" in capsys.readouterr().err


@pytest.mark.usefixtures("no_data")
def test_a_journal_under_a_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "notes.txt").write_text("mine\n")
    assert main(_backtest(tmp_path / "notes.txt" / "zb.sqlite")) == 2
    assert f"its parent {tmp_path / 'notes.txt'} is not a directory" in capsys.readouterr().err
    assert (tmp_path / "notes.txt").read_text() == "mine\n"


@pytest.mark.usefixtures("no_data")
@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through permission bits")
def test_a_read_only_directory_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        assert main(_backtest(ro / "zb.sqlite")) == 2
    finally:
        ro.chmod(0o755)
    assert f"its directory {ro} is not writable" in capsys.readouterr().err
