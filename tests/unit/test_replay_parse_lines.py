"""The replay loader's fast parse hands ``numpy.loadtxt`` the file's lines as a list (issue 14:
an ``io.StringIO`` held the text as 4-byte characters and parsed at half the speed). Every
bundled kline and funding file must load to the same bits as the ``io.StringIO`` parse it
replaced, kept here as the reference."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
import pytest

from venues.replay.loader import bundled_data_dir, load_funding, load_klines

DATA = bundled_data_dir()
KLINE_FILES = sorted(DATA.glob("*/*/*_1h.csv.gz"))
FUNDING_FILES = sorted(DATA.glob("*/funding/*.csv.gz"))


def _stringio_parse(path: Path) -> tuple[tuple[str, ...], np.ndarray]:
    """The parse before the change: the body through an ``io.StringIO``."""
    text = gzip.decompress(path.read_bytes()).decode("utf-8").replace("\r\n", "\n")
    head, _, body = text.partition("\n")
    names = tuple(head.split(","))
    text = body if body.endswith("\n") else body + "\n"
    if names[-1] == "mark_price":
        text = text.replace(",\n", ",nan\n")
    dtype = np.dtype([("ts", np.int64), *((n, np.float64) for n in names[1:])])
    rows = np.loadtxt(io.StringIO(text), delimiter=",", dtype=dtype, comments=None, ndmin=1)
    return names, rows


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def test_the_bundled_data_is_there() -> None:
    assert len(KLINE_FILES) >= 20
    assert len(FUNDING_FILES) >= 20


@pytest.mark.parametrize("path", KLINE_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_a_kline_file_loads_to_the_bits_of_the_stringio_parse(path: Path) -> None:
    names, rows = _stringio_parse(path)
    series = load_klines(path)
    assert _same_bits(series.ts_open_ms, rows["ts"])
    for name in names[1:]:
        assert _same_bits(getattr(series, name), rows[name]), name


@pytest.mark.parametrize("path", FUNDING_FILES, ids=lambda p: f"{p.parents[1].name}/{p.name}")
def test_a_funding_file_loads_to_the_bits_of_the_stringio_parse(path: Path) -> None:
    names, rows = _stringio_parse(path)
    series = load_funding(path, path.parents[1].name)
    rounded = (rows["ts"] + 1_800_000) // 3_600_000 * 3_600_000
    assert _same_bits(series.ts_funding_ms, rounded)
    assert _same_bits(series.rate, rows["funding_rate"])
    if "mark_price" in names:
        assert _same_bits(series.mark_price, rows["mark_price"])
