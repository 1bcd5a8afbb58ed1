"""Replay data files as ``zerobeta data download`` writes them: layout, rows, resume ranges,
atomic gzip writes and the manifest.

Format and layout are those :mod:`venues.replay.loader` reads (``venues/replay/data/
PROVENANCE.md``)::

    <venue>/<kind>/<SYMBOL>_<interval>.csv.gz   open_time_ms,open,high,low,close,volume
    <venue>/funding/<SYMBOL>.csv.gz     funding_time_ms,funding_rate[,mark_price]
    manifest.csv                        path,rows,first_ms,last_ms,sha256 (uncompressed text)

``<interval>`` is a bar interval name of :mod:`venues.replay.intervals` (``1h`` — the bundled
files —, ``1m``, ``5m`` ...), so files of several intervals of one symbol sit side by side.
Rows sorted by their first column, one per timestamp, floats in Python's shortest round-trip
form (``66838.0``, ``1.205e-05``), ``\\n`` line ends with a final newline, gzip level 9 with
mtime 0 and no file name (byte-identical to the bundle's compression settings).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

from venues.model import HOUR_MS, Bar, FundingRate, InstrumentId
from venues.registry import venue_spec
from venues.replay.intervals import DEFAULT_INTERVAL, interval_ms, kline_stem
from venues.replay.loader import FUNDING_HEADER, FUNDING_MARK_HEADER, KLINE_HEADER

Dataset = Literal["klines", "funding"]
MANIFEST: Final = "manifest.csv"
MANIFEST_HEADER: Final = ("path", "rows", "first_ms", "last_ms", "sha256")


@dataclass(slots=True)
class ReplayTable:
    """One file's rows keyed by their first-column timestamp (epoch ms); lines already in
    the file are kept byte-identical."""

    header: tuple[str, ...]
    lines: dict[int, str] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path, default_header: tuple[str, ...]) -> ReplayTable:
        """The rows of ``path`` (gzip CSV), or an empty table with ``default_header``.

        Raises ``ValueError`` if a row's first field is not an integer, ``OSError`` if the
        file cannot be read."""
        if not path.is_file():
            return cls(default_header)
        with gzip.open(path, "rt", encoding="utf-8", newline="") as fh:
            rows = fh.read().replace("\r\n", "\n").split("\n")
        table = cls(tuple(rows[0].split(",")))
        for lineno, line in enumerate(rows[1:], start=2):
            head = line.split(",", 1)[0]
            if line and not head.lstrip("-").isdigit():
                raise ValueError(f"{path}:{lineno}: {head!r} is not an integer time in ms")
            if line:
                table.lines[int(head)] = line
        return table

    @property
    def with_mark(self) -> bool:
        """Whether this is a funding file with the ``mark_price`` column."""
        return self.header == FUNDING_MARK_HEADER

    def span_ms(self) -> tuple[int, int] | None:
        """``(first_ms, last_ms)`` of the rows, ``None`` when empty."""
        return (min(self.lines), max(self.lines)) if self.lines else None

    def text(self) -> str:
        """The whole file, uncompressed: header, then rows sorted by time."""
        body = "".join(self.lines[ts] + "\n" for ts in sorted(self.lines))
        return ",".join(self.header) + "\n" + body


def check_header(table: ReplayTable, dataset: Dataset, path: Path) -> None:
    """Raise ``ValueError`` if an existing file's header is not one of ``dataset``'s."""
    allowed = (KLINE_HEADER,) if dataset == "klines" else (FUNDING_HEADER, FUNDING_MARK_HEADER)
    if table.header not in allowed:
        raise ValueError(f"{path}: header {','.join(table.header)!r} is not a {dataset} header")


def file_path(
    venue: str, instrument_id: InstrumentId, dataset: Dataset, interval: str = DEFAULT_INTERVAL
) -> str:
    """Path of a file relative to the data dir (module doc layout); ``interval`` names the
    klines' bar interval (``"1h"``, ``"1m"`` ...; not used for funding)."""
    if dataset == "funding":
        return f"{venue}/funding/{instrument_id.symbol}.csv.gz"
    return f"{venue}/{instrument_id.kind.value}/{kline_stem(instrument_id.symbol, interval)}.csv.gz"


def default_header(venue: str, dataset: Dataset) -> tuple[str, ...]:
    """Header of a new file of ``dataset`` on ``venue``: a funding file has the
    ``mark_price`` column when the registry says the venue's funding files do
    (``funding_files_have_marks``, as in the bundled files).

    Raises ``ValueError`` for a venue the registry does not know."""
    if dataset == "klines":
        return KLINE_HEADER
    return FUNDING_MARK_HEADER if venue_spec(venue).funding_files_have_marks else FUNDING_HEADER


def row_step_ms(dataset: Dataset, interval: str = DEFAULT_INTERVAL) -> int:
    """Smallest gap between two rows: the bar interval for klines (1 h by default), 1 ms for
    funding (times as stamped)."""
    return interval_ms(interval) if dataset == "klines" else 1


def missing_ranges(
    span_ms: tuple[int, int] | None, start_ms: int, end_ms: int, step_ms: int
) -> list[tuple[int, int]]:
    """Half-open ranges of ``[start_ms, end_ms)`` a file spanning ``span_ms`` (first, last
    row time, inclusive) still lacks: all of it when empty, else what lies before the hour of
    the first row (settlements are stamped a few ms after the hour they belong to) and after
    the last row (``last + step_ms`` is the earliest next row). Kline rows (``step_ms`` > 1,
    the bar interval) are on their grid already: a 1m file starting at 10:05 lacks 10:00–10:05."""
    if span_ms is None:
        return [(start_ms, end_ms)] if start_ms < end_ms else []
    anchor_ms = HOUR_MS if step_ms == 1 else step_ms
    first_ms, last_ms = span_ms[0] // anchor_ms * anchor_ms, span_ms[1]
    ranges = []
    if start_ms < min(first_ms, end_ms):
        ranges.append((start_ms, min(first_ms, end_ms)))
    if max(last_ms + step_ms, start_ms) < end_ms:
        ranges.append((max(last_ms + step_ms, start_ms), end_ms))
    return ranges


def chunked(ranges: Sequence[tuple[int, int]], chunk_ms: int) -> list[tuple[int, int]]:
    """Cut each half-open range into consecutive pieces of at most ``chunk_ms``."""
    return [(a, min(a + chunk_ms, hi)) for lo, hi in ranges for a in range(lo, hi, chunk_ms)]


def _number(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def kline_line(bar: Bar) -> str:
    """``open_time_ms,open,high,low,close,volume`` of one bar."""
    values = (bar.open, bar.high, bar.low, bar.close, bar.volume)
    return ",".join((str(bar.ts_open_ms), *(_number(v) for v in values)))


def funding_line(rate: FundingRate, *, with_mark: bool) -> str:
    """``funding_time_ms,funding_rate[,mark_price]`` of one settlement (mark empty if None)."""
    line = f"{rate.ts_funding_ms},{_number(rate.rate)}"
    return f"{line},{_number(rate.mark_price)}" if with_mark else line


def gzip_bytes(text: str) -> bytes:
    """Deterministic gzip of ``text`` (level 9, mtime 0, no file name)."""
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as gz:
        gz.write(text.encode("utf-8"))
    return buffer.getvalue()


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``<path>.part``, fsync, then rename over ``path`` (atomic on POSIX):
    a crash leaves either the old file or the new one, never a torn one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    with open(part, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(part, path)


def save_table(data_dir: Path, file: str, table: ReplayTable) -> None:
    """Write ``table`` to ``data_dir/file`` (gzip, atomic) and record it in the manifest."""
    text = table.text()
    atomic_write(data_dir / file, gzip_bytes(text))
    update_manifest(data_dir, file, text, list(table.lines))


def update_manifest(data_dir: Path, file: str, text: str, row_times_ms: Sequence[int]) -> None:
    """Set ``file``'s row of ``data_dir/manifest.csv`` (rows, first/last ms, sha256 of the
    uncompressed ``text``), keeping every other row; sorted by path, written atomically.

    Raises ``ValueError`` if ``row_times_ms`` is empty."""
    if not row_times_ms:
        raise ValueError(f"{file}: no rows to record in the manifest")
    path = data_dir / MANIFEST
    rows: dict[str, dict[str, str]] = {}
    if path.is_file():
        with open(path, newline="", encoding="utf-8") as fh:
            rows = {row["path"]: row for row in csv.DictReader(fh)}
    rows[file] = {
        "path": file,
        "rows": str(len(row_times_ms)),
        "first_ms": str(min(row_times_ms)),
        "last_ms": str(max(row_times_ms)),
        "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
    }
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=MANIFEST_HEADER, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows[key] for key in sorted(rows))
    atomic_write(path, buffer.getvalue().encode("utf-8"))
