"""Where a run's journal lives (``agent.journal.files``): unusable paths refused, a zerobeta
journal recognized by its schema, an old one moved aside with its WAL — never deleted — and
anything else left untouched."""

from __future__ import annotations

import os
import re
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.errors import JournalRefused
from agent.journal.files import check_run_path, journal_exists, move_aside
from agent.journal.journal import Journal
from tests.support.child import running_child

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
BACKUP = "j.sqlite.20260102T030405Z.bak"

# Commits rows into a journal's WAL, then waits to be killed: the WAL is never checkpointed.
KILLED_WRITER = """
import sys
from agent.journal.journal import Journal
journal = Journal.open(sys.argv[1])
journal.record_meta({"mode": "paper", "run": "first"})
journal.flush()
print("committed", flush=True)
sys.stdin.read()
"""


def _journal(path: Path, **meta: str) -> Path:
    with Journal.open(path) as journal:
        journal.record_meta(meta)
    return path


def _foreign_sqlite(path: Path) -> Path:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
        conn.execute("INSERT INTO notes VALUES ('keep me')")
    conn.close()
    return path


# ---- check_run_path --------------------------------------------------------------------------


def test_a_usable_path_gets_its_missing_directories(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "j.sqlite"
    assert check_run_path(path) == path
    assert path.parent.is_dir()
    assert not path.exists()


def test_an_empty_path_is_refused() -> None:
    with pytest.raises(JournalRefused, match=r"journal\.path is empty"):
        check_run_path(Path(""))


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(JournalRefused, match=re.escape(f"journal {tmp_path}: is a directory")):
        check_run_path(tmp_path)


def test_a_parent_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine\n")
    with pytest.raises(
        JournalRefused, match=re.escape(f"its parent {tmp_path / 'notes.txt'} is not a dir")
    ):
        check_run_path(tmp_path / "notes.txt" / "runs" / "j.sqlite")
    assert (tmp_path / "notes.txt").read_text() == "mine\n"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through permission bits")
def test_a_read_only_directory_is_refused(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(JournalRefused, match=re.escape(f"its directory {ro} is not writable")):
            check_run_path(ro / "j.sqlite")
        with pytest.raises(JournalRefused, match="cannot create its directory"):
            check_run_path(ro / "sub" / "j.sqlite")
    finally:
        ro.chmod(0o755)


# ---- journal_exists --------------------------------------------------------------------------


def test_a_journal_is_recognized_and_a_missing_one_is_not_there(tmp_path: Path) -> None:
    assert journal_exists(tmp_path / "missing.sqlite") is False
    assert journal_exists(_journal(tmp_path / "j.sqlite")) is True


def test_a_journal_of_another_schema_version_is_still_a_journal(tmp_path: Path) -> None:
    path = _journal(tmp_path / "j.sqlite")
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE schema_version SET version = 99")
    conn.close()
    assert journal_exists(path) is True


@pytest.mark.parametrize(
    ("make", "what"),
    [
        (lambda p: p.write_text("my notes\n") and p, "is not an SQLite database"),
        (lambda p: p.write_bytes(b"") or p, "is an empty file"),
        (_foreign_sqlite, "is an SQLite database with tables notes"),
    ],
    ids=["text_file", "empty_file", "other_sqlite"],
)
def test_anything_else_is_refused_and_left_as_it_was(
    tmp_path: Path, make: object, what: str
) -> None:
    path = tmp_path / "j.sqlite"
    make(path)  # type: ignore[operator]
    before = path.read_bytes()
    with pytest.raises(
        JournalRefused, match=re.escape(f"journal {path}: {what}, not a zerobeta journal")
    ):
        journal_exists(path)
    with pytest.raises(JournalRefused):
        move_aside(path, NOW)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if "bak" in p.name) == []


def test_a_directory_at_the_path_is_not_a_journal(tmp_path: Path) -> None:
    with pytest.raises(JournalRefused, match="is not a regular file"):
        journal_exists(tmp_path)


# ---- move_aside -------------------------------------------------------------------------------


def test_nothing_to_move_aside(tmp_path: Path) -> None:
    assert move_aside(tmp_path / "j.sqlite", NOW) is None
    assert list(tmp_path.iterdir()) == []


def test_a_journal_is_moved_aside_by_rename_never_copied_or_deleted(tmp_path: Path) -> None:
    path = _journal(tmp_path / "j.sqlite", run="first")
    inode = path.stat().st_ino
    moved = move_aside(path, NOW)
    assert moved == tmp_path / BACKUP
    assert moved.stat().st_ino == inode  # the same file, renamed
    assert not path.exists()
    with Journal.open(moved) as old:
        assert old.meta() == {"run": "first"}


def test_a_killed_runs_journal_moves_aside_whole_with_its_wal(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with running_child(KILLED_WRITER, str(path), ready="committed") as child:
        child.kill()
        child.wait(timeout=30)
    assert Path(f"{path}-wal").stat().st_size > 0  # committed rows only in the WAL
    moved = move_aside(path, NOW)
    assert moved == tmp_path / BACKUP
    assert sorted(p.name for p in tmp_path.iterdir()) == [BACKUP]
    with sqlite3.connect(moved.as_uri() + "?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT key, value FROM run_meta ORDER BY id").fetchall()
    conn.close()
    assert rows == [("mode", "paper"), ("run", "first")]


def test_a_journal_held_open_by_a_reader_moves_with_its_wal_files(tmp_path: Path) -> None:
    path = _journal(tmp_path / "j.sqlite", run="first")
    reader = sqlite3.connect(path)  # keeps -wal and -shm alive
    try:
        reader.execute("BEGIN")
        assert reader.execute("SELECT count(*) FROM run_meta").fetchone() == (1,)
        moved = move_aside(path, NOW)
        assert moved is not None
        assert not path.exists()
        assert not Path(f"{path}-wal").exists()
        assert not Path(f"{path}-shm").exists()
        assert reader.execute("SELECT value FROM run_meta").fetchall() == [("first",)]
    finally:
        reader.close()
    with Journal.open(moved) as old:
        assert old.meta() == {"run": "first"}


def test_backups_taken_in_the_same_second_do_not_overwrite_each_other(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    _journal(path, run="first")
    first = move_aside(path, NOW)
    _journal(path, run="second")
    second = move_aside(path, NOW)
    assert first == tmp_path / BACKUP
    assert second == tmp_path / "j.sqlite.20260102T030405Z-2.bak"
    for backup, run in ((first, "first"), (second, "second")):
        assert backup is not None
        with Journal.open(backup) as old:
            assert old.meta() == {"run": run}


def test_stray_wal_files_without_their_database_are_moved_too(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    Path(f"{path}-wal").write_bytes(b"old wal")
    assert move_aside(path, NOW) == tmp_path / BACKUP
    assert (tmp_path / f"{BACKUP}-wal").read_bytes() == b"old wal"
    assert not Path(f"{path}-wal").exists()
