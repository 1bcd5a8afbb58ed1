"""``zerobeta data download``: venue history (klines of one bar interval — 1h by default —,
funding) into the replay file format.

Layout and format are those :mod:`venues.replay.loader` reads (see
:mod:`agent.data.files`): ``<venue>/<kind>/<SYMBOL>_<interval>.csv.gz`` (``BTCUSDT_1h``,
``BTCUSDT_1m`` ...: files of several intervals of one symbol coexist),
``<venue>/funding/<SYMBOL>.csv.gz``, ``<venue>/instruments.csv`` (each downloaded instrument's
trading rules and funding interval from the venue's instrument endpoint, merged into the file:
:mod:`venues.replay.instruments_file`) and ``manifest.csv`` under the output dir; ``SYMBOL`` is
the venue's own symbol (``BTCUSDT`` on Binance, ``BTC-USD`` on dYdX, ``BTC`` on Hyperliquid).

Data comes through the :class:`~venues.base.MarketDataSource` protocol (``fetch_bars`` with
the interval's length, ``interval_s=3600`` for ``1h``, and ``fetch_funding_history``; the
venue client pages and rate-limits).
The window is also cut into chunks (30 days by default) so progress can be reported and an
interrupted download resumed: after each chunk the file is rewritten to ``<file>.part`` and
atomically renamed, and the manifest updated the same way. A rerun fetches only what a file
lacks: the range before its first row and the range after its last row (a file is always
contiguous). Bars still forming (closing after ``now``) are never written, so a resumed file
never keeps a partial bar.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Final, TextIO

import structlog

from agent.data.files import (
    Dataset,
    ReplayTable,
    check_header,
    chunked,
    default_header,
    file_path,
    funding_line,
    kline_line,
    missing_ranges,
    row_step_ms,
    save_table,
)
from agent.progress import TerminalProgress, terminal_progress
from venues.base import MarketDataSource
from venues.errors import VenueError
from venues.model import HOUR_MS, InstrumentId, InstrumentKind
from venues.registry import VENUES
from venues.replay.catalog import HYPERLIQUID
from venues.replay.instruments_file import (
    InstrumentRules,
    instruments_path,
    read_rules,
    write_rules,
)
from venues.replay.intervals import BAR_INTERVALS_S, DEFAULT_INTERVAL, interval_ms, interval_s
from venues.replay.source import BINANCE

log = structlog.get_logger("zerobeta.download")

EXIT_OK: Final = 0
EXIT_FAILURE: Final = 1
EXIT_USAGE: Final = 2
DAY_MS: Final = 24 * HOUR_MS
DEFAULT_CHUNK_MS: Final = 30 * DAY_MS
DEFAULT_OUT_DIR: Final = Path("data")
_SYMBOL_RE: Final = re.compile(r"[A-Za-z0-9._-]+")

ProgressFn = Callable[["DownloadProgress"], None]
SourceFactory = Callable[[str], MarketDataSource]


@dataclass(frozen=True, slots=True)
class DownloadProgress:
    """Reported after every chunk. ``chunks_done``/``chunks_total`` count over the whole
    download; ``file`` is relative to ``out_dir``; ``file_rows`` rows in it now; the chunk
    covered ``[chunk_start_ms, chunk_end_ms)`` (epoch ms UTC) and added ``rows_added``."""

    file: str
    chunks_done: int
    chunks_total: int
    file_rows: int
    rows_added: int
    chunk_start_ms: int
    chunk_end_ms: int

    @property
    def done_frac(self) -> float:
        """Fraction of all chunks done, in [0, 1]."""
        return self.chunks_done / self.chunks_total if self.chunks_total else 1.0


@dataclass(frozen=True, slots=True)
class FileResult:
    """One file after the download: path relative to ``out_dir``, row count, first/last
    timestamp (epoch ms, first column) and how many rows and chunks this run added/fetched."""

    file: str
    rows: int
    first_ms: int | None
    last_ms: int | None
    rows_added: int
    chunks_fetched: int


@dataclass(slots=True)
class _Plan:
    instrument_id: InstrumentId
    dataset: Dataset
    file: str
    chunks: list[tuple[int, int]]
    table: ReplayTable
    interval: str = DEFAULT_INTERVAL


def _plan(
    out_dir: Path,
    venue: str,
    instrument_id: InstrumentId,
    dataset: Dataset,
    window: tuple[int, int],
    chunk_ms: int,
    interval: str,
) -> _Plan:
    file = file_path(venue, instrument_id, dataset, interval)
    table = ReplayTable.read(out_dir / file, default_header(venue, dataset))
    check_header(table, dataset, out_dir / file)
    step_ms = row_step_ms(dataset, interval)
    ranges = missing_ranges(table.span_ms(), window[0], window[1], step_ms)
    return _Plan(instrument_id, dataset, file, chunked(ranges, chunk_ms), table, interval)


async def _fetch_lines(
    source: MarketDataSource, plan: _Plan, start_ms: int, end_ms: int
) -> dict[int, str]:
    iid = plan.instrument_id
    if plan.dataset == "klines":
        bar_ms = interval_ms(plan.interval)
        bars = await source.fetch_bars(iid, start_ms, end_ms, interval_s(plan.interval))
        return {
            b.ts_open_ms: kline_line(b)
            for b in bars
            if start_ms <= b.ts_open_ms < end_ms and b.ts_open_ms % bar_ms == 0
        }
    rates = await source.fetch_funding_history(iid, start_ms, end_ms)
    with_mark = plan.table.with_mark
    return {
        r.ts_funding_ms: funding_line(r, with_mark=with_mark)
        for r in rates
        if start_ms <= r.ts_funding_ms < end_ms
    }


# --- the download -------------------------------------------------------------------------


async def download(
    source: MarketDataSource,
    *,
    venue: str,
    symbols: Sequence[str],
    kinds: Sequence[InstrumentKind] = (InstrumentKind.PERP,),
    start_ms: int,
    end_ms: int,
    out_dir: Path,
    progress: ProgressFn | None = None,
    chunk_ms: int = DEFAULT_CHUNK_MS,
    now_ms: Callable[[], int] | None = None,
    interval: str = DEFAULT_INTERVAL,
) -> list[FileResult]:
    """Download klines of bar ``interval`` (every kind) and funding history (perps) of
    ``symbols`` for ``[start_ms, end_ms)`` (epoch ms UTC) into ``out_dir``, resuming what is
    there.

    Parameters
    ----------
    source : MarketDataSource
        An opened source of ``venue`` (its ``name``).
    symbols : Sequence[str]
        The venue's symbols (``BTCUSDT``, ``BTC-USD`` ...).
    kinds : Sequence[InstrumentKind]
        Markets to fetch klines of; funding is fetched for perps.
    chunk_ms : int
        Largest window per request sequence, ms (progress and resume granularity).
    now_ms : Callable[[], int] | None
        Wall clock, epoch ms UTC; bars closing after it and later settlements are not fetched.
    interval : str
        Bar interval name (:data:`venues.replay.intervals.BAR_INTERVALS_S`: ``"1m"``,
        ``"1h"`` ...); the klines go to ``<SYMBOL>_<interval>.csv.gz``.

    Returns
    -------
    list[FileResult]
        One per file, in download order, the venue's ``instruments.csv`` last (its ``rows``
        the instruments it lists, ``rows_added`` the ones new to it).

    Raises
    ------
    ValueError
        ``venue`` is not ``source.name``, an empty window, a non-positive chunk, a symbol
        that is not a plain file name, or an unknown ``interval``.
    venues.errors.VenueError
        From the source; every chunk finished before it stays written (rerun to resume).
    OSError
        If a file cannot be written.
    """
    _check_args(source, venue, symbols, start_ms, end_ms, chunk_ms)
    bar_ms = interval_ms(interval)
    now = (now_ms or _wall_ms)()
    bar_end = min(end_ms, now // bar_ms * bar_ms)
    windows = {"klines": (start_ms, bar_end), "funding": (start_ms, min(end_ms, now))}
    plans = [
        _plan(out_dir, venue, iid, dataset, windows[dataset], chunk_ms, interval)
        for symbol in dict.fromkeys(symbols)
        for kind in dict.fromkeys(kinds)
        for iid in (InstrumentId(venue, kind, symbol),)
        for dataset in (("klines", "funding") if kind is InstrumentKind.PERP else ("klines",))
    ]
    total = sum(len(p.chunks) for p in plans)
    done = 0
    results = []
    for plan in plans:
        added = 0
        for chunk_start, chunk_end in plan.chunks:
            new = await _fetch_lines(source, plan, chunk_start, chunk_end)
            fresh = {ts: line for ts, line in new.items() if ts not in plan.table.lines}
            if fresh:
                plan.table.lines.update(fresh)
                save_table(out_dir, plan.file, plan.table)
            added += len(fresh)
            done += 1
            if progress is not None:
                rows = len(plan.table.lines)
                progress(
                    DownloadProgress(
                        plan.file, done, total, rows, len(fresh), chunk_start, chunk_end
                    )
                )
        results.append(_result(plan, added))
    results.append(await _save_rules(source, venue, symbols, kinds, out_dir))
    return results


async def _save_rules(
    source: MarketDataSource,
    venue: str,
    symbols: Sequence[str],
    kinds: Sequence[InstrumentKind],
    out_dir: Path,
) -> FileResult:
    """Merge the downloaded instruments' trading rules, as the venue's instrument endpoint
    gives them now, into ``<venue>/instruments.csv`` (rows of other instruments are kept). An
    instrument the venue does not list (delisted) is logged; the replay then names it."""
    listed = await source.load_instruments()
    path = instruments_path(out_dir, venue)
    rows = read_rules(path)
    before = len(rows)
    spec = VENUES.get(venue)
    cap = None if spec is None or spec.funding_cap_frac is None else Decimal(spec.funding_cap_frac)
    endpoint = f"{venue} instrument endpoint, {datetime.now(UTC).date().isoformat()}"
    for symbol in dict.fromkeys(symbols):
        for kind in dict.fromkeys(kinds):
            iid = InstrumentId(venue, kind, symbol)
            inst = listed.get(iid)
            if inst is None:
                log.warning("download_rules_missing", instrument=str(iid), file=str(path))
                continue
            rows[(kind, symbol)] = InstrumentRules(
                kind=kind,
                symbol=symbol,
                tick_size=None if venue == HYPERLIQUID else inst.tick_size,
                lot_step=inst.lot_step,
                min_qty=inst.min_qty,
                min_notional_usd=inst.min_notional_usd,
                funding_interval_s=inst.funding_interval_s if inst.is_perp else None,
                funding_cap_frac=cap if inst.is_perp else None,
                price_rule="hyperliquid" if venue == HYPERLIQUID else "tick",
                source=endpoint,
            )
    write_rules(path, rows.values())
    file = str(path.relative_to(out_dir))
    return FileResult(file, len(rows), None, None, len(rows) - before, 1)


def _result(plan: _Plan, added: int) -> FileResult:
    first, last = plan.table.span_ms() or (None, None)
    rows = len(plan.table.lines)
    return FileResult(plan.file, rows, first, last, added, len(plan.chunks))


def _check_args(
    source: MarketDataSource,
    venue: str,
    symbols: Sequence[str],
    start_ms: int,
    end_ms: int,
    chunk_ms: int,
) -> None:
    if source.name != venue:
        raise ValueError(f"source is {source.name!r}, not venue {venue!r}")
    if start_ms >= end_ms:
        raise ValueError(f"empty window: start_ms {start_ms} >= end_ms {end_ms}")
    if chunk_ms <= 0:
        raise ValueError(f"chunk_ms must be positive, got {chunk_ms}")
    bad = [s for s in symbols if not _SYMBOL_RE.fullmatch(s)]
    if bad or not symbols:
        raise ValueError(f"symbols must be plain names like BTCUSDT or BTC-USD, got {bad}")


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


# --- command line ---------------------------------------------------------------------------


def register_cli(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``data download`` to the ``zerobeta`` sub-commands (``args.command == "data"``,
    ``args.data_command == "download"``)."""
    data = subparsers.add_parser("data", help="market data tools")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    dl = data_sub.add_parser(
        "download",
        help="fetch klines (1h unless --interval) and funding history into the replay format "
        "(resumable)",
    )
    dl.add_argument("--venue", required=True, help="venue name, e.g. binance, dydx")
    dl.add_argument("--symbols", required=True, type=_symbols, help="comma-separated venue symbols")
    dl.add_argument("--from", dest="date_from", type=_parse_date, required=True, help="UTC date")
    dl.add_argument(
        "--to", dest="date_to", type=_parse_date, required=True, help="UTC date (exclusive)"
    )
    dl.add_argument("--out", type=Path, default=DEFAULT_OUT_DIR, help="data directory")
    dl.add_argument(
        "--kinds", type=_kinds, default=(InstrumentKind.PERP,), help="perp,spot (default perp)"
    )
    dl.add_argument(
        "--interval",
        type=_interval,
        default=DEFAULT_INTERVAL,
        help=f"kline bar interval, one of {', '.join(BAR_INTERVALS_S)} (default 1h); files "
        "are named <SYMBOL>_<interval>.csv.gz",
    )


def _parse_date(text: str) -> date:
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC).date()
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date of the form YYYY-MM-DD") from err


def _symbols(text: str) -> tuple[str, ...]:
    symbols = tuple(dict.fromkeys(s.strip() for s in text.split(",") if s.strip()))
    bad = [s for s in symbols if not _SYMBOL_RE.fullmatch(s)]
    if not symbols or bad:
        raise argparse.ArgumentTypeError(f"{text!r}: expected symbols like BTCUSDT,ETHUSDT")
    return symbols


def _interval(text: str) -> str:
    try:
        interval_s(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from err
    return text


def _kinds(text: str) -> tuple[InstrumentKind, ...]:
    try:
        return tuple(dict.fromkeys(InstrumentKind(k.strip()) for k in text.split(",")))
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{text!r}: kinds are perp and/or spot") from err


def _day_ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 1000


def run_cli(
    args: argparse.Namespace,
    *,
    factory: SourceFactory,
    stream: TextIO | None = None,
    now_ms: Callable[[], int] | None = None,
) -> int:
    """Run ``zerobeta data download`` from parsed ``args``; returns the exit code.

    ``factory`` maps a venue name to its (unopened) :class:`MarketDataSource` and raises
    ``KeyError`` or ``ValueError`` for an unknown venue. Progress goes to ``stream`` (default
    stderr) as a bar on a TTY, else as one ``download_chunk_completed`` log line per chunk.

    Returns 0 on success, 2 on a usage error (dates, unknown venue, bad symbols), 1 when the
    venue or the disk fails (what was downloaded stays; rerun the command to resume).
    """
    out = stream if stream is not None else sys.stderr
    start_ms, end_ms = _day_ms(args.date_from), _day_ms(args.date_to)
    if start_ms >= end_ms:
        print("zerobeta: --from must be before --to", file=sys.stderr)
        return EXIT_USAGE
    try:
        source = factory(args.venue)
    except (KeyError, ValueError) as err:
        print(f"zerobeta: unknown venue {args.venue!r} ({err})", file=sys.stderr)
        return EXIT_USAGE
    bar = terminal_progress("download", 1.0, out)
    draw = _log_progress if bar is None else _bar_drawer(bar)
    try:
        with bar if bar is not None else nullcontext():
            results = asyncio.run(_download_and_close(source, args, start_ms, end_ms, draw, now_ms))
    except ValueError as err:
        print(f"zerobeta: {err}", file=sys.stderr)
        return EXIT_USAGE
    except (VenueError, OSError) as err:
        print(
            f"zerobeta: download failed: {type(err).__name__}: {err}\n"
            "what was downloaded is kept; rerun the same command to resume",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    for r in results:
        print(f"{args.out / r.file}: {r.rows} rows (+{r.rows_added}), {_span(r)}")
    print(replay_note(args.venue, args.kinds))
    return EXIT_OK


def replay_note(venue: str, kinds: Sequence[InstrumentKind]) -> str:
    """What the replay (:mod:`venues.replay.source`) makes of a download of ``venue``: it
    reads Binance perp and spot klines and the funding of Binance, Bybit and Hyperliquid
    (their perps priced with the Binance perp of the same base); other files are kept for
    analysis only."""
    spec = VENUES.get(venue)
    if venue == BINANCE:  # the replay's prices are Binance klines
        used = "klines and funding" if InstrumentKind.PERP in kinds else "klines"
        return f"replay: point market_data.data_dir at the output directory to replay these {used}"
    if spec is not None and spec.replay_funding:
        return (
            f"replay: reads the {venue} funding files (priced with the Binance perp of the same "
            "base, so download those klines too); its own klines are not used"
        )
    return (
        f"replay: {venue} files are not replayed (the replay reads Binance klines and Binance, "
        "Bybit and Hyperliquid funding); they are kept for analysis"
    )


async def _download_and_close(
    source: MarketDataSource,
    args: argparse.Namespace,
    start_ms: int,
    end_ms: int,
    progress: ProgressFn,
    now_ms: Callable[[], int] | None,
) -> list[FileResult]:
    try:
        await source.open()
        return await download(
            source,
            venue=args.venue,
            symbols=args.symbols,
            kinds=args.kinds,
            start_ms=start_ms,
            end_ms=end_ms,
            out_dir=args.out,
            progress=progress,
            now_ms=now_ms,
            interval=getattr(args, "interval", DEFAULT_INTERVAL),
        )
    finally:
        await source.close()


def _span(result: FileResult) -> str:
    if result.first_ms is None or result.last_ms is None:
        return "no data in the window"
    first, last = (
        datetime.fromtimestamp(t / 1000, UTC).strftime("%Y-%m-%d %H:%M")
        for t in (result.first_ms, result.last_ms)
    )
    return f"{first} → {last} UTC"


def _bar_drawer(bar: TerminalProgress) -> ProgressFn:
    def draw(p: DownloadProgress) -> None:
        bar.update(p.done_frac, f"{p.file} ({p.file_rows} rows)")

    return draw


def _log_progress(p: DownloadProgress) -> None:
    log.info(
        "download_chunk_completed",
        file=p.file,
        chunks_done=p.chunks_done,
        chunks_total=p.chunks_total,
        rows_added=p.rows_added,
        file_rows=p.file_rows,
        chunk_start_ms=p.chunk_start_ms,
        chunk_end_ms=p.chunk_end_ms,
    )
