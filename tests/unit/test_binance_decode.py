"""The typed (msgspec) mark-frame decoder against the reference path, json.loads + parser.

The reference is ``parse_ws_mark_price(json.loads(raw))`` (itself tested against the
fixtures in test_binance_parse.py). For every frame, valid or not, the typed path must give
the same updates, every float bit for bit (the sign of a zero included), or raise the same
error with the same message; valid frames must take the typed path (a ``MarkFrame``, a
tuple, straight from ``decode_mark_frame``).
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Sequence
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from msgspec.structs import astuple

from venues.binance.decode import PERP_IDS, PerpIds, decode_mark_frame, mark_updates_of
from venues.binance.parse import parse_ws_mark_price
from venues.errors import ProtocolError
from venues.model import InstrumentId, InstrumentKind

FIXTURES = Path(__file__).parent.parent / "fixtures" / "binance-usdm"
INTERVALS = {"BTCUSDT": 14_400}
EVENT: dict[str, Any] = json.loads((FIXTURES / "ws_mark_price_btcusdt.json").read_text())


def _exact(updates: Sequence[tuple[Any, Any]]) -> list[object]:
    """The updates with every float as its hex text: equal only if equal bit for bit
    (``0.0 == -0.0``, but their hex texts differ)."""
    return [
        tuple(tuple(v.hex() if type(v) is float else v for v in astuple(value)) for value in update)
        for update in updates
    ]


def reference(raw: str | bytes) -> tuple[str, object]:
    """("ok", exact updates) or ("error", (type, message)) of the reference path."""
    try:
        return "ok", _exact(parse_ws_mark_price(json.loads(raw), INTERVALS))
    except (ProtocolError, ValueError) as e:
        return "error", (type(e), str(e))


def typed(raw: str | bytes) -> tuple[str, object]:
    """The same for the typed path, as the live stream runs it (decode, then updates)."""
    try:
        return "ok", _exact(mark_updates_of(decode_mark_frame(raw, INTERVALS), INTERVALS))
    except (ProtocolError, ValueError) as e:
        return "error", (type(e), str(e))


@pytest.mark.parametrize(
    "name", ["ws_mark_price_btcusdt", "ws_mark_price_all_market", "ws_mark_price_combined"]
)
def test_fixture_frames_take_the_typed_path_and_equal_the_reference(name: str) -> None:
    raw = (FIXTURES / f"{name}.json").read_bytes()
    decoded = decode_mark_frame(raw, INTERVALS)
    assert type(decoded) is tuple  # a MarkFrame: the typed path
    assert list(decoded) == parse_ws_mark_price(json.loads(raw), INTERVALS)
    ((mark, funding),) = decoded
    # Independent of both parsers: the fixture's numbers and the 4 h interval given.
    assert mark.instrument_id == InstrumentId("binance", InstrumentKind.PERP, "BTCUSDT")
    assert mark.ts_event_ms == 1562305380000
    assert funding.ts_funding_ms == 1562306400000
    assert funding.interval_s == 14_400
    assert funding.ts_next_funding_ms == 1562306400000 + 14_400_000


def test_many_events_and_default_interval() -> None:
    events = [{**EVENT, "s": f"S{k}USDT", "p": f"{k}.5", "E": EVENT["E"] + k} for k in range(1, 50)]
    raw = json.dumps({"stream": "!markPrice@arr@1s", "data": events})
    decoded = decode_mark_frame(raw)
    assert type(decoded) is tuple  # a MarkFrame: the typed path
    assert [m.mark_price for m, _ in decoded] == [k + 0.5 for k in range(1, 50)]
    assert {f.interval_s for _, f in decoded} == {8 * 3600}


def _variant(**changes: object) -> dict[str, Any]:
    event = dict(EVENT)
    for key, value in changes.items():
        if value is _ABSENT:
            del event[key]
        else:
            event[key] = value
    return event


_ABSENT = object()

MALFORMED_OR_UNUSUAL = {
    "wrong event type": _variant(e="kline"),
    "no mark": _variant(p=_ABSENT),
    "no time": _variant(E=_ABSENT),
    "null rate": _variant(r=None),
    "empty mark": _variant(p=""),
    "text mark": _variant(p="abc"),
    "nan mark": _variant(p="NaN"),
    "infinite index": _variant(i="Infinity"),
    "overflowing rate": _variant(r="1e400"),
    "bool mark": _variant(p=True),
    "integer mark (valid)": _variant(p=11794),
    "float time": _variant(E=1562305380000.0),
    "string time": _variant(E="1562305380000"),
    "bool time": _variant(T=True),
    "huge time (valid)": _variant(E=10**30),
    "empty symbol": _variant(s=""),
    "symbol with colon": _variant(s="BTC:USDT"),
    "delivery symbol, malformed (skipped)": _variant(s="BTCUSDT_240628", p="x"),
    "numeric symbol": _variant(s=5),
    "extra fields (valid)": {**EVENT, "x": [1, {"y": None}]},
    "underscored digits (valid)": _variant(p="11_794.5"),
    "spaces around a number (valid)": _variant(p=" 11794.5 "),
}


def _frames() -> dict[str, str]:
    frames: dict[str, str] = {}
    for name, event in MALFORMED_OR_UNUSUAL.items():
        frames[name] = json.dumps(event)
        frames[f"{name}, combined"] = json.dumps({"stream": "s", "data": event})
        frames[f"{name}, in an array"] = json.dumps([EVENT, event])
    frames.update(
        {
            "not JSON": '{"e": "markPriceUpdate",',
            "a number": "5",
            "an object without e": '{"a": 1}',
            "envelope without data": json.dumps({"stream": "s", **EVENT}),
            "envelope with null stream": json.dumps({"stream": None, "data": EVENT}),
            "envelope with null data": json.dumps({"stream": "s", "data": None}),
            "data is a string": json.dumps({"stream": "s", "data": "x"}),
            "duplicate key, last wins": '{"e":"x",' + json.dumps(EVENT)[1:],
            "null envelope around a valid event": json.dumps(
                {"stream": None, "data": None, **EVENT}
            ),
            "null field in a bare event": json.dumps(_variant(i=None)),
        }
    )
    return frames


@pytest.mark.parametrize(("name", "raw"), list(_frames().items()))
def test_every_frame_gives_the_reference_outcome(name: str, raw: str) -> None:
    expected = reference(raw)
    assert typed(raw) == expected
    assert typed(raw.encode()) == expected


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (_variant(p="abc"), "field 'p' is not a finite decimal number: 'abc'"),
        (_variant(e="kline"), "field 'e' is 'kline', not 'markPriceUpdate'"),
        (_variant(p=_ABSENT), r"markPriceUpdate\[BTCUSDT\]: field 'p' missing"),
        (_variant(T="1562306400000"), "field 'T' must be an integer"),
        (_variant(i="Infinity"), "field 'i' is not a finite decimal number"),
        (_variant(s="BTC:USDT"), "field 's' is not a symbol: 'BTC:USDT'"),
    ],
)
@pytest.mark.parametrize("envelope", [False, True])
def test_malformed_frames_raise_protocol_error_naming_the_field(
    event: dict[str, Any], message: str, envelope: bool
) -> None:
    frame = {"stream": "btcusdt@markPrice@1s", "data": event} if envelope else event
    with pytest.raises(ProtocolError, match=message):
        mark_updates_of(decode_mark_frame(json.dumps(frame).encode()))


def test_delivery_contracts_are_skipped_on_the_typed_path() -> None:
    delivery = {**EVENT, "s": "BTCUSDT_260626"}
    decoded = decode_mark_frame(json.dumps({"stream": "!markPrice@arr", "data": [delivery, EVENT]}))
    assert type(decoded) is tuple
    assert [m.instrument_id.symbol for m, _ in decoded] == ["BTCUSDT"]
    assert (
        decode_mark_frame(json.dumps({"stream": "btcusdt_260626@markPrice", "data": delivery}))
        == ()
    )


def test_each_symbol_id_is_built_once_and_shared() -> None:
    first = decode_mark_frame(json.dumps({"stream": "s", "data": _variant(s="IDONCEUSDT")}))
    again = decode_mark_frame(json.dumps({"stream": "s", "data": _variant(s="IDONCEUSDT")}))
    assert type(first) is tuple
    assert type(again) is tuple
    ((mark, funding),), ((mark_again, funding_again),) = first, again
    assert mark.instrument_id == "binance:perp:IDONCEUSDT"
    assert mark.instrument_id is funding.instrument_id is mark_again.instrument_id
    assert funding_again.instrument_id is PERP_IDS.by_symbol["IDONCEUSDT"]


def test_perp_ids_are_bounded_and_refuse_impossible_symbols() -> None:
    ids = PerpIds(max_symbols=2)
    assert ids.id_of("AUSDT") == InstrumentId("binance", InstrumentKind.PERP, "AUSDT")
    assert ids.id_of("AUSDT") is ids.id_of("AUSDT")  # built once
    assert ids.id_of("AUSDT_260626") is None  # delivery contract
    assert len(ids.by_symbol) == 2
    assert ids.id_of("BUSDT") == "binance:perp:BUSDT"
    assert list(ids.by_symbol) == ["BUSDT"]  # full: started over
    for bad in ("", "A:B"):
        with pytest.raises(ValueError, match="bad instrument id parts"):
            ids.id_of(bad)
    assert list(ids.by_symbol) == ["BUSDT"]


@pytest.mark.parametrize(
    ("intervals", "interval_s"),
    [(None, 8 * 3600), ({}, 8 * 3600), ({"ETHUSDT": 3600}, 8 * 3600), ({"BTCUSDT": 3600}, 3600)],
)
def test_single_event_interval_is_the_given_one_else_8_hours(
    intervals: dict[str, int] | None, interval_s: int
) -> None:
    # Independent of the reference parser: the fixture's T plus the interval, in ms.
    raw = json.dumps({"stream": "btcusdt@markPrice@1s", "data": EVENT})
    decoded = decode_mark_frame(raw, intervals)
    assert type(decoded) is tuple  # the typed path
    ((_, funding),) = mark_updates_of(decoded, intervals)
    assert funding.interval_s == interval_s
    assert funding.ts_funding_ms == 1562306400000
    assert funding.ts_next_funding_ms == 1562306400000 + interval_s * 1000


def test_a_subscription_answer_is_left_as_json() -> None:
    assert decode_mark_frame(b'{"result":null,"id":1}') == {"result": None, "id": 1}


_NUMBER_TEXT = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.decimals(allow_nan=False, allow_infinity=False).map(str),
    st.from_regex(r"\A[ +\-]?[0-9_]{0,6}(\.[0-9_]{0,6})?([eE][+\-]?[0-9]{1,4})?\Z"),
    st.text(max_size=8),
)


@settings(max_examples=400, deadline=None)
@given(p=_NUMBER_TEXT, i=_NUMBER_TEXT, r=_NUMBER_TEXT, t=st.integers(-(2**70), 2**70))
def test_any_number_text_gives_the_reference_outcome(p: str, i: str, r: str, t: int) -> None:
    raw = json.dumps({"stream": "s", "data": _variant(p=p, i=i, r=r, T=t)})
    assert typed(raw) == reference(raw)


# --- the three numbers of a single-event frame, read as one JSON array -------------------

# Strings float() (and Decimal) read but JSON's number grammar refuses, or that JSON reads
# with another sign of zero, or that would break the array apart: each must give the
# reference outcome, and the frame must still take the typed path where it is valid.
NUMBER_STRINGS = [
    "+1.5", "1_000.5", ".5", "5.", "007", "1e5", "1E+05", " 1.5", "1.5\t", "\n2", "\u00a03",
    "1\u000b", "\u0661\u0662", "-0", "-0.0", "-0e7", "0", "0.00000000", "-1e-400", "1e-400",
    "5e-324", "1e400", "-1e400", "inf", "NaN", "1,2", "1,", ",1", "1]", "[1", "1 2", "", "0x10",
    "\ud800", "1" + "0" * 400, "0." + "0" * 400 + "1",
]  # fmt: skip


@pytest.mark.parametrize("where", ["p", "i", "r"])
@pytest.mark.parametrize("text", NUMBER_STRINGS)
def test_number_strings_json_refuses_or_signs_differently_give_the_reference(
    where: str, text: str
) -> None:
    raw = json.dumps({"stream": "s", "data": _variant(**{where: text})})
    expected = reference(raw)
    assert typed(raw) == expected  # bit for bit: "-0" must stay -0.0
    if expected[0] == "ok":  # valid: decoded by the typed path, not by json.loads
        assert type(decode_mark_frame(raw, INTERVALS)) is tuple


def test_negative_zeros_keep_their_sign() -> None:
    # Independent of the reference parser: IEEE's -0.0 for each spelling of minus zero.
    raw = json.dumps({"stream": "s", "data": _variant(p="-0", i="-0.0", r="-0e3")})
    ((mark, funding),) = mark_updates_of(decode_mark_frame(raw))
    assert math.copysign(1.0, mark.mark_price) == -1.0
    assert mark.index_price is not None
    assert math.copysign(1.0, mark.index_price) == -1.0
    assert math.copysign(1.0, funding.rate) == -1.0


def _double(bits: int) -> float:
    (value,) = struct.unpack("<d", struct.pack("<Q", bits))
    return float(value)


@st.composite
def _hard_decimal_text(draw: st.DrawFn) -> str:
    """Decimal text where rounding to a double is hardest: the exact midpoint of two
    adjacent doubles (a tie, rounded to even), a hair above or below it, or it cut to 17-40
    significant digits; over normal and subnormal doubles and the top of the range (the
    midpoint above the largest double overflows)."""
    x = _double(draw(st.integers(0, 0x7FEFFFFFFFFFFFFF)))
    above = (
        Decimal(2) ** 1024
        if x == _double(0x7FEFFFFFFFFFFFFF)
        else Decimal(math.nextafter(x, math.inf))
    )
    with localcontext() as ctx:
        ctx.prec = 2000  # exact: a midpoint has at most 1,075 significant digits
        mid = (Decimal(x) + above) / 2
        hair = Decimal(1).scaleb(mid.adjusted() - draw(st.integers(20, 60)))
        kind = draw(st.sampled_from(["tie", "above", "below", "cut"]))
        if kind == "above":
            mid += hair
        elif kind == "below":
            mid -= hair
        elif kind == "cut":
            ctx.prec = draw(st.integers(17, 40))
            mid = +mid
    sign = draw(st.sampled_from(["", "-"]))
    return sign + str(mid).replace("E", draw(st.sampled_from(["E", "e"])))


_JSON_NUMBER_TEXT = st.one_of(
    _hard_decimal_text(),
    st.from_regex(r"\A-?[1-9][0-9]{16,39}(\.[0-9]{1,40})?([eE][+\-]?[0-9]{1,3})?\Z"),
    st.from_regex(r"\A-?0\.[0-9]{1,40}([eE]-3[0-3][0-9])?\Z"),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
)


@settings(max_examples=500, deadline=None)
@given(p=_JSON_NUMBER_TEXT, i=_JSON_NUMBER_TEXT, r=_JSON_NUMBER_TEXT)
def test_json_numbers_round_as_float_does(p: str, i: str, r: str) -> None:
    # The one msgspec decoding of "[p,i,r]" must round each string exactly as float() and
    # float(Decimal(text)) do, on the strings where rounding is hardest.
    raw = json.dumps({"stream": "s", "data": _variant(p=p, i=i, r=r)})
    expected = reference(raw)
    assert typed(raw) == expected
    if all(math.isfinite(float(text)) for text in (p, i, r)):
        decoded = decode_mark_frame(raw)
        assert type(decoded) is tuple
        ((mark, funding),) = decoded
        assert (mark.mark_price.hex(), funding.rate.hex()) == (float(p).hex(), float(r).hex())
        assert mark.index_price is not None
        assert mark.index_price.hex() == float(i).hex()
    else:  # overflow: the reference's error ("overflows a float")
        assert expected[0] == "error"
