"""Typed strategy states: JSON round trips, the version-1 layout, malformed input.

Each state type must survive ``to_json`` → JSON text → ``from_json`` unchanged (empty states
and states with open positions), write the version-1 layout that the strategies wrote before
their state was typed (same keys, same order, ints as ints), decode the states journaled by
that older code (the checkpoint fixture), and refuse malformed input with a ``ValueError``
naming the field.
"""

from __future__ import annotations

import gzip
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strategies.base import Alert
from strategies.beta_hedger.state import BetaHedgerState
from strategies.cross_venue_arb.state import (
    ArbPosition,
    CrossVenueArbState,
    PerpRates,
    Settlement,
)
from strategies.factor_neutral.state import Book, FactorNeutralState, SizedBook
from strategies.flip_monitor.state import AdverseCount, FlipMonitorState
from strategies.funding_harvester.state import (
    FundingHarvesterState,
    HarvestPosition,
    RateHistory,
)
from strategies.stat_arb.health import PairWatch
from strategies.stat_arb.kalman import KalmanHedge
from strategies.stat_arb.state import OpenPair, PairCandidate, PairFit, StatArbState

FIXTURE = Path(__file__).parents[1] / "fixtures" / "checkpoints"
CHECKPOINT = FIXTURE / "replay_v1_2025-09-01_2025-09-15.sqlite.gz"

STATE_TYPES: dict[str, Any] = {
    "stat_arb": StatArbState,
    "funding_harvester": FundingHarvesterState,
    "cross_venue_arb": CrossVenueArbState,
    "factor_neutral": FactorNeutralState,
    "beta_hedger": BetaHedgerState,
    "funding_flip_monitor": FlipMonitorState,
}


def canonical(data: dict[str, Any] | str) -> str:
    """The journal's encoding of a state (``Journal.record_strategy_state``: a JSON text is
    stored as it is)."""
    if isinstance(data, str):
        return data
    return json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=True)


def layout(state: Any) -> Any:
    """``state.to_json()`` as a dict (decoded when the state gives its JSON text)."""
    data = state.to_json()
    return json.loads(data) if isinstance(data, str) else data


def round_trip(state: Any) -> Any:
    """``state`` through its JSON text and back."""
    return type(state).from_json(json.loads(json.dumps(layout(state), allow_nan=False)))


# ---------------------------------------------------------------------------- values

T_MS = 1_757_000_000_000
STAT_ARB_OPEN = StatArbState(
    fit=PairFit(
        fitted_at_ms=T_MS,
        n_tested=66,
        n_qualified=7,
        excluded={"TRXUSDT": "short_history"},
        pairs=(PairCandidate("XRPUSDT", "DOGEUSDT", 0.48, 1.77, -4.07, 0.0057, 6.48, 6),),
    ),
    open={
        "BNBUSDT-DOTUSDT": OpenPair(
            "BNBUSDT", "DOTUSDT", -1, 2.31, T_MS, 3.1, 812.0, 0.43, 6.18, 0.49, 1.17, False
        )
    },
)
STAT_ARB_WATCHED = StatArbState(
    fit=STAT_ARB_OPEN.fit,
    open={
        "BNBUSDT-DOTUSDT": OpenPair(
            "BNBUSDT", "DOTUSDT", -1, 2.31, T_MS, 3.1, 812.0, 0.43, 6.18, 0.49, 1.17, False,
            PairWatch(3, 7.5, KalmanHedge(488_000, 6.2, 0.45, 1e-6, -2e-8, 3e-4, 1.1, 4e-4,
                                          0.08, 0.986)),
        )
    },
)  # fmt: skip
HARVESTER_OPEN = FundingHarvesterState(
    rates={"ADAUSDT": RateHistory(T_MS, (1.25e-05, 4.04125e-06, -0.0))},
    positions={"ADAUSDT": HarvestPosition(T_MS - 3_600_000, -0.00048, 4795.0, 0.055, 2)},
)
CROSS_VENUE_OPEN = CrossVenueArbState(
    rates={
        "binance:perp:AVAXUSDT": PerpRates(
            T_MS, T_MS - 86_400_000, (Settlement(T_MS - 28_800_000, 5.7e-06, 8.0),)
        )
    },
    positions={"AVAX": ArbPosition("binance", "hyperliquid", T_MS, 138.0, 0.00031, 0.009)},
)
FACTOR_NEUTRAL_OPEN = FactorNeutralState(
    book=Book(
        T_MS, {"ADAUSDT": -0.0, "BTCUSDT": 0.2}, {"ADAUSDT": 1.33, "BTCUSDT": 1.0}, 1.8, "lp", True
    ),
    excluded={"LTCUSDT": "stale"},
    pending_alerts=(Alert("factor_neutral_infeasible", "only 5 usable assets", {"n": 5}),),
    sized=SizedBook(T_MS, {"BTCUSDT": 0.39}),
)
MONITOR_OPEN = FlipMonitorState(
    counts={"cross_venue_arb|binance:perp:DOGEUSDT": AdverseCount(T_MS, 13)},
    cooldowns={"cross_venue_arb": {}, "funding_harvester": {"LINK": T_MS + 86_400_000}},
)

EMPTY_STATES = [cls() for cls in STATE_TYPES.values()]
OPEN_STATES = [
    STAT_ARB_OPEN,
    STAT_ARB_WATCHED,
    HARVESTER_OPEN,
    CROSS_VENUE_OPEN,
    FACTOR_NEUTRAL_OPEN,
    MONITOR_OPEN,
]


@pytest.mark.parametrize("state", EMPTY_STATES + OPEN_STATES, ids=lambda s: type(s).__name__)
def test_hand_built_states_round_trip(state: Any) -> None:
    again = round_trip(state)
    assert again == state
    assert canonical(again.to_json()) == canonical(state.to_json())


def test_stat_arb_writes_version_2_only_with_a_watch_record() -> None:
    assert "version" not in layout(STAT_ARB_OPEN)  # no watch: version 1 exactly
    data = layout(STAT_ARB_WATCHED)
    assert data["version"] == 2
    assert data["open"]["BNBUSDT-DOTUSDT"]["watch"]["kalman"]["bar_h"] == 488_000


def test_initial_states_write_the_version_1_layout() -> None:
    assert layout(StatArbState()) == {"fit": None, "open": {}}
    assert layout(FundingHarvesterState()) == {"rates": {}, "positions": {}}
    assert layout(CrossVenueArbState()) == {"rates": {}, "positions": {}}
    assert layout(FactorNeutralState()) == {"book": None, "excluded": {}, "pending_alerts": []}
    assert layout(BetaHedgerState()) == {}
    assert layout(FlipMonitorState()) == {"counts": {}, "cooldowns": {}}


def test_version_1_key_order_and_number_types() -> None:
    """The keys in the order the strategies wrote them before the state was typed."""
    sa = layout(STAT_ARB_OPEN)
    assert list(sa) == ["fit", "open"]
    assert list(sa["fit"]) == ["fitted_at_ms", "n_tested", "n_qualified", "excluded", "pairs"]
    assert list(sa["fit"]["pairs"][0]) == [
        "a", "b", "hedge_ratio", "intercept", "adf_stat", "p_value", "half_life_bars", "lags",
    ]  # fmt: skip
    pair = sa["open"]["BNBUSDT-DOTUSDT"]
    assert list(pair) == [
        "a", "b", "direction", "entry_z", "entry_ms", "qty_a", "qty_b", "hedge_ratio",
        "intercept", "beta_a", "beta_b", "retire",
    ]  # fmt: skip
    assert type(pair["direction"]) is int
    assert type(pair["entry_ms"]) is int
    # The harvester gives its JSON text, in the journal's (sorted) key order: the same keys
    # as the journal always stored.
    fh = layout(HARVESTER_OPEN)
    assert list(fh) == ["positions", "rates"]
    assert list(fh["rates"]["ADAUSDT"]) == ["last_funding_ms", "rates_per_hour"]
    assert list(fh["positions"]["ADAUSDT"]) == sorted(
        ["entry_ms", "entry_basis_frac", "qty", "entry_net_apr_frac", "adverse_count"]
    )
    xv = layout(CROSS_VENUE_OPEN)
    assert list(xv) == ["rates", "positions"]
    book = xv["rates"]["binance:perp:AVAXUSDT"]
    assert list(book) == ["last_funding_ms", "history_start_ms", "settlements"]
    # Each settlement is a tuple (its own JSON array): compared as the encoder writes it.
    assert json.dumps(book["settlements"]) == json.dumps([[T_MS - 28_800_000, 5.7e-06, 8.0]])
    assert list(xv["positions"]["AVAX"]) == [
        "long", "short", "entry_ms", "qty", "entry_spread_8h_frac", "entry_net_apr_frac",
    ]  # fmt: skip
    fn = layout(FACTOR_NEUTRAL_OPEN)
    assert list(fn) == ["book", "excluded", "pending_alerts", "sized"]
    assert list(fn["book"]) == [
        "fitted_at_ms", "weights", "betas", "expected_alpha", "method", "proven_optimal",
    ]  # fmt: skip
    assert fn["pending_alerts"] == [
        {"kind": "factor_neutral_infeasible", "message": "only 5 usable assets", "fields": {"n": 5}}
    ]
    assert list(fn["sized"]) == ["fitted_at_ms", "qty"]
    assert "sized" not in layout(FactorNeutralState())  # absent until sized
    mon = layout(MONITOR_OPEN)
    assert list(mon) == ["counts", "cooldowns"]
    assert list(mon["counts"]["cross_venue_arb|binance:perp:DOGEUSDT"]) == ["last_ms", "adverse"]
    assert mon["cooldowns"]["cross_venue_arb"] == {}  # an expired owner's cooldowns stay


def _checkpoint_states(tmp_path: Path) -> tuple[dict[str, str], dict[str, Any]]:
    """The fixture's journaled state rows (JSON text per strategy) and the flip monitor's state
    in its resume checkpoint."""
    journal = tmp_path / "checkpoint.sqlite"
    journal.write_bytes(gzip.decompress(CHECKPOINT.read_bytes()))
    conn = sqlite3.connect(journal)
    try:
        rows = dict(conn.execute("SELECT strategy, state_json FROM strategy_state ORDER BY id"))
        (checkpoint,) = conn.execute(
            "SELECT value FROM run_meta WHERE key = 'resume_json' ORDER BY id DESC LIMIT 1"
        ).fetchone()
    finally:
        conn.close()
    return rows, json.loads(checkpoint)["monitor_state"]


def test_states_journaled_by_the_untyped_code_decode_and_re_encode_byte_for_byte(
    tmp_path: Path,
) -> None:
    rows, monitor_in_checkpoint = _checkpoint_states(tmp_path)
    assert set(rows) == set(STATE_TYPES)
    for name, text in rows.items():
        state = STATE_TYPES[name].from_json(json.loads(text))
        assert canonical(state.to_json()) == text, name  # the journal row, byte for byte
    monitor = FlipMonitorState.from_json(monitor_in_checkpoint)
    assert layout(monitor) == monitor_in_checkpoint
    assert monitor.counts
    stat_arb = StatArbState.from_json(json.loads(rows["stat_arb"]))
    assert stat_arb.fit is not None
    assert stat_arb.fit.pairs
    harvester = FundingHarvesterState.from_json(json.loads(rows["funding_harvester"]))
    assert harvester.positions  # the fixture holds open positions


# --------------------------------------------------------------------------- hypothesis

names = st.text(min_size=1, max_size=12)
ms = st.integers(min_value=-(2**53), max_value=2**53)
counts_ = st.integers(min_value=0, max_value=10_000)
reals = st.floats(allow_nan=False, allow_infinity=False)

pair_candidates = st.builds(PairCandidate, names, names, reals, reals, reals, reals, reals, counts_)
kalman_hedges = st.builds(
    KalmanHedge, ms, reals, reals, reals, reals, reals, reals, reals, reals, reals
)
pair_watches = st.builds(PairWatch, counts_, reals, kalman_hedges)
open_pairs = st.builds(
    OpenPair, names, names, st.sampled_from([1, -1]), reals, ms, reals, reals, reals, reals,
    reals, reals, st.booleans(), st.none() | pair_watches,
)  # fmt: skip
pair_fits = st.builds(
    PairFit,
    ms,
    counts_,
    counts_,
    st.dictionaries(names, names, max_size=3),
    st.lists(pair_candidates, max_size=3).map(tuple),
)
stat_arb_states = st.builds(
    StatArbState, st.none() | pair_fits, st.dictionaries(names, open_pairs, max_size=3)
)
harvester_states = st.builds(
    FundingHarvesterState,
    st.dictionaries(
        names, st.builds(RateHistory, ms, st.lists(reals, max_size=5).map(tuple)), max_size=3
    ),
    st.dictionaries(
        names, st.builds(HarvestPosition, ms, reals, reals, reals, counts_), max_size=3
    ),
)
cross_venue_states = st.builds(
    CrossVenueArbState,
    st.dictionaries(
        names,
        st.builds(
            PerpRates,
            ms,
            ms,
            st.lists(st.builds(Settlement, ms, reals, reals), max_size=4).map(tuple),
        ),
        max_size=3,
    ),
    st.dictionaries(
        names, st.builds(ArbPosition, names, names, ms, reals, reals, reals), max_size=3
    ),
)
alert_fields = st.dictionaries(names, st.integers() | reals | st.text(max_size=8), max_size=3)
factor_neutral_states = st.builds(
    FactorNeutralState,
    st.none()
    | st.builds(
        Book,
        ms,
        st.dictionaries(names, reals, max_size=4),
        st.dictionaries(names, reals, max_size=4),
        reals,
        st.sampled_from(["lp", "milp"]),
        st.booleans(),
    ),
    st.dictionaries(names, names, max_size=3),
    st.lists(st.builds(Alert, names, st.text(max_size=20), alert_fields), max_size=2).map(tuple),
    st.none() | st.builds(SizedBook, ms, st.dictionaries(names, reals, max_size=4)),
)
monitor_states = st.builds(
    FlipMonitorState,
    st.dictionaries(names, st.builds(AdverseCount, ms, counts_), max_size=3),
    st.dictionaries(names, st.dictionaries(names, ms, max_size=2), max_size=2),
)


@given(
    st.one_of(
        stat_arb_states,
        harvester_states,
        cross_venue_states,
        factor_neutral_states,
        monitor_states,
        st.just(BetaHedgerState()),
    )
)
def test_any_state_round_trips_through_json(state: Any) -> None:
    again = round_trip(state)
    assert again == state
    assert canonical(again.to_json()) == canonical(state.to_json())


# --------------------------------------------------------------------------- malformed


def _set(path: list[Any], value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        target: Any = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return mutate


def _drop(path: list[Any]) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        target: Any = data
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return mutate


PAIR = ["open", "BNBUSDT-DOTUSDT"]
MALFORMED = [
    (STAT_ARB_OPEN, _set([*PAIR, "qty_a"], "1.0"),
     r"open\['BNBUSDT-DOTUSDT'\]\.qty_a: expected a number"),
    (STAT_ARB_OPEN, _set([*PAIR, "entry_ms"], 1.5e12), r"\.entry_ms: expected an integer"),
    (STAT_ARB_OPEN, _set([*PAIR, "entry_ms"], True), r"\.entry_ms: expected an integer"),
    (STAT_ARB_OPEN, _set([*PAIR, "direction"], 0), r"\.direction: expected 1 or -1"),
    (STAT_ARB_OPEN, _drop([*PAIR, "retire"]), r"open\['BNBUSDT-DOTUSDT'\]\.retire: missing"),
    (STAT_ARB_OPEN, _set(["fit", "pairs", 0, "lags"], "6"), r"fit\.pairs\[0\]\.lags"),
    (STAT_ARB_OPEN, _set(["fit", "excluded"], []), r"fit\.excluded: expected a JSON object"),
    (STAT_ARB_OPEN, _set(["fit", "surprise"], 1), r"fit\.surprise: unknown field"),
    (STAT_ARB_OPEN, _drop(["open"]), r"stat_arb state\.open: missing"),
    (STAT_ARB_WATCHED, _set([*PAIR, "watch", "kalman", "bar_h"], 1.5),
     r"open\['BNBUSDT-DOTUSDT'\]\.watch\.kalman\.bar_h: expected an integer"),
    (STAT_ARB_WATCHED, _drop(["version"]), r"open\['BNBUSDT-DOTUSDT'\]\.watch: unknown field"),
    (HARVESTER_OPEN, _set(["rates", "ADAUSDT", "rates_per_hour", 1], "x"),
     r"rates\['ADAUSDT'\]\.rates_per_hour\[1\]: expected a number"),
    (HARVESTER_OPEN, _set(["positions", "ADAUSDT", "adverse_count"], None),
     r"positions\['ADAUSDT'\]\.adverse_count: expected an integer"),
    (CROSS_VENUE_OPEN, _set(["rates", "binance:perp:AVAXUSDT", "settlements", 0], [1, 2.0]),
     r"settlements\[0\]: expected \[ts_funding_ms, rate_per_hour, interval_h\]"),
    (CROSS_VENUE_OPEN, _set(["rates", "binance:perp:AVAXUSDT", "settlements", 0, 0], 1.0),
     r"settlements\[0\]\[0\] \(ts_funding_ms\): expected an integer"),
    (CROSS_VENUE_OPEN, _set(["positions", "AVAX", "long"], 3), r"positions\['AVAX'\]\.long"),
    (FACTOR_NEUTRAL_OPEN, _set(["book", "proven_optimal"], 1), r"book\.proven_optimal"),
    (FACTOR_NEUTRAL_OPEN, _set(["book", "weights", "BTCUSDT"], None),
     r"book\.weights\['BTCUSDT'\]"),
    (FACTOR_NEUTRAL_OPEN, _set(["pending_alerts", 0, "fields", "n"], [5]),
     r"pending_alerts\[0\]\.fields\['n'\]: expected a number"),
    (FACTOR_NEUTRAL_OPEN, _set(["sized", "qty"], None), r"sized\.qty: expected a JSON object"),
    (MONITOR_OPEN, _set(["cooldowns", "funding_harvester", "LINK"], 1.5),
     r"cooldowns\['funding_harvester'\]\['LINK'\]: expected an integer"),
    (MONITOR_OPEN, _drop(["counts", "cross_venue_arb|binance:perp:DOGEUSDT", "adverse"]),
     r"counts\['cross_venue_arb\|binance:perp:DOGEUSDT'\]\.adverse: missing"),
    (BetaHedgerState(), _set(["hedge"], 1.0), r"beta_hedger state\.hedge: unknown field"),
]  # fmt: skip


@pytest.mark.parametrize(("state", "mutate", "match"), MALFORMED)
def test_malformed_input_raises_value_error_naming_the_field(
    state: Any, mutate: Callable[[dict[str, Any]], None], match: str
) -> None:
    data = json.loads(json.dumps(layout(state)))
    mutate(data)
    with pytest.raises(ValueError, match=match):
        type(state).from_json(data)


NEWEST_VERSION = {FlipMonitorState: 2, StatArbState: 2, FundingHarvesterState: 2}
"""Layout versions past 1, per state type (the others read version 1 only)."""


@pytest.mark.parametrize("cls", STATE_TYPES.values(), ids=lambda c: c.__name__)
def test_versions_dispatch_on_the_version_key(cls: Any) -> None:
    data = layout(cls())
    assert cls.from_json({**data, "version": 1}) == cls()  # explicit version 1 reads as 1
    unknown = NEWEST_VERSION.get(cls, 1) + 1
    with pytest.raises(ValueError, match=rf"\.version: unsupported state layout version {unknown}"):
        cls.from_json({**data, "version": unknown})
    with pytest.raises(ValueError, match=r"\.version: expected an integer"):
        cls.from_json({**data, "version": "1"})
    with pytest.raises(ValueError, match="expected a JSON object"):
        cls.from_json([])


def test_monitor_state_writes_version_2_only_with_a_predicted_decision() -> None:
    """A state whose records carry no predicted decision (every replay) is written in layout
    version 1 exactly; one with ``predicted_ms`` as version 2, read back unchanged; a
    version-1 record may not carry ``predicted_ms``."""
    key = "funding_harvester|binance:perp:BTCUSDT"
    settled_only = FlipMonitorState(counts={key: AdverseCount(last_ms=5, adverse=1)})
    assert layout(settled_only) == {
        "counts": {key: {"last_ms": 5, "adverse": 1}},
        "cooldowns": {},
    }
    predicted = FlipMonitorState(
        counts={key: AdverseCount(last_ms=5, adverse=1, predicted_ms=9)},
        cooldowns={"funding_harvester": {"BTC": 100}},
    )
    data = layout(predicted)
    assert data == {
        "counts": {key: {"last_ms": 5, "adverse": 1, "predicted_ms": 9}},
        "cooldowns": {"funding_harvester": {"BTC": 100}},
        "version": 2,
    }
    assert round_trip(predicted) == predicted
    data.pop("version")
    with pytest.raises(ValueError, match=r"\.predicted_ms: unknown field"):
        FlipMonitorState.from_json(data)
