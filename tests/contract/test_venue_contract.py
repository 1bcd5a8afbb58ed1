"""The contract every ``venues.base.Venue`` implementation honours, run against each of them.

A venue joins the suite by adding a factory to ``HARNESS_FACTORIES``: an async function that
builds the venue (for a real exchange: behind respx routes and a local websocket server that
serve recorded payloads from ``tests/fixtures/<venue>/``) and returns a :class:`VenueHarness`
whose hooks put it in the state each scenario needs. The scenarios assert only what every
venue must do; venue-specific numbers belong in that venue's unit tests.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal

import pytest

from venues.base import Venue
from venues.errors import DuplicateClientOrderId, InvalidOrder, OrderNotFound
from venues.model import (
    FundingRate,
    Instrument,
    InstrumentId,
    InstrumentKind,
    OrderRequest,
    OrderStatus,
    Side,
    VenueFees,
)
from venues.paper import PaperVenue, PaperVenueConfig


@dataclass
class VenueHarness:
    """A venue under test and the hooks that put it in a known state.

    Attributes
    ----------
    venue : Venue
    perp_id, spot_id : InstrumentId
        A perp and a spot instrument the venue lists.
    order_qty : Decimal
        A perp order size valid on the venue (≥ min qty and min notional, on the lot step),
        base units, that the account can afford.
    seed_market : Callable[[], Awaitable[None]]
        Makes prices available (quotes, marks) for both instruments.
    settle_funding : Callable[[], Awaitable[None]]
        Settles at least one funding rate on the perp (a payment if a position is open).
    """

    venue: Venue
    perp_id: InstrumentId
    spot_id: InstrumentId
    order_qty: Decimal
    seed_market: Callable[[], Awaitable[None]]
    settle_funding: Callable[[], Awaitable[None]]


async def paper_harness() -> VenueHarness:
    """Paper venue with Binance-like BTCUSDT rules, BTC at 60,000 USDT."""
    perp = InstrumentId("binance", InstrumentKind.PERP, "BTCUSDT")
    spot = InstrumentId("binance", InstrumentKind.SPOT, "BTCUSDT")
    instruments = {
        perp: Instrument(
            perp, "BTC", "USDT", Decimal("0.1"), Decimal("0.001"), Decimal("0.001"), Decimal(100),
            funding_interval_s=28_800,
        ),
        spot: Instrument(
            spot, "BTC", "USDT", Decimal("0.01"), Decimal("0.00001"), Decimal("0.00001"),
            Decimal(5),
        ),
    }  # fmt: skip
    now_ms = 1_700_000_000_000
    config = PaperVenueConfig(
        name="binance",
        initial_collateral_usd=Decimal(100_000),
        perp_fees=VenueFees(Decimal("0.0002"), Decimal("0.0005")),
        spot_fees=VenueFees(Decimal("0.001"), Decimal("0.001")),
        slippage_bps=Decimal(1),
        perp_leverage=Decimal(2),
    )
    venue = PaperVenue(config, instruments, lambda: now_ms)

    async def seed_market() -> None:
        venue.update_price(perp, 60_000.0)
        venue.update_price(spot, 59_990.0)

    async def settle_funding() -> None:
        venue.settle_funding(FundingRate(perp, 0.0001, 28_800, now_ms, now_ms + 28_800_000))

    return VenueHarness(venue, perp, spot, Decimal("0.01"), seed_market, settle_funding)


HARNESS_FACTORIES: dict[str, Callable[[], Awaitable[VenueHarness]]] = {
    "paper": paper_harness,
}


@pytest.fixture(params=sorted(HARNESS_FACTORIES))
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[VenueHarness]:
    built = await HARNESS_FACTORIES[request.param]()
    await built.venue.open()
    try:
        yield built
    finally:
        await built.venue.close()
        await built.venue.close()  # idempotent


def _request(h: VenueHarness, client_order_id: str, side: Side = Side.BUY) -> OrderRequest:
    return OrderRequest(client_order_id, h.perp_id, side, h.order_qty)


async def test_satisfies_the_protocol(harness: VenueHarness) -> None:
    assert isinstance(harness.venue, Venue)
    assert harness.venue.name == harness.perp_id.venue == harness.spot_id.venue


async def test_load_instruments(harness: VenueHarness) -> None:
    instruments = await harness.venue.load_instruments()
    assert {harness.perp_id, harness.spot_id} <= set(instruments)
    for key, inst in instruments.items():
        assert key == inst.id
        assert inst.id.venue == harness.venue.name
        assert min(inst.tick_size, inst.lot_step, inst.min_qty, inst.contract_multiplier) > 0
        assert inst.min_notional_usd >= 0
        if inst.is_perp:
            assert inst.funding_interval_s is not None
            assert inst.funding_interval_s > 0
        else:
            assert inst.funding_interval_s is None


async def test_fetch_quotes(harness: VenueHarness) -> None:
    await harness.seed_market()
    ids = [harness.perp_id, harness.spot_id]
    quotes = await harness.venue.fetch_quotes(ids)
    assert [q.instrument_id for q in quotes] == ids
    for quote in quotes:
        assert 0 < quote.bid <= quote.ask
        assert math.isfinite(quote.ask)
        assert quote.ts_event_ms > 0


async def test_fetch_funding(harness: VenueHarness) -> None:
    await harness.seed_market()
    await harness.settle_funding()
    rates = await harness.venue.fetch_funding([harness.perp_id])
    assert [r.instrument_id for r in rates] == [harness.perp_id]
    for rate in rates:
        assert math.isfinite(rate.rate)
        assert rate.interval_s > 0
        assert rate.ts_next_funding_ms > rate.ts_funding_ms


async def test_place_query_cancel_by_client_order_id(harness: VenueHarness) -> None:
    await harness.seed_market()
    venue, perp = harness.venue, harness.perp_id
    ack = await venue.place_order(_request(harness, "contract-1"))
    assert (ack.client_order_id, ack.instrument_id, ack.side) == ("contract-1", perp, Side.BUY)
    assert ack.status.is_final
    assert ack.status is OrderStatus.FILLED
    assert ack.filled_qty == sum((f.qty for f in ack.fills), Decimal(0)) == harness.order_qty
    assert ack.avg_price is not None
    assert ack.avg_price * ack.filled_qty == sum(f.qty * f.price for f in ack.fills)
    assert all(f.client_order_id == "contract-1" for f in ack.fills)

    fetched = await venue.fetch_order(perp, "contract-1")
    assert (fetched.status, fetched.filled_qty) == (ack.status, ack.filled_qty)
    canceled = await venue.cancel_order(perp, "contract-1")  # already final: returned as is
    assert (canceled.status, canceled.venue_order_id) == (ack.status, ack.venue_order_id)
    assert "contract-1" not in {o.client_order_id for o in await venue.fetch_open_orders()}
    with pytest.raises(DuplicateClientOrderId):
        await venue.place_order(_request(harness, "contract-1", Side.SELL))
    with pytest.raises(OrderNotFound):
        await venue.fetch_order(perp, "contract-unknown")


async def test_order_below_min_qty_is_invalid(harness: VenueHarness) -> None:
    await harness.seed_market()
    inst = (await harness.venue.load_instruments())[harness.perp_id]
    tiny = OrderRequest("contract-tiny", harness.perp_id, Side.BUY, inst.min_qty / 2)
    with pytest.raises(InvalidOrder) as info:
        await harness.venue.place_order(tiny)
    assert info.value.client_order_id == "contract-tiny"


async def test_positions_and_balances_reflect_a_fill(harness: VenueHarness) -> None:
    await harness.seed_market()
    ack = await harness.venue.place_order(_request(harness, "contract-pos", Side.SELL))
    positions = {p.instrument_id: p for p in await harness.venue.fetch_positions()}
    position = positions[harness.perp_id]
    assert position.qty == -ack.filled_qty
    assert position.entry_price > 0
    assert position.mark_price > 0
    balances = await harness.venue.fetch_balances()
    assert balances
    assert all(b.venue == harness.venue.name and b.available >= 0 for b in balances)


async def test_funding_payments_follow_the_formula(harness: VenueHarness) -> None:
    await harness.seed_market()
    await harness.venue.place_order(_request(harness, "contract-fund", Side.SELL))
    await harness.settle_funding()
    payments = await harness.venue.fetch_funding_payments(0)
    assert payments
    assert [p.ts_funding_ms for p in payments] == sorted(p.ts_funding_ms for p in payments)
    for p in payments:
        assert p.instrument_id == harness.perp_id
        assert p.interval_s > 0
        expected = -Decimal(repr(p.rate)) * p.position_qty * p.mark_price
        # venues report funding rounded (Binance: 8 decimals); allow that, not a sign error
        assert abs(p.amount_usd - expected) <= Decimal("1e-6")
