"""One process per journal: an exclusive ``flock`` on ``<journal>.lock``, held for a whole run.

:meth:`JournalLock.acquire` opens (creating if missing) the lock file beside the journal,
takes an exclusive, non-blocking :func:`fcntl.flock` on it and records the holder in it (one
JSON line: pid, host name, UTC time the lock was taken, journal path). A second process
asking for the same journal's lock gets :class:`~agent.errors.JournalRefused` naming the
journal and the holder's pid, read from the file it could not lock.

The kernel releases a ``flock`` when its holder's last descriptor closes, also when the process
is killed (SIGKILL, OOM): a lock file left behind blocks nothing, and is never deleted — deleting
a lock file lets two processes lock two different inodes under the same name. Readers
(``zerobeta summary``, ``report``) do not take the lock: SQLite's WAL lets them read while a run
writes.

Why ``fcntl.flock`` and not the ``filelock`` package: the holder record must survive a
contender's attempt, and filelock 3.x opens its lock file with ``O_TRUNC`` before trying the
lock (erasing the holder's pid on every refused attempt), while 4.x falls back to a soft lock
(a marker file a killed process leaves behind, blocking the restart) on file systems without
``flock``. The daemon runs on Linux or macOS (systemd, PM2), where ``flock`` is the primitive
both versions wrap; NFS clients emulate it with POSIX byte-range locks (Linux ≥ 2.6.12).

The descriptor is opened close-on-exec, so a subprocess does not inherit the lock; a child made
by ``fork`` without ``exec`` shares it until it exits.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Self

from agent.errors import JournalRefused

LOCK_SUFFIX = ".lock"
_HOLDER_MAX_BYTES = 4096


def lock_path(journal: Path | str) -> Path:
    """The lock file of ``journal``: ``<journal>.lock`` beside it, symlinks and relative parts
    resolved, so every spelling of one journal's path shares one lock."""
    resolved = Path(journal).resolve()
    return resolved.with_name(resolved.name + LOCK_SUFFIX)


@dataclass(frozen=True, slots=True)
class LockHolder:
    """Who holds (or last held) a journal's lock, as recorded in its lock file.

    Attributes
    ----------
    pid : int | None
        Process id on ``hostname``; None if the file holds no readable record (the holder is
        between taking the lock and writing it, or the file was edited).
    hostname : str
    since_utc : str
        When the lock was taken, ISO 8601 UTC (``2026-03-19T12:00:00Z``).
    """

    pid: int | None
    hostname: str = ""
    since_utc: str = ""

    def describe(self) -> str:
        """``pid 4242 on host h, since 2026-03-19T12:00:00Z`` (or that it is not recorded)."""
        if self.pid is None:
            return "its holder has not recorded its pid yet"
        return f"pid {self.pid} on host {self.hostname or '?'}, since {self.since_utc or '?'}"


class JournalLock:
    """An exclusive lock on a journal for the whole run; create with :meth:`acquire`, end with
    :meth:`release` (or use it as a context manager).

    Parameters
    ----------
    journal : Path
        The journal path, as configured.
    fd : int
        Open descriptor of the lock file, ``flock``-ed exclusively.
    """

    def __init__(self, journal: Path, fd: int) -> None:
        self._journal = journal
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, journal: Path | str) -> Self:
        """Lock ``journal`` for this process without waiting, and record this process as the
        holder. The journal's directory must exist.

        Raises
        ------
        JournalRefused
            If another process holds the lock (``holder_pid`` set when recorded), or the lock
            file cannot be created, opened or locked (permissions, a file system without locks).
        """
        path = Path(journal)
        lock_file = lock_path(path)
        try:
            fd = os.open(lock_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as err:
            reason = f"cannot open its lock file {lock_file}: {err.strerror or err}"
            raise JournalRefused(reason, path=str(path)) from err
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            holder = _read_holder(fd)
            os.close(fd)
            reason = (
                f"in use by another zerobeta process ({holder.describe()}; lock file "
                f"{lock_file}); stop that run or choose another journal.path"
            )
            raise JournalRefused(reason, path=str(path), holder_pid=holder.pid) from err
        except OSError as err:
            os.close(fd)
            reason = f"cannot lock {lock_file}: {err.strerror or err}"
            raise JournalRefused(reason, path=str(path)) from err
        try:
            _write_holder(fd, path)
        except OSError as err:
            os.close(fd)  # releases the lock
            reason = f"cannot write its lock file {lock_file}: {err.strerror or err}"
            raise JournalRefused(reason, path=str(path)) from err
        return cls(path, fd)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    @property
    def journal(self) -> Path:
        """The locked journal's path, as configured."""
        return self._journal

    @property
    def held(self) -> bool:
        """True until :meth:`release`."""
        return self._fd is not None

    def release(self) -> None:
        """Unlock and close the lock file (which stays in place); idempotent."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def read_holder(journal: Path | str) -> LockHolder | None:
    """The holder recorded in ``journal``'s lock file (the current holder while a run holds the
    lock, else the last one); None if there is no lock file. Takes no lock."""
    try:
        fd = os.open(lock_path(journal), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        return _read_holder(fd)
    finally:
        os.close(fd)


def _read_holder(fd: int) -> LockHolder:
    try:
        record = json.loads(os.pread(fd, _HOLDER_MAX_BYTES, 0))
        return LockHolder(int(record["pid"]), str(record["hostname"]), str(record["since_utc"]))
    except (OSError, ValueError, TypeError, KeyError):
        return LockHolder(None)


def _write_holder(fd: int, journal: Path) -> None:
    """Replace the lock file's record with this process's (only the lock's holder writes)."""
    record = {
        "pid": os.getpid(),
        "hostname": socket.gethostname(),
        "since_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "journal": str(journal.resolve()),
    }
    data = (json.dumps(record, sort_keys=True) + "\n").encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)
