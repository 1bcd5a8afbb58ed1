"""The liquidation watch on its own: which venues it reads, the low set's way in and out
(below the limit in, back at twice the limit out), a venue that cannot be read, the checkpoint.
Venues here are stand-ins answering ``fetch_positions`` with set positions."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from agent.engine.liquidation import LiquidationWatch
from venues.errors import VenueUnavailable
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
