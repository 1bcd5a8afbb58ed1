"""The paper ledger's per-step sums over its holdings (perp readings with their cross-margin
liquidation prices, free margin, perp unrealized and notional) against the code they replaced,
kept here as the oracle: the same ``Decimal`` digits and exponents, through random accounts
(long, short and flat perps, spot, prices of many magnitudes, several maintenance rates)."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from venues.model import Instrument, InstrumentId, InstrumentKind
from venues.paper.ledger import Holding, Ledger, cross_liquidation_price, cross_liquidation_prices
from venues.paper.prices import PriceBook

_ZERO = D(0)
SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT", "ADAUSDT")
IDS = [
    InstrumentId("binance", kind, s)
    for kind in (InstrumentKind.PERP, InstrumentKind.SPOT)
    for s in SYMBOLS
]


def _instrument(iid: InstrumentId) -> Instrument:
    return Instrument(iid, iid.symbol[:-4], "USDT", D("0.01"), D("0.001"), D("0.001"), D(5))


# ---- the former code (the oracle) -------------------------------------------------------------


def old_cross_liquidation_price(qty: D, price: D, excess: D, mmr: D) -> D | None:
    if qty == 0:
        return None
    side = 1 if qty > 0 else -1
    move = excess / (abs(qty) * (1 - side * mmr))
    liquidation = price - side * move
    return liquidation if liquidation > 0 else None


def old_perp_readings(ledger: Ledger) -> list[tuple[InstrumentId, D, D, D | None]]:
    perps: list[tuple[InstrumentId, D, D]] = []
    excess, mmr, prices, perp_ids = (
        ledger.collateral_usd,
        ledger._mmr,
        ledger._prices,
        ledger._perp_ids,
    )
    for iid, holding in ledger.holdings.items():
        qty = holding.qty
        if qty == 0 or iid not in perp_ids:
            continue
        price = prices[iid]
        excess += qty * price - holding.cost_usd - abs(qty) * price * mmr
        perps.append((iid, qty, price))
    return [
        (iid, qty, price, old_cross_liquidation_price(qty, price, excess, mmr))
        for iid, qty, price in sorted(perps)
    ]


def old_free_margin_frac(ledger: Ledger) -> float | None:
    unrealized = spot = perp_notional = _ZERO
    prices, perp_ids = ledger._prices, ledger._perp_ids
    for iid, holding in ledger.holdings.items():
        qty = holding.qty
        if qty == 0:
            continue
        price = prices[iid]
        if iid in perp_ids:
            unrealized += qty * price - holding.cost_usd
            perp_notional += abs(qty) * price
        else:
            spot += qty * price
    equity = ledger.collateral_usd + spot + unrealized
    if equity <= 0:
        return None
    used = perp_notional / ledger._perp_leverage
    return float((ledger.collateral_usd + unrealized - used) / equity)


def old_perp_sums(ledger: Ledger) -> tuple[D, D]:
    unrealized = notional = _ZERO
    prices, perp_ids = ledger._prices, ledger._perp_ids
    for iid, holding in ledger.holdings.items():
        qty = holding.qty
        if qty == 0 or iid not in perp_ids:
            continue
        price = prices[iid]
        unrealized += qty * price - holding.cost_usd
        notional += abs(qty) * price
    return unrealized, notional


# ---- random accounts ---------------------------------------------------------------------------

_QTY = st.builds(
    lambda units, places: D(units).scaleb(-places),
    st.integers(-(10**9), 10**9),
    st.integers(0, 8),
)
_PRICE = st.floats(1e-6, 1e7, allow_nan=False, allow_infinity=False)
_ACCOUNT = st.fixed_dictionaries(
    {
        "collateral": st.builds(lambda c: D(c).scaleb(-2), st.integers(-(10**8), 10**10)),
        "mmr": st.sampled_from([D(0), D("0.004"), D("0.005"), D("0.0125"), D("0.5")]),
        "leverage": st.sampled_from([D(1), D(5), D(20)]),
        "holdings": st.dictionaries(
            st.sampled_from(IDS), st.tuples(_QTY, _PRICE, _PRICE), max_size=len(IDS)
        ),
    }
)


def _ledger(account: dict[str, object]) -> Ledger:
    holdings: dict[InstrumentId, tuple[D, float, float]] = account["holdings"]  # type: ignore[assignment]
    instruments = {i: _instrument(i) for i in IDS}
    book = PriceBook()
    ledger = Ledger(
        account["collateral"],  # type: ignore[arg-type]
        instruments,
        book,
        account["leverage"],  # type: ignore[arg-type]
        account["mmr"],  # type: ignore[arg-type]
    )
    for iid, (qty, entry, price) in holdings.items():
        qty = abs(qty) if iid.kind is InstrumentKind.SPOT else qty
        ledger.holdings[iid] = Holding(qty, qty * D(repr(entry)))
        book.set(iid, price)
    return ledger


def _digits(values: object) -> str:
    return repr(values)  # Decimal's repr: its digits and exponent


@settings(max_examples=300, deadline=None)
@given(account=_ACCOUNT)
def test_the_ledger_s_sums_give_the_former_code_s_digits(account: dict[str, object]) -> None:
    ledger = _ledger(account)
    assert _digits(ledger.perp_readings()) == _digits(old_perp_readings(ledger))
    assert ledger.free_margin_frac() == old_free_margin_frac(ledger)
    assert _digits(ledger._perp_sums()) == _digits(old_perp_sums(ledger))


@settings(max_examples=300, deadline=None)
@given(
    qty=_QTY,
    price=_PRICE,
    excess=st.builds(lambda c: D(c).scaleb(-4), st.integers(-(10**12), 10**12)),
    mmr=st.sampled_from([D(0), D("0.005"), D("0.0125"), D("0.5"), D("0.1234567")]),
)
def test_one_liquidation_price_is_the_former_formula_s(
    qty: D, price: float, excess: D, mmr: D
) -> None:
    exact = D(repr(price))
    expected = old_cross_liquidation_price(qty, exact, excess, mmr)
    assert _digits(cross_liquidation_price(qty, exact, excess, mmr)) == _digits(expected)
    assert _digits(cross_liquidation_prices([("k", qty, exact)], excess, mmr)) == _digits(
        [("k", qty, exact, expected)]
    )
