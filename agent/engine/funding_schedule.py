"""Funding schedule registry: the funding interval and next settlement of every perp.

No code may assume an 8h funding interval: 1h, 4h and 8h all occur and a symbol's interval
can change (the bundled Bybit INJUSDT went 8h → 1h on 2026-02-19 17:00 UTC, then one 6h step
to 2026-02-27 00:00, then 8h; ``venues/replay/data/PROVENANCE.md``). The registry learns the
interval of each perp (key: its :class:`~venues.model.InstrumentId`, i.e. venue and symbol)
from two sources and reports every change once, when it happens:

- **metadata**: ``Instrument.funding_interval_s`` as the venue lists it (:meth:`register`);
- **settlement**: the funding settlements actually observed (:meth:`observe`). The observed
  interval of a settlement is the time since the previous observed settlement of that perp,
  rounded to whole minutes (settlement stamps carry up to a few hundred ms of jitter); the
  first settlement observed uses its own ``FundingRate.interval_s``.

Change rules (one report per real change, never one per row):

- a settlement reports a change when its observed interval differs from the interval in
  force (``interval_s``); irregular single gaps (the 6h step above) are real and reported;
- a metadata listing reports a change only when it differs both from the previous listing of
  that perp and from the interval in force, so a stale listing repeated after the
  settlements moved on does not flap;
- after a metadata change, the next settlement may still close one period of the old
  interval; it is accepted silently once. If the settlements then keep the old interval the
  metadata was wrong and the settlement source reports the change back.

Callers must feed every settlement of a perp: a missed one shows as a longer gap, which is
reported as a change. Pure bookkeeping: no I/O, clock or logging; the supervisor logs and
journals the :class:`IntervalChange` objects (see :func:`to_alert`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from strategies.base import Alert
from venues.model import (
    FundingRate,
    Instrument,
    InstrumentId,
    InstrumentKind,
    funding_rate_per_hour,
)

ChangeSource = Literal["metadata", "settlement"]

ALERT_KIND: Final = "funding_interval_changed"
# Funding intervals are whole minutes on every venue we know (in fact whole hours); rounding
# gaps to the minute absorbs settlement-stamp jitter (≤ 261 ms in the bundled data).
_GAP_ROUNDING_MS: Final = 60_000


@dataclass(frozen=True, slots=True)
class IntervalChange:
    """A change of a perp's funding interval.

    Attributes
    ----------
    instrument_id : InstrumentId
        The perp.
    ts_ms : int
        When the change became known, epoch ms UTC: the settlement time for source
        ``"settlement"``, the listing time passed to :meth:`FundingScheduleRegistry.register`
        for source ``"metadata"``.
    old_interval_s, new_interval_s : int
        Interval in force before and after, seconds.
    source : {"metadata", "settlement"}
        What revealed the new interval.
    """

    instrument_id: InstrumentId
    ts_ms: int
    old_interval_s: int
    new_interval_s: int
    source: ChangeSource


@dataclass(slots=True)
class _Schedule:
    """What is known about one perp; intervals in seconds, times epoch ms UTC."""

    interval_s: int | None = None
    listed_s: int | None = None
    observed_s: int | None = None
    last_ts_ms: int | None = None
    next_ts_ms: int | None = None
    grace: bool = False
    rounded_gap: tuple[int, int] | None = None
    """The last gap rounded, ms, and its rounding, s (``_rounded_gap_s``: kept for the next
    settlement, as a perp's gaps repeat)."""


class FundingScheduleRegistry:
    """Funding interval and next settlement time of every perp, with interval changes.

    Usage: :meth:`register` every perp when its listing is read, :meth:`observe` every
    settlement in time order, and turn each returned :class:`IntervalChange` into an alert
    with :func:`to_alert`. Times are epoch ms UTC, intervals seconds.
    """

    def __init__(self) -> None:
        self._schedules: dict[InstrumentId, _Schedule] = {}
        self._changes: list[IntervalChange] = []

    @property
    def changes(self) -> tuple[IntervalChange, ...]:
        """Every change reported so far, in the order reported."""
        return tuple(self._changes)

    def register(self, instrument: Instrument, ts_ms: int) -> IntervalChange | None:
        """Record the venue's listed funding interval of a perp.

        Parameters
        ----------
        instrument : Instrument
            A perp; ``funding_interval_s`` ``None`` means the venue does not list it (the
            settlements will tell).
        ts_ms : int
            When the listing was read, epoch ms UTC (stamps a metadata change).

        Returns
        -------
        IntervalChange | None
            A ``"metadata"`` change when the listing moved away from both its previous value
            and the interval in force; ``None`` otherwise (including the first listing).

        Raises
        ------
        ValueError
            If the instrument is not a perp or its interval is not positive.
        """
        iid = instrument.id
        if not instrument.is_perp:
            raise ValueError(f"funding schedule: {iid} is not a perp")
        listed = instrument.funding_interval_s
        sched = self._schedules.setdefault(iid, _Schedule())
        if listed is None:
            return None
        _check_positive(iid, "funding_interval_s", listed)
        relisted = listed != sched.listed_s
        sched.listed_s = listed
        if sched.interval_s is None:
            sched.interval_s = listed
            return None
        if not relisted or listed == sched.interval_s:
            return None
        sched.grace = sched.observed_s is not None
        return self._change(sched, iid, ts_ms, listed, "metadata")

    def observe(self, rate: FundingRate) -> IntervalChange | None:
        """Record one settled funding rate of a perp.

        Parameters
        ----------
        rate : FundingRate
            A settlement (``ts_funding_ms`` in the past). The same settlement observed again
            is ignored.

        Returns
        -------
        IntervalChange | None
            A ``"settlement"`` change when the observed interval differs from the interval
            in force, else ``None``.

        Raises
        ------
        ValueError
            If the instrument is not a perp, ``interval_s`` is not positive,
            ``ts_next_funding_ms`` is not after ``ts_funding_ms``, or the settlement is older
            than the last one observed for this perp.
        """
        iid = rate.instrument_id
        ts_ms = rate.ts_funding_ms
        sched = self._schedules.get(iid)
        if sched is None:
            # only a perp gets a schedule (here and in register), so a known one needs no check
            _check_perp(iid)
            _check_times(rate)
            sched = self._schedules[iid] = _Schedule()
        else:
            _check_times(rate)
        last = sched.last_ts_ms
        if last is not None and ts_ms <= last:
            if ts_ms == last:
                return None
            raise ValueError(
                f"funding schedule: settlement of {iid} at {ts_ms} ms is before "
                f"the last one observed at {last} ms"
            )
        if last is None:
            gap_s = rate.interval_s
        else:
            gap_ms = ts_ms - last
            rounded = sched.rounded_gap
            if rounded is not None and rounded[0] == gap_ms:  # the last gap again (usual)
                gap_s = rounded[1]
            else:  # (long-int divisions: a third of observe's instructions when done each time)
                gap_s = _rounded_gap_s(iid, gap_ms)
                sched.rounded_gap = (gap_ms, gap_s)
        old_observed_s, sched.observed_s = sched.observed_s, gap_s
        sched.last_ts_ms = ts_ms
        sched.next_ts_ms = rate.ts_next_funding_ms
        if sched.grace:  # the last period of the interval the listing replaced
            sched.grace = False
            if gap_s == old_observed_s:
                return None
        if sched.interval_s is None or gap_s == sched.interval_s:
            sched.interval_s = gap_s
            return None
        return self._change(sched, iid, rate.ts_funding_ms, gap_s, "settlement")

    def interval_s(self, instrument_id: InstrumentId) -> int | None:
        """Funding interval in force, seconds; ``None`` if nothing is known yet."""
        sched = self._schedules.get(instrument_id)
        return None if sched is None else sched.interval_s

    def next_settlement_ms(self, instrument_id: InstrumentId) -> int | None:
        """Next settlement announced with the last observed one, epoch ms UTC; ``None`` if
        no settlement of the perp was observed."""
        sched = self._schedules.get(instrument_id)
        return None if sched is None else sched.next_ts_ms

    def next_settlement_after_ms(self, instrument_id: InstrumentId, after_ms: int) -> int:
        """First projected settlement strictly after ``after_ms``, epoch ms UTC.

        Projection: the announced next settlement, then every ``interval_s`` (the interval in
        force; a later change is not foreseen).

        Raises
        ------
        KeyError
            If no settlement of the perp was observed or its interval is unknown.
        """
        next_ms, step_ms = self._projection(instrument_id)
        if after_ms < next_ms:
            return next_ms
        return next_ms + ((after_ms - next_ms) // step_ms + 1) * step_ms

    def settlements_between(self, instrument_id: InstrumentId, after_ms: int, until_ms: int) -> int:
        """Number of projected settlements in ``(after_ms, until_ms]`` (epoch ms UTC).

        Same projection as :meth:`next_settlement_after_ms`; e.g. how many funding payments a
        position held from ``after_ms`` to ``until_ms`` collects.

        Raises
        ------
        KeyError
            If no settlement of the perp was observed or its interval is unknown.
        ValueError
            If ``until_ms < after_ms``.
        """
        if until_ms < after_ms:
            raise ValueError(f"settlements_between: until_ms {until_ms} < after_ms {after_ms}")
        first_ms = self.next_settlement_after_ms(instrument_id, after_ms)
        if first_ms > until_ms:
            return 0
        _, step_ms = self._projection(instrument_id)
        return (until_ms - first_ms) // step_ms + 1

    def rate_per_hour(self, rate: FundingRate) -> float:
        """The rate normalized per hour (fraction / h) over the rate's own ``interval_s``.

        Delegates to :func:`venues.model.funding_rate_per_hour`, the one normalization helper.

        Raises
        ------
        ValueError
            If ``rate.interval_s`` is not positive.
        """
        return funding_rate_per_hour(rate.rate, rate.interval_s)

    def _projection(self, instrument_id: InstrumentId) -> tuple[int, int]:
        sched = self._schedules.get(instrument_id)
        if sched is None or sched.next_ts_ms is None or sched.interval_s is None:
            raise KeyError(f"funding schedule: no settlement of {instrument_id} observed yet")
        return sched.next_ts_ms, sched.interval_s * 1000

    def _change(
        self,
        sched: _Schedule,
        iid: InstrumentId,
        ts_ms: int,
        new_s: int,
        source: ChangeSource,
    ) -> IntervalChange:
        assert sched.interval_s is not None  # callers checked: a change needs an old value
        change = IntervalChange(iid, ts_ms, sched.interval_s, new_s, source)
        sched.interval_s = new_s
        self._changes.append(change)
        return change


def to_alert(change: IntervalChange) -> Alert:
    """The alert a human should see for an interval change.

    Returns
    -------
    Alert
        Kind ``funding_interval_changed``; fields ``instrument`` (``str`` of the id),
        ``old_interval_s``, ``new_interval_s`` (seconds), ``ts_ms`` (epoch ms UTC) and
        ``source``.
    """
    message = (
        f"{change.instrument_id} funding interval {change.old_interval_s / 3600:g}h -> "
        f"{change.new_interval_s / 3600:g}h ({change.source})"
    )
    fields: dict[str, float | str] = {
        "instrument": str(change.instrument_id),
        "old_interval_s": change.old_interval_s,
        "new_interval_s": change.new_interval_s,
        "ts_ms": change.ts_ms,
        "source": change.source,
    }
    return Alert(ALERT_KIND, message, fields)


def _check_perp(iid: InstrumentId) -> None:
    if iid.kind is not InstrumentKind.PERP:
        raise ValueError(f"funding schedule: {iid} is not a perp")


def _check_times(rate: FundingRate) -> None:
    iid = rate.instrument_id
    if rate.interval_s <= 0:
        raise ValueError(
            f"funding schedule: {iid} interval_s must be positive, got {rate.interval_s}"
        )
    if rate.ts_next_funding_ms <= rate.ts_funding_ms:
        raise ValueError(
            f"funding schedule: {iid} ts_next_funding_ms {rate.ts_next_funding_ms} is not after "
            f"ts_funding_ms {rate.ts_funding_ms}"
        )


def _check_positive(iid: InstrumentId, name: str, value_s: int) -> None:
    if value_s <= 0:
        raise ValueError(f"funding schedule: {iid} {name} must be positive, got {value_s}")


def _rounded_gap_s(iid: InstrumentId, gap_ms: int) -> int:
    minutes = (gap_ms + _GAP_ROUNDING_MS // 2) // _GAP_ROUNDING_MS
    if minutes == 0:
        raise ValueError(f"funding schedule: two settlements of {iid} {gap_ms} ms apart")
    return minutes * _GAP_ROUNDING_MS // 1000
