"""The values :mod:`agent.live.feed` hands out and the pure start-up work around them.

- :class:`LiveStep` (one hour: closed 1h bars and settled funding, shaped like the replay's
  step), and between steps :class:`MarkTick` (streamed marks), :class:`FundingTick` (the
  venues' predicted funding rates), :class:`AccountTick` (account-stream fills, order updates,
  payments) and :class:`TimerTick` (follow-ups due); :data:`LiveEvent` (any of them) and
  :class:`Warmup` (what start-up read);
- :func:`load_live_instruments`: the trading rules of the followed instruments from each
  venue's own listing, refused naming every one a venue does not list;
- :func:`steps_from_bars`: start-up history bars → one step per hour, gaps included;
- :func:`split_pending`: a resumed run's warm-up split into history and the pending steps it
  missed while down.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import structlog

from agent.errors import LiveDataError
from venues.base import AccountEvent, MarketDataSource
from venues.errors import VenueError, is_retryable
from venues.model import HOUR_MS, Bar, FundingRate, Instrument, InstrumentId

log = structlog.get_logger("zerobeta.live_feed")


@dataclass(frozen=True, slots=True)
class LiveStep:
    """One hour of live data, shaped like :class:`venues.replay.source.ReplayStep`.

    Attributes
    ----------
    ts_ms : int
        Close time of the hour's bars, epoch ms UTC (a whole hour).
    closes : Mapping[InstrumentId, float]
        Close of each instrument's 1h bar ending at ``ts_ms``, quote units; absent when the
        venue had no bar and no mark either.
    funding : tuple[FundingRate, ...]
        Settlements published since the previous step (``ts_funding_ms <= ts_ms``), oldest
        first.
    volumes : Mapping[InstrumentId, float]
        Traded volume of the hour's bars, base units; empty (the live feed does not carry
        volume into the steps yet, so strategies see no volume live).
    """

    ts_ms: int
    closes: Mapping[InstrumentId, float] = field(repr=False)
    funding: tuple[FundingRate, ...] = field(repr=False)
    volumes: Mapping[InstrumentId, float] = field(default_factory=dict, repr=False)


@dataclass(frozen=True, slots=True)
class MarkTick:
    """The newest streamed mark of each instrument that moved since the previous tick.

    Attributes
    ----------
    ts_ms : int
        Wall time of the tick, epoch ms UTC.
    prices : Mapping[InstrumentId, float]
        Mark prices, quote units.
    """

    ts_ms: int
    prices: Mapping[InstrumentId, float] = field(repr=False)


@dataclass(frozen=True, slots=True)
class FundingTick:
    """The venues' predicted funding rates that changed since the previous tick.

    Attributes
    ----------
    ts_ms : int
        Wall time of the tick, epoch ms UTC.
    rates : tuple[FundingRate, ...]
        The newest prediction per perp: ``ts_funding_ms`` is the settlement it will apply to
        (usually after ``ts_ms``). Estimates: never settled or booked.
    """

    ts_ms: int
    rates: tuple[FundingRate, ...] = field(repr=False)


@dataclass(frozen=True, slots=True)
class AccountTick:
    """Events of the live venues' account streams since the previous tick, in arrival order.

    Attributes
    ----------
    ts_ms : int
        Wall time of the tick, epoch ms UTC.
    events : tuple[AccountEvent, ...]
        Fills, order updates and funding payments (each names its instrument, hence venue).
    """

    ts_ms: int
    events: tuple[AccountEvent, ...] = field(repr=False)


@dataclass(frozen=True, slots=True)
class TimerTick:
    """Follow-up timers that fell due (:mod:`agent.live.timers`).

    Attributes
    ----------
    ts_ms : int
        Wall time of the tick, epoch ms UTC.
    order_ids : tuple[str, ...]
        Client order ids of the unresolved orders to look up again now.
    """

    ts_ms: int
    order_ids: tuple[str, ...]


LiveEvent = LiveStep | MarkTick | FundingTick | AccountTick | TimerTick


@dataclass(frozen=True, slots=True)
class Warmup:
    """What :meth:`LiveFeed.warmup` read, oldest first: hourly history steps, settled funding
    to record (not to settle), and — resuming a run — the ``pending`` steps it missed while
    down (closes and the settlements to book)."""

    steps: tuple[LiveStep, ...]
    funding: tuple[FundingRate, ...]
    pending: tuple[LiveStep, ...] = ()


async def load_live_instruments(
    sources: Mapping[str, MarketDataSource],
    wanted: Iterable[InstrumentId],
) -> dict[InstrumentId, Instrument]:
    """Trading rules of ``wanted`` instruments from each venue's own listing.

    Parameters
    ----------
    sources : Mapping[str, MarketDataSource]
        Open market-data clients by venue name.
    wanted : Iterable[InstrumentId]
        Instruments the strategies trade or read.

    Returns
    -------
    dict[InstrumentId, Instrument]
        In ``wanted`` order.

    Raises
    ------
    LiveDataError
        Naming every instrument its venue does not list and every venue that could not be
        read (with the venue's error).
    venues.errors.VenueError
        A retryable one (:func:`~venues.errors.is_retryable`: the venue did not answer), as
        raised, for the start-up to retry (:mod:`agent.live.retry`).
    """
    ids = list(dict.fromkeys(wanted))
    venues = sorted({i.venue for i in ids})
    problems: list[str] = []
    listed: dict[InstrumentId, Instrument] = {}
    for venue in venues:
        source = sources.get(venue)
        if source is None:
            problems.append(f"{venue}: no market data client (is the venue enabled?)")
            continue
        try:
            listed.update(await source.load_instruments())
        except VenueError as error:
            if is_retryable(error):
                raise  # the network or the venue is down: the start-up waits and retries
            problems.append(f"{venue}: instruments could not be loaded: {error}")
    readable = {v for v in venues if v in sources} - {p.split(":", 1)[0] for p in problems}
    missing = [i for i in ids if i.venue in readable and i not in listed]
    problems.extend(f"{i.venue} lists no {i.kind.value} {i.symbol!r}" for i in missing)
    if problems:
        raise LiveDataError("live market data cannot start:\n  " + "\n  ".join(problems))
    return {i: listed[i] for i in ids}


def split_pending(
    warm: Warmup, resume_after_ms: int, last_funding_ms: dict[InstrumentId, int]
) -> Warmup:
    """History up to ``resume_after_ms``; later hours become pending steps, each carrying
    the settlements up to its time that the previous one did not (a settlement after the
    last pending step is left for the first live step: ``last_funding_ms``, the feed's last
    settlement seen per perp, is moved back before it)."""
    history = tuple(s for s in warm.steps if s.ts_ms <= resume_after_ms)
    later = [s for s in warm.steps if s.ts_ms > resume_after_ms]
    old_funding = tuple(r for r in warm.funding if r.ts_funding_ms <= resume_after_ms)
    new_funding = [r for r in warm.funding if r.ts_funding_ms > resume_after_ms]
    pending: list[LiveStep] = []
    for step in later:
        due = [r for r in new_funding if r.ts_funding_ms <= step.ts_ms]
        new_funding = [r for r in new_funding if r.ts_funding_ms > step.ts_ms]
        pending.append(LiveStep(step.ts_ms, step.closes, tuple(due)))
    for rate in new_funding:  # not settled yet: the first live step fetches them again
        perp = rate.instrument_id
        last_funding_ms[perp] = min(last_funding_ms[perp], rate.ts_funding_ms - 1)
    return Warmup(history, old_funding, tuple(pending))


def steps_from_bars(bars: Mapping[InstrumentId, Sequence[Bar]]) -> list[LiveStep]:
    """History bars → one step per hour from the first bar close to the last, oldest first.

    An hour no instrument has a bar for still gets a step (with no closes), so the engine
    forward-fills every history across it (``MarketData.carry_closes``) and the series stay
    hour-aligned; hours with missing bars are logged as ``history_gaps``.
    """
    by_close: dict[int, dict[InstrumentId, float]] = {}
    for iid, rows in bars.items():
        for bar in rows:
            by_close.setdefault(bar.ts_open_ms + HOUR_MS, {})[iid] = bar.close
    if not by_close:
        return []
    first_ms, last_ms = min(by_close), max(by_close)
    hours = range(first_ms, last_ms + HOUR_MS, HOUR_MS)
    missing: dict[str, int] = {}
    for iid, rows in bars.items():
        if rows:
            start_ms = min(b.ts_open_ms for b in rows) + HOUR_MS
            n = sum(1 for ts in hours if ts >= start_ms and iid not in by_close.get(ts, {}))
            if n:
                missing[str(iid)] = n
    if missing:
        log.warning("history_gaps", hours_missing=missing)
    return [LiveStep(ts, by_close.get(ts, {}), ()) for ts in hours]
