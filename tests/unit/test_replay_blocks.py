"""Replay iteration a block of steps at a time (``venues.replay.grid.STEPS_PER_BLOCK``): the
steps, their closes and their settlements are those of converting the whole window at once
(the way it was done before, kept here), to the bit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from venues.model import HOUR_MS, FundingRate, InstrumentId, InstrumentKind
from venues.replay import grid, source
from venues.replay.grid import FundingTable
from venues.replay.loader import bundled_data_dir
from venues.replay.source import ReplayDataset

IDS = tuple(InstrumentId("bybit", InstrumentKind.PERP, f"S{k}USDT") for k in range(4))


def whole_window_per_step(
    table: FundingTable, ts_close_ms: list[int]
) -> Iterator[tuple[FundingRate, ...]]:
    """``FundingTable.per_step`` as it was: every column turned into Python values at once
    (the next settlement's time from the step's time and the table's gap)."""
    step_ms = np.repeat(np.array(ts_close_ms, dtype=np.int64), np.diff(table.offsets))
    rows = zip(
        [table.ids[s] for s in table.series.tolist()],
        table.rate.tolist(),
        table.interval_s.tolist(),
        (step_ms + table.to_next_ms).tolist(),
        table.mark_price.tolist(),
        strict=True,
    )
    for ts, count in zip(ts_close_ms, np.diff(table.offsets).tolist(), strict=True):
        yield tuple(
            FundingRate(iid, rate, interval, ts, ts_next, mark)
            for iid, rate, interval, ts_next, mark in (next(rows) for _ in range(count))
        )


def random_table(rng: np.random.Generator, n_steps: int) -> FundingTable:
    counts = rng.integers(0, 4, size=n_steps)
    m = int(counts.sum())
    mark = rng.lognormal(size=m)
    mark[rng.random(m) < 0.2] = np.nan
    return FundingTable(
        ids=IDS,
        series=rng.integers(0, len(IDS), size=m),
        rate=rng.normal(scale=1e-4, size=m),
        interval_s=rng.choice([3_600, 14_400, 28_800], size=m),
        to_next_ms=rng.integers(0, 2**40, size=m),
        mark_price=mark,
        offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
    )


def as_bits(steps: list[tuple[FundingRate, ...]]) -> list[list[tuple[object, ...]]]:
    return [
        [
            (
                r.instrument_id,
                r.rate.hex(),
                r.interval_s,
                r.ts_funding_ms,
                r.ts_next_funding_ms,
                None if r.mark_price is None else r.mark_price.hex(),
            )
            for r in step
        ]
        for step in steps
    ]


@pytest.mark.parametrize("n_steps", [0, 1, 6, 7, 8, 50])
def test_per_step_in_blocks_gives_the_whole_window_settlements(
    monkeypatch: pytest.MonkeyPatch, n_steps: int
) -> None:
    monkeypatch.setattr(grid, "STEPS_PER_BLOCK", 7)
    table = random_table(np.random.default_rng(n_steps), n_steps)
    ts = [1_700_000_000_000 + k * 3_600_000 for k in range(n_steps)]
    got = list(table.per_step(ts))
    want = list(whole_window_per_step(table, ts))
    assert len(got) == n_steps
    assert as_bits(got) == as_bits(want)


def test_per_step_refuses_step_times_of_another_length() -> None:
    table = random_table(np.random.default_rng(1), 5)
    with pytest.raises(ValueError, match="4 step times for 5 steps"):
        list(table.per_step([0, 1, 2, 3]))


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_steps_in_small_blocks_are_those_of_one_block(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Rows with and without every close (bars missing) and settlements, across block edges."""
    for src in bundled_data_dir().glob("*/instruments.csv"):
        _write(tmp_path / src.parent.name / src.name, src.read_text())
    t0_ms = 1_756_684_800_000  # 2025-09-01 00:00 UTC
    rng = np.random.default_rng(3)
    missing = {"BTC": {5, 17}, "ETH": {0, 1, 22, 23}}
    for base, gaps in missing.items():
        closes = rng.lognormal(size=40).tolist()
        rows = [
            f"{t0_ms + i * HOUR_MS},{c!r},{c * 1.1!r},{c * 0.9!r},{c!r},{float(rng.random())!r}"
            for i, c in enumerate(closes)
            if i not in gaps
        ]
        _write(
            tmp_path / f"binance/perp/{base}USDT_1h.csv",
            "open_time_ms,open,high,low,close,volume\n" + "\n".join(rows),
        )
        hourly = "\n".join(
            f"{t0_ms + i * HOUR_MS + 7},{float(rng.normal()) * 1e-4!r}" for i in range(41)
        )
        _write(
            tmp_path / f"hyperliquid/funding/{base}.csv", "funding_time_ms,funding_rate\n" + hourly
        )
    dataset = ReplayDataset.load(tmp_path, perp_symbols=["BTCUSDT", "ETHUSDT"], spot_symbols=[])

    def run(block: int) -> list[tuple[int, object, list[FundingRate], object]]:
        monkeypatch.setattr(grid, "STEPS_PER_BLOCK", block)
        monkeypatch.setattr(source, "STEPS_PER_BLOCK", block)
        return [
            (
                step.ts_ms,
                [(iid, close.hex()) for iid, close in step.closes.items()],
                list(step.funding),
                [(iid, volume.hex()) for iid, volume in step.volumes.items()],  # the row
            )
            for step in dataset.steps()
        ]

    whole = run(10**9)
    assert len(whole) == dataset.step_count() >= 38
    assert {len(closes) for _, closes, _, _ in whole} == {1, 2}  # type: ignore[arg-type]
    assert sum(len(funding) for _, _, funding, _ in whole) > 60
    for block in (1, 3, 7, 16):
        assert run(block) == whole
    # each step's volumes (rows with every bar and rows missing some) are the recorded ones
    expected: dict[int, dict[InstrumentId, str]] = {}
    for iid in dataset.instruments():
        if iid.venue != "binance":
            continue  # priced by the Binance perp: no bars of its own
        series = dataset.kline_series(iid)
        for open_ms, volume in zip(series.ts_open_ms.tolist(), series.volume.tolist(), strict=True):
            expected.setdefault(open_ms + HOUR_MS, {})[iid] = volume.hex()
    for ts_ms, _, _, volumes in whole:
        assert dict(volumes) == expected[ts_ms]  # type: ignore[call-overload]
