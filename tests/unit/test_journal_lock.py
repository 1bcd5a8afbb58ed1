"""One process per journal (``agent.journal.lock``): a second process is refused naming the
holder's pid, a lock left by a killed process blocks nothing, readers need no lock.

The other process is a real one (``python -c``) that signals on stdout when it holds the lock
and holds it until its stdin closes or it is killed: no sleeps.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from agent.errors import JournalError, JournalRefused
from agent.journal.journal import Journal
from agent.journal.lock import JournalLock, lock_path, read_holder
from tests.support.child import running_child

HOLD_LOCK = """
import sys
from agent.journal.lock import JournalLock
lock = JournalLock.acquire(sys.argv[1])
print("locked", flush=True)
sys.stdin.read()
"""
# A holder between taking the flock and writing its record: the lock file stays empty.
HOLD_BARE_FLOCK = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
print("locked", flush=True)
sys.stdin.read()
"""


@contextmanager
def holding(code: str, path: Path) -> Iterator[subprocess.Popen[str]]:
    """A child process running ``code`` on ``path`` that holds a lock until the block ends."""
    with running_child(code, str(path), ready="locked") as child:
        yield child


def test_the_lock_file_is_beside_the_journal(tmp_path: Path) -> None:
    assert lock_path(tmp_path / "j.sqlite") == tmp_path.resolve() / "j.sqlite.lock"


def test_a_second_process_is_refused_naming_the_journal_and_the_holder(tmp_path: Path) -> None:
    journal = tmp_path / "j.sqlite"
    with holding(HOLD_LOCK, journal) as child:
        with pytest.raises(JournalRefused) as refused:
            JournalLock.acquire(journal)
        assert refused.value.holder_pid == child.pid
        assert refused.value.path == str(journal)
        message = str(refused.value)
        assert message.startswith(f"journal {journal}: in use by another zerobeta process")
        assert f"pid {child.pid} on host {socket.gethostname()}" in message
        record = json.loads((tmp_path / "j.sqlite.lock").read_text())
        assert record["pid"] == child.pid
        assert record["journal"] == str(journal.resolve())
    # The holder exited: the lock is free, and now names this process.
    with JournalLock.acquire(journal) as lock:
        assert lock.held
        holder = read_holder(journal)
        assert holder is not None
        assert holder.pid == os.getpid()


def test_a_lock_left_by_a_killed_process_does_not_block_a_new_run(tmp_path: Path) -> None:
    journal = tmp_path / "j.sqlite"
    with holding(HOLD_LOCK, journal) as child:
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
        stale = read_holder(journal)
        assert stale is not None
        assert stale.pid == child.pid  # the file stays, naming the dead holder
    with JournalLock.acquire(journal):
        holder = read_holder(journal)
        assert holder is not None
        assert holder.pid == os.getpid()


def test_a_holder_that_has_not_recorded_itself_yet_is_still_a_holder(tmp_path: Path) -> None:
    journal = tmp_path / "j.sqlite"
    with holding(HOLD_BARE_FLOCK, lock_path(journal)):
        with pytest.raises(JournalRefused, match="has not recorded its pid yet") as refused:
            JournalLock.acquire(journal)
        assert refused.value.holder_pid is None


def test_two_locks_in_one_process_conflict_too(tmp_path: Path) -> None:
    # flock belongs to an open file: a second supervisor in the same process is refused.
    journal = tmp_path / "j.sqlite"
    with (
        JournalLock.acquire(journal),
        pytest.raises(JournalRefused, match=f"pid {os.getpid()} "),
    ):
        JournalLock.acquire(journal)


def test_every_spelling_of_a_journal_path_shares_one_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "runs").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "runs")
    monkeypatch.chdir(tmp_path)
    with JournalLock.acquire(Path("runs/j.sqlite")):
        for other in (tmp_path / "runs" / "j.sqlite", Path("link/j.sqlite")):
            with pytest.raises(JournalRefused):
                JournalLock.acquire(other)


def test_release_is_idempotent_and_leaves_the_lock_file(tmp_path: Path) -> None:
    journal = tmp_path / "j.sqlite"
    lock = JournalLock.acquire(journal)
    lock.release()
    lock.release()
    assert not lock.held
    assert (tmp_path / "j.sqlite.lock").is_file()
    JournalLock.acquire(journal).release()


def test_readers_do_not_need_the_lock(tmp_path: Path) -> None:
    journal = tmp_path / "j.sqlite"
    with Journal.open(journal) as writer:
        writer.record_meta({"mode": "paper"})
    with holding(HOLD_LOCK, journal), Journal.open(journal) as reader:
        assert reader.meta() == {"mode": "paper"}


def test_an_unopenable_lock_file_is_refused(tmp_path: Path) -> None:
    journal = tmp_path / "j.sqlite"
    (tmp_path / "j.sqlite.lock").mkdir()  # something that cannot be opened for writing
    with pytest.raises(JournalRefused, match="cannot open its lock file") as refused:
        JournalLock.acquire(journal)
    assert isinstance(refused.value, JournalError)
