"""The contract every ``venues.base.MarketDataSource`` and ``venues.base.Venue`` implementation
honours, run against each of them.

A venue joins the suite by adding a module to ``tests/contract/harnesses/`` (see
``tests/contract/harness.py``): it builds the venue behind respx routes serving recorded
payloads from ``tests/fixtures/<venue>/`` and returns a harness whose hooks put it in the state
each scenario needs. The market-data scenarios (fixture ``source``) run against every harness;
the trading scenarios (fixture ``harness``) against the trading venues only, not those whose
module sets ``MARKET_DATA_ONLY = True``. The scenarios assert only what every venue must do;
venue-specific numbers belong in that venue's unit tests.
"""

from __future__ import annotations

import importlib
import math
import pkgutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal

import pytest

from tests.contract import harnesses
from tests.contract.harness import MarketDataHarness, VenueHarness
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
from venues.model import HOUR_MS, InstrumentId, OrderRequest, OrderStatus, Side

AnyHarness = VenueHarness | MarketDataHarness


@dataclass(frozen=True)
class _Module:
    make_harness: Callable[[], Awaitable[AnyHarness]]
    market_data_only: bool


def _discover() -> dict[str, _Module]:
    found: dict[str, _Module] = {}
    for info in pkgutil.iter_modules(harnesses.__path__):
        module = importlib.import_module(f"{harnesses.__name__}.{info.name}")
        only = getattr(module, "MARKET_DATA_ONLY", False)
        found[module.NAME] = _Module(module.make_harness, only)
    return found


HARNESSES = _discover()
TRADING = sorted(name for name, m in HARNESSES.items() if not m.market_data_only)


@pytest.fixture(params=sorted(HARNESSES))
async def source(request: pytest.FixtureRequest) -> AsyncIterator[MarketDataHarness]:
    """Every harness, as a market-data source."""
    module = HARNESSES[request.param]
    built = await module.make_harness()
    if module.market_data_only:
        assert isinstance(built, MarketDataHarness), "MARKET_DATA_ONLY: a MarketDataHarness"
        md = built
    else:
        assert isinstance(built, VenueHarness), "a trading harness returns a VenueHarness"
        md = built.market_data()
    await md.venue.open()
    try:
        yield md
    finally:
        await md.venue.close()
        await md.venue.close()  # idempotent


@pytest.fixture(params=TRADING)
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[VenueHarness]:
    """The trading harnesses."""
    built = await HARNESSES[request.param].make_harness()
    assert isinstance(built, VenueHarness), "a trading harness returns a VenueHarness"
    await built.venue.open()
    try:
        yield built
    finally:
        await built.venue.close()
        await built.venue.close()  # idempotent


def _request(h: VenueHarness, client_order_id: str, side: Side = Side.BUY) -> OrderRequest:
    return OrderRequest(client_order_id, h.perp_id, side, h.order_qty)


def _ids(h: AnyHarness) -> list[InstrumentId]:
    return [h.perp_id] if h.spot_id is None else [h.perp_id, h.spot_id]


async def _unsupported(h: AnyHarness, scenario: str, call: Awaitable[object]) -> bool:
    """True (after checking the venue says so) when ``h`` declares ``scenario`` unsupported;
    otherwise the probe ``call`` is simply awaited."""
    if scenario not in h.unsupported:
        await call
        return False
    with pytest.raises(UnsupportedByVenue):
        await call
    return True


def _failing(h: AnyHarness) -> Callable[[str, int], None]:
    if h.fail_next is None:
        pytest.skip("a venue without a transport (paper) has nothing to fail")
    return h.fail_next


# === market data: every harness (``source``) ============================================


async def test_satisfies_the_market_data_protocol(source: MarketDataHarness) -> None:
    assert isinstance(source.venue, MarketDataSource)
    assert {i.venue for i in _ids(source)} == {source.venue.name}


async def test_load_instruments(source: MarketDataHarness) -> None:
    instruments = await source.venue.load_instruments()
    assert set(_ids(source)) <= set(instruments)
    for key, inst in instruments.items():
        assert key == inst.id
        assert inst.id.venue == source.venue.name
        assert min(inst.tick_size, inst.lot_step, inst.min_qty, inst.contract_multiplier) > 0
        assert inst.min_notional_usd >= 0
        if inst.is_perp:
            assert inst.funding_interval_s is not None
            assert inst.funding_interval_s > 0
        else:
            assert inst.funding_interval_s is None


async def test_fetch_funding(source: MarketDataHarness) -> None:
    await source.seed_market()
    await source.settle_funding()
    rates = await source.venue.fetch_funding([source.perp_id])
    assert [r.instrument_id for r in rates] == [source.perp_id]
    for rate in rates:
        assert math.isfinite(rate.rate)
        assert rate.interval_s > 0
        assert rate.ts_next_funding_ms > rate.ts_funding_ms


async def test_funding_history_is_settled_and_ordered(source: MarketDataHarness) -> None:
    await source.seed_market()
    await source.settle_funding()
    history_call = source.venue.fetch_funding_history(source.perp_id, 0, 2**62)
    if await _unsupported(source, "funding_history", history_call):
        return
    history = await source.venue.fetch_funding_history(source.perp_id, 0, 2**62)
    assert history
    times = [r.ts_funding_ms for r in history]
    assert times == sorted(set(times))
    assert all(r.instrument_id == source.perp_id and r.interval_s > 0 for r in history)


async def test_fetch_bars_returns_the_closed_hourly_bars_of_the_window(
    source: MarketDataHarness,
) -> None:
    """``fetch_bars(perp, start, end, 3600)``: exactly the closed 1 h bars the fake holds in
    ``[start, end)`` (it holds bars on both sides too), oldest first, OHLCV as the venue sent
    them."""
    if "bars" in source.unsupported:
        with pytest.raises(UnsupportedByVenue):
            await source.venue.fetch_bars(source.perp_id, 0, HOUR_MS, 3_600)
        return
    assert source.seed_bars is not None, "a venue serving bars seeds them"
    window = await source.seed_bars()
    start, end = window.start_ms, window.end_ms
    bars = await source.venue.fetch_bars(source.perp_id, start, end, 3_600)
    got = [(b.ts_open_ms, b.open, b.high, b.low, b.close, b.volume) for b in bars]
    assert got == list(window.expected)  # the fake's state, oldest first
    opens = [b.ts_open_ms for b in bars]
    assert opens == sorted(set(opens))  # strictly increasing
    for bar in bars:
        assert bar.instrument_id == source.perp_id
        assert start <= bar.ts_open_ms < end
        assert bar.ts_open_ms % HOUR_MS == 0
        assert bar.ts_close_ms == bar.ts_open_ms + HOUR_MS  # a whole hour: [open, close)
        assert bar.low <= min(bar.open, bar.close)
        assert max(bar.open, bar.close) <= bar.high
        assert bar.volume >= 0


# --- market-data error paths: venues with a transport (fail_next) ---------------------


async def test_connect_error_on_a_read_is_retried(source: MarketDataHarness) -> None:
    fail = _failing(source)
    await source.seed_market()
    fail("connect", 1)
    rates = await source.venue.fetch_funding([source.perp_id])
    assert [r.instrument_id for r in rates] == [source.perp_id]


async def test_connect_errors_that_persist_surface_as_transport_error(
    source: MarketDataHarness,
) -> None:
    fail = _failing(source)
    await source.seed_market()
    fail("connect", 1_000)
    with pytest.raises(TransportError):
        await source.venue.fetch_funding([source.perp_id])


async def test_rate_limit_waits_retry_after_then_succeeds(source: MarketDataHarness) -> None:
    fail = _failing(source)
    await source.seed_market()
    fail("rate_limit", 1)
    rates = await source.venue.fetch_funding([source.perp_id])
    assert [r.instrument_id for r in rates] == [source.perp_id]
    assert max(source.slept_s, default=0.0) >= 2.0  # Retry-After: 2 honoured


async def test_server_error_then_success(source: MarketDataHarness) -> None:
    fail = _failing(source)
    await source.seed_market()
    fail("server_error", 1)
    rates = await source.venue.fetch_funding([source.perp_id])
    assert [r.instrument_id for r in rates] == [source.perp_id]


async def test_malformed_payload_is_protocol_error(source: MarketDataHarness) -> None:
    fail = _failing(source)
    await source.seed_market()
    fail("malformed", 1)
    with pytest.raises(ProtocolError):
        await source.venue.fetch_funding([source.perp_id])


# === trading: trading venues only (``harness``) =========================================


async def test_satisfies_the_protocol(harness: VenueHarness) -> None:
    assert isinstance(harness.venue, Venue)
    assert isinstance(harness.venue, MarketDataSource)
    assert {i.venue for i in _ids(harness)} == {harness.venue.name}


async def test_fetch_quotes(harness: VenueHarness) -> None:
    await harness.seed_market()
    ids = _ids(harness)
    quotes = await harness.venue.fetch_quotes(ids)
    assert [q.instrument_id for q in quotes] == ids
    for quote in quotes:
        assert 0 < quote.bid <= quote.ask
        assert math.isfinite(quote.ask)
        assert quote.ts_event_ms > 0


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


# --- trading error paths: venues with a transport (fail_next) -------------------------


async def test_auth_failure_is_auth_error_and_not_retried(harness: VenueHarness) -> None:
    fail = _failing(harness)
    await harness.seed_market()
    fail("auth", 1)
    with pytest.raises(AuthError):
        await harness.venue.fetch_positions()
    assert await harness.venue.fetch_positions() is not None  # only one request was failed


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
