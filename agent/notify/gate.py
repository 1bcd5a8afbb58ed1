"""Which notices go out: the kinds sent, deduplication and the rate limit.

:class:`NoticeGate` decides for each notice, when it is handed over (synchronously, on the
trading path, so it only counts and compares):

1. a kind not in ``[alerts] kinds`` is not sent;
2. the same ``(kind, key)`` is sent once per ``dedup_window_s``: repeats inside the window are
   counted, and the next notification of that key says how many there were;
3. at most ``max_per_minute`` notices are sent in any :data:`RATE_WINDOW_S`; the ones over
   the limit are suppressed and counted by kind, and the next notice sent carries the summary
   ("k more alerts suppressed ..."); when none comes, the dispatcher sends the summary alone
   as soon as the limit allows (:meth:`NoticeGate.summary_due_in_s`).

A notice the rate limit suppressed does not start a deduplication window: its key is sent
the next time it occurs with room under the limit. Times are seconds of a monotonic clock.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from enum import Enum
from typing import Final

from agent.notify.notice import ALERTS_SUPPRESSED, Notice, Severity

RATE_WINDOW_S: Final = 60.0
_PRUNE_ABOVE: Final = 1024
"""Keys remembered before expired deduplication entries are forgotten."""


class Verdict(Enum):
    """What the gate decided about a notice."""

    SEND = "send"
    FILTERED = "filtered"
    DUPLICATE = "duplicate"
    RATE_LIMITED = "rate_limited"


@dataclass(slots=True)
class _Seen:
    """A key's last notification (monotonic s) and the repeats deduplicated since."""

    at_s: float
    repeats: int = 0


class NoticeGate:
    """Kinds, deduplication and rate limit (see the module docstring).

    Parameters
    ----------
    kinds : Iterable[str]
        The kinds sent.
    dedup_window_s : float
        One notification per ``(kind, key)`` per this window, seconds; 0 = no deduplication.
    max_per_minute : int
        Notices sent per :data:`RATE_WINDOW_S` at most (the summary counts as one).
    clock : Callable[[], float]
        Monotonic seconds.
    """

    def __init__(
        self,
        kinds: Iterable[str],
        dedup_window_s: float,
        max_per_minute: int,
        clock: Callable[[], float],
    ) -> None:
        self._kinds = frozenset(kinds)
        self._window_s = dedup_window_s
        self._max = max_per_minute
        self._clock = clock
        self._seen: dict[tuple[str, str], _Seen] = {}
        self._sent_at: deque[float] = deque()
        self.suppressed: Counter[str] = Counter()
        """Kinds suppressed by the rate limit since the last summary, with their counts."""

    @property
    def kinds(self) -> frozenset[str]:
        """The kinds sent (``[alerts] kinds``)."""
        return self._kinds

    def admit(self, notice: Notice, *, limit: bool = True) -> tuple[Verdict, Notice]:
        """The verdict on ``notice`` and, when it is :attr:`Verdict.SEND`, the notice to send
        (with a note of its repeats and of what the rate limit suppressed before it);
        ``limit=False`` lets it past the rate limit (the error ending a run)."""
        if notice.kind not in self._kinds:
            return Verdict.FILTERED, notice
        now_s = self._clock()
        key = (notice.kind, notice.key)
        seen = self._seen.get(key)
        if seen is not None and now_s - seen.at_s < self._window_s:
            seen.repeats += 1
            return Verdict.DUPLICATE, notice
        if limit and not self._has_room(now_s):
            self.suppressed[notice.kind] += 1
            return Verdict.RATE_LIMITED, notice
        notes = [notice.note] if notice.note else []
        if seen is not None and seen.repeats:
            notes.append(f"({seen.repeats} more since the last notification of this key)")
        if self.suppressed:
            notes.append(self._summary_line())
            self.suppressed.clear()
        self._remember(key, now_s)
        self._sent_at.append(now_s)
        return Verdict.SEND, replace(notice, note="\n".join(notes))

    def summary_due_in_s(self) -> float | None:
        """Seconds until the summary of suppressed notices may go out (≤ 0: now); None when
        nothing was suppressed."""
        if not self.suppressed:
            return None
        now_s = self._clock()
        if self._has_room(now_s):
            return 0.0
        return self._sent_at[0] + RATE_WINDOW_S - now_s

    def take_summary(self, *, force: bool = False) -> Notice | None:
        """The summary notice of what the rate limit suppressed, if there is room for it
        (``force``: room or not, at shutdown); it takes a place under the limit."""
        if not self.suppressed:
            return None
        now_s = self._clock()
        if not force and not self._has_room(now_s):
            return None
        summary = Notice(ALERTS_SUPPRESSED, "", self._summary_line(), Severity.WARNING)
        self.suppressed.clear()
        self._sent_at.append(now_s)
        return summary

    def _has_room(self, now_s: float) -> bool:
        while self._sent_at and now_s - self._sent_at[0] >= RATE_WINDOW_S:
            self._sent_at.popleft()
        return len(self._sent_at) < self._max

    def _summary_line(self) -> str:
        total = sum(self.suppressed.values())
        kinds = ", ".join(f"{kind} ×{n}" for kind, n in sorted(self.suppressed.items()))
        return (
            f"{total} more alert(s) suppressed by the rate limit ({self._max} per minute): {kinds}"
        )

    def _remember(self, key: tuple[str, str], now_s: float) -> None:
        self._seen[key] = _Seen(now_s)
        if len(self._seen) > _PRUNE_ABOVE:
            expired = [k for k, s in self._seen.items() if now_s - s.at_s >= self._window_s]
            for old in expired:
                del self._seen[old]
