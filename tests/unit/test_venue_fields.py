"""venues.fields.FieldReader: each tolerance's accepted and refused inputs, the error message
(venue, payload place, field), and the six venue bindings' tolerances. Expected values are
written out literally, not computed with the code under test."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import pytest

from venues.errors import ProtocolError
from venues.fields import FieldReader

VENUE = "acme"
WHERE = "data[3]"
ABSENT = object()  # marks "key not in the row" in the tables below

STR_ONLY = FieldReader(VENUE)
STR_INT = FieldReader(VENUE, decimal_types=(str, int))
ANY_NUMBER = FieldReader(VENUE, decimal_types=(str, int, float))

Reader = Callable[[Mapping[str, Any], str, str], object]


def _row(value: object) -> dict[str, object]:
    return {} if value is ABSENT else {"px": value}


def _refused(read: Reader, value: object) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        read(_row(value), "px", WHERE)
    return info.value


# --- errors ---------------------------------------------------------------------------------


def test_error_names_venue_and_place() -> None:
    error = STR_ONLY.error(WHERE, "something wrong")
    assert isinstance(error, ProtocolError)
    assert error.venue == VENUE
    assert str(error) == "acme payload data[3]: something wrong"
    assert str(STR_ONLY.error("", "no place")) == "acme payload: no place"


def test_fail_raises_the_error() -> None:
    with pytest.raises(ProtocolError, match=r"^acme payload data\[3\]: boom$") as info:
        STR_ONLY.fail(WHERE, "boom")
    assert info.value.venue == VENUE


@pytest.mark.parametrize(
    ("read", "value"),
    [
        (STR_ONLY.get, ABSENT),
        (STR_ONLY.get, None),
        (STR_ONLY.string, 5),
        (STR_ONLY.text, ""),
        (STR_ONLY.integer, "5"),
        (STR_ONLY.digits, "-5"),
        (STR_ONLY.decimal, "abc"),
        (STR_ONLY.decimal_or_none, None),
        (STR_ONLY.positive_decimal, "0"),
        (STR_ONLY.number, "1e400"),
        (STR_ONLY.positive_number, "-1"),
        (STR_ONLY.field_array, {}),
    ],
)
def test_every_refusal_names_venue_place_and_field(read: Reader, value: object) -> None:
    error = _refused(read, value)
    assert error.venue == VENUE
    assert str(error).startswith("acme payload data[3]: ")
    assert "'px'" in str(error)


# --- containers -----------------------------------------------------------------------------


def test_obj_and_array_return_their_input() -> None:
    row = {"a": 1}
    rows = [1, 2]
    assert STR_ONLY.obj(row, WHERE) is row
    assert STR_ONLY.array(rows, WHERE) is rows


@pytest.mark.parametrize("raw", [[], "a", None, 1, (("a", 1),)])
def test_obj_refuses_non_mappings(raw: object) -> None:
    with pytest.raises(ProtocolError, match=r"^acme payload data\[3\]: expected an object"):
        STR_ONLY.obj(raw, WHERE)


@pytest.mark.parametrize("raw", [(1, 2), "12", {}, None])
def test_array_refuses_non_lists(raw: object) -> None:
    with pytest.raises(ProtocolError, match=r"^acme payload data\[3\]: expected an array"):
        STR_ONLY.array(raw, WHERE)


def test_field_array() -> None:
    assert STR_ONLY.field_array({"px": [1]}, "px", WHERE) == [1]
    assert STR_ONLY.field_array({"px": []}, "px", WHERE) == []
    for value in (ABSENT, None, (1,), "[]", {}):
        _refused(STR_ONLY.field_array, value)


# --- get: null_is_missing ---------------------------------------------------------------------


@pytest.mark.parametrize("value", ["", 0, False, [], "x"])
def test_get_returns_any_present_value(value: object) -> None:
    assert STR_ONLY.get({"px": value}, "px", WHERE) == value


def test_get_refuses_absent_and_by_default_null() -> None:
    assert "missing" in str(_refused(STR_ONLY.get, ABSENT))
    assert "missing" in str(_refused(STR_ONLY.get, None))


def test_get_hands_back_null_when_null_is_not_missing() -> None:
    reader = FieldReader(VENUE, null_is_missing=False)
    assert reader.get({"px": None}, "px", WHERE) is None
    _refused(reader.get, ABSENT)
    # the typed readers still refuse the null
    for read in (reader.string, reader.text, reader.integer, reader.decimal, reader.number):
        _refused(read, None)


# --- strings ----------------------------------------------------------------------------------


def test_string_accepts_empty_text_does_not() -> None:
    assert STR_ONLY.string({"px": ""}, "px", WHERE) == ""
    assert STR_ONLY.string({"px": "BTC"}, "px", WHERE) == "BTC"
    assert STR_ONLY.text({"px": "BTC"}, "px", WHERE) == "BTC"
    _refused(STR_ONLY.text, "")


@pytest.mark.parametrize("value", [ABSENT, None, 5, True, 1.5, b"BTC", ["BTC"]])
def test_strings_refuse_non_strings(value: object) -> None:
    _refused(STR_ONLY.string, value)
    _refused(STR_ONLY.text, value)


# --- integers: integer_text, digits -------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"), [(0, 0), (-3, -3), (1_700_000_000_000, 1_700_000_000_000)]
)
def test_integer_accepts_json_integers(value: int, expected: int) -> None:
    assert STR_ONLY.integer({"px": value}, "px", WHERE) == expected
    assert FieldReader(VENUE, integer_text=True).integer({"px": value}, "px", WHERE) == expected


@pytest.mark.parametrize("value", [ABSENT, None, True, False, 5.0, "5", "", [5]])
def test_integer_refuses_everything_else_by_default(value: object) -> None:
    _refused(STR_ONLY.integer, value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1700000000000", 1_700_000_000_000), ("-3", -3), ("0", 0), ("-0", 0), ("007", 7)],
)
def test_integer_text_accepts_signed_ascii_digits(value: str, expected: int) -> None:
    reader = FieldReader(VENUE, integer_text=True)
    result = reader.integer({"px": value}, "px", WHERE)
    assert type(result) is int
    assert result == expected


@pytest.mark.parametrize(
    "value", ["", "-", "--5", "+5", " 5", "5 ", "1.0", "1e3", "0x10", "1_000", "١٢", "²", True]
)
def test_integer_text_refuses_other_strings(value: object) -> None:
    _refused(FieldReader(VENUE, integer_text=True).integer, value)


@pytest.mark.parametrize(
    ("value", "expected"), [("1700000000000", 1_700_000_000_000), ("0012", 12)]
)
def test_digits_accepts_unsigned_ascii_digit_strings(value: str, expected: int) -> None:
    assert STR_ONLY.digits({"px": value}, "px", WHERE) == expected


@pytest.mark.parametrize("value", [ABSENT, None, "", "-1", "+1", "1.0", " 1", "١٢", "²", 12, True])
def test_digits_refuses_signs_non_ascii_digits_and_json_integers(value: object) -> None:
    _refused(STR_ONLY.digits, value)


# --- decimals: decimal_types --------------------------------------------------------------

# (raw JSON value, expected with (str,), with (str, int), with (str, int, float)); None = refused
DECIMAL_CASES: list[tuple[object, Decimal | None, Decimal | None, Decimal | None]] = [
    ("1.5", Decimal("1.5"), Decimal("1.5"), Decimal("1.5")),
    ("-0.00012", Decimal("-0.00012"), Decimal("-0.00012"), Decimal("-0.00012")),
    ("65000", Decimal(65000), Decimal(65000), Decimal(65000)),
    ("1e-8", Decimal("0.00000001"), Decimal("0.00000001"), Decimal("0.00000001")),
    (7, None, Decimal(7), Decimal(7)),
    (-2, None, Decimal(-2), Decimal(-2)),
    (0.1, None, None, Decimal("0.1")),  # the float's repr, not its binary expansion
    (2.5, None, None, Decimal("2.5")),
    (True, None, None, None),
    (False, None, None, None),
    ("NaN", None, None, None),
    ("sNaN", None, None, None),
    ("Infinity", None, None, None),
    ("-Infinity", None, None, None),
    ("inf", None, None, None),
    (float("nan"), None, None, None),
    (float("inf"), None, None, None),
    (float("-inf"), None, None, None),
    ("", None, None, None),
    ("abc", None, None, None),
    ("1,5", None, None, None),
    (None, None, None, None),
    (ABSENT, None, None, None),
    ([1], None, None, None),
    ({"v": "1"}, None, None, None),
]


@pytest.mark.parametrize(
    ("reader", "column"),
    [(STR_ONLY, 1), (STR_INT, 2), (ANY_NUMBER, 3)],
    ids=["str", "str+int", "any"],
)
@pytest.mark.parametrize("case", DECIMAL_CASES, ids=lambda case: repr(case[0]))
def test_decimal_per_decimal_types(
    reader: FieldReader,
    column: int,
    case: tuple[object, Decimal | None, Decimal | None, Decimal | None],
) -> None:
    value, expected = case[0], case[column]
    if expected is None:
        error = _refused(reader.decimal, value)
        assert "'px'" in str(error)
    else:
        result = reader.decimal(_row(value), "px", WHERE)
        assert isinstance(result, Decimal)
        assert result == expected
        assert reader.to_decimal(value, "px", WHERE) == expected


def test_float_decimal_is_not_its_binary_expansion() -> None:
    assert ANY_NUMBER.decimal({"px": 0.1}, "px", WHERE) != Decimal.from_float(0.1)


def test_to_decimal_names_the_field() -> None:
    with pytest.raises(ProtocolError, match=r"^acme payload: field 'ctMult' .*'x'"):
        STR_ONLY.to_decimal("x", "ctMult", "")


@pytest.mark.parametrize("decimal_types", [(), (bytes,), (bool,), (str, Decimal)])
def test_decimal_types_must_be_json_number_types(decimal_types: tuple[Any, ...]) -> None:
    with pytest.raises(ValueError, match="decimal_types"):
        FieldReader(VENUE, decimal_types=decimal_types)


# --- decimal_or_none: absent_is_blank -------------------------------------------------------


def test_decimal_or_none_blank_only_by_default() -> None:
    assert STR_ONLY.decimal_or_none({"px": ""}, "px", WHERE) is None
    assert STR_ONLY.decimal_or_none({"px": "0.01"}, "px", WHERE) == Decimal("0.01")
    for value in (ABSENT, None, "abc", "NaN", 5, True):
        _refused(STR_ONLY.decimal_or_none, value)


def test_decimal_or_none_absent_is_blank() -> None:
    reader = FieldReader(VENUE, decimal_types=(str, int), absent_is_blank=True)
    assert reader.decimal_or_none({}, "px", WHERE) is None
    assert reader.decimal_or_none({"px": None}, "px", WHERE) is None
    assert reader.decimal_or_none({"px": ""}, "px", WHERE) is None
    assert reader.decimal_or_none({"px": "0"}, "px", WHERE) == Decimal(0)
    assert reader.decimal_or_none({"px": 3}, "px", WHERE) == Decimal(3)
    for value in ("abc", "Infinity", True, 1.5, " "):
        _refused(reader.decimal_or_none, value)


# --- positives and floats -----------------------------------------------------------------


def test_positive_decimal() -> None:
    assert STR_ONLY.positive_decimal({"px": "0.0001"}, "px", WHERE) == Decimal("0.0001")
    for value in ("0", "-0", "-1.5", "abc"):
        _refused(STR_ONLY.positive_decimal, value)


def test_number() -> None:
    result = STR_ONLY.number({"px": "1.5"}, "px", WHERE)
    assert type(result) is float
    assert result == 1.5
    assert STR_ONLY.number({"px": "-0.25"}, "px", WHERE) == -0.25
    assert "overflows" in str(_refused(STR_ONLY.number, "1e400"))
    assert "overflows" in str(_refused(STR_ONLY.number, "-1e400"))
    for value in ("NaN", "Infinity", 1, True, ABSENT):
        _refused(STR_ONLY.number, value)


def test_positive_number() -> None:
    assert STR_ONLY.positive_number({"px": "65000.5"}, "px", WHERE) == 65000.5
    for value in ("0", "-1", "1e-400", "1e400"):  # 1e-400 underflows to 0.0
        _refused(STR_ONLY.positive_number, value)


# --- the venue bindings -------------------------------------------------------------------


def test_venue_bindings_keep_their_tolerances() -> None:
    from venues.binance import fields as binance
    from venues.bybit import fields as bybit
    from venues.dydx import fields as dydx
    from venues.hyperliquid import fields as hyperliquid
    from venues.okx import fields as okx
    from venues.purpleflea import fields as purpleflea

    # decimals: str+int (binance, bybit, hyperliquid), str only (dydx, okx), any (purpleflea)
    assert binance.dec_field({"p": 7}, "p", "w") == Decimal(7)
    assert bybit.dec_field({"p": 7}, "p", "w") == Decimal(7)
    assert hyperliquid.dec_field({"p": 7}, "p", "w") == Decimal(7)
    assert purpleflea.dec_field({"p": 0.5}, "p", "w") == Decimal("0.5")
    with pytest.raises(ProtocolError, match=r"^dydx payload w: field 'p'"):
        dydx.dec_field({"p": 7}, "p", "w")
    with pytest.raises(ProtocolError, match=r"^okx payload: field 'p'"):
        okx.dec_field({"p": 7}, "p")
    with pytest.raises(ProtocolError, match=r"^binance payload w: field 'p'"):
        binance.dec_field({"p": 0.5}, "p", "w")
    # integers as digit strings: bybit only (signed); okx/dydx through their digit readers
    assert bybit.int_field({"t": "-3"}, "t", "w") == -3
    with pytest.raises(ProtocolError, match=r"^binance payload w: field 't'"):
        binance.int_field({"t": "3"}, "t", "w")
    assert okx.digits_field({"ts": "1700000000000"}, "ts") == 1_700_000_000_000
    assert dydx.digits_field({"h": "66622979"}, "h", "w") == 66_622_979
    # missing vs null vs ""
    assert hyperliquid.raw_field({"c": None}, "c", "w") is None
    with pytest.raises(ProtocolError, match=r"^dydx payload w: field 'c' missing"):
        dydx.raw_field({"c": None}, "c", "w")
    assert hyperliquid.str_field({"c": ""}, "c", "w") == ""
    assert okx.str_field({"c": ""}, "c") == ""
    with pytest.raises(ProtocolError, match=r"^purpleflea payload w: field 'c'"):
        purpleflea.text_field({"c": ""}, "c", "w")
    assert okx.opt_dec_field({"m": ""}, "m") is None
    with pytest.raises(ProtocolError, match=r"^okx payload: field 'm' missing"):
        okx.opt_dec_field({}, "m")
    assert bybit.dec_or_zero_field({}, "m", "w") == Decimal(0)
    assert bybit.dec_or_zero_field({"m": ""}, "m", "w") == Decimal(0)
    with pytest.raises(ProtocolError, match=r"^hyperliquid payload coin: "):
        raise hyperliquid.payload_error("coin", "bad")
