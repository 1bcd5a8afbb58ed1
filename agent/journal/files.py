"""Where a run's journal lives: checking its path, recognizing a zerobeta journal, and moving an
old one aside.

A run writes only to a path that is missing or holds a zerobeta journal, recognized by its
schema (a ``schema_version`` table and the tables every version has,
:data:`agent.journal.schema.BASE_TABLES`, so a journal of an earlier release is one too). A
fresh run (a replay with ``journal.overwrite``) moves an old journal aside with its ``-wal`` and
``-shm`` files — renamed to ``<name>.<UTC time>.bak`` (``-wal``, ``-shm``), never deleted;
anything else at the path (a text file, an empty file, another SQLite database, a directory) is
refused with :class:`~agent.errors.JournalRefused` naming it, as are an empty path, a parent
that is a file and a directory that cannot be written.

The caller holds the journal's lock (:mod:`agent.journal.lock`) while it checks and moves, so no
zerobeta run writes the file meanwhile; a reader that has it open keeps reading the moved file.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from agent.errors import JournalRefused
from agent.journal.schema import BASE_TABLES

SIDE_SUFFIXES = ("-wal", "-shm")
"""SQLite's files beside a WAL database, named ``<database><suffix>``."""
_SQLITE_HEADER = b"SQLite format 3\x00"


def check_run_path(path: Path) -> Path:
    """``path`` if a run can write a journal there; creates its missing parent directories.

    Raises
    ------
    JournalRefused
        If ``path`` is empty, is a directory, has a parent that is a file, or its directory
        cannot be created or written.
    """
    name = str(path)
    if name in ("", "."):
        raise JournalRefused("journal.path is empty; name a file", path=name)
    try:
        if path.is_dir():
            raise JournalRefused("is a directory; journal.path must name a file", path=name)
        for parent in path.parents:
            if parent.exists() and not parent.is_dir():
                raise JournalRefused(f"its parent {parent} is not a directory", path=name)
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:  # a directory on the way that cannot be searched or created
        reason = f"cannot create its directory {path.parent}: {err.strerror or err}"
        raise JournalRefused(reason, path=name) from err
    if not os.access(path.parent, os.W_OK | os.X_OK):
        reason = f"its directory {path.parent} is not writable (the journal, its -wal and -shm "
        raise JournalRefused(reason + "files and its lock file are created there)", path=name)
    return path


def journal_exists(path: Path) -> bool:
    """True if ``path`` holds a zerobeta journal (of any schema version), False if nothing is
    there. Reads the file without changing it.

    Raises
    ------
    JournalRefused
        If something else is there, naming what it is.
    """
    name = str(path)
    try:
        if not path.exists():
            return False
        if not path.is_file():
            raise JournalRefused("is not a regular file", path=name)
        with path.open("rb") as handle:
            header = handle.read(len(_SQLITE_HEADER))
    except OSError as err:
        raise JournalRefused(f"cannot be read: {err.strerror or err}", path=name) from err
    if not header:
        raise JournalRefused(_foreign("is an empty file"), path=name)
    if header != _SQLITE_HEADER:
        raise JournalRefused(_foreign("is not an SQLite database"), path=name)
    tables = _table_names(path) - {"sqlite_sequence"}
    if not {"schema_version", *BASE_TABLES} <= tables:
        what = f"is an SQLite database with tables {', '.join(sorted(tables)) or '(none)'}"
        raise JournalRefused(_foreign(what), path=name)
    return True


def move_aside(path: Path, now: datetime | None = None) -> Path | None:
    """Rename the journal at ``path`` and its ``-wal``/``-shm`` files to
    ``<name>.<YYYYmmddTHHMMSSZ>.bak`` (``-2``, ``-3`` ... before ``.bak`` if taken), after
    committing its WAL into it; return the new path, or None if there was no journal. Stray
    ``-wal``/``-shm`` files without their database are moved the same way.

    ``now`` (default: the wall clock) names the backup, UTC.

    Raises
    ------
    JournalRefused
        If ``path`` holds something that is not a zerobeta journal (:func:`journal_exists`),
        or a rename fails.
    """
    exists = journal_exists(path)
    sides = [s for s in SIDE_SUFFIXES if Path(f"{path}{s}").exists()]
    if not exists and not sides:
        return None
    if exists:
        _checkpoint(path)
        sides = [s for s in SIDE_SUFFIXES if Path(f"{path}{s}").exists()]
    target = _backup_name(path, now or datetime.now(UTC))
    try:
        # The side files first: a database whose WAL moved with it is complete (checkpointed);
        # a WAL left behind a moved database would be read back by the next journal.
        for suffix in sides:
            Path(f"{path}{suffix}").rename(f"{target}{suffix}")
        if exists:
            path.rename(target)
    except OSError as err:
        reason = f"cannot move it aside to {target}: {err.strerror or err}"
        raise JournalRefused(reason, path=str(path)) from err
    return target


def _foreign(what: str) -> str:
    return f"{what}, not a zerobeta journal; move it away or choose another journal.path"


def _table_names(path: Path) -> set[str]:
    """Tables of the SQLite database at ``path``, read only (a hot WAL is read, not applied)."""
    try:
        conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
    except sqlite3.Error as err:
        raise JournalRefused(f"cannot be read: {err}", path=str(path)) from err
    try:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    except sqlite3.Error as err:
        what = _foreign(f"is not a readable SQLite database ({err})")
        raise JournalRefused(what, path=str(path)) from err
    finally:
        conn.close()
    return {str(row[0]) for row in rows}


def _checkpoint(path: Path) -> None:
    """Commit the WAL of the journal at ``path`` into the database file, so the file is whole
    on its own; best effort (a reader that has it open may keep the WAL alive)."""
    with contextlib.suppress(sqlite3.Error), contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _backup_name(path: Path, now: datetime) -> Path:
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    n = 1
    while True:
        suffix = "" if n == 1 else f"-{n}"
        target = path.with_name(f"{path.name}.{stamp}{suffix}.bak")
        if not any(Path(f"{target}{s}").exists() for s in ("", *SIDE_SUFFIXES)):
            return target
        n += 1
