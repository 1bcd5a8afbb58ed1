"""When the live loop looks an unresolved order up again: the follow-up timers.

An order whose outcome is unknown (:mod:`agent.execution.unresolved`: its answer and the lookup
right after were both lost, or it was still working after an IOC should have ended) is looked
up again by every hourly step. Live, between steps, :class:`FollowUpTimers` looks it up within
seconds: ``first_s`` (1 s) after the loop first sees it unresolved, then after waits that double
each time up to ``max_s`` (2, 4, 8 ... 60 s, then every 60 s): exponential backoff, so an order
the venue can answer about is resolved within a second or two, and a venue that stays down is
asked about it once a minute instead of hammered. An order that resolves (its fills booked and
its reverse sent) leaves the unresolved set and its timer goes with it; an order that turns up
unresolved again later starts over at ``first_s``.

The timers run on the wall clock of the live loop (:meth:`agent.live.feed.LiveFeed.events`); a
replay has none (its unresolved orders, if any, are looked up at each step as before).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

__all__ = ["FollowUpBackoff", "FollowUpTimers"]


@dataclass(frozen=True, slots=True)
class FollowUpBackoff:
    """Waits between the follow-up lookups of one order, seconds.

    Attributes
    ----------
    first_s : float
        From first seeing the order unresolved to its first timed lookup.
    factor : float
        Each further wait is the previous times this.
    max_s : float
        No wait is longer.
    """

    first_s: float = 1.0
    factor: float = 2.0
    max_s: float = 60.0

    def delay_ms(self, lookups: int) -> int:
        """Wait before the lookup after ``lookups`` timed lookups, ms
        (``min(max_s, first_s × factor ** lookups)``)."""
        return round(min(self.max_s, self.first_s * self.factor**lookups) * 1000)


class FollowUpTimers:
    """The follow-up schedule of the unresolved orders (see the module docstring).

    Parameters
    ----------
    unresolved : Callable[[], Collection[str]]
        Client order ids of the orders unresolved now (the engine's executor).
    backoff : FollowUpBackoff
        Waits between lookups.
    """

    def __init__(
        self,
        unresolved: Callable[[], Collection[str]],
        backoff: FollowUpBackoff | None = None,
    ) -> None:
        self._unresolved = unresolved
        self._backoff = backoff or FollowUpBackoff()
        self._due: dict[str, tuple[int, int]] = {}  # client order id -> (due_ms, lookups)

    def next_due_ms(self, now_ms: int) -> int | None:
        """When the next lookup falls due, epoch ms (None with nothing unresolved); an order
        seen unresolved for the first time is scheduled ``first_s`` after ``now_ms``."""
        self._sync(now_ms)
        return min((due for due, _ in self._due.values()), default=None)

    def take(self, now_ms: int) -> tuple[str, ...]:
        """Client order ids whose lookup is due at ``now_ms`` (oldest first), each rescheduled
        one backoff step later."""
        self._sync(now_ms)
        due = [cid for cid, (due_ms, _) in self._due.items() if due_ms <= now_ms]
        for cid in due:
            lookups = self._due[cid][1] + 1
            self._due[cid] = (now_ms + self._backoff.delay_ms(lookups), lookups)
        return tuple(due)

    def _sync(self, now_ms: int) -> None:
        current = list(self._unresolved())
        known = set(current)
        for cid in [c for c in self._due if c not in known]:
            del self._due[cid]
        for cid in current:
            if cid not in self._due:
                self._due[cid] = (now_ms + self._backoff.delay_ms(0), 0)
