"""``zerobeta data download`` (agent.data.download): replay-format files, resume, manifest, CLI.

Most tests use an in-memory :class:`FakeSource` whose bars and settlements follow a formula
the tests recompute by hand, and which counts every request; one test runs end to end through
:class:`~venues.dydx.client.DydxMarketData` behind respx (a stateful Indexer fake answering in
the recorded payload shapes of ``tests/fixtures/dydx-v4/``).
"""

from __future__ import annotations

import argparse
import copy
import csv
import gzip
import hashlib
import io
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import respx
from structlog.testing import capture_logs

from agent.data.download import DownloadProgress, download, register_cli, replay_note, run_cli
from tests.unit.conftest import FakeClock
from venues.base import MarketDataSource
from venues.dydx.client import DydxMarketData
from venues.dydx.rest import DydxIndexerRest
from venues.errors import TransportError
from venues.model import (
    HOUR_MS,
    Bar,
    FundingRate,
    Instrument,
    InstrumentId,
    InstrumentKind,
    MarkPrice,
)
from venues.replay.loader import load_funding, load_klines
from venues.replay.source import ReplayDataset

PERP, SPOT = InstrumentKind.PERP, InstrumentKind.SPOT
DAY_MS = 24 * HOUR_MS
T0 = 1_704_067_200_000  # 2024-01-01T00:00Z
FAR_MS = T0 + 1000 * DAY_MS
EIGHT_H_MS = 8 * HOUR_MS
JITTER_MS = 3


def price(ts_open_ms: int, kind: InstrumentKind) -> float:
    """Open price of the fake's bar opening at ``ts_open_ms``: 30000 + 0.5 per hour (spot −3)."""
    return 30_000.0 + (ts_open_ms - T0) // HOUR_MS * 0.5 - (3.0 if kind is SPOT else 0.0)


REPO = Path(__file__).resolve().parents[2]
RULES = {
    InstrumentId("binance", InstrumentKind.PERP, "BTCUSDT"): Instrument(
        InstrumentId("binance", InstrumentKind.PERP, "BTCUSDT"), "BTC", "USDT",
        Decimal("0.1"), Decimal("0.001"), Decimal("0.001"), Decimal("100"),
        funding_interval_s=28_800,
    ),
    InstrumentId("binance", InstrumentKind.SPOT, "BTCUSDT"): Instrument(
        InstrumentId("binance", InstrumentKind.SPOT, "BTCUSDT"), "BTC", "USDT",
        Decimal("0.01"), Decimal("0.00001"), Decimal("0.00001"), Decimal("5"),
    ),
}  # fmt: skip
"""What the fake venue's instrument endpoint lists."""


class FakeSource:
    """In-memory MarketDataSource: bars of the interval asked (hourly by default) and 8-hourly
    settlements by formula; counts calls, records the intervals asked and can fail on the n-th
    ``fetch_bars``."""

    def __init__(self, name: str = "binance", *, fail_on_bar_call: int | None = None) -> None:
        self._name = name
        self.fail_on_bar_call = fail_on_bar_call
        self.bar_calls: list[tuple[InstrumentId, int, int]] = []
        self.funding_calls: list[tuple[InstrumentId, int, int]] = []
        self.bar_intervals_s: set[int] = set()
        self.opened = self.closed = False

    @property
    def name(self) -> str:
        return self._name

    async def open(self) -> None:
        self.opened = True

    async def close(self) -> None:
        self.closed = True

    async def load_instruments(self) -> Mapping[InstrumentId, Instrument]:
        return {iid: inst for iid, inst in RULES.items() if iid.venue == self._name}

    async def fetch_funding(self, instrument_ids: Sequence[InstrumentId]) -> list[FundingRate]:
        return []

    async def fetch_funding_history(
        self, instrument_id: InstrumentId, start_ms: int, end_ms: int
    ) -> list[FundingRate]:
        self.funding_calls.append((instrument_id, start_ms, end_ms))
        first_k = -(-(start_ms - T0 - JITTER_MS) // EIGHT_H_MS)
        out = []
        for k in range(max(first_k, 0), (end_ms - T0 - JITTER_MS) // EIGHT_H_MS + 1):
            ts = T0 + k * EIGHT_H_MS + JITTER_MS
            if start_ms <= ts < end_ms:
                rate = 1e-4 * (k % 5 - 2)
                out.append(
                    FundingRate(instrument_id, rate, 28_800, ts, ts + EIGHT_H_MS, 30_000.0 + k)
                )
        return out

    async def fetch_bars(
        self, instrument_id: InstrumentId, start_ms: int, end_ms: int, interval_s: int
    ) -> list[Bar]:
        self.bar_calls.append((instrument_id, start_ms, end_ms))
        self.bar_intervals_s.add(interval_s)
        if self.fail_on_bar_call == len(self.bar_calls):
            raise TransportError("connection reset", venue=self._name)
        step = interval_s * 1000
        first = max(T0, -(-start_ms // step) * step)
        out = []
        for ts in range(first, end_ms, step):
            o = price(ts, instrument_id.kind)
            out.append(Bar(instrument_id, ts, ts + step, o, o + 2.0, o - 1.0, o + 0.5, 10.25))
        return out

    def stream_marks(self, instrument_ids: Sequence[InstrumentId]) -> AsyncIterator[MarkPrice]:
        raise NotImplementedError


def read_text(path: Path) -> str:
    return gzip.decompress(path.read_bytes()).decode()


def part_files(root: Path) -> list[Path]:
    return list(root.rglob("*.part"))


def manifest(root: Path) -> dict[str, dict[str, str]]:
    with open(root / "manifest.csv", newline="") as fh:
        return {row["path"]: row for row in csv.DictReader(fh)}


async def run(source: FakeSource, out: Path, start: int, end: int, **kw: Any) -> Any:
    kw.setdefault("symbols", ["BTCUSDT"])
    kw.setdefault("now_ms", lambda: FAR_MS)
    return await download(source, venue=source.name, start_ms=start, end_ms=end, out_dir=out, **kw)


# --- format: the replay loader reads what we write -----------------------------------------


async def test_download_writes_files_replay_dataset_loads(tmp_path: Path) -> None:
    source = FakeSource()
    assert isinstance(source, MarketDataSource)
    end = T0 + 70 * DAY_MS
    results = await run(source, tmp_path, T0, end, kinds=[PERP, SPOT])

    files = [r.file for r in results]
    assert files == [
        "binance/perp/BTCUSDT_1h.csv.gz",
        "binance/funding/BTCUSDT.csv.gz",
        "binance/spot/BTCUSDT_1h.csv.gz",
        "binance/instruments.csv",
    ]
    # 30 + 30 + 10 days per file.
    thirty = 30 * DAY_MS
    perp = InstrumentId("binance", PERP, "BTCUSDT")
    assert [c for c in source.bar_calls if c[0] == perp] == [
        (perp, T0, T0 + thirty),
        (perp, T0 + thirty, T0 + 2 * thirty),
        (perp, T0 + 2 * thirty, end),
    ]
    assert len(source.funding_calls) == 3

    dataset = ReplayDataset.load(
        tmp_path, perp_symbols=["BTCUSDT"], spot_symbols=["BTCUSDT"], funding_venues=["binance"]
    )
    assert dataset.step_count() == 70 * 24
    for iid, listed in RULES.items():  # the replay trades with the rules the venue listed
        got = dataset.instruments()[iid]
        assert (got.tick_size, got.lot_step, got.min_qty, got.min_notional_usd) == (
            listed.tick_size, listed.lot_step, listed.min_qty, listed.min_notional_usd,
        )  # fmt: skip
    assert dataset.window_ms() == (T0 + HOUR_MS, end)
    closes = dataset.closes_matrix([perp, InstrumentId("binance", SPOT, "BTCUSDT")])
    hours = np.arange(70 * 24)
    np.testing.assert_array_equal(closes[:, 0], 30_000.5 + 0.5 * hours)
    np.testing.assert_array_equal(closes[:, 1], 29_997.5 + 0.5 * hours)
    funding = dataset.funding_series(perp)
    assert len(funding) == 70 * 3
    np.testing.assert_array_equal(funding.ts_funding_ms, T0 + EIGHT_H_MS * np.arange(210))
    np.testing.assert_array_equal(funding.mark_price, 30_000.0 + np.arange(210))
    assert funding.rate[:5].tolist() == pytest.approx([-2e-4, -1e-4, 0.0, 1e-4, 2e-4])
    assert set(funding.interval_s.tolist()) == {28_800}


async def test_files_match_the_bundled_text_format(tmp_path: Path) -> None:
    await run(FakeSource(), tmp_path, T0, T0 + DAY_MS)
    kline = read_text(tmp_path / "binance/perp/BTCUSDT_1h.csv.gz").split("\n")
    assert kline[:3] == [
        "open_time_ms,open,high,low,close,volume",
        "1704067200000,30000.0,30002.0,29999.0,30000.5,10.25",
        "1704070800000,30000.5,30002.5,29999.5,30001.0,10.25",
    ]
    assert kline[-1] == ""  # final newline, as the bundle
    funding = read_text(tmp_path / "binance/funding/BTCUSDT.csv.gz").split("\n")
    assert funding[:3] == [
        "funding_time_ms,funding_rate,mark_price",
        "1704067200003,-0.0002,30000.0",
        "1704096000003,-0.0001,30001.0",
    ]
    raw = (tmp_path / "binance/perp/BTCUSDT_1h.csv.gz").read_bytes()
    assert raw[3] == 0  # no file name stored
    assert raw[4:8] == b"\x00\x00\x00\x00"  # mtime 0: byte-identical reruns


async def test_manifest_records_rows_span_and_sha256(tmp_path: Path) -> None:
    (tmp_path / "manifest.csv").write_text(
        "path,rows,first_ms,last_ms,sha256\nbinance/funding/ADAUSDT.csv.gz,2,1,2,ab\n"
    )
    await run(FakeSource(), tmp_path, T0, T0 + 2 * DAY_MS)
    rows = manifest(tmp_path)
    assert list(rows) == [
        "binance/funding/ADAUSDT.csv.gz",  # kept
        "binance/funding/BTCUSDT.csv.gz",
        "binance/perp/BTCUSDT_1h.csv.gz",
    ]
    for rel in ("binance/funding/BTCUSDT.csv.gz", "binance/perp/BTCUSDT_1h.csv.gz"):
        raw = gzip.decompress((tmp_path / rel).read_bytes())
        assert rows[rel]["sha256"] == hashlib.sha256(raw).hexdigest()
    kline = rows["binance/perp/BTCUSDT_1h.csv.gz"]
    assert (kline["rows"], kline["first_ms"], kline["last_ms"]) == (
        "48",
        str(T0),
        str(T0 + 47 * HOUR_MS),
    )
    assert rows["binance/funding/BTCUSDT.csv.gz"]["rows"] == "6"


# --- resume --------------------------------------------------------------------------------


async def test_interrupted_download_resumes_with_only_the_missing_chunks(tmp_path: Path) -> None:
    end = T0 + 70 * DAY_MS
    broken = FakeSource(fail_on_bar_call=3)
    with pytest.raises(TransportError):
        await run(broken, tmp_path / "a", T0, end)
    perp_file = tmp_path / "a/binance/perp/BTCUSDT_1h.csv.gz"
    assert len(load_klines(perp_file)) == 60 * 24  # two chunks kept
    assert not part_files(tmp_path / "a")
    assert manifest(tmp_path / "a")["binance/perp/BTCUSDT_1h.csv.gz"]["rows"] == "1440"

    resumed = FakeSource()
    results = await run(resumed, tmp_path / "a", T0, end)
    perp = InstrumentId("binance", PERP, "BTCUSDT")
    assert resumed.bar_calls == [(perp, T0 + 60 * DAY_MS, end)]  # continued from the last row
    assert len(resumed.funding_calls) == 3  # funding had not started
    # the interrupted run stopped before writing the rules file: this run adds its one row
    assert [r.rows_added for r in results] == [10 * 24, 210, 1]

    fresh = FakeSource()
    await run(fresh, tmp_path / "b", T0, end)
    for rel in ("binance/perp/BTCUSDT_1h.csv.gz", "binance/funding/BTCUSDT.csv.gz", "manifest.csv"):
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()


async def test_rerun_of_a_complete_download_refetches_no_bar(tmp_path: Path) -> None:
    end = T0 + 10 * DAY_MS
    await run(FakeSource(), tmp_path, T0, end)
    before = (tmp_path / "binance/perp/BTCUSDT_1h.csv.gz").read_bytes()
    again = FakeSource()
    results = await run(again, tmp_path, T0, end)
    assert again.bar_calls == []
    last_settlement = T0 + 29 * EIGHT_H_MS + JITTER_MS
    perp = InstrumentId("binance", PERP, "BTCUSDT")
    assert again.funding_calls == [(perp, last_settlement + 1, end)]  # only the unsettled tail
    assert [r.rows_added for r in results] == [0, 0, 0]
    assert (tmp_path / "binance/perp/BTCUSDT_1h.csv.gz").read_bytes() == before


async def test_a_wider_window_fetches_before_and_after_the_file(tmp_path: Path) -> None:
    await run(FakeSource(), tmp_path, T0 + 10 * DAY_MS, T0 + 20 * DAY_MS, kinds=[SPOT])
    wider = FakeSource()
    await run(wider, tmp_path, T0, T0 + 40 * DAY_MS, kinds=[SPOT])
    spot = InstrumentId("binance", SPOT, "BTCUSDT")
    assert wider.bar_calls == [
        (spot, T0, T0 + 10 * DAY_MS),
        (spot, T0 + 20 * DAY_MS, T0 + 40 * DAY_MS),
    ]
    series = load_klines(tmp_path / "binance/spot/BTCUSDT_1h.csv.gz")
    assert series.ts_open_ms.tolist() == list(range(T0, T0 + 40 * DAY_MS, HOUR_MS))


async def test_forming_bar_and_future_settlements_are_not_fetched(tmp_path: Path) -> None:
    now = T0 + 5 * DAY_MS + 30 * 60_000  # 5 days and 30 minutes in
    source = FakeSource()
    await run(source, tmp_path, T0, T0 + 10 * DAY_MS, now_ms=lambda: now)
    perp = InstrumentId("binance", PERP, "BTCUSDT")
    assert source.bar_calls == [(perp, T0, T0 + 5 * DAY_MS)]  # the 5d 00:00 bar still forms
    assert source.funding_calls == [(perp, T0, now)]


async def test_an_existing_two_column_funding_file_keeps_its_header(tmp_path: Path) -> None:
    path = tmp_path / "okx/funding/BTC-USDT-SWAP.csv.gz"
    path.parent.mkdir(parents=True)
    path.write_bytes(gzip.compress(b"funding_time_ms,funding_rate\n1704038400003,5e-05\n"))
    await run(FakeSource("okx"), tmp_path, T0, T0 + DAY_MS, symbols=["BTC-USDT-SWAP"])
    lines = read_text(path).split("\n")
    assert lines[:3] == [
        "funding_time_ms,funding_rate",
        "1704038400003,5e-05",  # kept byte-identical
        "1704067200003,-0.0002",
    ]
    series = load_funding(path, "okx")
    assert len(series) == 4


async def test_bybit_funding_files_have_no_mark_column_like_the_bundle(tmp_path: Path) -> None:
    await run(FakeSource("bybit"), tmp_path, T0, T0 + DAY_MS)
    header = read_text(tmp_path / "bybit/funding/BTCUSDT.csv.gz").split("\n")[0]
    assert header == "funding_time_ms,funding_rate"


async def test_progress_is_reported_after_every_chunk(tmp_path: Path) -> None:
    seen: list[DownloadProgress] = []
    await run(FakeSource(), tmp_path, T0, T0 + 70 * DAY_MS, progress=seen.append)
    assert [p.chunks_done for p in seen] == list(range(1, 7))
    assert {p.chunks_total for p in seen} == {6}
    assert [p.file_rows for p in seen[:3]] == [720, 1440, 1680]
    assert seen[-1].done_frac == 1.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"venue": "okx"}, "not venue 'okx'"),
        ({"start_ms": T0 + DAY_MS}, "empty window"),
        ({"symbols": ["../etc"]}, "plain names"),
        ({"chunk_ms": 0}, "chunk_ms"),
    ],
)
async def test_bad_arguments_are_refused(
    tmp_path: Path, kwargs: dict[str, Any], match: str
) -> None:
    args: dict[str, Any] = {
        "venue": "binance",
        "symbols": ["BTCUSDT"],
        "start_ms": T0,
        "end_ms": T0 + DAY_MS,
        "out_dir": tmp_path,
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        await download(FakeSource(), **args)


# --- command line --------------------------------------------------------------------------


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="zerobeta")
    register_cli(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["data", "download", *argv])


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_cli_downloads_and_logs_one_line_per_chunk(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = parse(
        "--venue", "binance", "--symbols", "BTCUSDT,ETHUSDT", "--from", "2024-01-01",
        "--to", "2024-01-03", "--out", str(tmp_path), "--kinds", "perp,spot",
    )  # fmt: skip
    assert (args.command, args.data_command) == ("data", "download")
    sources: list[FakeSource] = []

    def factory(venue: str) -> MarketDataSource:
        sources.append(FakeSource(venue))
        return sources[-1]

    with capture_logs() as logs:
        code = run_cli(args, factory=factory, stream=io.StringIO(), now_ms=lambda: FAR_MS)
    assert code == 0
    assert sources[0].opened
    assert sources[0].closed
    chunk_logs = [e for e in logs if e["event"] == "download_chunk_completed"]
    assert len(chunk_logs) == 6  # 2 symbols × (perp klines, funding, spot klines), 1 chunk each
    assert (tmp_path / "binance/spot/ETHUSDT_1h.csv.gz").is_file()
    out = capsys.readouterr().out
    assert "binance/perp/BTCUSDT_1h.csv.gz: 48 rows (+48)" in out
    assert "replay: point market_data.data_dir at the output directory" in out


@pytest.mark.parametrize(
    ("venue", "replayed"),
    [("binance", True), ("bybit", True), ("hyperliquid", True), ("okx", False), ("dydx", False)],
)
def test_the_cli_says_what_the_replay_reads_of_a_download(venue: str, replayed: bool) -> None:
    note = replay_note(venue, (InstrumentKind.PERP,))
    assert note.startswith("replay: ")
    assert ("not replayed" in note and venue in note) is not replayed


def test_cli_draws_a_bar_on_a_tty(tmp_path: Path) -> None:
    args = parse(
        "--venue", "binance", "--symbols", "BTCUSDT", "--from", "2024-01-01", "--to",
        "2024-01-02", "--out", str(tmp_path),
    )  # fmt: skip
    tty = Tty()
    with capture_logs() as logs:
        assert run_cli(args, factory=FakeSource, stream=tty, now_ms=lambda: FAR_MS) == 0
    drawn = tty.getvalue()
    assert "download" in drawn
    assert "100%" in drawn  # the bar's last state: every chunk done
    assert "binance/funding/BTCUSDT.csv.gz" in drawn or "BTCUSDT" in drawn
    assert not [e for e in logs if e["event"] == "download_chunk_completed"]  # bar, not lines


def test_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--symbols", "BTCUSDT", "--out", str(tmp_path)]
    dates = ["--from", "2024-01-01", "--to", "2024-01-03"]

    def unknown(venue: str) -> MarketDataSource:
        raise KeyError(venue)

    assert run_cli(parse("--venue", "nope", *base, *dates), factory=unknown) == 2
    backwards = parse("--venue", "binance", *base, "--from", "2024-01-03", "--to", "2024-01-01")
    assert run_cli(backwards, factory=FakeSource) == 2

    def failing(venue: str) -> MarketDataSource:
        return FakeSource(venue, fail_on_bar_call=1)

    args = parse("--venue", "binance", *base, *dates)
    assert run_cli(args, factory=failing, stream=io.StringIO(), now_ms=lambda: FAR_MS) == 1
    assert "rerun the same command to resume" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        parse("--venue", "binance", *base, *dates, "--kinds", "futures")
    assert info.value.code == 2


# --- end to end through DydxMarketData behind respx ----------------------------------------

FIXTURES = Path(__file__).parent.parent / "fixtures" / "dydx-v4"
BASE_URL = "https://indexer.example.test"
HEIGHT0 = 60_000_000


def iso(ts_ms: int) -> str:
    stamp = datetime.fromtimestamp(ts_ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{ts_ms % 1000:03d}Z"


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


class FakeIndexer:
    """Candles and historical funding of BTC-USD, hourly from T0 for ``hours`` hours, in the
    recorded shapes, honouring fromISO/toISO/limit and effectiveBeforeOrAt(/Height)."""

    def __init__(self, hours: int) -> None:
        self.hours = hours
        fixtures = {n: json.loads((FIXTURES / n).read_text()) for n in ("candles_btc_1min.json",)}
        self.candle = fixtures["candles_btc_1min.json"]["candles"][0]
        self.funding = json.loads((FIXTURES / "historical_funding_btc.json").read_text())[
            "historicalFunding"
        ][0]

    def candles(self, request: httpx.Request) -> httpx.Response:
        q = request.url.params
        assert q["resolution"] == "1HOUR"
        lo, hi, limit = ms(q["fromISO"]), ms(q["toISO"]), int(q["limit"])
        opens = [t for t in range(T0, T0 + self.hours * HOUR_MS, HOUR_MS) if lo <= t < hi]
        rows = []
        for t in sorted(opens, reverse=True)[:limit]:
            k = (t - T0) // HOUR_MS
            row = copy.deepcopy(self.candle)
            row.update(startedAt=iso(t), resolution="1HOUR", open=f"{40000 + k}")
            row.update(high=f"{40010 + k}", low=f"{39990 + k}", close=f"{40001 + k}")
            row.update(baseTokenVolume=f"{k % 7}.5")
            rows.append(row)
        return httpx.Response(200, json={"candles": rows})

    def historical_funding(self, request: httpx.Request) -> httpx.Response:
        q = request.url.params
        limit = int(q["limit"])
        rows = []
        for k in range(self.hours - 1, -1, -1):
            t, height = T0 + k * HOUR_MS + 219, HEIGHT0 + k * 5000
            if "effectiveBeforeOrAt" in q and t > ms(q["effectiveBeforeOrAt"]):
                continue
            if "effectiveBeforeOrAtHeight" in q and height > int(q["effectiveBeforeOrAtHeight"]):
                continue
            row = dict(self.funding, effectiveAt=iso(t), effectiveAtHeight=str(height))
            row.update(rate=f"{(k % 9 - 4) * 0.000000125:.9f}", price=f"{40000.5 + k}")
            rows.append(row)
        return httpx.Response(200, json={"historicalFunding": rows[:limit]})


async def test_end_to_end_dydx_download_is_loadable(tmp_path: Path, clock: FakeClock) -> None:
    hours = 50 * 24
    indexer = FakeIndexer(hours)
    router = respx.MockRouter(assert_all_mocked=True, base_url=BASE_URL)
    candles = router.get("/v4/candles/perpetualMarkets/BTC-USD").mock(side_effect=indexer.candles)
    funding = router.get("/v4/historicalFunding/BTC-USD").mock(
        side_effect=indexer.historical_funding
    )
    markets = json.loads(
        (REPO / "tests/fixtures/dydx-v4/perpetual_markets_btc_eth_sol.json").read_text()
    )
    router.get("/v4/perpetualMarkets").mock(return_value=httpx.Response(200, json=markets))
    rest = DydxIndexerRest.create(
        BASE_URL, transport=httpx.MockTransport(router.handler), clock=clock, sleep=clock.sleep
    )
    source = DydxMarketData(rest, now_ms=lambda: FAR_MS, sleep=clock.sleep)
    end = T0 + hours * HOUR_MS
    try:
        results = await download(
            source, venue="dydx", symbols=["BTC-USD"], start_ms=T0, end_ms=end,
            out_dir=tmp_path, chunk_ms=50 * DAY_MS, now_ms=lambda: FAR_MS,
        )  # fmt: skip
    finally:
        await source.close()
    assert [r.file for r in results] == [
        "dydx/perp/BTC-USD_1h.csv.gz",
        "dydx/funding/BTC-USD.csv.gz",
        "dydx/instruments.csv",
    ]
    assert candles.call_count == 2  # 1200 candles: a page of 1000, then 200
    assert funding.call_count == 2

    bars = load_klines(tmp_path / "dydx/perp/BTC-USD_1h.csv.gz")
    k = np.arange(hours)
    np.testing.assert_array_equal(bars.ts_open_ms, T0 + HOUR_MS * k)
    np.testing.assert_array_equal(bars.open, 40_000.0 + k)
    np.testing.assert_array_equal(bars.close, 40_001.0 + k)
    np.testing.assert_array_equal(bars.volume, k % 7 + 0.5)
    rates = load_funding(tmp_path / "dydx/funding/BTC-USD.csv.gz", "dydx")
    np.testing.assert_array_equal(rates.ts_funding_ms, T0 + HOUR_MS * k)  # rounded to the hour
    np.testing.assert_allclose(rates.rate, (k % 9 - 4) * 0.000000125, rtol=0, atol=1e-18)
    np.testing.assert_array_equal(rates.mark_price, 40_000.5 + k)
    assert set(rates.interval_s.tolist()) == {3600}
    assert manifest(tmp_path)["dydx/funding/BTC-USD.csv.gz"]["rows"] == str(hours)


# --- pure parts and crash safety -----------------------------------------------------------


def test_missing_ranges_and_chunks() -> None:
    from agent.data.files import chunked, missing_ranges

    h = HOUR_MS
    assert missing_ranges(None, 0, 10 * h, h) == [(0, 10 * h)]
    assert missing_ranges((2 * h, 5 * h), 0, 10 * h, h) == [(0, 2 * h), (6 * h, 10 * h)]
    assert missing_ranges((2 * h + 24, 5 * h + 24), 2 * h, 10 * h, 1) == [(5 * h + 25, 10 * h)]
    assert missing_ranges((0, 9 * h), 0, 10 * h, h) == []
    assert chunked([(0, 10), (20, 25)], 4) == [(0, 4), (4, 8), (8, 10), (20, 24), (24, 25)]


async def test_a_failed_rename_leaves_the_previous_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await run(FakeSource(), tmp_path, T0, T0 + DAY_MS, kinds=[SPOT])
    path = tmp_path / "binance/spot/BTCUSDT_1h.csv.gz"
    before = path.read_bytes()

    def crash(src: Any, dst: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("agent.data.files.os.replace", crash)
    with pytest.raises(OSError, match="disk full"):
        await run(FakeSource(), tmp_path, T0, T0 + 2 * DAY_MS, kinds=[SPOT])
    assert path.read_bytes() == before
    monkeypatch.undo()
    resumed = FakeSource()  # the stale .part is simply overwritten
    await run(resumed, tmp_path, T0, T0 + 2 * DAY_MS, kinds=[SPOT])
    assert len(load_klines(path)) == 48
    assert not part_files(tmp_path)


# --- bar intervals -------------------------------------------------------------------------


async def test_a_1m_download_sits_beside_the_1h_file_and_loads_as_1m(tmp_path: Path) -> None:
    """``interval="1m"`` writes ``BTCUSDT_1m.csv.gz`` next to the 1h file, one row a minute,
    the forming minute left out; a rerun fetches only the minutes after the last row."""
    hourly, minute = FakeSource(), FakeSource()
    await run(hourly, tmp_path, T0, T0 + 2 * HOUR_MS)
    now = T0 + 2 * HOUR_MS + 30_000  # half-way through 02:00's first minute
    await run(minute, tmp_path, T0, T0 + DAY_MS, interval="1m", now_ms=lambda: now)
    assert (hourly.bar_intervals_s, minute.bar_intervals_s) == ({3_600}, {60})
    rows = read_text(tmp_path / "binance/perp/BTCUSDT_1m.csv.gz").splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows] == list(range(T0, T0 + 2 * HOUR_MS, 60_000))
    assert len(load_klines(tmp_path / "binance/perp/BTCUSDT_1h.csv.gz")) == 2
    assert len(load_klines(tmp_path / "binance/perp/BTCUSDT_1m.csv.gz", 60_000)) == 120
    assert manifest(tmp_path)["binance/perp/BTCUSDT_1m.csv.gz"]["rows"] == "120"
    again = FakeSource()
    later = T0 + 2 * HOUR_MS + 5 * 60_000
    await run(again, tmp_path, T0, T0 + DAY_MS, interval="1m", now_ms=lambda: later)
    assert [c[1:] for c in again.bar_calls] == [(T0 + 2 * HOUR_MS, later)]


async def test_an_unknown_interval_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown bar interval '2m'; one of 1m, 3m"):
        await run(FakeSource(), tmp_path, T0, T0 + DAY_MS, interval="2m")


def test_cli_interval_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--venue", "binance", "--symbols", "BTCUSDT", "--out", str(tmp_path)]
    dates = ["--from", "2024-01-01", "--to", "2024-01-02"]
    assert parse(*base, *dates).interval == "1h"
    args = parse(*base, *dates, "--interval", "15m")
    assert run_cli(args, factory=FakeSource, stream=io.StringIO(), now_ms=lambda: FAR_MS) == 0
    assert "binance/perp/BTCUSDT_15m.csv.gz: 96 rows (+96)" in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:
        parse(*base, *dates, "--interval", "1M")
    assert info.value.code == 2
    assert "unknown bar interval '1M'; one of 1m, 3m, 5m, 15m, 30m, 1h" in capsys.readouterr().err
