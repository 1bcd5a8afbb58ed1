"""The funding harvester's journal text from cached fragments (strategies.state_text) against the
journal's own encoding of the equivalent dict (issue 14)."""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.journal.journal import Journal
from strategies.cross_venue_arb.state import Settlement
from strategies.funding_harvester.state import (
    FundingHarvesterState,
    HarvestPosition,
    RateHistory,
)
from strategies.state_text import (
    ObjectLayout,
    WindowTexts,
    array_text,
    encode,
    object_text,
    value_texts,
)


def journal_text(value: object) -> str:
    """What ``agent.journal``'s ``_json(strict=False)`` writes for ``value``."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=True)


_FLOAT = st.one_of(st.floats(-1e-3, 1e-3), st.floats(allow_nan=True, allow_infinity=True))


@given(st.dictionaries(st.text(max_size=6), st.one_of(st.integers(), _FLOAT, st.text())))
def test_object_and_array_texts_are_the_journals(members: dict[str, object]) -> None:
    """Joined fragments are byte for byte the encoding of the dict and of the list."""
    texts = {k: encode(v) for k, v in members.items()}
    assert object_text(texts) == journal_text(members)
    assert array_text([encode(v) for v in members.values()]) == journal_text(list(members.values()))


@given(
    st.lists(_FLOAT, max_size=12),
    st.lists(st.tuples(st.integers(0, 6), st.lists(_FLOAT, max_size=5)), max_size=12),
)
def test_sliding_windows_give_the_journals_text(
    start: list[float], moves: list[tuple[int, list[float]]]
) -> None:
    """A window that drops rows from the front and appends new ones (the same row objects
    kept, as a rate book writes them), or is replaced outright, encodes as ``json.dumps`` of
    the list at every step, for any floats (NaN, ±inf, −0.0)."""
    texts = WindowTexts()
    window = tuple(start)
    assert texts.array_text("k", window) == journal_text(list(window))
    for drop, appended in moves:
        if drop == 6:  # replaced: equal values, new objects
            window = tuple(float(repr(x)) if math.isfinite(x) else x * 1.0 for x in window)
        else:
            window = (*window[drop:], *appended)
        assert texts.array_text("k", window) == journal_text(list(window))
        assert texts.array_text("k", window) == journal_text(list(window))  # memo hit


def test_a_row_is_reused_only_when_it_is_the_very_object() -> None:
    """Rows are matched by identity, not equality: ``-0.0 == 0.0`` but encodes differently,
    so a window of equal but other rows is encoded again (fails if the memo compared
    values, or if a replaced window's texts were not renewed)."""
    texts = WindowTexts()
    assert texts.array_text("k", (0.0, 1.5)) == "[0.0,1.5]"
    assert texts.array_text("k", (-0.0, 1.5)) == "[-0.0,1.5]"
    rows = (Settlement(1, 0.0, 8.0), Settlement(2, 1e-5, 8.0))
    assert texts.array_text("s", rows) == "[[1,0.0,8.0],[2,1e-05,8.0]]"
    slid = (rows[1], Settlement(3, -0.0, 1.0))
    assert texts.array_text("s", slid) == "[[2,1e-05,8.0],[3,-0.0,1.0]]"
    other = (Settlement(2, -0.0, 8.0), Settlement(3, -0.0, 1.0))  # equal to slid, not same
    assert other == (Settlement(2, -0.0, 8.0), slid[1])
    assert texts.array_text("s", other) == "[[2,-0.0,8.0],[3,-0.0,1.0]]"
    assert texts.array_text("t", slid) == "[[2,1e-05,8.0],[3,-0.0,1.0]]"  # keys apart


_ROW = st.one_of(
    _FLOAT,
    st.integers(),
    st.booleans(),  # an int to isinstance, "true" to JSON: not taken for a number
    st.none(),
    st.text(alphabet=',[]"1.', max_size=4),  # commas inside a row's text
    st.tuples(st.integers(), _FLOAT),
)


@given(
    st.lists(_ROW, max_size=8),
    st.lists(st.tuples(st.integers(0, 5), st.lists(_ROW, max_size=5)), max_size=10),
)
def test_appended_rows_of_any_kind_give_the_journals_text(
    start: list[object], moves: list[tuple[int, list[object]]]
) -> None:
    """Appended rows are encoded together when all are numbers (one encoder call, split at
    the commas no number's text holds) and one by one otherwise: for any mix of numbers,
    booleans, null, strings holding commas and arrays, the window is ``json.dumps`` of the
    list (fails if a text with a comma, or ``true``, were split as numbers are)."""
    texts = WindowTexts()
    window = tuple(start)
    assert texts.array_text("k", window) == journal_text(list(window))
    for drop, appended in moves:
        window = (*window[drop:], *appended)
        assert texts.array_text("k", window) == journal_text(list(window))
    numbers = (1, 2.5, -0.0, math.nan, -math.inf, 10**20, 1e-7)
    assert (
        texts.array_text("n", numbers) == "[1,2.5,-0.0,NaN,-Infinity,100000000000000000000,1e-07]"
    )
    assert texts.array_text("b", (True, 1, False)) == "[true,1,false]"
    assert texts.array_text("s", ("a,b", 1.0)) == '["a,b",1.0]'


def _fh_layout(state: FundingHarvesterState) -> dict[str, object]:
    """The harvester's state as the dict written before it gave its text."""
    data: dict[str, object] = {
        "rates": {s: r.to_json() for s, r in state.rates.items()},
        "positions": {s: p.to_json() for s, p in state.positions.items()},
    }
    if any(p.high_funding for p in state.positions.values()):
        data["version"] = 2
    return data


_HISTORY = st.builds(RateHistory, st.integers(), st.lists(_FLOAT, max_size=8).map(tuple))
_HARVEST = st.builds(
    HarvestPosition, st.integers(), _FLOAT, _FLOAT, _FLOAT, st.integers(0, 5),
    st.none() | _FLOAT, st.none() | _FLOAT,
)  # fmt: skip
_SYMBOLS = st.sampled_from(["BTCUSDT", "ETHUSDT", 'É"X\\'])  # escaped in JSON


@given(
    st.lists(
        st.tuples(
            st.dictionaries(_SYMBOLS, _HISTORY),
            st.dictionaries(st.sampled_from(["BTCUSDT", "SOLUSDT"]), _HARVEST),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_harvester_state_text_is_the_journals_encoding(
    states: list[tuple[dict[str, RateHistory], dict[str, HarvestPosition]]],
) -> None:
    """Any sequence of harvester states sharing one :class:`WindowTexts` (versions 1 and 2;
    each history slid from the one before — its oldest rates dropped, new ones appended — or
    new) gives the journal's text of the layout dict, cached or not."""
    texts = WindowTexts()
    previous: dict[str, RateHistory] = {}
    for rates, positions in states:
        slid = {
            s: RateHistory(r.last_funding_ms, (*old.rates_per_hour[2:], *r.rates_per_hour))
            for s, r in rates.items()
            if (old := previous.get(s)) is not None
        }
        rates = {**rates, **slid}
        state = FundingHarvesterState(rates=rates, positions=positions, texts=texts)
        text = state.to_json()
        assert text == journal_text(_fh_layout(state))
        assert text == FundingHarvesterState(rates=rates, positions=positions).to_json()
        previous = rates


def test_the_text_cache_is_not_part_of_the_state() -> None:
    """A state equals itself with and without a cache (the runner compares states to journal
    them)."""
    rates = {"BTCUSDT": RateHistory(1, (1e-5,))}
    with_cache = FundingHarvesterState(rates=rates, texts=WindowTexts())
    assert with_cache == FundingHarvesterState(rates=rates)


def test_the_journal_stores_the_text_as_it_stores_the_dict(tmp_path: Path) -> None:
    """The real journal keeps the text a state gives byte for byte what it writes for the
    layout dict: the encoder settings here are the journal's (``_json(strict=False)``)."""
    rates = {
        "BTCUSDT": RateHistory(8, (1e-5, -0.0, math.inf, 3e-4)),
        'ÉTH"USDT': RateHistory(9, (math.nan, 2.5e-7)),
    }
    state = FundingHarvesterState(rates=rates, texts=WindowTexts())
    path = tmp_path / "j.sqlite"
    journal = Journal.open(path)
    journal.record_strategy_state(1, "as_dict", _fh_layout(state))
    journal.record_strategy_state(1, "as_text", state.to_json())
    journal.close()
    with sqlite3.connect(path) as conn:
        stored = dict(conn.execute("SELECT strategy, state_json FROM strategy_state").fetchall())
    assert stored["as_text"] == stored["as_dict"]


@given(
    st.dictionaries(st.sampled_from("abcd"), st.lists(_ROW, max_size=6), min_size=1),
    st.lists(
        st.dictionaries(
            st.sampled_from("abcde"), st.tuples(st.integers(0, 7), st.lists(_ROW, max_size=4))
        ),
        max_size=6,
    ),
)
def test_windows_given_together_give_each_its_journal_text(
    start: dict[str, list[object]], moves: list[dict[str, tuple[int, list[object]]]]
) -> None:
    """Many windows given together, each slid by its own number of dropped and appended rows
    (none: the very window again; 7: replaced by equal rows that are other objects; a key
    new or absent), their new rows encoded in one call and handed back to each window: every
    window's text is ``json.dumps`` of its list, as when given alone (fails if a window took
    another's new rows, or the rows of a replaced window were reused)."""
    together, alone = WindowTexts(), WindowTexts()
    windows = {k: tuple(v) for k, v in start.items()}
    for move in [{}, *moves]:
        for key, (drop, appended) in move.items():
            old = windows.get(key, ())
            if drop == 7:
                windows[key] = tuple(json.loads(journal_text(list(old))))
            elif drop or appended:
                windows[key] = (*old[drop:], *appended)
        given = {k: w for k, w in windows.items() if k in move or not move}
        texts = together.array_texts(given)
        assert list(texts) == list(given)
        for key, window in given.items():
            expected = journal_text(list(window))
            assert texts[key] == expected
            assert alone.array_text(key, window) == expected


@given(st.lists(_ROW, max_size=8))
def test_value_texts_are_each_values_journal_text(values: list[object]) -> None:
    """Each value's text, numbers batched in one call or not."""
    assert value_texts(values) == [journal_text(v) for v in values]


_KEY = st.text(alphabet='ab{}"\\:,é%0', max_size=4)


@given(st.lists(st.tuples(_KEY, _ROW), max_size=5, unique_by=lambda m: m[0]))
def test_object_layout_is_the_journals_object(members: list[tuple[str, object]]) -> None:
    """An object built from a layout is the journal's text of the dict, for keys that hold
    the template's braces, quotes, escapes and ``%``, in any order."""
    layout = ObjectLayout([k for k, _ in members])
    text = layout.text([encode(v) for _, v in members])
    assert text == journal_text(dict(members))
    assert text == object_text({k: encode(v) for k, v in members})


def test_object_layout_refuses_a_key_twice() -> None:
    with pytest.raises(ValueError, match="unique"):
        ObjectLayout(("a", "b", "a"))
