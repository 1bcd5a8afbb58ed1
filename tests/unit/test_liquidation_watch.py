"""The liquidation watch on its own: which venues it reads, the low set's way in and out
(below the limit in, back at twice the limit out), a venue that cannot be read, the checkpoint.
Venues here are stand-ins answering ``fetch_positions`` with set positions."""

from __future__ import annotations

import random
from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.engine.liquidation import (
    RECOVERY_MULT,
    LegDistance,
    LiquidationReview,
    LiquidationWatch,
    _PerpVenue,
    distance_frac,
)
from venues.errors import VenueError, VenueUnavailable
from venues.model import InstrumentId, InstrumentKind, Position

BTC = InstrumentId("binance", InstrumentKind.PERP, "BTCUSDT")
BTC_SPOT = InstrumentId("binance", InstrumentKind.SPOT, "BTCUSDT")
OKX_BTC = InstrumentId("okx", InstrumentKind.PERP, "BTC-USDT-SWAP")
LIMIT = 0.10


class Positions:
    """A venue whose ``fetch_positions`` answers :attr:`positions` (or raises :attr:`error`)."""

    def __init__(self, *positions: Position) -> None:
        self.positions = list(positions)
        self.error: Exception | None = None
        self.reads = 0

    async def fetch_positions(self) -> list[Position]:
        self.reads += 1
        if self.error is not None:
            raise self.error
        return self.positions


def short_btc(liquidation: str | None, mark: str = "100") -> Position:
    price = None if liquidation is None else D(liquidation)
    return Position(BTC, D(-1), D(90), D(mark), 1, price)


async def test_the_low_set_enters_below_the_limit_and_leaves_at_twice_it() -> None:
    seen: list[tuple[str, object]] = []
    watch = LiquidationWatch(LIMIT, lambda v, e: seen.append((v, e)))
    binance = Positions(short_btc("109"))  # 9 % away
    venues = {"binance": binance}
    held = {BTC: D(-1)}

    await watch.measure(venues, held, 10)  # type: ignore[arg-type]
    first = watch.review()
    assert [leg.instrument_id for leg in first.entered] == [BTC]
    assert first.below == first.entered
    assert first.entered[0].distance_frac == pytest.approx(0.09)
    assert watch.low == {BTC: pytest.approx(0.09)}
    assert seen == [("binance", None)]

    for liquidation, below, stays in (("115", False, True), ("119.99", False, True)):
        binance.positions = [short_btc(liquidation)]
        await watch.measure(venues, held, 20)  # type: ignore[arg-type]
        checked = watch.review()
        assert checked.entered == ()  # no second alert
        assert bool(checked.below) is below
        assert (BTC in watch.low) is stays  # 15 %, 19.99 %: still below twice the limit

    binance.positions = [short_btc("120")]  # 20 %: twice the limit
    await watch.measure(venues, held, 30)  # type: ignore[arg-type]
    assert watch.review().left == (BTC,)
    assert watch.low == {}


async def test_only_venues_holding_a_perp_are_read_and_flat_legs_leave() -> None:
    watch = LiquidationWatch(LIMIT)
    binance, okx = Positions(short_btc("105")), Positions()
    venues = {"binance": binance, "okx": okx}
    await watch.measure(venues, {BTC: D(-1), BTC_SPOT: D(1)}, 1)  # type: ignore[arg-type]
    watch.review()
    assert (binance.reads, okx.reads) == (1, 0)  # OKX holds nothing: not called
    assert set(watch.distances) == {BTC}
    binance.positions = []
    await watch.measure(venues, {BTC_SPOT: D(1)}, 2)  # type: ignore[arg-type]  # BTC closed
    assert watch.review().left == (BTC,)
    assert watch.distances == {}
    assert binance.reads == 1  # no perp held any more: nothing read


async def test_a_venue_that_cannot_be_read_keeps_its_readings_and_its_low_legs() -> None:
    seen: list[tuple[str, object]] = []
    watch = LiquidationWatch(LIMIT, lambda v, e: seen.append((v, e)))
    binance = Positions(short_btc("105"))
    held = {BTC: D(-1)}
    await watch.measure({"binance": binance}, held, 1)  # type: ignore[dict-item]
    watch.review()
    binance.error = VenueUnavailable("502", venue="binance")
    await watch.measure({"binance": binance}, held, 2)  # type: ignore[dict-item]
    checked = watch.review()
    assert BTC in watch.low
    assert checked.left == ()
    assert watch.distances[BTC].ts_ms == 1  # the last reading
    assert seen[-1] == ("binance", binance.error)  # reported to venue health


async def test_checkpoint_round_trip_and_a_malformed_one() -> None:
    watch = LiquidationWatch(LIMIT)
    await watch.measure({"binance": Positions(short_btc("105"))}, {BTC: D(-1)}, 5)  # type: ignore[dict-item]
    watch.review()
    state = watch.state()
    assert state["low_instruments"] == {str(BTC): pytest.approx(0.05)}
    assert state["legs"] == {str(BTC): ["-1", "100", "105", pytest.approx(0.05), 5]}
    again = LiquidationWatch(LIMIT)
    again.restore(state)
    assert again.low == {BTC: pytest.approx(0.05)}
    with pytest.raises(ValueError, match="low_instruments"):
        again.restore({"low_instruments": [str(BTC)]})
    with pytest.raises(ValueError, match="venue:kind:SYMBOL"):
        again.restore({"low_instruments": {"BTCUSDT": 0.05}})


async def test_nothing_held_drops_the_readings_and_lets_the_low_legs_leave() -> None:
    """The shortcuts of a watch holding nothing: a measure with nothing held still drops the
    readings kept (fails without its ``not self._readings`` guard), and a review without
    readings still lets the low instruments leave (fails without its ``not self.low``)."""
    watch = LiquidationWatch(LIMIT)
    binance = Positions(short_btc("105"))  # 5 %: low
    await watch.measure({"binance": binance}, {BTC: D(-1)}, 1)  # type: ignore[dict-item]
    assert watch.review().entered[0].instrument_id == BTC
    await watch.measure({"binance": binance}, {}, 2)  # type: ignore[dict-item]
    assert watch.distances == {}
    assert watch.review() == LiquidationReview((), (), (BTC,))
    assert watch.low == {}
    await watch.measure({"binance": binance}, {}, 3)  # type: ignore[dict-item]
    assert watch.review() == LiquidationReview((), (), ())
    assert binance.reads == 1
    watch.restore({"low_instruments": {str(BTC): 0.05}})  # low from a checkpoint, nothing read
    assert watch.review() == LiquidationReview((), (), (BTC,))


class OldWatch:
    """The watch as it was before its readings were kept as tuples (``LegDistance`` built at
    every measure, the checks sorting every distance): the reference for the random run."""

    def __init__(self, limit_frac: float) -> None:
        self.limit_frac = limit_frac
        self.distances: dict[InstrumentId, LegDistance] = {}
        self.low: dict[InstrumentId, float] = {}
        self.unread: set[str] = set()

    async def measure(
        self, venues: dict[str, Positions], held: dict[InstrumentId, D], ts_ms: int
    ) -> None:
        perps = {i for i, q in held.items() if q and i.kind is InstrumentKind.PERP}
        read: set[str] = set()
        fresh: dict[InstrumentId, LegDistance] = {}
        self.unread = set()
        for name in sorted({i.venue for i in perps}):
            venue = venues.get(name)
            if venue is None:
                continue
            try:
                positions = await venue.fetch_positions()
            except VenueError:
                self.unread.add(name)
                continue
            read.add(name)
            for position in positions:
                if position.instrument_id in perps:
                    fresh[position.instrument_id] = LegDistance.of(position, ts_ms)
        kept = {i: d for i, d in self.distances.items() if i in perps and i.venue not in read}
        self.distances = kept | fresh

    def review(self) -> LiquidationReview:
        below = tuple(
            d
            for _, d in sorted(self.distances.items())
            if d.distance_frac is not None and d.distance_frac < self.limit_frac
        )
        entered = tuple(d for d in below if d.instrument_id not in self.low)
        for leg in entered:
            self.low[leg.instrument_id] = leg.distance_frac or 0.0
        left = tuple(iid for iid in sorted(self.low) if self._recovered(iid))
        for iid in left:
            del self.low[iid]
        return LiquidationReview(entered, below, left)

    def _recovered(self, iid: InstrumentId) -> bool:
        reading = self.distances.get(iid)
        if reading is None:
            return iid.venue not in self.unread
        if reading.distance_frac is None:
            return True
        return reading.distance_frac >= RECOVERY_MULT * self.limit_frac


RANDOM_IDS = [
    InstrumentId(venue, kind, symbol)
    for venue in ("binance", "bybit", "okx")
    for kind in (InstrumentKind.PERP, InstrumentKind.SPOT)
    for symbol in ("BTCUSDT", "ETHUSDT", "SOLUSDT")
]


async def test_kept_readings_give_what_rebuilding_every_distance_gave() -> None:
    """Through random holdings, marks, liquidation prices (none, near, far, past), venues
    that fail to answer and reads of ``distances`` at random moments (built, then dropped by
    the next measure), and steps holding nothing, the watch gives the old watch's distances,
    checks and low set. Fails if a measure does not drop the distances built from the readings
    before it."""
    rng = random.Random(21)
    new, old = LiquidationWatch(LIMIT), OldWatch(LIMIT)
    venues = {name: Positions() for name in ("binance", "bybit", "okx")}
    built_then_replaced = 0
    for ts_ms in range(400):
        held = {i: D(rng.choice((-3, -1, 0, 1, 2))) for i in rng.sample(RANDOM_IDS, 9)}
        if rng.random() < 0.15:  # nothing held (the watch's shortcuts), now and then in a row
            held = {}
        for name, venue in venues.items():
            venue.error = VenueUnavailable("502", venue=name) if rng.random() < 0.1 else None
            venue.positions = []
            for iid, qty in held.items():
                if iid.venue != name or iid.kind is not InstrumentKind.PERP or not qty:
                    continue
                mark = D(repr(round(rng.uniform(50, 150), rng.randint(0, 6))))
                gap = D(repr(round(rng.uniform(-0.05, 0.4), rng.randint(1, 8)))) * mark
                liquidation = None if rng.random() < 0.1 else mark - gap if qty > 0 else mark + gap
                venue.positions.append(Position(iid, qty, mark, mark, ts_ms, liquidation))
        before = dict(new.distances) if rng.random() < 0.5 else None  # built now, or not
        await new.measure(venues, held, ts_ms)  # type: ignore[arg-type]
        await old.measure(venues, held, ts_ms)  # type: ignore[arg-type]
        if rng.random() < 0.5:
            assert new.distances == old.distances
            assert [str(d.liquidation_price) for d in new.distances.values()] == [
                str(d.liquidation_price) for d in old.distances.values()
            ]
            built_then_replaced += before is not None and before != new.distances
        assert new.review() == old.review()
        assert new.low == old.low
        assert new.distances == old.distances
    assert built_then_replaced > 50


def test_an_instrument_s_perp_venue_is_its_venue_for_a_perp_and_none_otherwise() -> None:
    perp_venue = _PerpVenue()
    for _ in range(2):  # looked up, then kept
        for iid in RANDOM_IDS:
            expected = iid.venue if iid.kind is InstrumentKind.PERP else None
            assert perp_venue[iid] == expected
    assert len(perp_venue) == len(RANDOM_IDS)


def old_distance_frac(qty: D, mark_price: D, liquidation_price: D | None) -> float | None:
    """``distance_frac`` as it was (int comparisons, ``max``)."""
    if liquidation_price is None or mark_price <= 0 or qty == 0:
        return None
    gap = mark_price - liquidation_price if qty > 0 else liquidation_price - mark_price
    return max(0.0, float(gap / mark_price))


decimals = st.decimals(min_value=-1e6, max_value=1e6, allow_nan=False, places=12)


@given(decimals, decimals, st.none() | decimals)
def test_distance_frac_gives_the_old_bits(qty: D, mark: D, liquidation: D | None) -> None:
    new, old = distance_frac(qty, mark, liquidation), old_distance_frac(qty, mark, liquidation)
    assert (None if new is None else new.hex()) == (None if old is None else old.hex())


def test_distance_frac_at_the_edges() -> None:
    assert distance_frac(D(1), D(100), D(100)) == 0.0  # at the price: 0, not -0.0
    assert str(distance_frac(D(-1), D(100), D(100))) == "0.0"
    assert distance_frac(D(1), D(100), D(120)) == 0.0  # past it
    assert distance_frac(D(0), D(100), D(90)) is None
    assert distance_frac(D(1), D(0), D(90)) is None
    assert distance_frac(D(1), D(100), D(90)) == 0.1
