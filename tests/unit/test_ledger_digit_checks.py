"""The ledger's digit bounds checked without building the refusal's message on the way in
(:func:`agent.portfolio.exact.within_digit_bounds`, :func:`~agent.portfolio.exact.digits_error`)
refuse and accept exactly what the former ``check_digits`` did, with the same messages, in
:func:`~agent.portfolio.exact.check_digits` and at the two booking paths that call them
(``Portfolio.apply_fill``, ``Portfolio.apply_funding``).
"""

from __future__ import annotations

import re
from decimal import Decimal as D

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from agent.portfolio.exact import check_digits, digits_error, within_digit_bounds
from agent.portfolio.ledger import Portfolio
from venues.model import Fill, FundingPayment, InstrumentId, InstrumentKind, Liquidity, Side

PERP = InstrumentId("binance", InstrumentKind.PERP, "BTCUSDT")


def _former_check_digits(what: str, value: D) -> None:
    """``check_digits`` as it was before the predicate and the error were split out."""
    if not isinstance(value, D) or not value.is_finite():
        raise ValueError(f"{what} must be a finite Decimal, got {value!r}")
    exponent = value.as_tuple().exponent
    too_fine = isinstance(exponent, int) and exponent < -40
    if too_fine or value.adjusted() > 29:
        raise ValueError(f"{what} {value} has more than 40 decimal places or is >= 1e30")


def _whole(message: str) -> str:
    return f"^{re.escape(message)}$"


def _former_refusal(value: D) -> str | None:
    try:
        _former_check_digits("x", value)
    except ValueError as err:
        return str(err)
    return None


# Around both bounds: coefficients of 1 to 60 digits, exponents -60 to 40 (trailing zeros
# included: 1.000…0 with 41 places is refused though it is a multiple of 1e-40).
decimals = st.one_of(
    st.builds(
        lambda sign, digits, exponent: D((sign, tuple(digits), exponent)),
        st.integers(0, 1),
        st.lists(st.integers(0, 9), min_size=1, max_size=60),
        st.integers(-60, 40),
    ),
    st.sampled_from([D("NaN"), D("-Infinity"), D("sNaN"), D("1e-40"), D("1.0e-40"), D("1e30")]),
    st.sampled_from([D("9.99e29"), D("-0E-41"), D("0E-40"), D("1" + "0" * 29)]),
)


@given(decimals)
@example(D("1E-41"))  # one place too many
@example(D("1.0E-40"))  # a multiple of 1e-40 with 41 places
@example(D("-0E-41"))
@example(D("1E-40"))
@example(D("9.999E+29"))
@example(D("1E+30"))
def test_the_bounds_and_messages_are_the_former_checks(value: D) -> None:
    refusal = _former_refusal(value)
    assert within_digit_bounds(value) is (refusal is None)
    if refusal is None:
        check_digits("x", value)
    else:
        assert str(digits_error("x", value)) == refusal
        with pytest.raises(ValueError, match=_whole(refusal)):
            check_digits("x", value)


@pytest.mark.parametrize("value", [1.5, "1.5", None, 2])
def test_a_number_that_is_not_a_decimal_is_refused_as_before(value: object) -> None:
    assert not within_digit_bounds(value)  # type: ignore[arg-type]
    assert str(digits_error("x", value)) == f"x must be a finite Decimal, got {value!r}"


def _fill(qty: D, price: D, fee: D, reference: D | None) -> Fill:
    return Fill(PERP, "c1", "v1", "t1", Side.BUY, qty, price, fee, Liquidity.TAKER, 0, reference)


@given(decimals, st.sampled_from(["qty", "price", "fee_usd", "reference_price"]))
def test_a_fill_is_refused_as_before(value: D, field: str) -> None:
    numbers = {"qty": D(1), "price": D(100), "fee_usd": D("0.1"), "reference_price": D(100)}
    numbers[field] = value
    fill = _fill(numbers["qty"], numbers["price"], numbers["fee_usd"], numbers["reference_price"])
    refusal = _former_refusal(value)
    portfolio = Portfolio({"binance": D(1000)})
    if refusal is not None:
        expected = refusal.replace("x", f"fill t1 {field}", 1)
        with pytest.raises(ValueError, match=_whole(expected)):
            portfolio.apply_fill("s", fill, InstrumentKind.PERP)
        assert portfolio.fill_counts == {}
    elif value > 0 or field == "fee_usd":
        portfolio.apply_fill("s", fill, InstrumentKind.PERP)
        assert portfolio.fill_counts == {"s": 1}


@given(decimals)
def test_a_funding_mark_is_refused_as_before(mark: D) -> None:
    portfolio = Portfolio({"binance": D(1000)})
    portfolio.apply_fill("s", _fill(D(1), D(100), D(0), None), InstrumentKind.PERP)
    payment = FundingPayment(PERP, 0, 0.0001, 28_800, D(1), mark, D("-0.01"))
    refusal = _former_refusal(mark)
    if refusal is None:
        assert set(portfolio.apply_funding(payment)) <= {"s", "unattributed"}
    else:
        expected = refusal.replace("x", f"funding mark price of {PERP}", 1)
        with pytest.raises(ValueError, match=_whole(expected)):
            portfolio.apply_funding(payment)
        assert portfolio.funding_paid_usd == 0
