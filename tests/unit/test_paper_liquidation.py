"""The paper venue's maintenance margin and cross-margin liquidation prices, against Binance's
USDⓈ-M formula worked out here, and the distance to liquidation the agent derives from them.

Binance, "How to Calculate Liquidation Price of USDⓈ-M Futures Contracts" (cross margin,
one-way mode; https://www.binance.com/en/support/faq/b3c689c1f50a44cabb3a84e663b81d93):

    LP = (WB − TMM1 + UPNL1 + cumB − Side1 × Position1 × EP1)
         / (Position1 × MMR1 − Side1 × Position1)

with a flat maintenance margin rate (``cumB = 0``). No fees and no slippage here, so the wallet
balance stays the deposit.
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from agent.engine.liquidation import LegDistance, distance_frac
from venues.model import Instrument, InstrumentId, InstrumentKind, OrderRequest, Side, VenueFees
from venues.paper import PaperVenue, PaperVenueConfig

BTC = InstrumentId("binance", InstrumentKind.PERP, "BTCUSDT")
ETH = InstrumentId("binance", InstrumentKind.PERP, "ETHUSDT")
BTC_SPOT = InstrumentId("binance", InstrumentKind.SPOT, "BTCUSDT")
INSTRUMENTS = {
    BTC: Instrument(BTC, "BTC", "USDT", D("0.1"), D("0.001"), D("0.001"), D(5), D(1), 28_800),
    ETH: Instrument(ETH, "ETH", "USDT", D("0.01"), D("0.001"), D("0.001"), D(5), D(1), 28_800),
    BTC_SPOT: Instrument(BTC_SPOT, "BTC", "USDT", D("0.01"), D("0.00001"), D("0.0001"), D(5)),
}
WB = D(10_000)
MMR = D("0.005")
ZERO_FEES = VenueFees(D(0), D(0))


def venue(collateral: D = WB) -> PaperVenue:
    config = PaperVenueConfig(
        name="binance",
        initial_collateral_usd=collateral,
        perp_fees=ZERO_FEES,
        spot_fees=ZERO_FEES,
        slippage_bps=D(0),
        perp_leverage=D(5),
        maintenance_margin_frac=MMR,
    )
    return PaperVenue(config, INSTRUMENTS, lambda: 1_700_000_000_000)


def binance_lp(wb: D, tmm_others: D, upnl_others: D, side: int, position: D, entry: D, mmr: D) -> D:
    """Binance's cross-margin formula, term by term, maintenance amount 0."""
    return (wb - tmm_others + upnl_others - side * position * entry) / (
        position * mmr - side * position
    )


def close(price: D | None, expected: D) -> bool:
    """Equal to the 20th decimal (the venue solves the same equation in another order:
    28-digit Decimal arithmetic rounds the last digit differently)."""
    return price is not None and abs(price - expected) < D("1e-20")


async def trade(v: PaperVenue, iid: InstrumentId, side: Side, qty: str) -> None:
    await v.place_order(OrderRequest(f"o-{iid.symbol}-{side}-{qty}", iid, side, D(qty)))


async def test_liquidation_prices_of_a_long_and_a_short_follow_binance_formula() -> None:
    v = venue()
    v.update_price(BTC, 50_000.0)
    v.update_price(ETH, 2_500.0)
    await trade(v, BTC, Side.BUY, "0.2")  # long 0.2 at 50 000 (10 000 notional)
    await trade(v, ETH, Side.SELL, "2")  # short 2 at 2 500 (5 000 notional)
    v.update_price(BTC, 48_000.0)
    v.update_price(ETH, 2_600.0)

    positions = {p.instrument_id: p for p in await v.fetch_positions()}

    # The long: the other contract is the ETH short, at 2 600.
    eth_mm = 2 * D(2_600) * MMR  # 26
    eth_upnl = -2 * (D(2_600) - D(2_500))  # −200
    long_lp = binance_lp(WB, eth_mm, eth_upnl, +1, D("0.2"), D(50_000), MMR)
    assert long_lp == D(-226) / D("-0.199")  # (10 000 − 26 − 200 − 10 000) / (0.001 − 0.2)
    assert close(positions[BTC].liquidation_price, long_lp)
    # The short: the other contract is the BTC long, at 48 000.
    btc_mm = D("0.2") * D(48_000) * MMR  # 48
    btc_upnl = D("0.2") * (D(48_000) - D(50_000))  # −400
    short_lp = binance_lp(WB, btc_mm, btc_upnl, -1, D(2), D(2_500), MMR)
    assert short_lp == D(14_552) / D("2.01")  # (10 000 − 48 − 400 + 5 000) / (0.01 + 2)
    assert close(positions[ETH].liquidation_price, short_lp)

    # At its liquidation price (the other leg where it is) the account's margin balance is
    # exactly its maintenance margin: the definition the formula solves.
    def margin_balance_minus_maintenance(btc: D, eth: D) -> D:
        upnl = D("0.2") * (btc - 50_000) - 2 * (eth - 2_500)
        maintenance = (D("0.2") * btc + 2 * eth) * MMR
        return WB + upnl - maintenance

    assert abs(margin_balance_minus_maintenance(long_lp, D(2_600))) < D("1e-20")
    assert abs(margin_balance_minus_maintenance(D(48_000), short_lp)) < D("1e-20")
    summary = v.account_summary()
    assert D(summary.extra["maintenance_margin_usd"]) == btc_mm + eth_mm  # 48 + 26


async def test_a_long_the_account_carries_to_zero_has_no_liquidation_price() -> None:
    v = venue()
    v.update_price(BTC, 50_000.0)
    await trade(v, BTC, Side.BUY, "0.01")  # 500 notional on 10 000: LP < 0
    (position,) = await v.fetch_positions()
    assert binance_lp(WB, D(0), D(0), +1, D("0.01"), D(50_000), MMR) < 0
    assert position.liquidation_price is None


async def test_spot_holdings_have_none_and_are_not_collateral() -> None:
    v = venue()
    v.update_price(BTC, 50_000.0)
    v.update_price(BTC_SPOT, 50_000.0)
    await trade(v, BTC_SPOT, Side.BUY, "0.1")  # 5 000 of the wallet spent on spot
    await trade(v, BTC, Side.SELL, "0.1")  # hedged with a perp short
    positions = {p.instrument_id: p for p in await v.fetch_positions()}
    assert positions[BTC_SPOT].liquidation_price is None
    # WB is what the spot purchase left: 5 000 (the spot holding is not margin).
    expected = binance_lp(D(5_000), D(0), D(0), -1, D("0.1"), D(50_000), MMR)
    assert close(positions[BTC].liquidation_price, expected)  # 10 000 / 0.1005


def test_distance_is_the_gap_to_liquidation_over_the_mark() -> None:
    assert distance_frac(D(1), D(100), D(80)) == pytest.approx(0.2)  # a long, 20 % above
    assert distance_frac(D(-1), D(100), D(125)) == pytest.approx(0.25)  # a short, 25 % below
    assert distance_frac(D(1), D(100), D(101)) == 0.0  # a long already past it
    assert distance_frac(D(-1), D(100), D(99)) == 0.0  # a short already past it
    assert distance_frac(D(1), D(100), None) is None
    assert distance_frac(D(1), D(0), D(5)) is None


async def test_a_position_reading_carries_its_distance() -> None:
    v = venue()
    v.update_price(ETH, 2_500.0)
    await trade(v, ETH, Side.SELL, "2")
    (position,) = await v.fetch_positions()
    leg = LegDistance.of(position, 7)
    lp = binance_lp(WB, D(0), D(0), -1, D(2), D(2_500), MMR)  # 15 000 / 2.01
    assert close(leg.liquidation_price, lp)
    assert leg.distance_frac == pytest.approx(float((lp - 2_500) / 2_500))
    assert leg.ts_ms == 7


def test_a_maintenance_rate_at_or_above_the_initial_margin_is_refused() -> None:
    with pytest.raises(ValueError, match="maintenance_margin_frac"):
        PaperVenueConfig(
            name="binance",
            initial_collateral_usd=WB,
            perp_fees=ZERO_FEES,
            spot_fees=ZERO_FEES,
            slippage_bps=D(0),
            perp_leverage=D(5),
            maintenance_margin_frac=D("0.2"),  # 1 / 5: liquidated as it opens
        )
