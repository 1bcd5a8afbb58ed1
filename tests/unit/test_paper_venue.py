"""Paper venue: fills, fees, slippage, funding, margin, rejections and streams.

Every expected number is worked out by hand in the comments (fee schedules Binance VIP0:
perp taker 0.0005, spot taker 0.001).
"""

from __future__ import annotations

import asyncio
from decimal import Decimal as D

import pytest

from venues.errors import (
    DuplicateClientOrderId,
    InsufficientMargin,
    InvalidOrder,
    OrderNotFound,
    OrderRejected,
    TransportError,
    VenueError,
    VenueUnavailable,
)
from venues.model import (
    Fill,
    FundingPayment,
    FundingRate,
    Instrument,
    InstrumentId,
    InstrumentKind,
    Liquidity,
    MarkPrice,
    OrderAck,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
    VenueFees,
)
from venues.paper import PaperVenue, PaperVenueConfig
from venues.paper.funding import FUNDING_RETENTION_S, FundingBook

T0_MS = 1_700_000_000_000
PERP = InstrumentId("binance", InstrumentKind.PERP, "BTCUSDT")
SPOT = InstrumentId("binance", InstrumentKind.SPOT, "BTCUSDT")
ETH = InstrumentId("binance", InstrumentKind.PERP, "ETHUSDT")
INSTRUMENTS = {
    PERP: Instrument(PERP, "BTC", "USDT", D("0.1"), D("0.001"), D("0.001"), D("100"), D(1), 28_800),
    SPOT: Instrument(SPOT, "BTC", "USDT", D("0.01"), D("0.00001"), D("0.0001"), D("5")),
    ETH: Instrument(ETH, "ETH", "USDT", D("0.01"), D("0.001"), D("0.001"), D("20"), D(1), 14_400),
}


class FakeClock:
    """Settable clock, epoch ms."""

    def __init__(self) -> None:
        self.ms = T0_MS

    def now_ms(self) -> int:
        return self.ms


def make_venue(
    *,
    slippage_bps: str = "2",
    collateral_usd: str = "100000",
    leverage: str = "5",
    queue_size: int = 64,
    clock: FakeClock | None = None,
) -> PaperVenue:
    config = PaperVenueConfig(
        name="binance",
        initial_collateral_usd=D(collateral_usd),
        perp_fees=VenueFees(D("0.0002"), D("0.0005")),
        spot_fees=VenueFees(D("0.001"), D("0.001")),
        slippage_bps=D(slippage_bps),
        perp_leverage=D(leverage),
        stream_queue_size=queue_size,
    )
    return PaperVenue(config, INSTRUMENTS, (clock or FakeClock()).now_ms)


_ids = iter(range(10**9))


def order(
    iid: InstrumentId, side: Side, qty: str, *, coid: str | None = None, **kwargs: object
) -> OrderRequest:
    return OrderRequest(coid or f"o{next(_ids)}", iid, side, D(qty), **kwargs)


def funding(
    iid: InstrumentId,
    rate: float,
    ts_ms: int,
    *,
    mark: float | None = None,
    interval_s: int = 8 * 3600,
) -> FundingRate:
    return FundingRate(iid, rate, interval_s, ts_ms, ts_ms + interval_s * 1000, mark)


async def next_event(stream: object) -> object:
    return await asyncio.wait_for(anext(stream), 1.0)


# ----------------------------------------------------------------- fills, fees, slippage


async def test_spot_market_buy_charges_cost_and_fee() -> None:
    venue = make_venue()
    venue.update_price(SPOT, 60000.0)
    ack = await venue.place_order(order(SPOT, Side.BUY, "0.1", coid="buy1"))
    # 60000 × 1.0002 = 60012.00 (on tick); fee 0.001 × 0.1 × 60012 = 6.0012
    assert ack.status is OrderStatus.FILLED
    assert ack.filled_qty == D("0.1")
    assert ack.avg_price == D("60012.00")
    (fill,) = ack.fills
    assert fill.fee_usd == D("6.0012")
    assert fill.reference_price == D("60000.0")
    assert fill.liquidity is Liquidity.TAKER
    # 100000 − 6001.2 − 6.0012
    assert venue.account_summary().collateral_usd == D("93992.7988")


async def test_spot_market_sell_credits_proceeds_less_fee() -> None:
    venue = make_venue()
    venue.update_price(SPOT, 60000.0)
    await venue.place_order(order(SPOT, Side.BUY, "0.1"))
    venue.update_price(SPOT, 61000.0)
    ack = await venue.place_order(order(SPOT, Side.SELL, "0.04"))
    # 61000 × 0.9998 = 60987.80; fee 0.001 × 0.04 × 60987.8 = 2.439512
    assert ack.avg_price == D("60987.80")
    assert ack.fills[0].fee_usd == D("2.439512")
    # 93992.7988 + 2439.512 − 2.439512
    assert venue.account_summary().collateral_usd == D("96429.871288")
    (pos,) = await venue.fetch_positions()
    assert (pos.qty, pos.entry_price) == (D("0.06"), D("60012"))


async def test_perp_market_sell_and_buy_fees() -> None:
    venue = make_venue()
    venue.update_price(PERP, 60000.0)
    sell = await venue.place_order(order(PERP, Side.SELL, "0.5"))
    # 60000 × 0.9998 = 59988.0; fee 0.0005 × 0.5 × 59988 = 14.997
    assert sell.avg_price == D("59988.0")
    assert sell.fills[0].fee_usd == D("14.997")
    assert venue.account_summary().collateral_usd == D("99985.003")
    buy = await venue.place_order(order(PERP, Side.BUY, "0.2"))
    # 60000 × 1.0002 = 60012.0; fee 0.0005 × 0.2 × 60012 = 6.0012
    assert buy.avg_price == D("60012.0")
    assert buy.fills[0].fee_usd == D("6.0012")
    # realized on the 0.2 closed: (59988 − 60012) × 0.2 = −4.8
    assert venue.account_summary().collateral_usd == D("99985.003") - D("4.8") - D("6.0012")


@pytest.mark.parametrize(
    ("iid", "side", "price", "expected"),
    [
        # 60000.05 × 0.0002 = 12.00001 → 60012.05001 up to 0.01 / 59988.04999 down to 0.01
        (SPOT, Side.BUY, 60000.05, "60012.06"),
        (SPOT, Side.SELL, 60000.05, "59988.04"),
        # 60000.3 × 0.0002 = 12.00006 → 60012.30006 up to 0.1 / 59988.29994 down to 0.1
        (PERP, Side.BUY, 60000.3, "60012.4"),
        (PERP, Side.SELL, 60000.3, "59988.2"),
    ],
)
async def test_slippage_rounds_to_tick_against_taker(
    iid: InstrumentId, side: Side, price: float, expected: str
) -> None:
    venue = make_venue()
    if iid == SPOT and side is Side.SELL:
        venue.update_price(SPOT, 50000.0)
        await venue.place_order(order(SPOT, Side.BUY, "0.01"))
    venue.update_price(iid, price)
    ack = await venue.place_order(order(iid, side, "0.01"))
    fill = ack.fills[0]
    assert fill.price == D(expected)
    assert fill.reference_price == D(repr(price))
    assert fill.reference_price is not None
    assert (fill.price - fill.reference_price) * fill.qty * side.sign > 0


async def test_ioc_limit_fills_within_limit_and_expires_beyond() -> None:
    venue = make_venue()
    venue.update_price(PERP, 60000.0)
    ioc = {"order_type": OrderType.LIMIT, "time_in_force": TimeInForce.IOC}
    filled = await venue.place_order(order(PERP, Side.BUY, "0.01", limit_price=D("60012.0"), **ioc))
    assert filled.status is OrderStatus.FILLED
    assert filled.avg_price == D("60012.0")  # the slipped price, not the limit
    collateral = venue.account_summary().collateral_usd
    expired = await venue.place_order(
        order(PERP, Side.BUY, "0.01", coid="exp", limit_price=D("60011.9"), **ioc)
    )
    assert expired.status is OrderStatus.EXPIRED
    assert (expired.filled_qty, expired.avg_price, expired.fills) == (D(0), None, ())
    assert venue.account_summary().collateral_usd == collateral
    assert await venue.fetch_order(PERP, "exp") == expired
    sell = await venue.place_order(order(PERP, Side.SELL, "0.01", limit_price=D("59988.1"), **ioc))
    assert sell.status is OrderStatus.EXPIRED  # 59988.0 < limit 59988.1


async def test_ids_and_timestamps_are_deterministic() -> None:
    clock = FakeClock()
    venue = make_venue(clock=clock)
    venue.update_price(PERP, 60000.0)
    first = await venue.place_order(order(PERP, Side.BUY, "0.01"))
    clock.ms += 5_000
    second = await venue.place_order(order(PERP, Side.BUY, "0.01"))
    assert [first.venue_order_id, second.venue_order_id] == ["1", "2"]
    assert [first.fills[0].trade_id, second.fills[0].trade_id] == ["1", "2"]
    assert (first.ts_event_ms, second.fills[0].ts_event_ms) == (T0_MS, T0_MS + 5_000)


# ----------------------------------------------------------------- perp P&L and equity


async def test_realized_pnl_on_reduce_and_flip() -> None:
    venue = make_venue(slippage_bps="0")
    venue.update_price(PERP, 50000.0)
    await venue.place_order(order(PERP, Side.BUY, "1"))  # fee 25
    venue.update_price(PERP, 52000.0)
    await venue.place_order(order(PERP, Side.BUY, "1"))  # fee 26; entry (50000+52000)/2
    venue.update_price(PERP, 54000.0)
    await venue.place_order(order(PERP, Side.SELL, "0.5"))  # fee 13.5
    # realized (54000 − 51000) × 0.5 = 1500; 100000 + 1500 − 64.5
    assert venue.account_summary().collateral_usd == D("101435.5")
    (pos,) = await venue.fetch_positions()
    assert (pos.qty, pos.entry_price, pos.mark_price) == (D("1.5"), D("51000"), D("54000"))

    venue.update_price(PERP, 49000.0)
    await venue.place_order(order(PERP, Side.SELL, "2.5"))  # fee 0.0005 × 2.5 × 49000 = 61.25
    # closes 1.5: (49000 − 51000) × 1.5 = −3000; opens −1.0 at 49000
    assert venue.account_summary().collateral_usd == D("98374.25")
    (pos,) = await venue.fetch_positions()
    assert (pos.qty, pos.entry_price) == (D("-1.0"), D("49000"))


async def test_equity_change_equals_price_pnl_minus_fees_plus_funding() -> None:
    venue = make_venue()
    venue.update_price(SPOT, 40000.0)
    venue.update_price(PERP, 40010.0)
    trades = [  # (instrument, side, qty, hand-computed fill price, hand-computed fee)
        (SPOT, Side.BUY, "0.5", "40008.00", "20.004"),  # 40000 × 1.0002; 0.001 × 0.5 × 40008
        (PERP, Side.SELL, "0.5", "40001.9", "10.000475"),  # 40010 × 0.9998 = 40001.998 ↓ 0.1
    ]
    acks = [await venue.place_order(order(i, s, q)) for i, s, q, _, _ in trades]
    payment = venue.settle_funding(funding(PERP, 0.0001, T0_MS, mark=40020.0))
    assert payment is not None
    assert payment.amount_usd == D("2.001")  # −0.0001 × −0.5 × 40020
    venue.update_price(PERP, 41000.0)
    trades.append((PERP, Side.BUY, "0.2", "41008.2", "4.10082"))  # 41000 × 1.0002; fee on 8201.64
    acks.append(await venue.place_order(order(PERP, Side.BUY, "0.2")))
    assert [(a.avg_price, a.fills[0].fee_usd) for a in acks] == [
        (D(p), D(f)) for *_, p, f in trades
    ]
    marks = {SPOT: D("41500.0"), PERP: D("41510.0")}
    for iid, mark in marks.items():
        venue.update_price(iid, float(mark))

    price_pnl = sum(
        ((marks[i] - D(p)) * D(q) * s.sign for i, s, q, p, _ in trades), D(0)
    )  # 746 − 754.05 + 100.36 = 92.31
    fees = sum((D(f) for *_, f in trades), D(0))  # 34.105295
    assert price_pnl == D("92.31")
    equity = venue.account_summary().equity_usd
    assert equity - D("100000") == price_pnl - fees + D("2.001") == D("60.205705")


async def test_account_summary_positions_and_balances() -> None:
    venue = make_venue(slippage_bps="0")
    venue.update_price(SPOT, 40000.0)
    venue.update_price(PERP, 40000.0)
    await venue.place_order(order(SPOT, Side.BUY, "0.5"))  # cost 20000, fee 20
    await venue.place_order(order(PERP, Side.SELL, "0.5"))  # fee 10
    venue.update_price(SPOT, 42000.0)
    venue.update_price(PERP, 42000.0)
    summary = venue.account_summary()
    assert summary.collateral_usd == D("79970")  # 100000 − 20000 − 20 − 10
    # spot 21000 + perp unrealized (40000 − 42000) × 0.5 = −1000
    assert summary.equity_usd == D("99970")
    assert summary.used_margin_usd == D("4200")  # 21000 / 5
    assert summary.gross_notional_usd == D("42000")
    assert summary.leverage == pytest.approx(42000 / 99970)
    assert D(summary.extra["available_usd"]) == D("74770")  # 79970 − 1000 − 4200
    positions = await venue.fetch_positions()
    assert [(p.instrument_id, p.qty, p.entry_price, p.mark_price) for p in positions] == [
        (PERP, D("-0.5"), D("40000"), D("42000")),
        (SPOT, D("0.5"), D("40000"), D("42000")),
    ]
    balances = await venue.fetch_balances()
    assert [(b.asset, b.total, b.available) for b in balances] == [
        ("USDT", D("79970"), D("74770")),
        ("BTC", D("0.5"), D("0.5")),
    ]


async def test_flat_account_summary() -> None:
    summary = make_venue().account_summary()
    assert (summary.equity_usd, summary.used_margin_usd, summary.leverage) == (D(100000), 0, 0.0)


# ----------------------------------------------------------------- funding


@pytest.mark.parametrize(
    ("side", "rate", "expected_usd"),
    [
        (Side.SELL, 0.0001, "3.00"),  # −0.0001 × −0.5 × 60000: short receives
        (Side.BUY, 0.0001, "-3.00"),  # long pays
        (Side.SELL, -0.0001, "-3.00"),  # negative rate: short pays
        (Side.BUY, -0.0001, "3.00"),
    ],
)
async def test_funding_sign_and_amount(side: Side, rate: float, expected_usd: str) -> None:
    venue = make_venue(slippage_bps="0")
    venue.update_price(PERP, 59000.0)
    await venue.place_order(order(PERP, side, "0.5"))
    before = venue.account_summary().collateral_usd
    payment = venue.settle_funding(funding(PERP, rate, T0_MS + 1, mark=60000.0))
    assert payment == FundingPayment(
        PERP, T0_MS + 1, rate, 28_800, D("0.5") * side.sign, D("60000.0"), D(expected_usd)
    )
    assert venue.account_summary().collateral_usd - before == D(expected_usd)
    assert await venue.fetch_funding_payments(T0_MS) == [payment]
    assert await venue.fetch_funding_payments(T0_MS + 2) == []


async def test_funding_without_mark_uses_current_price_and_4h_interval_passes_through() -> None:
    venue = make_venue(slippage_bps="0")
    venue.update_price(ETH, 3000.0)
    await venue.place_order(order(ETH, Side.BUY, "2"))
    rate = funding(ETH, 0.0001, T0_MS, interval_s=14_400)
    payment = venue.settle_funding(rate)
    assert payment is not None
    assert payment.interval_s == 14_400
    assert payment.mark_price == D("3000.0")
    assert payment.amount_usd == D("-0.6")  # −0.0001 × 2 × 3000
    assert await venue.fetch_funding([ETH]) == [rate]


async def test_funding_when_flat_is_remembered_but_pays_nothing() -> None:
    venue = make_venue()
    rate = funding(PERP, 0.0003, T0_MS, mark=60000.0)
    assert venue.settle_funding(rate) is None
    assert await venue.fetch_funding([PERP, ETH]) == [rate]  # ETH never settled: left out
    assert venue.account_summary().collateral_usd == D("100000")


async def test_funding_settlement_is_idempotent_per_time() -> None:
    venue = make_venue(slippage_bps="0")
    venue.update_price(PERP, 60000.0)
    await venue.place_order(order(PERP, Side.BUY, "0.5"))
    assert venue.settle_funding(funding(PERP, 0.0001, T0_MS)) is not None
    collateral = venue.account_summary().collateral_usd
    assert venue.settle_funding(funding(PERP, 0.0001, T0_MS)) is None
    assert venue.account_summary().collateral_usd == collateral


async def test_funding_history_and_payments_are_kept_for_the_retention_only() -> None:
    # A year of hourly settlements while long: what the venue answers for is the last
    # FUNDING_RETENTION_S before the newest settlement, every settlement of it, in order, and
    # the payments of the same span; nothing older is held (issue 14: unbounded growth).
    venue = make_venue(slippage_bps="0")
    venue.update_price(PERP, 60000.0)
    await venue.place_order(order(PERP, Side.BUY, "0.5"))
    hour_ms = 3_600_000
    settled = [funding(PERP, 1e-5, T0_MS + k * hour_ms, interval_s=3600) for k in range(8760)]
    for rate in settled:
        assert venue.settle_funding(rate) is not None
    newest_ms = settled[-1].ts_funding_ms
    horizon_ms = newest_ms - FUNDING_RETENTION_S * 1000
    kept = [r for r in settled if r.ts_funding_ms >= horizon_ms]
    assert len(kept) == FUNDING_RETENTION_S // 3600 + 1
    assert await venue.fetch_funding_history(PERP, 0, 2**62) == kept
    window = await venue.fetch_funding_history(PERP, newest_ms - 2 * hour_ms, newest_ms)
    assert window == settled[-3:-1]
    payments = await venue.fetch_funding_payments(0)
    assert [p.ts_funding_ms for p in payments] == [r.ts_funding_ms for r in kept]
    assert all(p.amount_usd == D("-0.300000") for p in payments)  # −1e-5 × 0.5 × 60000
    assert await venue.fetch_funding([PERP]) == [settled[-1]]


def test_funding_retention_must_be_positive() -> None:
    with pytest.raises(ValueError, match="retention_s"):
        FundingBook(0)


def test_funding_rejects_spot_and_bad_interval() -> None:
    venue = make_venue()
    with pytest.raises(ValueError, match="not a perp"):
        venue.settle_funding(funding(SPOT, 0.0001, T0_MS))
    with pytest.raises(ValueError, match="bad funding"):
        venue.settle_funding(funding(PERP, 0.0001, T0_MS, interval_s=0))


# ----------------------------------------------------------------- rejections


async def _expect_reject(
    venue: PaperVenue, request: OrderRequest, error: type[OrderRejected], code: str | None
) -> OrderRejected:
    before = venue.account_summary().collateral_usd
    with pytest.raises(error) as info:
        await venue.place_order(request)
    assert info.value.code == code
    assert info.value.client_order_id == request.client_order_id
    stored = await venue.fetch_order(request.instrument_id, request.client_order_id)
    assert stored.status is OrderStatus.REJECTED
    assert (stored.reject_code, stored.reject_reason) == (code, info.value.reason)
    assert (stored.filled_qty, stored.fills) == (D(0), ())
    assert venue.account_summary().collateral_usd == before
    return info.value


@pytest.mark.parametrize(
    ("request_", "error", "code", "reason"),
    [
        (order(SPOT, Side.BUY, "0.00005"), InvalidOrder, "-1013", "below min qty"),
        (order(PERP, Side.BUY, "0.001"), InvalidOrder, "-1013", "below min notional"),  # 60
        (order(PERP, Side.BUY, "0.0015"), InvalidOrder, "-1013", "off lot step"),
        (
            order(PERP, Side.BUY, "0.01", order_type=OrderType.LIMIT, limit_price=D("60000.05")),
            InvalidOrder,
            "-1013",
            "off tick",
        ),
        (
            order(
                PERP,
                Side.BUY,
                "0.01",
                order_type=OrderType.LIMIT,
                limit_price=D("60000"),
                time_in_force=TimeInForce.GTC,
            ),
            InvalidOrder,
            "-1115",
            "GTC",
        ),
        (
            order(PERP, Side.BUY, "0.01", order_type=OrderType.LIMIT),
            InvalidOrder,
            "-1102",
            "without limit_price",
        ),
        (order(PERP, Side.BUY, "0.01", limit_price=D("60000")), InvalidOrder, "-1106", "market"),
        (order(PERP, Side.BUY, "0.01", coid="bad id!"), InvalidOrder, "-1100", "client order"),
        (order(SPOT, Side.SELL, "0.01"), InsufficientMargin, "-2010", "no short"),
        (order(PERP, Side.BUY, "0.01", reduce_only=True), InvalidOrder, "-2022", "reduce-only"),
        (order(SPOT, Side.BUY, "2"), InsufficientMargin, "-2010", "insufficient USD"),
        (order(PERP, Side.BUY, "9"), InsufficientMargin, "-2019", "insufficient margin"),
        (
            order(InstrumentId("binance", InstrumentKind.PERP, "DOGEUSDT"), Side.BUY, "1"),
            InvalidOrder,
            "-1121",
            "unknown instrument",
        ),
    ],
)
async def test_rejections(
    request_: OrderRequest, error: type[OrderRejected], code: str, reason: str
) -> None:
    # collateral 100000, leverage 5: spot 2 BTC costs 120000 + 120 fee > 100000;
    # perp 9 BTC needs 540000 / 5 = 108000 margin > 100000
    venue = make_venue(slippage_bps="0")
    venue.update_price(SPOT, 60000.0)
    venue.update_price(PERP, 60000.0)
    err = await _expect_reject(venue, request_, error, code)
    assert reason in err.reason
    assert err.venue == "paper:binance"


async def test_reject_when_no_price_yet() -> None:
    venue = make_venue()
    err = await _expect_reject(venue, order(PERP, Side.BUY, "0.01"), InvalidOrder, None)
    assert "no price" in err.reason


async def test_perp_margin_counts_existing_positions_and_allows_reduction() -> None:
    # collateral 1000, leverage 5, no slippage, price 60000
    venue = make_venue(slippage_bps="0", collateral_usd="1000")
    venue.update_price(PERP, 60000.0)
    # 0.08 BTC: margin 4800 / 5 = 960 + fee 2.4 = 962.4 <= 1000
    await venue.place_order(order(PERP, Side.BUY, "0.08"))
    # available 1000 − 2.4 − 960 = 37.6 >= 0.002 more: margin 24 + fee 0.06
    await venue.place_order(order(PERP, Side.BUY, "0.002"))
    # available 997.54 − 0.082 × 60000 / 5 = 13.54 < 0.004 more: margin 48 + fee 0.12
    await _expect_reject(venue, order(PERP, Side.BUY, "0.004"), InsufficientMargin, "-2019")
    venue.update_price(PERP, 50000.0)  # deep under water: available < 0
    ack = await venue.place_order(order(PERP, Side.SELL, "0.05", reduce_only=True))
    assert ack.status is OrderStatus.FILLED


async def test_reduce_only_may_reduce_but_not_flip() -> None:
    venue = make_venue(slippage_bps="0")
    venue.update_price(PERP, 60000.0)
    await venue.place_order(order(PERP, Side.BUY, "0.1"))
    await _expect_reject(
        venue, order(PERP, Side.SELL, "0.2", reduce_only=True), InvalidOrder, "-2022"
    )
    await venue.place_order(order(PERP, Side.SELL, "0.05", reduce_only=True))
    (pos,) = await venue.fetch_positions()
    assert pos.qty == D("0.05")


async def test_duplicate_client_order_id_keeps_the_original() -> None:
    venue = make_venue()
    venue.update_price(PERP, 60000.0)
    first = await venue.place_order(order(PERP, Side.BUY, "0.01", coid="dup"))
    with pytest.raises(DuplicateClientOrderId) as info:
        await venue.place_order(order(PERP, Side.SELL, "0.01", coid="dup"))
    assert info.value.code == "-4116"
    assert await venue.fetch_order(PERP, "dup") == first
    (pos,) = await venue.fetch_positions()
    assert pos.qty == D("0.01")


async def test_rejected_client_order_id_stays_used() -> None:
    venue = make_venue()
    with pytest.raises(InvalidOrder):
        await venue.place_order(order(PERP, Side.BUY, "0.01", coid="r1"))
    venue.update_price(PERP, 60000.0)
    with pytest.raises(DuplicateClientOrderId):
        await venue.place_order(order(PERP, Side.BUY, "0.01", coid="r1"))


# ----------------------------------------------------------------- order lookup


async def test_cancel_of_filled_order_returns_it_unchanged() -> None:
    venue = make_venue()
    venue.update_price(PERP, 60000.0)
    ack = await venue.place_order(order(PERP, Side.BUY, "0.01", coid="c1"))
    assert await venue.cancel_order(PERP, "c1") == ack
    assert await venue.fetch_order(PERP, "c1") == ack
    assert await venue.fetch_open_orders() == []


async def test_unknown_order_lookups_raise_order_not_found() -> None:
    venue = make_venue()
    venue.update_price(PERP, 60000.0)
    await venue.place_order(order(PERP, Side.BUY, "0.01", coid="k1"))
    with pytest.raises(OrderNotFound):
        await venue.fetch_order(PERP, "nope")
    with pytest.raises(OrderNotFound):
        await venue.fetch_order(ETH, "k1")  # right id, wrong instrument
    with pytest.raises(OrderNotFound):
        await venue.cancel_order(PERP, "nope")


# ----------------------------------------------------------------- market data


async def test_quotes_bars_and_instruments() -> None:
    venue = make_venue()
    venue.update_price(PERP, 60000.5)
    (quote,) = await venue.fetch_quotes([PERP])
    assert (quote.bid, quote.ask, quote.ts_event_ms) == (60000.5, 60000.5, T0_MS)
    with pytest.raises(VenueUnavailable):
        await venue.fetch_quotes([SPOT])
    with pytest.raises(VenueError) as info:
        await venue.fetch_quotes([InstrumentId("binance", InstrumentKind.SPOT, "XYZ")])
    assert info.value.code == "-1121"
    with pytest.raises(VenueError):
        await venue.fetch_funding([SPOT])
    assert await venue.fetch_bars(PERP, 0, T0_MS, 3600) == []
    assert await venue.load_instruments() == INSTRUMENTS


def test_update_price_validates_input() -> None:
    venue = make_venue()
    with pytest.raises(ValueError, match="finite"):
        venue.update_price(PERP, float("nan"))
    with pytest.raises(ValueError, match="finite"):
        venue.update_price(PERP, 0.0)
    with pytest.raises(ValueError, match="not on venue"):
        venue.update_price(InstrumentId("okx", InstrumentKind.PERP, "BTC-USDT-SWAP"), 1.0)


async def test_update_prices_sets_each_price_as_update_price_does() -> None:
    one_by_one, batched = make_venue(), make_venue()
    prices = [(PERP, 60000.1), (SPOT, 59990.0), (ETH, 3000.25), (PERP, 60001.5)]
    for iid, value in prices:
        one_by_one.update_price(iid, value)
    batched.update_prices(prices)
    ids = [PERP, SPOT, ETH]
    assert await batched.fetch_quotes(ids) == await one_by_one.fetch_quotes(ids)
    assert [q.bid for q in await batched.fetch_quotes(ids)] == [60001.5, 59990.0, 3000.25]


async def test_update_prices_publishes_marks_when_someone_listens() -> None:
    venue = make_venue()
    stream = venue.stream_marks([PERP, ETH])
    venue.update_prices([(SPOT, 1.0), (PERP, 60000.0), (ETH, 3000.0)])
    assert await next_event(stream) == MarkPrice(PERP, 60000.0, T0_MS)
    assert await next_event(stream) == MarkPrice(ETH, 3000.0, T0_MS)


async def test_update_prices_validates_each_price_and_keeps_those_before() -> None:
    venue = make_venue()
    with pytest.raises(ValueError, match="finite"):
        venue.update_prices([(PERP, 60000.0), (ETH, float("inf")), (SPOT, 5.0)])
    assert [q.bid for q in await venue.fetch_quotes([PERP])] == [60000.0]
    with pytest.raises(VenueUnavailable):  # never priced: the batch stopped at ETH
        await venue.fetch_quotes([SPOT])
    with pytest.raises(ValueError, match="not on venue"):
        venue.update_prices([(InstrumentId("okx", InstrumentKind.PERP, "BTC-USDT-SWAP"), 1.0)])


def test_config_and_instruments_are_validated() -> None:
    with pytest.raises(ValueError, match="perp_leverage") as info:
        PaperVenueConfig(
            "binance", D(1), VenueFees(D(0), D(0)), VenueFees(D(0), D(0)), D("-1"), D(0)
        )
    assert "slippage_bps" in str(info.value)
    config = PaperVenueConfig(
        "bybit", D(1), VenueFees(D(0), D(0)), VenueFees(D(0), D(0)), D(0), D(1)
    )
    with pytest.raises(ValueError, match="not on venue bybit"):
        PaperVenue(config, INSTRUMENTS, FakeClock().now_ms)


# ----------------------------------------------------------------- streams


async def test_stream_marks_filters_and_ends_on_close() -> None:
    venue = make_venue()
    stream = venue.stream_marks([PERP])
    venue.update_price(SPOT, 1.0)
    venue.update_price(PERP, 60000.0)
    assert await next_event(stream) == MarkPrice(PERP, 60000.0, T0_MS)
    await venue.close()
    with pytest.raises(StopAsyncIteration):
        await next_event(stream)


async def test_stream_marks_drops_oldest_when_full() -> None:
    venue = make_venue(queue_size=2)
    stream = venue.stream_marks([PERP])
    for price in (1.0, 2.0, 3.0):
        venue.update_price(PERP, price)
    got = [await next_event(stream), await next_event(stream)]
    assert [m.mark_price for m in got] == [2.0, 3.0]


async def test_stream_account_yields_fill_then_ack_then_funding() -> None:
    venue = make_venue(slippage_bps="0")
    stream = venue.stream_account()
    venue.update_price(PERP, 60000.0)
    ack = await venue.place_order(order(PERP, Side.SELL, "0.5"))
    with pytest.raises(InvalidOrder):  # rejections are not streamed
        await venue.place_order(order(PERP, Side.BUY, "0.0001"))
    payment = venue.settle_funding(funding(PERP, 0.0001, T0_MS))
    events = [await next_event(stream) for _ in range(3)]
    assert isinstance(events[0], Fill)
    assert events == [ack.fills[0], ack, payment]
    assert isinstance(events[1], OrderAck)
    assert isinstance(events[2], FundingPayment)


async def test_stream_account_overflow_raises_after_draining() -> None:
    venue = make_venue(queue_size=2)
    stream = venue.stream_account()
    venue.update_price(PERP, 60000.0)
    first = await venue.place_order(order(PERP, Side.BUY, "0.01"))  # fill + ack: full
    await venue.place_order(order(PERP, Side.BUY, "0.01"))  # lost
    assert [await next_event(stream), await next_event(stream)] == [first.fills[0], first]
    with pytest.raises(TransportError, match="overflowed"):
        await next_event(stream)


async def test_stream_aclose_unsubscribes() -> None:
    venue = make_venue()
    stream = venue.stream_account()
    await stream.aclose()
    venue.update_price(PERP, 60000.0)
    await venue.place_order(order(PERP, Side.BUY, "0.01"))
    with pytest.raises(StopAsyncIteration):
        await next_event(stream)


async def test_waiting_consumer_is_woken_by_an_event() -> None:
    venue = make_venue()
    stream = venue.stream_marks([PERP])

    async def produce() -> None:  # scheduled after the consumer, which blocks on the queue first
        venue.update_price(PERP, 5.0)

    got, _ = await asyncio.gather(next_event(stream), produce())
    assert got == MarkPrice(PERP, 5.0, T0_MS)
