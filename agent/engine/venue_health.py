"""Venue health: whether each venue's REST API and mark stream have been answering.

Every venue call the agent makes reports its outcome here (:meth:`VenueHealth.record`): the
order desk's orders and lookups (:class:`~agent.execution.desk.OrderDesk`), the liquidation
check's position reads (:class:`~agent.engine.liquidation.LiquidationWatch`) and, on live
data, the feed's bar and funding reads (:class:`~agent.live.feed.LiveFeed`); the live feed's
mark streams are watched through the newest mark per venue (:meth:`VenueHealth.watch_streams`).

A channel of a venue is *failing* from its first failure after its last success:

- ``rest``: failures are the venue not answering usefully — a transport error or timeout, a
  5xx, a rate limit, an authentication error or a payload that cannot be read
  (:func:`is_venue_failure`); an answer that refuses (an order rejected, an order not found)
  is the venue working. It has failed for as long as its failures span: from the first to
  the latest (so a single failure followed by silence is not an outage; a venue polled every
  mark tick is judged within about ``unhealthy_after_s``);
- ``marks``: silent since the venue's newest mark (judged once the venue has delivered one:
  a venue without a mark stream is never judged by it).

A venue is **unhealthy** while one of its channels has failed for ``unhealthy_after_s`` or
longer, and **recovers** when none has. :meth:`VenueHealth.review` returns the venues that
changed since the last review; the :class:`~agent.engine.safety.SafetyGuard` alerts them
(``venue_unhealthy`` / ``venue_recovered``), refuses opening intents with a leg on an
unhealthy venue (risk rule ``venue_unhealthy``) and applies ``[risk] unhealthy_venue_policy``.

The unhealthy venues are part of the resume checkpoint (:meth:`VenueHealth.state`): a restarted
run keeps such a venue unhealthy, without alerting again, until a call to it succeeds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from venues.errors import (
    AuthError,
    ProtocolError,
    RateLimited,
    TransportError,
    VenueUnavailable,
)
from venues.model import InstrumentId, MarkPrice

REST = "rest"
"""Channel of request/response calls (orders, lookups, positions, bars, funding)."""
MARKS = "marks"
"""Channel of the live feed's mark stream."""
RESTORED = "checkpoint"
"""Pseudo-channel of a venue a resumed checkpoint holds unhealthy (cleared by a success)."""


def is_venue_failure(error: BaseException) -> bool:
    """True when ``error`` means the venue is not answering usefully: a transport error or
    timeout (``asyncio.TimeoutError`` included), a 5xx, a rate limit, an authentication error
    or an unreadable payload. A rejection, an unknown order or an unsupported endpoint is the
    venue answering."""
    failures = (TimeoutError, TransportError, VenueUnavailable, RateLimited, AuthError)
    return isinstance(error, (*failures, ProtocolError))


def newest_mark_ms(marks: Mapping[InstrumentId, MarkPrice]) -> dict[str, int]:
    """Venue → event time of its newest mark, epoch ms UTC (for :meth:`VenueHealth.watch_streams`
    over the live feed's ``latest_marks``)."""
    newest: dict[str, int] = {}
    for iid, mark in marks.items():
        newest[iid.venue] = max(newest.get(iid.venue, mark.ts_event_ms), mark.ts_event_ms)
    return newest


@dataclass(slots=True)
class _Channel:
    """One channel's record, epoch ms UTC (None: never)."""

    last_ok_ms: int | None = None
    failing_since_ms: int | None = None
    last_failure_ms: int | None = None
    failures: int = 0
    last_error: str = ""


@dataclass(frozen=True, slots=True)
class HealthChange:
    """A venue that became unhealthy (``unhealthy``) or recovered, at ``ts_ms``.

    ``failing_s`` is how long its worst channel (``channel``) had failed, s; ``error`` that
    channel's last error text (empty for a silent stream or a recovery).
    """

    venue: str
    unhealthy: bool
    failing_s: float
    channel: str
    error: str
    ts_ms: int


@dataclass(frozen=True, slots=True)
class VenueHealthStatus:
    """One venue's health now (``zerobeta status``): ``healthy``; ``failing_s`` of its worst
    channel (0 when none fails) and which; consecutive REST failures and the last error; the
    last successful REST call and the newest mark, epoch ms UTC (None: none yet)."""

    venue: str
    healthy: bool
    failing_s: float
    channel: str
    rest_failures: int
    last_error: str
    last_rest_ok_ms: int | None
    last_mark_ms: int | None


class VenueHealth:
    """Per-venue health from the outcome of every call (module docstring).

    Parameters
    ----------
    unhealthy_after_s : float
        ``[risk] venue_unhealthy_after_s``: failing this long makes a venue unhealthy, s.
    now_ms : Callable[[], int]
        The clock, epoch ms UTC: the wall clock on live data, the engine's in a replay.
    """

    def __init__(self, unhealthy_after_s: float, now_ms: Callable[[], int]) -> None:
        self.unhealthy_after_ms = round(unhealthy_after_s * 1000)
        self.now_ms = now_ms
        self.unhealthy: set[str] = set()
        """Venues reviewed unhealthy and not yet recovered."""
        self._channels: dict[tuple[str, str], _Channel] = {}
        self._newest_marks: Callable[[], Mapping[str, int]] | None = None

    # ---- reports -------------------------------------------------------------------------

    def record(self, venue: str, error: BaseException | None = None, channel: str = REST) -> None:
        """One call to ``venue`` ended: successfully (``error`` None, or an error that is not a
        failure: :func:`is_venue_failure`), or failing with ``error``."""
        now = self.now_ms()
        key = (venue, channel)
        record = self._channels.get(key)
        if record is None:
            record = self._channels[key] = _Channel()
        if error is not None and is_venue_failure(error):
            if record.failing_since_ms is None:
                record.failing_since_ms = now
            record.last_failure_ms = now
            record.failures += 1
            record.last_error = f"{type(error).__name__}: {error}"[:200]
            return
        record.last_ok_ms = now
        healthy = record.failures == 0 and record.failing_since_ms is None
        if healthy and (venue, RESTORED) not in self._channels:
            return  # nothing to clear (every live mark reports here, through the input guard)
        record.failing_since_ms = record.last_failure_ms = None
        record.failures = 0
        record.last_error = ""
        self._channels.pop((venue, RESTORED), None)

    def watch_streams(self, newest_marks: Callable[[], Mapping[str, int]]) -> None:
        """Judge each venue's mark stream by ``newest_marks()``: venue → time of its newest
        mark, epoch ms UTC (the live feed's)."""
        self._newest_marks = newest_marks

    # ---- review ----------------------------------------------------------------------------

    def review(self) -> list[HealthChange]:
        """The venues that became unhealthy or recovered since the last review, by name."""
        if self._newest_marks is None and not self.unhealthy:
            for record in self._channels.values():
                if record.failing_since_ms is not None:
                    break
            else:
                return []  # nothing failing, no stream to judge, none unhealthy: no change
        now = self.now_ms()
        changes = []
        for venue in sorted(self._venues()):
            failing_ms, channel, error = self._worst(venue, now)
            unhealthy = failing_ms >= self.unhealthy_after_ms and failing_ms > 0
            if unhealthy == (venue in self.unhealthy):
                continue
            if unhealthy:
                self.unhealthy.add(venue)
            else:
                self.unhealthy.discard(venue)
            failing_s = failing_ms / 1000
            changes.append(HealthChange(venue, unhealthy, failing_s, channel, error, now))
        return changes

    def status(self) -> tuple[VenueHealthStatus, ...]:
        """Every venue heard of, by name (see :class:`VenueHealthStatus`)."""
        now = self.now_ms()
        marks = self._marks()
        out = []
        for venue in sorted(self._venues()):
            failing_ms, channel, _ = self._worst(venue, now)
            rest = self._channels.get((venue, REST), _Channel())
            out.append(
                VenueHealthStatus(
                    venue=venue,
                    healthy=venue not in self.unhealthy,
                    failing_s=failing_ms / 1000,
                    channel=channel,
                    rest_failures=rest.failures,
                    last_error=rest.last_error,
                    last_rest_ok_ms=rest.last_ok_ms,
                    last_mark_ms=marks.get(venue),
                )
            )
        return tuple(out)

    # ---- checkpoint --------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """The resume checkpoint's part (JSON-able): ``{"unhealthy_venues": [names, sorted]}``."""
        return {"unhealthy_venues": sorted(self.unhealthy)}

    def restore(self, state: Mapping[str, Any]) -> None:
        """Take back :meth:`state`: each venue stays unhealthy until a call to it succeeds (an
        empty mapping, from a checkpoint written before venue health: none).

        Raises
        ------
        ValueError
            If ``unhealthy_venues`` is not a list of venue names.
        """
        names = state.get("unhealthy_venues", [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError(f"venue_health.unhealthy_venues must be venue names: {names!r}")
        self.unhealthy = set(names)
        now = self.now_ms()
        for venue in names:
            self._channels[(venue, RESTORED)] = _Channel(
                failing_since_ms=now, last_failure_ms=now, last_error="unhealthy at the restart"
            )

    # ---- internals ---------------------------------------------------------------------------

    def _venues(self) -> set[str]:
        return {v for v, _ in self._channels} | set(self._marks()) | self.unhealthy

    def _marks(self) -> Mapping[str, int]:
        return {} if self._newest_marks is None else self._newest_marks()

    def _worst(self, venue: str, now_ms: int) -> tuple[int, str, str]:
        """``(failing_ms, channel, last error)`` of the venue's longest-failing channel."""
        worst = (0, "", "")
        for (name, channel), record in self._channels.items():
            if name != venue or record.failing_since_ms is None:
                continue
            assert record.last_failure_ms is not None  # set with failing_since_ms
            span_ms = record.last_failure_ms - record.failing_since_ms
            if channel == RESTORED:
                span_ms = self.unhealthy_after_ms  # until a success clears it
            if span_ms > worst[0] or not worst[1]:
                worst = (span_ms, channel, record.last_error)
        newest = self._marks().get(venue)
        if newest is not None and now_ms - newest > worst[0]:
            worst = (now_ms - newest, MARKS, "")
        return worst
