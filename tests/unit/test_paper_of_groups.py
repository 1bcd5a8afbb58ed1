"""PaperOf.groups (agent.engine.engine): a step's instruments split by paper venue, kept for
the last key sequence and regrouped when it changes; compared with the straightforward grouping
on random sequences of steps."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.engine.engine import PaperOf
from venues.model import InstrumentId, InstrumentKind

IDS = [
    InstrumentId(venue, kind, symbol)
    for venue in ("binance", "bybit", "dydx")
    for kind in (InstrumentKind.PERP, InstrumentKind.SPOT)
    for symbol in ("BTCUSDT", "ETHUSDT")
]


class _Venue:
    def __init__(self, name: str) -> None:
        self.name = name


PAPER: dict[str, Any] = {"binance": _Venue("binance"), "bybit": _Venue("bybit")}  # no dydx


def _straightforward(ids: tuple[InstrumentId, ...]) -> list[tuple[Any, list[int]]]:
    groups: dict[Any, list[int]] = {}
    for index, iid in enumerate(ids):
        venue = PAPER.get(iid.venue)
        if venue is not None:
            groups.setdefault(venue, []).append(index)
    return list(groups.items())


@settings(max_examples=300, deadline=None)
@given(
    steps=st.lists(
        st.one_of(
            st.lists(st.sampled_from(IDS), unique=True, max_size=8).map(tuple),
            st.just(tuple(IDS)),
        ),
        max_size=12,
    )
)
def test_groups_are_the_straightforward_grouping(steps: list[tuple[InstrumentId, ...]]) -> None:
    paper_of = PaperOf(PAPER)
    for ids in steps:
        assert paper_of.groups(ids) == _straightforward(ids)


def test_changed_instruments_are_regrouped() -> None:
    paper_of = PaperOf(PAPER)
    first = (IDS[0], IDS[4], IDS[1])  # binance, bybit, binance
    assert paper_of.groups(first) == [(PAPER["binance"], [0, 2]), (PAPER["bybit"], [1])]
    assert paper_of.groups(first) == [(PAPER["binance"], [0, 2]), (PAPER["bybit"], [1])]
    second = (IDS[4], IDS[0])  # another hour: bybit first, one binance instrument missing
    assert paper_of.groups(second) == [(PAPER["bybit"], [0]), (PAPER["binance"], [1])]
