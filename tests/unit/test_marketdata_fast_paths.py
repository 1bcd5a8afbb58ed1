"""Market data fast paths: the snapshot parts shared between the snapshots of one step, the
per-request id lists and the inlined appends, against a plain model of the same operations.

Every snapshot is compared with what a straightforward bookkeeping of the operations gives
(prices, settled funding, stale set, close and volume tails); snapshots are taken several
times at the same time stamp between mutations, so a mutation that forgot to invalidate the
shared part (``MarketData._version``) or a request's id lists shows up as a stale value.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal as D

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.engine import marketdata
from agent.engine.marketdata import MarketData
from strategies.base import MarketSnapshot
from strategies.options.chain import OptionChain
from venues.model import FundingRate, Instrument, InstrumentId, InstrumentKind

IDS = [InstrumentId("binance", InstrumentKind.PERP, f"S{k}USDT") for k in range(6)]
INSTRUMENTS = {
    i: Instrument(i, i.symbol[:-4], "USDT", D("0.1"), D("0.001"), D("0.001"), D("5"), D(1), 28_800)
    for i in IDS
}
T0_MS = 1_700_006_400_000
HOUR_MS = 3_600_000
STALE_AFTER_MS = 2 * HOUR_MS
OPTION = InstrumentId("deribit", InstrumentKind.OPTION, "S0-27DEC99-100000-C")


def rate(iid: InstrumentId, value: float, ts_funding_ms: int) -> FundingRate:
    return FundingRate(iid, value, 28_800, ts_funding_ms, ts_funding_ms + 28_800_000)


@dataclass
class Model:
    """What a snapshot must show, kept the plain way."""

    prices: dict[InstrumentId, float] = field(default_factory=dict)
    price_ts_ms: dict[InstrumentId, int] = field(default_factory=dict)
    closes: dict[InstrumentId, list[float]] = field(default_factory=dict)
    funding: dict[InstrumentId, FundingRate] = field(default_factory=dict)
    volumes: dict[InstrumentId, list[float]] = field(default_factory=dict)
    pending: dict[InstrumentId, float] = field(default_factory=dict)
    close_ts_ms: dict[InstrumentId, int] = field(default_factory=dict)  # in first-close order

    def expected(
        self, ts_ms: int, ids: list[InstrumentId], n: int
    ) -> tuple[
        dict[InstrumentId, float],
        dict[InstrumentId, FundingRate],
        set[InstrumentId],
        dict[InstrumentId, list[float]],
        dict[InstrumentId, list[float]],
    ]:
        prices = {i: self.prices[i] for i in ids if i in self.prices}
        funding = {i: self.funding[i] for i in ids if i in self.funding}
        stale = {i for i in ids if self.price_ts_ms.get(i, -(2**62)) < ts_ms - STALE_AFTER_MS}
        closes = {i: self.closes.get(i, [])[-n:] if n else [] for i in ids}
        volumes = {i: self.volumes[i][-n:] if n else [] for i in ids if i in self.volumes}
        return prices, funding, stale, closes, volumes


def bits(values: list[float]) -> list[str]:
    return [float(v).hex() for v in values]


def assert_matches(snap: MarketSnapshot, expected: tuple[object, ...]) -> None:
    prices, funding, stale, closes, volumes = expected
    assert dict(snap.prices) == prices
    assert list(snap.prices) == list(prices)  # type: ignore[call-overload]
    assert dict(snap.funding) == funding
    assert set(snap.stale) == stale
    assert set(snap.closes) == set(closes)  # type: ignore[call-overload]
    for iid, values in closes.items():  # type: ignore[attr-defined]
        assert bits(snap.closes[iid].tolist()) == bits(values)
        assert snap.closes.get(iid) is not None
    assert set(snap.volumes) == set(volumes)  # type: ignore[call-overload]
    for iid, values in volumes.items():  # type: ignore[attr-defined]
        assert bits(snap.volumes[iid].tolist()) == bits(values)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_snapshots_match_a_plain_model_through_random_operations(data: st.DataObject) -> None:
    run_against_model(data, MarketData(INSTRUMENTS, STALE_AFTER_MS), max_bars=5)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_snapshots_match_the_model_while_small_buffers_double_with_rows_of_uneven_length(
    data: st.DataObject,
) -> None:
    # rows 2 values wide, doubled whenever one row is full, the others shorter
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(marketdata, "_INITIAL_CAPACITY", 2)
        md = MarketData(INSTRUMENTS, STALE_AFTER_MS)
    run_against_model(data, md, max_bars=8)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_snapshots_keeping_few_bars_match_the_model_while_old_values_are_dropped(
    data: st.DataObject,
) -> None:
    # rows of 2 values: doubled to 4, then replaced by the last 3 values at every append
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(marketdata, "_INITIAL_CAPACITY", 2)
        md = MarketData(INSTRUMENTS, STALE_AFTER_MS, keep_bars=3)
    run_against_model(data, md, max_bars=3)


def run_against_model(data: st.DataObject, md: MarketData, max_bars: int) -> None:
    model = Model()
    kept: list[tuple[MarketSnapshot, tuple[object, ...]]] = []
    ts_ms = T0_MS
    requests = [tuple(IDS), tuple(IDS[:3]), (IDS[4], IDS[1]), (IDS[5],)]
    finite = st.floats(min_value=1e-6, max_value=1e9, allow_nan=False)
    # a volume: mostly good, now and then one that must be refused (and what follows it)
    volume = st.one_of(
        finite, finite, finite, st.just(0.0), st.just(-0.0), st.just(-1.0), st.just(math.nan)
    )
    for _ in range(data.draw(st.integers(1, 40))):
        op = data.draw(
            st.sampled_from(["closes", "price", "funding", "volumes", "hour", "snap", "snap"])
        )
        if op == "closes":  # a mapping (the driver's step) or pairs, maybe naming one twice
            chosen = data.draw(st.lists(st.sampled_from(IDS), unique=True, max_size=6))
            if chosen and data.draw(st.booleans()):
                chosen.append(data.draw(st.sampled_from(chosen)))
            values = [data.draw(finite) for _ in chosen]
            pairs = list(zip(chosen, values, strict=True))
            as_mapping = len(set(chosen)) == len(chosen) and data.draw(st.booleans())
            md.on_closes(dict(pairs) if as_mapping else pairs, ts_ms)
            for iid, close in pairs:
                model.prices[iid], model.price_ts_ms[iid] = close, ts_ms
                model.closes.setdefault(iid, []).append(close)
                model.close_ts_ms[iid] = ts_ms
        elif op == "volumes":  # a mapping or pairs, several per hour add up
            chosen = data.draw(st.lists(st.sampled_from(IDS), unique=True, max_size=6))
            values = [data.draw(volume) for _ in chosen]
            pairs = list(zip(chosen, values, strict=True))
            form = data.draw(st.sampled_from(["mapping", "pairs", "columns"]))
            try:
                if form == "columns":  # the replay's step (on_volume_columns)
                    md.on_volume_columns(tuple(chosen), np.array(values, dtype=np.float64))
                else:
                    md.on_volumes(dict(pairs) if form == "mapping" else pairs)
            except ValueError:
                refused = next(k for k, v in enumerate(values) if not 0.0 <= v < math.inf)
                pairs = pairs[:refused]  # those before the first bad one are recorded
            else:
                assert all(0.0 <= v < math.inf for v in values)
            for iid, value in pairs:
                model.pending[iid] = model.pending.get(iid, 0.0) + value
        elif op == "price":
            iid, price = data.draw(st.sampled_from(IDS)), data.draw(finite)
            md.on_price(iid, price, ts_ms)
            model.prices[iid], model.price_ts_ms[iid] = price, ts_ms
        elif op == "funding":
            iid = data.draw(st.sampled_from(IDS))
            funding = rate(iid, data.draw(st.floats(-0.01, 0.01)), ts_ms)
            md.on_funding(funding)
            model.funding[iid] = funding
        elif op == "hour":  # the hour ends: carry, volumes; the next hour starts
            carried = md.carry_closes(ts_ms)
            assert carried == [i for i, t in model.close_ts_ms.items() if t < ts_ms]
            for iid in carried:
                model.closes[iid].append(model.closes[iid][-1])
                model.close_ts_ms[iid] = ts_ms
            volumes = {i: data.draw(finite) for i in data.draw(st.lists(st.sampled_from(IDS)))}
            if data.draw(st.booleans()):
                md.on_volumes(list(volumes.items()))
            else:
                md.on_volume_columns(tuple(volumes), np.array(list(volumes.values())))
            md.close_volumes()
            for iid, value in volumes.items():
                model.pending[iid] = model.pending.get(iid, 0.0) + value
            for iid in model.pending:
                model.volumes.setdefault(iid, [])
            for iid, history in model.volumes.items():
                n_closes = len(model.closes.get(iid, []))
                history.extend([math.nan] * max(0, n_closes - 1 - len(history)))
                if len(history) < n_closes:
                    history.append(model.pending.get(iid, 0.0))
            model.pending.clear()
            ts_ms += HOUR_MS * data.draw(st.integers(1, 3))
        else:
            ids = data.draw(st.sampled_from(requests))
            n = data.draw(st.integers(0, max_bars))
            snap = md.snapshot(ts_ms, ids, n)
            expected = model.expected(ts_ms, list(ids), n)
            assert_matches(snap, expected)
            kept.append((snap, expected))
    for snap, expected in kept:  # later closes and buffer growth do not show in earlier ones
        assert_matches(snap, expected)


def _md_with_history() -> MarketData:
    md = MarketData(INSTRUMENTS, STALE_AFTER_MS)
    md.on_closes([(IDS[0], 100.0), (IDS[1], 10.0)], T0_MS)
    md.on_volumes([(IDS[0], 5.0)])
    md.close_volumes()
    return md


def _option_chain() -> OptionChain:
    empty = np.zeros(0)
    return OptionChain(
        underlying=IDS[0],
        venue="deribit",
        base="S0",
        ts_ms=T0_MS,
        forward_usd=100.0,
        expiry_ms=np.zeros(0, dtype=np.int64),
        strike_usd=empty,
        is_call=np.zeros(0, dtype=np.bool_),
        iv_frac=empty,
        price_usd=empty,
        lot_step_coin=0.1,
        greeks=None,
    )


MUTATIONS: dict[str, tuple[Callable[[MarketData], object], Callable[[MarketSnapshot], object]]] = {
    "on_close": (
        lambda md: md.on_close(IDS[0], 101.0, T0_MS),
        lambda s: (s.prices[IDS[0]], s.closes[IDS[0]].tolist()),
    ),
    "on_closes": (
        lambda md: md.on_closes([(IDS[2], 7.0)], T0_MS),
        lambda s: (s.prices.get(IDS[2]), s.closes[IDS[2]].tolist(), IDS[2] in s.stale),
    ),
    "carry_closes": (
        lambda md: md.carry_closes(T0_MS + HOUR_MS),
        lambda s: s.closes[IDS[1]].tolist(),
    ),
    "on_price": (lambda md: md.on_price(IDS[3], 3.0, T0_MS), lambda s: IDS[3] in s.stale),
    "on_funding": (lambda md: md.on_funding(rate(IDS[0], 1e-4, T0_MS)), lambda s: dict(s.funding)),
    "on_predicted_funding": (
        lambda md: md.on_predicted_funding(rate(IDS[0], 2e-4, T0_MS + HOUR_MS)),
        lambda s: dict(s.predicted_funding),
    ),
    "set_option_chain": (
        lambda md: md.set_option_chain(_option_chain()),
        lambda s: set(s.option_chains),
    ),
    "list_option": (
        lambda md: md.list_option(
            IDS[0], Instrument(OPTION, "S0", "USD", D("0.1"), D("0.1"), D("0.1"), D("0"), D(1), 0)
        ),
        lambda s: (set(s.instruments), OPTION in s.stale, set(s.closes)),
    ),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_a_snapshot_after_a_change_at_the_same_time_sees_the_change(name: str) -> None:
    mutate, read = MUTATIONS[name]
    ids = tuple(IDS)
    fresh = _md_with_history()
    ts_ms = T0_MS + HOUR_MS
    mutate(fresh)
    want = read(fresh.snapshot(ts_ms, ids, 5))  # no earlier snapshot: nothing kept
    md = _md_with_history()
    before = read(md.snapshot(ts_ms, ids, 5))
    md.snapshot(ts_ms, ids[:2], 1)  # and another request at the same time
    mutate(md)
    assert read(md.snapshot(ts_ms, ids, 5)) == want
    assert want != before  # the change is visible in what was read


def test_volumes_closed_after_a_snapshot_at_the_same_time_show_in_the_next() -> None:
    md = _md_with_history()
    md.on_closes([(IDS[0], 101.0)], T0_MS + HOUR_MS)
    assert md.snapshot(T0_MS + HOUR_MS, (IDS[0],), 5).volumes[IDS[0]].tolist() == [5.0]
    md.on_volumes([(IDS[0], 2.0)])
    md.close_volumes()
    assert md.snapshot(T0_MS + HOUR_MS, (IDS[0],), 5).volumes[IDS[0]].tolist() == [5.0, 2.0]


def test_drop_option_chain_at_the_same_time_hides_the_chain() -> None:
    md = _md_with_history()
    md.set_option_chain(_option_chain())
    assert set(md.snapshot(T0_MS, (IDS[0],), 1).option_chains) == {IDS[0]}
    md.drop_option_chain(IDS[0])
    assert dict(md.snapshot(T0_MS, (IDS[0],), 1).option_chains) == {}


def test_a_request_sees_instruments_priced_and_funded_since_its_last_snapshot() -> None:
    md = _md_with_history()
    ids = (IDS[0], IDS[4])
    first = md.snapshot(T0_MS, ids, 1)
    assert set(first.prices) == {IDS[0]}
    assert dict(first.funding) == {}
    md.on_price(IDS[4], 4.0, T0_MS)
    md.on_funding(rate(IDS[4], 3e-4, T0_MS))
    second = md.snapshot(T0_MS, ids, 1)
    assert dict(second.prices) == {IDS[0]: 100.0, IDS[4]: 4.0}
    assert set(second.funding) == {IDS[4]}
    assert set(first.prices) == {IDS[0]}  # the earlier snapshot keeps its own dicts


def test_the_same_step_shares_history_lengths_but_a_new_time_rebuilds_stale() -> None:
    md = _md_with_history()
    at_close = md.snapshot(T0_MS, (IDS[0],), 1)
    later = md.snapshot(T0_MS + 3 * HOUR_MS, (IDS[0],), 1)  # no change, later time
    assert IDS[0] not in at_close.stale
    assert IDS[0] in later.stale


def test_inlined_appends_grow_the_buffer_and_keep_every_value() -> None:
    md = MarketData(INSTRUMENTS, STALE_AFTER_MS)
    rng = np.random.default_rng(7)
    values = rng.lognormal(size=(2_500, 2))
    for hour, (a, b) in enumerate(values):
        md.on_closes([(IDS[0], float(a))], T0_MS + hour * HOUR_MS)
        md.on_volumes([(IDS[0], float(b))])
        md.carry_closes(T0_MS + hour * HOUR_MS)
        md.close_volumes()
    snap = md.snapshot(T0_MS + 2_499 * HOUR_MS, (IDS[0],), 10_000)
    assert bits(snap.closes[IDS[0]].tolist()) == bits(values[:, 0].tolist())
    assert bits(snap.volumes[IDS[0]].tolist()) == bits(values[:, 1].tolist())


def test_keeping_bars_drops_old_values_but_not_those_snapshots_hold(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(marketdata, "_INITIAL_CAPACITY", 8)
    md = MarketData(INSTRUMENTS, STALE_AFTER_MS, keep_bars=4)
    values = [float(v) for v in range(1, 41)]
    held = []
    for hour, value in enumerate(values):
        md.on_closes([(IDS[0], value)], T0_MS + hour * HOUR_MS)
        md.on_volumes([(IDS[0], value * 10)])
        md.close_volumes()
        held.append(md.snapshot(T0_MS + hour * HOUR_MS, (IDS[0],), 4))
    for hour, snap in enumerate(held):  # read after many later drops
        assert snap.closes[IDS[0]].tolist() == values[max(0, hour - 3) : hour + 1]
        assert snap.volumes[IDS[0]].tolist() == [
            v * 10 for v in values[max(0, hour - 3) : hour + 1]
        ]
    # the buffer (a row per instrument) never grew past 8 values a row (doubling: 64)
    buffer = md.snapshot(T0_MS + 40 * HOUR_MS, (IDS[0],), 4).closes[IDS[0]].base
    assert buffer.shape == (len(IDS), 8)


def test_a_snapshot_longer_than_the_bars_kept_is_refused() -> None:
    md = MarketData(INSTRUMENTS, STALE_AFTER_MS, keep_bars=10)
    md.snapshot(T0_MS, (IDS[0],), 10)
    with pytest.raises(ValueError, match="11 bars asked of market data keeping 10"):
        md.snapshot(T0_MS, (IDS[0],), 11)
    with pytest.raises(ValueError, match="keep_bars must be > 0"):
        MarketData(INSTRUMENTS, STALE_AFTER_MS, keep_bars=0)


# ---- the per-step fast paths: no stale instrument, nothing to carry, the volume histories' pairs


def _priced_md(ts_ms: int) -> MarketData:
    md = MarketData(INSTRUMENTS, STALE_AFTER_MS)
    md.on_closes([(i, 10.0 + k) for k, i in enumerate(IDS)], ts_ms)
    return md


def test_every_instrument_fresh_is_no_stale_one_but_one_priced_long_ago_is() -> None:
    md = _priced_md(T0_MS)
    assert md.snapshot(T0_MS + STALE_AFTER_MS, tuple(IDS), 1).stale == frozenset()
    later_ms = T0_MS + 3 * HOUR_MS
    md.on_closes([(i, 20.0) for i in IDS[1:]], later_ms)  # every instrument priced, IDS[0] old
    assert md.snapshot(later_ms, tuple(IDS), 1).stale == {IDS[0]}


def test_an_instrument_never_priced_is_stale_while_every_other_is_fresh() -> None:
    md = MarketData(INSTRUMENTS, STALE_AFTER_MS)
    md.on_closes([(i, 10.0) for i in IDS[1:]], T0_MS)
    assert md.snapshot(T0_MS, tuple(IDS), 1).stale == {IDS[0]}


def test_a_full_hour_carries_nothing_and_a_missing_close_is_carried() -> None:
    md = _priced_md(T0_MS)
    assert md.carry_closes(T0_MS) == []
    next_ms = T0_MS + HOUR_MS
    md.on_closes([(i, 30.0) for i in IDS if i != IDS[2]], next_ms)
    assert md.carry_closes(next_ms) == [IDS[2]]
    assert md.snapshot(next_ms, tuple(IDS), 2).closes[IDS[2]].tolist() == [12.0, 12.0]
    assert md.carry_closes(next_ms) == []  # the same hour again: nothing


def test_a_volume_history_started_later_is_closed_every_hour_too() -> None:
    """``close_volumes`` walks a list of (id, volume history, close history) made again when a
    volume history is added: an instrument whose first volume comes later is closed with the
    others from then on (NaN before its first volume)."""
    md = MarketData(INSTRUMENTS, STALE_AFTER_MS)
    a, b = IDS[0], IDS[1]
    for hour in range(4):
        ts_ms = T0_MS + hour * HOUR_MS
        md.on_closes([(a, 1.0), (b, 2.0)], ts_ms)
        md.carry_closes(ts_ms)
        volumes = [(a, 1.5 + hour)] + ([(b, 7.0 + hour)] if hour >= 2 else [])
        md.on_volumes(volumes)
        md.close_volumes()
    snap = md.snapshot(T0_MS + 3 * HOUR_MS, (a, b), 4)
    assert bits(snap.volumes[a].tolist()) == bits([1.5, 2.5, 3.5, 4.5])
    assert bits(snap.volumes[b].tolist()) == bits([math.nan, math.nan, 9.0, 10.0])


def test_a_bad_volume_in_a_batch_is_refused_naming_it() -> None:
    md = _priced_md(T0_MS)
    for bad in (math.nan, math.inf, -1.0):
        with pytest.raises(ValueError, match="volume of binance:perp:S1USDT"):
            md.on_volumes([(IDS[0], 1.0), (IDS[1], bad)])
    untracked = InstrumentId("binance", InstrumentKind.PERP, "NOPEUSDT")
    with pytest.raises(ValueError, match="untracked"):
        md.on_volumes([(untracked, 1.0)])


@pytest.mark.parametrize(
    ("before", "batch", "expected"),
    [
        ([], [(0, 1.5), (1, 2.0)], {0: 1.5, 1: 2.0}),  # the usual hour
        ([], [(0, 1.0), (0, 2.5)], {0: 3.5}),  # an instrument twice: summed
        ([(0, 1.0)], [(0, 2.5), (1, 4.0)], {0: 3.5, 1: 4.0}),  # after a sub-hour bar: summed
        ([], [(0, -0.0), (1, 0.0)], {0: 0.0, 1: 0.0}),  # 0.0 + -0.0 is 0.0, as ever
        ([], [(0, 1e308), (1, 1e308)], {0: 1e308, 1: 1e308}),  # large volumes
    ],
)
def test_volumes_are_the_hour_s_sum_of_each_instrument(
    before: list[tuple[int, float]], batch: list[tuple[int, float]], expected: dict[int, float]
) -> None:
    md = _priced_md(T0_MS)
    for k, volume in before:
        md.on_volume(IDS[k], volume)
    md.on_volumes([(IDS[k], v) for k, v in batch])
    md.close_volumes()
    snap = md.snapshot(T0_MS, tuple(IDS), 1)
    assert {IDS.index(i): bits(v.tolist()) for i, v in snap.volumes.items()} == {
        k: bits([v]) for k, v in expected.items()
    }


def test_a_bad_volume_leaves_those_before_it_recorded() -> None:
    md = _priced_md(T0_MS)
    with pytest.raises(ValueError, match="S1USDT"):
        md.on_volumes([(IDS[0], 2.0), (IDS[1], math.nan), (IDS[2], 3.0)])
    md.close_volumes()
    assert set(md.snapshot(T0_MS, tuple(IDS), 1).volumes) == {IDS[0]}


def test_a_newer_rate_of_an_instrument_already_funded_shows_in_the_next_snapshot() -> None:
    """The layout keeps its funding dict until a rate is stored: a newer rate of the same
    instrument (the key set unchanged) shows at once; each snapshot has its own dict."""
    md = _priced_md(T0_MS)
    ids = (IDS[0], IDS[1])
    md.on_funding(rate(IDS[0], 1e-4, T0_MS))
    first = md.snapshot(T0_MS, ids, 1)
    newer = rate(IDS[0], -2e-4, T0_MS + HOUR_MS)
    md.on_funding(newer)
    second = md.snapshot(T0_MS, ids, 1)
    assert second.funding == {IDS[0]: newer}
    assert first.funding == {IDS[0]: rate(IDS[0], 1e-4, T0_MS)}
    md.on_funding(rate(IDS[0], 5e-4, T0_MS))  # older than the one kept: ignored
    third = md.snapshot(T0_MS, ids, 1)
    assert third.funding == {IDS[0]: newer}
    third.funding.clear()  # type: ignore[attr-defined]
    assert md.snapshot(T0_MS, ids, 1).funding == {IDS[0]: newer}


def test_a_close_or_price_older_than_a_full_step_shows_after_it() -> None:
    # a step naming every instrument lets carrying and staleness skip looking at each time;
    # a later close or price stamped earlier than that step must undo it
    md = _priced_md(T0_MS + 3 * HOUR_MS)
    md.on_close(IDS[0], 9.0, T0_MS)  # stamped earlier: its close is 3 h old
    assert md.carry_closes(T0_MS + 3 * HOUR_MS) == [IDS[0]]
    md = _priced_md(T0_MS + 3 * HOUR_MS)
    md.on_price(IDS[1], 9.0, T0_MS)  # stamped earlier: its price is 3 h old, stale
    assert md.snapshot(T0_MS + 3 * HOUR_MS, tuple(IDS), 1).stale == {IDS[1]}
    md = _priced_md(T0_MS + 3 * HOUR_MS)
    md.on_closes([(IDS[2], 9.0)], T0_MS)  # a step naming one instrument, stamped earlier
    assert md.carry_closes(T0_MS + 3 * HOUR_MS) == [IDS[2]]
    assert md.snapshot(T0_MS + 3 * HOUR_MS, tuple(IDS), 1).stale == {IDS[2]}


def test_an_option_listed_after_a_full_step_is_stale_until_priced() -> None:
    md = _priced_md(T0_MS)
    option = Instrument(OPTION, "S0", "USD", D("0.1"), D("0.1"), D("0.1"), D("0"), D(1), 0)
    md.list_option(IDS[0], option)
    assert md.snapshot(T0_MS, (IDS[0],), 1).stale == {OPTION}
    md.on_price(OPTION, 1.0, T0_MS)
    assert md.snapshot(T0_MS, (IDS[0],), 1).stale == frozenset()


# ---- the volume histories' usual hour, told without looking at the histories: every other
# way closes were appended since the last close_volumes must take the way that looks


def _play(steps: list[tuple[str, int, list[InstrumentId]]]) -> None:
    """Apply ``steps`` (op, hour, ids) to market data and to the plain model, then compare
    their volume and close tails: ``full``/``closes`` on_closes of ``ids`` (mapping), ``close``
    on_close of each, ``carry`` carry_closes, ``hour`` volumes of ``ids`` then close_volumes."""
    md, model = MarketData(INSTRUMENTS, STALE_AFTER_MS), Model()
    for op, hour, ids in steps:
        ts_ms = T0_MS + hour * HOUR_MS
        if op in ("closes", "close"):
            values = {i: 10.0 + hour + k for k, i in enumerate(ids)}
            if op == "closes":
                md.on_closes(values, ts_ms)
            for iid, close in values.items():
                if op == "close":
                    md.on_close(iid, close, ts_ms)
                model.closes.setdefault(iid, []).append(close)
                model.close_ts_ms[iid] = ts_ms
                model.prices[iid], model.price_ts_ms[iid] = close, ts_ms
        elif op == "carry":
            for iid in md.carry_closes(ts_ms):
                model.closes[iid].append(model.closes[iid][-1])
                model.close_ts_ms[iid] = ts_ms
        else:
            volumes = {i: 1.0 + hour + k for k, i in enumerate(ids)}
            md.on_volumes(volumes)
            md.close_volumes()
            for iid in volumes:
                model.volumes.setdefault(iid, [])
            for iid, history in model.volumes.items():
                n_closes = len(model.closes.get(iid, []))
                history.extend([math.nan] * max(0, n_closes - 1 - len(history)))
                if len(history) < n_closes:
                    history.append(volumes.get(iid, 0.0))
    last_ms = T0_MS + max(hour for _, hour, _ in steps) * HOUR_MS
    assert_matches(md.snapshot(last_ms, tuple(IDS), 10), model.expected(last_ms, IDS, 10))


ALL = IDS[:4]  # the instruments with a close in these steps


@pytest.mark.parametrize(
    "between",
    [
        [("closes", 1, ALL), ("closes", 2, ALL)],  # two steps naming every one
        [("closes", 1, ALL), ("close", 1, [IDS[0]])],  # one of them closed twice
        [("closes", 1, ALL), ("closes", 1, [IDS[1]])],  # and by a step naming it alone
        [("closes", 1, ALL), ("carry", 2, [])],  # every one carried to the next hour too
        [("closes", 1, ALL)],  # the usual hour
        [],  # no close at all
    ],
)
def test_volumes_stay_aligned_whatever_appended_closes_since_the_last_hour(
    between: list[tuple[str, int, list[InstrumentId]]],
) -> None:
    start = [("closes", 0, ALL), ("hour", 0, ALL)]
    _play([*start, *between, ("hour", 3, ALL)])


def test_a_volume_of_an_instrument_without_a_close_waits_for_its_closes() -> None:
    _play(
        [
            ("closes", 0, ALL),
            ("hour", 0, [*ALL, IDS[5]]),  # IDS[5] has a volume but no close
            ("closes", 1, ALL),
            ("hour", 1, ALL),
            ("closes", 2, [*ALL, IDS[5]]),
            ("hour", 2, [*ALL, IDS[5]]),
        ]
    )


# ---- a step's volumes as two columns (on_volume_columns, the replay's per-step path)


def _hours_of_volumes(feeds: list[Callable[[MarketData], None]]) -> dict[InstrumentId, list[str]]:
    """Every instrument's volume history (bits) after one hour per feed: the hour's closes of
    every instrument, then the feed's volumes, then the hour closed."""
    md = MarketData(INSTRUMENTS, STALE_AFTER_MS)
    for hour, feed in enumerate(feeds):
        md.on_closes([(i, 10.0) for i in IDS], T0_MS + hour * HOUR_MS)
        feed(md)
        md.close_volumes()
    snap = md.snapshot(T0_MS + len(feeds) * HOUR_MS, tuple(IDS), len(feeds))
    return {i: bits(snap.volumes[i].tolist()) for i in snap.volumes}


def _columns(pairs: list[tuple[InstrumentId, float]]) -> Callable[[MarketData], None]:
    ids, values = tuple(p[0] for p in pairs), np.array([p[1] for p in pairs], dtype=np.float64)
    return lambda md: md.on_volume_columns(ids, values)


def _pairs(pairs: list[tuple[InstrumentId, float]]) -> Callable[[MarketData], None]:
    return lambda md: md.on_volumes(list(pairs))


def _both(*feeds: Callable[[MarketData], None]) -> Callable[[MarketData], None]:
    def feed(md: MarketData) -> None:
        for one in feeds:
            one(md)

    return feed


FIRST = [(IDS[0], 1.5), (IDS[1], 2.5), (IDS[2], 4.0)]  # the first hour: volume histories made
SHUFFLED = [(IDS[2], 3.0), (IDS[0], 0.25)]  # other ids, another order, one missing (0.0)


@pytest.mark.parametrize(
    "hour_two",
    [
        [(IDS[2], 3.0), (IDS[0], 0.25)],
        [(IDS[0], -0.0), (IDS[1], 2.0)],  # -0.0 adds to 0.0 as 0.0, not -0.0
        [(IDS[0], 0.0), (IDS[1], 2.0)],
        [(IDS[0], 1.0), (IDS[3], 2.0)],  # IDS[3]'s first volume: a history added
        [(IDS[1], 1.0), (IDS[1], 2.0)],  # named twice: both add up
        [],
    ],
)
def test_volume_columns_record_what_the_same_pairs_record(
    hour_two: list[tuple[InstrumentId, float]],
) -> None:
    got = _hours_of_volumes([_columns(FIRST), _columns(hour_two), _columns(SHUFFLED)])
    expected = _hours_of_volumes([_pairs(FIRST), _pairs(hour_two), _pairs(SHUFFLED)])
    assert got == expected


def test_volume_columns_after_other_volumes_of_the_hour_add_to_them() -> None:
    """A column given while pairs of the hour are pending (sub-hour bars) is added to them."""
    second = _both(_pairs([(IDS[0], 1.0)]), _columns(SHUFFLED))
    got = _hours_of_volumes([_columns(FIRST), second])
    assert got[IDS[0]] == bits([1.5, 1.25])
    plain = _both(_pairs([(IDS[0], 1.0)]), _pairs(SHUFFLED))
    assert got == _hours_of_volumes([_pairs(FIRST), plain])


def test_volumes_after_a_column_of_the_hour_add_to_it() -> None:
    """Pairs or one volume given after the hour's column (kept as a column) add to it."""
    for later in (
        _pairs([(IDS[2], 0.5), (IDS[4], 8.0)]),
        lambda md: md.on_volume(IDS[2], 0.5),
        _columns([(IDS[2], 0.5)]),
    ):
        got = _hours_of_volumes([_columns(FIRST), _both(_columns(SHUFFLED), later)])
        assert got[IDS[2]] == bits([4.0, 3.5])
        assert got[IDS[0]] == bits([1.5, 0.25])
        assert got[IDS[1]] == bits([2.5, 0.0])


def test_a_bad_volume_in_columns_is_refused_naming_it_after_those_before() -> None:
    md = _priced_md(T0_MS)
    md.on_volume_columns((IDS[0], IDS[1]), np.array([1.0, 2.0]))
    md.close_volumes()  # both have a volume history: the column is looked at
    for bad in (math.nan, math.inf, -1.0):
        with pytest.raises(ValueError, match="volume of binance:perp:S1USDT"):
            md.on_volume_columns((IDS[0], IDS[1]), np.array([1.0, bad]))
    with pytest.raises(ValueError, match="1 ids but 2 volumes"):
        md.on_volume_columns((IDS[0],), np.array([1.0, 2.0]))
    md.on_closes([(i, 10.0) for i in IDS], T0_MS + HOUR_MS)
    md.close_volumes()
    snap = md.snapshot(T0_MS + HOUR_MS, (IDS[0], IDS[1]), 2)
    assert snap.volumes[IDS[0]].tolist() == [1.0, 3.0]  # the 1.0 before each bad one
    assert snap.volumes[IDS[1]].tolist() == [2.0, 0.0]
