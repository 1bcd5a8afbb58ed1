"""The contract every ``venues.base.Venue`` implementation honours, run against each of them.

A venue joins the suite by adding a module to ``tests/contract/harnesses/`` (see
``tests/contract/harness.py``): it builds the venue behind respx routes serving recorded
payloads from ``tests/fixtures/<venue>/`` and returns a :class:`VenueHarness` whose hooks put
it in the state each scenario needs. The scenarios assert only what every venue must do;
venue-specific numbers belong in that venue's unit tests.
"""

from __future__ import annotations

import importlib
import math
import pkgutil
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal

import pytest

from tests.contract import harnesses
from tests.contract.harness import VenueHarness
from venues.base import MarketDataSource, Venue
from venues.errors import (
    AuthError,
    DuplicateClientOrderId,
    InvalidOrder,
    OrderNotFound,
    ProtocolError,
    TransportError,
    UnsupportedByVenue,
)
from venues.model import InstrumentId, OrderRequest, OrderStatus, Side


def _discover() -> dict[str, Callable[[], Awaitable[VenueHarness]]]:
    factories: dict[str, Callable[[], Awaitable[VenueHarness]]] = {}
    for info in pkgutil.iter_modules(harnesses.__path__):
        module = importlib.import_module(f"{harnesses.__name__}.{info.name}")
        factories[module.NAME] = module.make_harness
    return factories


HARNESS_FACTORIES = _discover()


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


def _ids(h: VenueHarness) -> list[InstrumentId]:
    return [h.perp_id] if h.spot_id is None else [h.perp_id, h.spot_id]


async def _unsupported(h: VenueHarness, scenario: str, call: Awaitable[object]) -> bool:
    """True (after checking the venue says so) when ``h`` declares ``scenario`` unsupported;
    otherwise the probe ``call`` is simply awaited."""
    if scenario not in h.unsupported:
        await call
        return False
    with pytest.raises(UnsupportedByVenue):
        await call
    return True


def _failing(h: VenueHarness) -> Callable[[str, int], None]:
    if h.fail_next is None:
        pytest.skip("a venue without a transport (paper) has nothing to fail")
    return h.fail_next


async def test_satisfies_the_protocol(harness: VenueHarness) -> None:
    assert isinstance(harness.venue, Venue)
    assert isinstance(harness.venue, MarketDataSource)
    assert {i.venue for i in _ids(harness)} == {harness.venue.name}


async def test_load_instruments(harness: VenueHarness) -> None:
    instruments = await harness.venue.load_instruments()
    assert set(_ids(harness)) <= set(instruments)
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
    ids = _ids(harness)
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


async def test_balances_are_the_venues_own(harness: VenueHarness) -> None:
    await harness.seed_market()
    if await _unsupported(harness, "balances", harness.venue.fetch_balances()):
        return
    balances = await harness.venue.fetch_balances()
    assert balances
    assert all(b.venue == harness.venue.name and b.available >= 0 for b in balances)


async def test_funding_payments_follow_the_formula(harness: VenueHarness) -> None:
    await harness.seed_market()
    if await _unsupported(harness, "funding_payments", harness.venue.fetch_funding_payments(0)):
        return
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


async def test_funding_history_is_settled_and_ordered(harness: VenueHarness) -> None:
    await harness.seed_market()
    await harness.settle_funding()
    history_call = harness.venue.fetch_funding_history(harness.perp_id, 0, 2**62)
    if await _unsupported(harness, "funding_history", history_call):
        return
    history = await harness.venue.fetch_funding_history(harness.perp_id, 0, 2**62)
    assert history
    times = [r.ts_funding_ms for r in history]
    assert times == sorted(set(times))
    assert all(r.instrument_id == harness.perp_id and r.interval_s > 0 for r in history)


# --- error paths: only venues with a transport (fail_next) ------------------------------


async def test_connect_error_on_a_read_is_retried(harness: VenueHarness) -> None:
    fail = _failing(harness)
    await harness.seed_market()
    fail("connect", 1)
    rates = await harness.venue.fetch_funding([harness.perp_id])
    assert [r.instrument_id for r in rates] == [harness.perp_id]


async def test_connect_errors_that_persist_surface_as_transport_error(
    harness: VenueHarness,
) -> None:
    fail = _failing(harness)
    await harness.seed_market()
    fail("connect", 1_000)
    with pytest.raises(TransportError):
        await harness.venue.fetch_funding([harness.perp_id])


async def test_rate_limit_waits_retry_after_then_succeeds(harness: VenueHarness) -> None:
    fail = _failing(harness)
    await harness.seed_market()
    fail("rate_limit", 1)
    rates = await harness.venue.fetch_funding([harness.perp_id])
    assert [r.instrument_id for r in rates] == [harness.perp_id]
    assert max(harness.slept_s, default=0.0) >= 2.0  # Retry-After: 2 honoured


async def test_server_error_then_success(harness: VenueHarness) -> None:
    fail = _failing(harness)
    await harness.seed_market()
    fail("server_error", 1)
    rates = await harness.venue.fetch_funding([harness.perp_id])
    assert [r.instrument_id for r in rates] == [harness.perp_id]


async def test_auth_failure_is_auth_error_and_not_retried(harness: VenueHarness) -> None:
    fail = _failing(harness)
    await harness.seed_market()
    fail("auth", 1)
    with pytest.raises(AuthError):
        await harness.venue.fetch_positions()
    assert await harness.venue.fetch_positions() is not None  # only one request was failed


async def test_malformed_payload_is_protocol_error(harness: VenueHarness) -> None:
    fail = _failing(harness)
    await harness.seed_market()
    fail("malformed", 1)
    with pytest.raises(ProtocolError):
        await harness.venue.fetch_funding([harness.perp_id])


async def test_order_timeout_is_never_resent(harness: VenueHarness) -> None:
    """A connect error on an order POST surfaces (outcome unknown), the venue does not
    send it again; the caller looks the order up by client order id."""
    fail = _failing(harness)
    await harness.seed_market()
    fail("connect", 1)
    with pytest.raises(TransportError):
        await harness.venue.place_order(_request(harness, "contract-timeout"))
    with pytest.raises(OrderNotFound):  # the failed POST never reached the venue
        await harness.venue.fetch_order(harness.perp_id, "contract-timeout")
