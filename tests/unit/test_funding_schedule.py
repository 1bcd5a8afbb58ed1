"""Funding schedule registry against the bundled real funding files.

Expectations are read from the raw ``venues/replay/data/<venue>/funding/*.csv.gz`` files with
the csv and gzip modules (settlement stamps rounded to the nearest hour, as PROVENANCE.md
says), never from the loader or the replay source the registry is fed by. Facts stated in
PROVENANCE.md: TIA and TON settle every 4h on Binance and Bybit; Bybit INJUSDT settled hourly
from 2026-02-19 17:00 to 2026-02-26 18:00, then one 6h step to 2026-02-27 00:00, then 8h;
Hyperliquid is 1h; klines open 2024-10-23 08:00 → 2026-03-19 18:00 UTC (bar closes 09:00 →
19:00).
"""

from __future__ import annotations

import csv
import gzip
import math
from datetime import UTC, datetime
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import venues.replay
from agent.engine.funding_schedule import (
    ALERT_KIND,
    FundingScheduleRegistry,
    IntervalChange,
    to_alert,
)
from venues.model import FundingRate, Instrument, InstrumentId, InstrumentKind
from venues.replay.source import ReplayDataset

DATA = Path(venues.replay.__file__).resolve().parent / "data"
H_MS = 3_600_000
H_S = 3_600
PERPS = sorted(p.name.removesuffix("USDT.csv.gz") for p in DATA.glob("binance/funding/*.gz"))
COINS = sorted(p.name.removesuffix(".csv.gz") for p in DATA.glob("hyperliquid/funding/*.gz"))


def utc_ms(text: str) -> int:
    return int(datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC).timestamp() * 1000)


WINDOW = (utc_ms("2024-10-23 09:00"), utc_ms("2026-03-19 19:00"))


def perp(venue: str, symbol: str) -> InstrumentId:
    return InstrumentId(venue, InstrumentKind.PERP, symbol)


BYBIT_INJ = perp("bybit", "INJUSDT")


# ---------------------------------------------------------------- raw files (csv + gzip)


def raw_stamps_ms(iid: InstrumentId) -> list[int]:
    """Settlement times exactly as the venue stamped them (with jitter)."""
    with gzip.open(DATA / iid.venue / "funding" / f"{iid.symbol}.csv.gz", "rt") as fh:
        rows = list(csv.reader(fh))
    assert rows[0][:2] == ["funding_time_ms", "funding_rate"]
    return [int(r[0]) for r in rows[1:]]


def raw_times_ms(iid: InstrumentId) -> list[int]:
    """Settlement times rounded to the nearest hour."""
    return [(t + H_MS // 2) // H_MS * H_MS for t in raw_stamps_ms(iid)]


def raw_expected_changes(iid: InstrumentId) -> list[IntervalChange]:
    """Interval changes inside the bundled window: the interval in force at the window start
    (time since the previous file row) then each gap between in-window settlements."""
    times = raw_times_ms(iid)
    inside = [i for i, t in enumerate(times) if WINDOW[0] <= t <= WINDOW[1]]
    first = inside[0]
    start_gap_ms = times[first] - times[first - 1] if first > 0 else times[1] - times[0]
    current_s = start_gap_ms // 1000
    out = []
    for i in inside[1:]:
        gap_s = (times[i] - times[i - 1]) // 1000
        if gap_s != current_s:
            out.append(IntervalChange(iid, times[i], current_s, gap_s, "settlement"))
            current_s = gap_s
    return out


def all_funding_ids() -> list[InstrumentId]:
    ids = []
    for venue in ("binance", "bybit", "hyperliquid"):
        files = (DATA / venue / "funding").glob("*.csv.gz")
        ids += [perp(venue, p.name.removesuffix(".csv.gz")) for p in files]
    return sorted(ids)


# ---------------------------------------------------------------- feeding the registry


def feed(registry: FundingScheduleRegistry, dataset: ReplayDataset) -> list[IntervalChange]:
    changes = []
    for step in dataset.steps():
        for rate in step.funding:
            change = registry.observe(rate)
            if change is not None:
                changes.append(change)
    return changes


def register_perps(registry: FundingScheduleRegistry, dataset: ReplayDataset) -> None:
    first_ms, _ = dataset.window_ms()
    for inst in dataset.instruments().values():
        if inst.is_perp:
            assert registry.register(inst, first_ms) is None


@pytest.fixture(scope="module")
def full() -> tuple[FundingScheduleRegistry, ReplayDataset, list[IntervalChange]]:
    dataset = ReplayDataset.load(perp_symbols=PERPS, spot_symbols=[])
    assert dataset.window_ms() == WINDOW
    registry = FundingScheduleRegistry()
    register_perps(registry, dataset)
    return registry, dataset, feed(registry, dataset)


def test_every_settlement_of_the_window_yields_exactly_the_changes_in_the_files(
    full: tuple[FundingScheduleRegistry, ReplayDataset, list[IntervalChange]],
) -> None:
    registry, _, changes = full
    ids = all_funding_ids()
    assert (len(PERPS), len(COINS), len(ids)) == (15, 13, 41)  # + 13 Bybit files
    expected = [c for iid in ids for c in raw_expected_changes(iid)]
    assert sorted(changes, key=lambda c: (c.ts_ms, c.instrument_id)) == expected
    assert list(registry.changes) == changes


def test_the_bybit_inj_episode_is_reported_once_per_step_as_provenance_states(
    full: tuple[FundingScheduleRegistry, ReplayDataset, list[IntervalChange]],
) -> None:
    _, _, changes = full
    assert [c for c in changes if c.instrument_id != BYBIT_INJ] == []
    assert changes == [
        IntervalChange(BYBIT_INJ, utc_ms("2026-02-19 17:00"), 8 * H_S, H_S, "settlement"),
        IntervalChange(BYBIT_INJ, utc_ms("2026-02-27 00:00"), H_S, 6 * H_S, "settlement"),
        IntervalChange(BYBIT_INJ, utc_ms("2026-02-27 08:00"), 6 * H_S, 8 * H_S, "settlement"),
    ]
    alerts = [to_alert(c) for c in changes]
    assert {a.kind for a in alerts} == {"funding_interval_changed"}


@pytest.mark.parametrize(
    ("iid", "interval_s"),
    [
        (perp("binance", "TIAUSDT"), 14_400),
        (perp("binance", "TONUSDT"), 14_400),
        (perp("bybit", "TIAUSDT"), 14_400),
        (perp("binance", "BTCUSDT"), 28_800),
        (perp("bybit", "BTCUSDT"), 28_800),
        *((perp("hyperliquid", coin), 3_600) for coin in COINS),
    ],
)
def test_intervals_match_the_raw_files(
    full: tuple[FundingScheduleRegistry, ReplayDataset, list[IntervalChange]],
    iid: InstrumentId,
    interval_s: int,
) -> None:
    registry, dataset, _ = full
    times = raw_times_ms(iid)
    assert {(b - a) // 1000 for a, b in pairwise(times)} == {interval_s}
    assert dataset.instruments()[iid].funding_interval_s == interval_s
    assert registry.interval_s(iid) == interval_s


def test_last_bybit_inj_interval_is_8h_and_next_settlement_is_announced(
    full: tuple[FundingScheduleRegistry, ReplayDataset, list[IntervalChange]],
) -> None:
    registry, _, _ = full
    times = [t for t in raw_times_ms(BYBIT_INJ) if t <= WINDOW[1]]
    assert registry.interval_s(BYBIT_INJ) == (times[-1] - times[-2]) // 1000 == 28_800
    # The last settlement of the file: the next one is derived from its interval.
    assert registry.next_settlement_ms(BYBIT_INJ) == times[-1] + 28_800_000


def test_next_settlement_mid_episode_is_the_next_raw_settlement() -> None:
    end_ms = utc_ms("2026-02-26 18:00")
    dataset = ReplayDataset.load(perp_symbols=["INJ"], spot_symbols=[], end_ms=end_ms)
    registry = FundingScheduleRegistry()
    register_perps(registry, dataset)
    feed(registry, dataset)
    times = raw_times_ms(BYBIT_INJ)
    following = next(t for t in times if t > end_ms)
    assert following == utc_ms("2026-02-27 00:00")
    assert registry.next_settlement_ms(BYBIT_INJ) == following
    assert registry.interval_s(BYBIT_INJ) == H_S


@pytest.mark.parametrize(
    "iid", [perp("binance", "BTCUSDT"), perp("binance", "TIAUSDT"), perp("hyperliquid", "BTC")]
)
def test_projected_settlements_match_the_raw_future(iid: InstrumentId) -> None:
    now_ms = utc_ms("2025-12-01 05:00") + 17 * 60_000  # between settlements of every interval
    dataset = ReplayDataset.load(perp_symbols=[iid.symbol], spot_symbols=[], end_ms=now_ms)
    registry = FundingScheduleRegistry()
    register_perps(registry, dataset)
    feed(registry, dataset)
    week_ms = 7 * 24 * H_MS
    future = [t for t in raw_times_ms(iid) if now_ms < t <= now_ms + week_ms]
    assert registry.next_settlement_after_ms(iid, now_ms) == future[0]
    assert registry.settlements_between(iid, now_ms, now_ms + week_ms) == len(future)


def test_metadata_disagreeing_with_the_first_real_settlement_is_one_settlement_change() -> None:
    listed = ReplayDataset.load(perp_symbols=["INJ"], spot_symbols=[], funding_venues=["bybit"])
    inst = listed.instruments()[BYBIT_INJ]
    assert inst.funding_interval_s == 28_800  # in force when the full window starts
    start_ms = utc_ms("2026-02-19 17:00")
    later = ReplayDataset.load(
        perp_symbols=["INJ"], spot_symbols=[], funding_venues=["bybit"], start_ms=start_ms
    )
    registry = FundingScheduleRegistry()
    assert registry.register(inst, start_ms) is None
    changes = feed(registry, later)
    assert changes[0] == IntervalChange(BYBIT_INJ, start_ms, 28_800, 3_600, "settlement")
    assert changes[1:] == raw_expected_changes(BYBIT_INJ)[1:]


@pytest.mark.parametrize(
    ("iid", "interval_s"),
    [(perp("hyperliquid", "BTC"), 3_600), (perp("binance", "BTCUSDT"), 28_800)],
)
def test_jittered_live_stamps_give_no_change(iid: InstrumentId, interval_s: int) -> None:
    stamps = raw_stamps_ms(iid)
    assert len({t % H_MS for t in stamps}) > 10  # the files carry the venues' jitter
    registry = FundingScheduleRegistry()
    for ts, ts_next in pairwise([*stamps, stamps[-1] + interval_s * 1000]):
        assert registry.observe(FundingRate(iid, 0.0001, interval_s, ts, ts_next)) is None
    assert registry.interval_s(iid) == interval_s


# ---------------------------------------------------------------- synthetic cases

T0 = utc_ms("2025-01-01 00:00")
PID = perp("bybit", "ABCUSDT")


def instrument(interval_s: int | None, iid: InstrumentId = PID) -> Instrument:
    one = Decimal(1)
    return Instrument(iid, "ABC", "USDT", one, one, one, one, funding_interval_s=interval_s)


def settle(ts_ms: int, interval_s: int, iid: InstrumentId = PID) -> FundingRate:
    return FundingRate(iid, 0.0001, interval_s, ts_ms, ts_ms + interval_s * 1000)


def test_relisting_is_reported_once_and_the_closing_old_period_is_accepted() -> None:
    reg = FundingScheduleRegistry()
    reg.register(instrument(28_800), T0)
    assert reg.observe(settle(T0, 28_800)) is None
    assert reg.register(instrument(28_800), T0 + 1) is None
    change = reg.register(instrument(3_600), T0 + 2)
    assert change == IntervalChange(PID, T0 + 2, 28_800, 3_600, "metadata")
    assert reg.interval_s(PID) == 3_600
    assert reg.observe(settle(T0 + 8 * H_MS, 3_600)) is None  # last 8h period closes
    assert reg.observe(settle(T0 + 9 * H_MS, 3_600)) is None
    assert reg.register(instrument(3_600), T0 + 9 * H_MS) is None
    assert reg.changes == (change,)


def test_a_listing_the_settlements_contradict_is_reported_back() -> None:
    reg = FundingScheduleRegistry()
    reg.register(instrument(28_800), T0)
    reg.observe(settle(T0, 28_800))
    reg.register(instrument(3_600), T0 + 1)
    assert reg.observe(settle(T0 + 8 * H_MS, 28_800)) is None
    back = reg.observe(settle(T0 + 16 * H_MS, 28_800))
    assert back == IntervalChange(PID, T0 + 16 * H_MS, 3_600, 28_800, "settlement")


def test_stale_listing_after_settlements_moved_on_does_not_flap() -> None:
    reg = FundingScheduleRegistry()
    reg.register(instrument(28_800), T0)
    reg.observe(settle(T0, 28_800))
    assert reg.observe(settle(T0 + 1 * H_MS, 3_600)) is not None
    assert reg.register(instrument(28_800), T0 + 2 * H_MS) is None  # same stale listing
    assert reg.interval_s(PID) == 3_600
    assert reg.register(instrument(3_600), T0 + 3 * H_MS) is None  # listing catches up
    assert len(reg.changes) == 1


def test_unknown_listing_and_unregistered_perp_learn_from_the_first_settlement() -> None:
    reg = FundingScheduleRegistry()
    assert reg.register(instrument(None), T0) is None
    assert reg.interval_s(PID) is None
    assert reg.next_settlement_ms(PID) is None
    assert reg.observe(settle(T0, 14_400)) is None
    other = perp("binance", "XYZUSDT")
    assert reg.observe(settle(T0, 3_600, other)) is None
    assert (reg.interval_s(PID), reg.interval_s(other)) == (14_400, 3_600)
    assert reg.next_settlement_ms(PID) == T0 + 4 * H_MS
    assert reg.changes == ()


def test_projection_counts_by_hand() -> None:
    reg = FundingScheduleRegistry()
    reg.observe(settle(T0, 14_400))  # next T0 + 4h, then every 4h
    assert reg.next_settlement_after_ms(PID, T0) == T0 + 4 * H_MS
    assert reg.next_settlement_after_ms(PID, T0 + 4 * H_MS) == T0 + 8 * H_MS
    assert reg.next_settlement_after_ms(PID, T0 + 9 * H_MS) == T0 + 12 * H_MS
    assert reg.settlements_between(PID, T0, T0 + 12 * H_MS) == 3  # 4h, 8h, 12h
    assert reg.settlements_between(PID, T0 + 4 * H_MS, T0 + 12 * H_MS - 1) == 1  # 8h
    assert reg.settlements_between(PID, T0, T0 + 4 * H_MS - 1) == 0
    assert reg.settlements_between(PID, T0 + 5 * H_MS, T0 + 5 * H_MS) == 0
    with pytest.raises(ValueError, match="until_ms"):
        reg.settlements_between(PID, T0 + 1, T0)
    with pytest.raises(KeyError, match="XYZUSDT"):
        reg.settlements_between(perp("binance", "XYZUSDT"), T0, T0 + H_MS)


def test_duplicate_settlement_is_ignored_and_older_one_rejected() -> None:
    reg = FundingScheduleRegistry()
    reg.observe(settle(T0, 3_600))
    reg.observe(settle(T0 + H_MS, 3_600))
    assert reg.observe(settle(T0 + H_MS, 3_600)) is None
    with pytest.raises(ValueError, match=r"bybit:perp:ABCUSDT.*before the last one"):
        reg.observe(settle(T0, 3_600))
    with pytest.raises(ValueError, match="ms apart"):
        reg.observe(settle(T0 + H_MS + 20_000, 3_600))


def test_bad_input_names_what_is_wrong() -> None:
    reg = FundingScheduleRegistry()
    spot = InstrumentId("binance", InstrumentKind.SPOT, "ABCUSDT")
    with pytest.raises(ValueError, match="binance:spot:ABCUSDT is not a perp"):
        reg.register(instrument(None, spot), T0)
    with pytest.raises(ValueError, match="binance:spot:ABCUSDT is not a perp"):
        reg.observe(settle(T0, 3_600, spot))
    with pytest.raises(ValueError, match="funding_interval_s must be positive, got 0"):
        reg.register(instrument(0), T0)
    with pytest.raises(ValueError, match="interval_s must be positive, got -3600"):
        reg.observe(FundingRate(PID, 0.0, -3_600, T0, T0 + H_MS))
    with pytest.raises(ValueError, match="ts_next_funding_ms"):
        reg.observe(FundingRate(PID, 0.0, 3_600, T0, T0))


def test_alert_fields() -> None:
    change = IntervalChange(BYBIT_INJ, utc_ms("2026-02-19 17:00"), 28_800, 3_600, "settlement")
    alert = to_alert(change)
    assert alert.kind == ALERT_KIND == "funding_interval_changed"
    assert dict(alert.fields) == {
        "instrument": "bybit:perp:INJUSDT",
        "old_interval_s": 28_800,
        "new_interval_s": 3_600,
        "ts_ms": 1_771_520_400_000,
        "source": "settlement",
    }
    assert alert.message == "bybit:perp:INJUSDT funding interval 8h -> 1h (settlement)"


@given(
    carry_per_h=st.floats(-0.01, 0.01, allow_nan=False),
    hours=st.sampled_from([1, 4, 8]),
)
def test_rate_per_hour_is_the_same_carry_on_any_interval(carry_per_h: float, hours: int) -> None:
    reg = FundingScheduleRegistry()
    rate = FundingRate(PID, carry_per_h * hours, hours * H_S, T0, T0 + hours * H_MS)
    assert math.isclose(reg.rate_per_hour(rate), carry_per_h, rel_tol=1e-12, abs_tol=1e-18)
