"""Liquidation distance: how far each perp leg's mark is from its liquidation price.

``liquidation_distance_frac = |mark − liquidation price| / mark`` (:func:`distance_frac`; 0 once
the mark is past it), per instrument the agent holds, from the venue's own positions
(``Venue.fetch_positions``):

- live: the venue's figure (:attr:`venues.model.Position.liquidation_price`: Binance
  ``liquidationPrice``, Bybit ``liqPrice``, OKX ``liqPx``, Hyperliquid ``liquidationPx``) and
  mark; a venue that reports none (Purple Flea; a position that cannot be liquidated) gives no
  distance;
- paper and replay: the paper venue's model (cross margin, Binance's formula with the venue's
  flat ``maintenance_margin_frac``: :mod:`venues.paper.ledger`) at its current price, read
  from its perp figures (:meth:`PerpReader.perp_readings`: the numbers its positions carry,
  without building them and their entry prices at every step).

The venues are cross-margin accounts: a liquidation price belongs to the venue's net position
in an instrument (every strategy's share of it). :class:`LiquidationWatch` keeps the latest
distance of every held perp and which instruments are *low*: one enters when its distance
falls below ``[risk] liquidation_distance_frac`` and leaves when it is back at
:data:`RECOVERY_MULT` × that limit or more (or no longer held), so a leg reduced just above the
limit does not grow back into it. The :class:`~agent.engine.safety.SafetyGuard` alerts an
instrument once as it enters (``liquidation_distance_low``), reduces the pairs holding it at
every check it is below the limit, and refuses opening more of it while it is low. The low
instruments are part of the resume checkpoint (:meth:`LiquidationWatch.state`), so a restart
does not alert again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

import structlog

from venues.base import Venue
from venues.errors import VenueError
from venues.model import InstrumentId, InstrumentKind, Position

log = structlog.get_logger("zerobeta.liquidation")

_ZERO = Decimal(0)  # compared with Decimal operands (an int is converted at every comparison)

RECOVERY_MULT = 2.0
"""An instrument stays low until its distance is back at this multiple of the limit."""

VenueResult = Callable[[str, BaseException | None], None]
"""Told the outcome of each position read, by venue (:meth:`VenueHealth.record`)."""


class PerpReader(Protocol):
    """A venue that reads its open perps without building positions (the paper venue:
    :meth:`venues.paper.PaperVenue.perp_readings`)."""

    def perp_readings(self) -> list[tuple[InstrumentId, Decimal, Decimal, Decimal | None]]:
        """Each open perp as ``(id, signed qty, current price, liquidation price or None)``
        (base units, quote units), sorted by id: the perp figures of ``fetch_positions``."""
        ...


def distance_frac(
    qty: Decimal, mark_price: Decimal, liquidation_price: Decimal | None
) -> float | None:
    """``|mark − liquidation| / mark``, fraction, for a liquidation price on the position's
    losing side (below the mark for a long, above it for a short); 0 when the mark is already
    past it; None without a liquidation price, a position or a positive mark."""
    if liquidation_price is None or mark_price <= _ZERO or qty == _ZERO:
        return None
    gap = mark_price - liquidation_price if qty > _ZERO else liquidation_price - mark_price
    distance = float(gap / mark_price)
    return distance if distance > 0.0 else 0.0  # max(0.0, distance): 0.0 for -0.0 and NaN


Reading = tuple[Decimal, Decimal, Decimal | None, float | None, int]
"""One perp's reading: the venue's net position (signed base units), its mark and liquidation
price (quote units; None: none), the distance (fraction; None without a liquidation price)
and when it was read (epoch ms UTC): :class:`LegDistance`'s fields after the id."""


def reading_of(position: Position, ts_ms: int) -> Reading:
    """The reading of a venue position read at ``ts_ms`` (epoch ms UTC)."""
    qty, mark, liquidation = position.qty, position.mark_price, position.liquidation_price
    return qty, mark, liquidation, distance_frac(qty, mark, liquidation), ts_ms


@dataclass(frozen=True, slots=True)
class LegDistance:
    """One perp the agent holds: the venue's net position (signed base units), its mark and
    liquidation price (quote units, as the venue reports them; None: none), the distance
    (fraction; None without a liquidation price) and when it was read (epoch ms UTC)."""

    instrument_id: InstrumentId
    qty: Decimal
    mark_price: Decimal
    liquidation_price: Decimal | None
    distance_frac: float | None
    ts_ms: int

    @classmethod
    def of(cls, position: Position, ts_ms: int) -> LegDistance:
        """The distance of a venue position read at ``ts_ms``."""
        return cls(position.instrument_id, *reading_of(position, ts_ms))


@dataclass(frozen=True, slots=True)
class LiquidationReview:
    """One check: the instruments that just became low (to alert), those below the limit now
    (to reduce) and those that left the low set (recovered, or no longer held)."""

    entered: tuple[LegDistance, ...]
    below: tuple[LegDistance, ...]
    left: tuple[InstrumentId, ...]


_NO_CHANGE = LiquidationReview((), (), ())
"""The review of a watch without readings or low instruments (immutable: shared)."""


class LiquidationWatch:
    """The distance to liquidation of every held perp, with the low set's hysteresis.

    Parameters
    ----------
    limit_frac : float
        ``[risk] liquidation_distance_frac`` (> 0; 0 turns the guard off before this).
    on_venue_result : VenueResult | None
        Told every position read's outcome (the venue health), or None.
    perp_readers : Mapping[str, PerpReader]
        The venues (by name) whose perps are read with ``perp_readings`` instead of
        ``fetch_positions`` (the paper venues: same figures, never a ``VenueError``); empty
        live.
    """

    def __init__(
        self,
        limit_frac: float,
        on_venue_result: VenueResult | None = None,
        perp_readers: Mapping[str, PerpReader] | None = None,
    ) -> None:
        self.limit_frac = limit_frac
        self.on_venue_result = on_venue_result
        self._perp_readers: Mapping[str, PerpReader] = perp_readers or {}
        # each held perp's latest reading (:data:`Reading`), its LegDistance built when read
        self._readings: dict[InstrumentId, Reading] = {}
        self._distances: dict[InstrumentId, LegDistance] | None = {}
        self.low: dict[InstrumentId, float] = {}
        """Low instruments → the distance that made them low (fraction)."""
        self._unread: set[str] = set()
        self._perp_venue = _PerpVenue()

    @property
    def distances(self) -> dict[InstrumentId, LegDistance]:
        """The latest distance of every held perp (a venue that could not be read keeps its
        previous ones), built from the readings at the first read after a :meth:`measure`
        (the checks read only the distances; status and the checkpoint read these)."""
        if self._distances is None:
            self._distances = {i: LegDistance(i, *r) for i, r in self._readings.items()}
        return self._distances

    async def measure(
        self, venues: Mapping[str, Venue], held: Mapping[InstrumentId, Decimal], ts_ms: int
    ) -> None:
        """Read the positions of every venue where ``held`` (the ledger's net positions) has a
        perp, into :attr:`distances` (the perps held). Never raises ``VenueError`` (logged,
        the venue's readings kept as they were)."""
        if not held and not self._readings:  # nothing held, nothing kept: no venue to read
            self._unread = set()
            return
        perp_venue = self._perp_venue
        perps = {i: v for i, q in held.items() if q and (v := perp_venue[i]) is not None}
        read: set[str] = set()
        fresh: dict[InstrumentId, Reading] = {}
        self._unread = set()
        for name in sorted(set(perps.values())):
            venue = venues.get(name)
            if venue is None:
                continue
            reader = self._perp_readers.get(name)
            if reader is not None:  # the same figures as its positions', none built
                self._report(name, None)
                read.add(name)
                for iid, qty, mark, liquidation in reader.perp_readings():
                    if iid in perps:
                        distance = distance_frac(qty, mark, liquidation)
                        fresh[iid] = (qty, mark, liquidation, distance, ts_ms)
                continue
            try:
                positions = await venue.fetch_positions()
            except VenueError as error:
                self._unread.add(name)
                self._report(name, error)
                log.warning("liquidation_positions_unavailable", venue=name, error=str(error))
                continue
            self._report(name, None)
            read.add(name)
            for position in positions:
                if position.instrument_id in perps:
                    fresh[position.instrument_id] = reading_of(position, ts_ms)
        kept = {i: r for i, r in self._readings.items() if i in perps and perps[i] not in read}
        self._readings = kept | fresh
        self._distances = None

    def review(self) -> LiquidationReview:
        """Update the low set from :attr:`distances` (module docstring)."""
        if not self._readings and not self.low:  # no perp held, none low: nothing changes
            return _NO_CHANGE
        limit, readings = self.limit_frac, self._readings
        low_ids = [i for i, r in readings.items() if r[3] is not None and r[3] < limit]
        distances = self._distances
        below = tuple(
            LegDistance(i, *readings[i]) if distances is None else distances[i]
            for i in sorted(low_ids)
        )
        entered = tuple(d for d in below if d.instrument_id not in self.low)
        for leg in entered:
            self.low[leg.instrument_id] = leg.distance_frac or 0.0
        left = tuple(iid for iid in sorted(self.low) if self._recovered(iid))
        for iid in left:
            del self.low[iid]
        return LiquidationReview(entered, below, left)

    def state(self) -> dict[str, Any]:
        """The resume checkpoint's part (JSON-able): ``low_instruments`` (id → the distance
        that made it low) and ``legs`` (each held perp's latest reading, for ``zerobeta
        status``: ``[qty, mark, liquidation or null, distance or null, ts_ms]``)."""
        legs = {str(i): _reading(d) for i, d in sorted(self.distances.items())}
        return {"low_instruments": {str(i): d for i, d in sorted(self.low.items())}, "legs": legs}

    def restore(self, state: Mapping[str, Any]) -> None:
        """Take back :meth:`state`'s low instruments (readings are taken again); an empty
        mapping (a checkpoint written before the watch) means none.

        Raises
        ------
        ValueError
            If ``low_instruments`` is not a mapping of instrument ids to fractions.
        """
        low = state.get("low_instruments", {})
        if not isinstance(low, Mapping):
            raise ValueError(f"liquidation.low_instruments must be a mapping: {low!r}")
        self.low = {InstrumentId.parse(str(i)): float(d) for i, d in low.items()}

    def _recovered(self, iid: InstrumentId) -> bool:
        reading = self._readings.get(iid)
        if reading is None:
            return iid.venue not in self._unread  # no longer held (unless unread: keep)
        distance = reading[3]
        if distance is None:
            return True  # the venue reports no liquidation price any more
        return distance >= RECOVERY_MULT * self.limit_frac

    def _report(self, venue: str, error: BaseException | None) -> None:
        if self.on_venue_result is not None:
            self.on_venue_result(venue, error)


class _PerpVenue(dict[InstrumentId, str | None]):
    """Each instrument's venue if it is a perp, else None, looked up once per instrument (an
    id's parts never change): index it (``perp_venue[iid]``)."""

    def __missing__(self, iid: InstrumentId) -> str | None:
        venue = self[iid] = iid.venue if iid.kind is InstrumentKind.PERP else None
        return venue


def _reading(leg: LegDistance) -> list[Any]:
    liquidation = None if leg.liquidation_price is None else str(leg.liquidation_price)
    return [str(leg.qty), str(leg.mark_price), liquidation, leg.distance_frac, leg.ts_ms]
