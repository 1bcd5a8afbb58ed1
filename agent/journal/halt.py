"""The kill switch's record in the journal: ``zerobeta halt`` and ``zerobeta resume``.

An operator's halt or resume is one ``run_meta`` row under :data:`HALT_KEY` (no schema change:
``run_meta`` is key → value, the latest row of a key wins), its value a :class:`HaltRecord`
as canonical JSON. :func:`write_halt_record` is what the commands call: it opens the journal
with a connection of its own, inserts the row and commits it at once, without the run's lock
(the running agent holds that for its whole run). The journal is in WAL mode, so the insert
waits at most ``busy_timeout_s`` for the agent's own commit to end.

The running agent reads the latest record (:class:`agent.engine.kill_switch.KillSwitch`)
at start-up and whenever another connection committed to the journal (SQLite's
``PRAGMA data_version``, read at every step and mark tick), and a restarted agent reads it
again before its first step: a halt stays in force across restarts until a resume record
follows it.

Errors: :class:`~agent.errors.JournalError` when the path holds no zerobeta journal or the
write fails.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import sqlite3
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Self

from agent.errors import JournalError

HALT_KEY = "halt_json"
"""``run_meta`` key of the kill switch's records."""
BUSY_TIMEOUT_S = 10.0
"""How long ``zerobeta halt`` / ``resume`` wait for the running agent's commit, seconds."""


class HaltMode(StrEnum):
    """What a halt asks of the running agent."""

    REDUCE_ONLY = "reduce_only"
    """No opening intent passes risk; closes, unwinds and reverses go on."""
    FLATTEN = "flatten"
    """Every strategy's positions are closed at the next hourly step, then reduce-only."""


@dataclass(frozen=True, slots=True)
class HaltRecord:
    """One ``zerobeta halt`` or ``zerobeta resume``.

    Attributes
    ----------
    halted : bool
        True for a halt, False for a resume (which lifts every earlier halt).
    mode : str
        A :class:`HaltMode` value for a halt, ``""`` for a resume.
    at_ms : int
        Wall-clock time the command wrote it, epoch ms UTC.
    pid : int
        Process id of the command.
    user : str
        Login name of the user who ran it (``""`` if unknown).
    host : str
        Host name where it ran.
    """

    halted: bool
    mode: str
    at_ms: int
    pid: int
    user: str
    host: str

    @classmethod
    def by_this_process(cls, mode: HaltMode | None, at_ms: int) -> Self:
        """A halt in ``mode`` (None: a resume) written now by this process and user."""
        try:
            user = getpass.getuser()
        except (OSError, KeyError):  # no login name in a bare container
            user = ""
        host = socket.gethostname()
        return cls(
            mode is not None, "" if mode is None else mode.value, at_ms, os.getpid(), user, host
        )

    def to_json(self) -> str:
        """Canonical JSON (sorted keys)."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Self:
        """Decode :meth:`to_json`.

        Raises
        ------
        ValueError
            If ``text`` is not such a record (an unknown mode included).
        """
        try:
            data = json.loads(text)
            record = cls(
                bool(data["halted"]),
                str(data["mode"]),
                int(data["at_ms"]),
                int(data["pid"]),
                str(data["user"]),
                str(data["host"]),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"not a halt record: {text[:200]!r}") from err
        if record.halted:
            HaltMode(record.mode)  # ValueError for an unknown mode
        return record

    def describe(self) -> str:
        """``halt (flatten) by alice, pid 4242 on host h`` / ``resume by ...``."""
        what = f"halt ({self.mode})" if self.halted else "resume"
        return f"{what} by {self.user or '?'}, pid {self.pid} on host {self.host or '?'}"


def write_halt_record(
    path: Path, record: HaltRecord, *, busy_timeout_s: float = BUSY_TIMEOUT_S
) -> None:
    """Append ``record`` to the journal at ``path`` and commit it at once (fsynced).

    Takes no run lock: a running agent reads the record at its next step or mark tick.

    Raises
    ------
    JournalError
        If ``path`` is not an existing zerobeta journal, or the write fails (also after
        waiting ``busy_timeout_s`` seconds for the running agent's commit).
    """
    name = str(path)
    try:
        conn = sqlite3.connect(
            f"{Path(path).resolve().as_uri()}?mode=rw", uri=True, timeout=busy_timeout_s
        )
    except sqlite3.Error as err:
        raise JournalError(f"cannot open: {err}", path=name) from err
    try:
        tables = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        if not {"run_meta", "schema_version"} <= tables:
            raise JournalError("not a zerobeta journal (no run_meta table)", path=name)
        conn.execute("PRAGMA synchronous=FULL")
        with conn:  # one transaction, committed on leaving
            conn.execute(
                "INSERT INTO run_meta (key, value) VALUES (?, ?)", (HALT_KEY, record.to_json())
            )
    except sqlite3.Error as err:
        raise JournalError(f"cannot write the halt record: {err}", path=name) from err
    finally:
        conn.close()
