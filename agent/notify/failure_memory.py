"""The run-ending notice remembered across restarts, so a crash loop pages a person once.

Under systemd (``Restart=always``) or PM2 an agent that fails the same way at every start is
restarted every few seconds; each process is new, so the in-memory deduplication of
:class:`agent.notify.gate.NoticeGate` would send ``agent_failed`` / ``start_refused`` again at
every restart. :class:`FailureMemory` keeps the last run-ending notice in a small JSON file
beside the journal (``<journal>.last-failure.json``): the same failure (same kind and
message) within ``dedup_window_s`` of the last one *sent* is not sent again, only counted in
the file; the next one sent after the window — or a different failure — says how many were
held back.

The file holds the notice's kind, a SHA-256 of its message (never the message: an error's
text is not written anywhere new), the wall time it was last sent (epoch ms) and the count
held back since. It is written atomically (a temporary file renamed over it). Reading or
writing it never stops the agent: a missing, unreadable or malformed file counts as no
memory, and a write that fails is logged (``failure_memory_unwritable``) and the notice sent.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import structlog

from agent.notify.notice import Notice

log = structlog.get_logger("zerobeta.alerts")

SUFFIX = ".last-failure.json"
"""Appended to the journal's path to name the memory file."""


@dataclass(frozen=True, slots=True)
class _Entry:
    kind: str
    digest: str
    sent_ms: int
    held_back: int


class FailureMemory:
    """The last run-ending notice sent, kept in ``path`` (module docstring).

    Parameters
    ----------
    path : Path
        The memory file (``<journal>`` + :data:`SUFFIX`).
    dedup_window_s : float
        ``[alerts] dedup_window_s``: an identical failure within it of the last one sent is
        held back.
    """

    def __init__(self, path: Path, dedup_window_s: float) -> None:
        self.path = path
        self._window_ms = int(dedup_window_s * 1000)

    def admit(self, notice: Notice, now_ms: int) -> Notice | None:
        """The notice to send for this run-ending ``notice`` at wall time ``now_ms`` (epoch
        ms): None when the same failure was sent within the window (counted in the file),
        else ``notice`` — with a note of how many identical failures were held back since the
        last one sent, if any — recorded as sent."""
        digest = hashlib.sha256(f"{notice.kind}\n{notice.message}".encode()).hexdigest()
        last = self._read()
        same = last is not None and (last.kind, last.digest) == (notice.kind, digest)
        if same and last is not None and 0 <= now_ms - last.sent_ms < self._window_ms:
            self._write(replace(last, held_back=last.held_back + 1))
            log.info("alert_suppressed", kind=notice.kind, key=notice.key, reason="crash_loop")
            return None
        self._write(_Entry(notice.kind, digest, now_ms, 0))
        if same and last is not None and last.held_back:
            note = (
                f"the same failure ended {last.held_back} more start(s) since the last "
                "notification (restarts by the service manager)"
            )
            return replace(notice, note=f"{notice.note}\n{note}".strip())
        return notice

    def _read(self) -> _Entry | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return _Entry(
                str(data["kind"]), str(data["digest"]), int(data["sent_ms"]), int(data["held_back"])
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _write(self, entry: _Entry) -> None:
        text = json.dumps(
            {
                "kind": entry.kind,
                "digest": entry.digest,
                "sent_ms": entry.sent_ms,
                "held_back": entry.held_back,
            },
            sort_keys=True,
        )
        try:
            fd, tmp = tempfile.mkstemp(prefix=self.path.name, dir=self.path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    f.write(text)
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as err:
            log.warning("failure_memory_unwritable", path=str(self.path), error=str(err))
