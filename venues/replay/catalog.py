"""What a replay data folder holds, and the instruments made of it.

Venue names (``BINANCE``, ``BYBIT``, ``HYPERLIQUID``; ``FUNDING_VENUES`` the ones with funding
files, as the venue registry's ``replay_funding`` says); the file layout of
``data/PROVENANCE.md`` (``binance/{perp,spot}/<SYM>USDT_<interval>.csv[.gz]``, the interval a
name of :mod:`venues.replay.intervals` — ``1h`` for the bundled files, ``1m`` ...;
``<venue>/funding/<symbol>.csv[.gz]``, the ``.csv.gz`` preferred); resolving requested symbols
to those files and loading them (:mod:`venues.replay.loader`); the instrument id of each venue's
perp (Bybit ``BTCUSDT``, Hyperliquid the coin ``BTC``); and the :class:`~venues.model.Instrument`
of every loaded series: trading rules from the data folder's ``<venue>/instruments.csv``
(:mod:`venues.replay.instruments_file`; a Hyperliquid perp's tick at the first close of the
Binance perp of its base asset, as its tick depends on the price) and ``funding_interval_s`` =
the interval of the first settlement at or after the first bar close.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final, Protocol

import numpy as np

from venues.model import Instrument, InstrumentId, InstrumentKind
from venues.registry import replay_funding_venues
from venues.replay.instruments_file import InstrumentRules, instruments_path, read_rules
from venues.replay.intervals import BAR_INTERVALS_S, DEFAULT_INTERVAL, interval_ms, kline_stem
from venues.replay.loader import (
    FundingSeries,
    IntArray,
    KlineSeries,
    bundled_data_dir,
    load_funding,
    load_klines,
)
from venues.replay.rules import LotRules, hyperliquid_rules
from venues.replay.scaled import PriceMatrix


class PriceGrid(Protocol):
    """What building the instruments reads of the price grid (:class:`venues.replay.grid.Frame`):
    the instruments in column order, the bar close times (epoch ms UTC, shape ``(n,)``) and
    the closes (quote units, shape ``(n, len(ids))``, NaN where a bar is missing; a column read
    ``close[:, j]`` gives float64)."""

    @property
    def ids(self) -> tuple[InstrumentId, ...]: ...

    @property
    def ts_close_ms(self) -> IntArray: ...

    @property
    def close(self) -> PriceMatrix: ...


BINANCE: Final = "binance"
BYBIT: Final = "bybit"
HYPERLIQUID: Final = "hyperliquid"
FUNDING_VENUES: Final = replay_funding_venues()
"""Venues whose funding files the replay reads, in registry order (``replay_funding``)."""
_QUOTE: Final = {BINANCE: "USDT", BYBIT: "USDT", HYPERLIQUID: "USDC"}
USDT: Final = "USDT"
if not set(FUNDING_VENUES) <= set(_QUOTE):  # the registry names a venue this module cannot load
    raise RuntimeError(f"replay funding venues {FUNDING_VENUES} not all of {tuple(_QUOTE)}")


def available_symbols(
    data_dir: Path | str | None = None,
    kind: InstrumentKind = InstrumentKind.PERP,
    interval: str = DEFAULT_INTERVAL,
) -> tuple[str, ...]:
    """Binance symbols with recorded klines of ``kind`` and bar ``interval`` (``"1h"``,
    ``"1m"`` ...) in ``data_dir`` (default: bundled).

    Returns
    -------
    tuple[str, ...]
        Sorted symbols, e.g. ``("ADAUSDT", "AVAXUSDT", ...)``.
    """
    folder = resolve_data_dir(data_dir) / BINANCE / kind.value
    suffix = f"_{interval}.csv"
    names = {p.name.split(suffix)[0] for p in folder.glob(f"*{suffix}*")}
    return tuple(sorted(names))


def available_intervals(
    data_dir: Path | str | None = None, kind: InstrumentKind = InstrumentKind.PERP
) -> tuple[str, ...]:
    """The bar intervals of the Binance ``kind`` kline files in ``data_dir`` (default:
    bundled), shortest first (``("1m", "1h")``)."""
    return tuple(i for i in BAR_INTERVALS_S if available_symbols(data_dir, kind, i))


def resolve_data_dir(data_dir: Path | str | None) -> Path:
    return bundled_data_dir() if data_dir is None else Path(data_dir)


def binance_id(symbol: str, kind: InstrumentKind) -> InstrumentId:
    return InstrumentId(BINANCE, kind, symbol)


def _find_file(folder: Path, stem: str) -> Path | None:
    for suffix in (".csv.gz", ".csv"):
        path = folder / (stem + suffix)
        if path.is_file():
            return path
    return None


def has_funding_file(root: Path, iid: InstrumentId) -> bool:
    """Whether ``root`` holds a funding file of perp ``iid`` (``<venue>/funding/<symbol>``)."""
    return _find_file(root / iid.venue / "funding", iid.symbol) is not None


def check_venues(funding_venues: Sequence[str]) -> tuple[str, ...]:
    unknown = sorted(set(funding_venues) - set(FUNDING_VENUES))
    if unknown:
        raise ValueError(f"no replay funding data for venue(s) {unknown}; have {FUNDING_VENUES}")
    return tuple(v for v in FUNDING_VENUES if v in funding_venues)


def resolve_symbols(
    root: Path, symbols: Sequence[str], kind: InstrumentKind, interval: str = DEFAULT_INTERVAL
) -> tuple[str, ...]:
    available = available_symbols(root, kind, interval)
    out: dict[str, None] = {}
    for raw in symbols:
        symbol = raw if raw.endswith(USDT) else raw + USDT
        if symbol not in available:
            raise ValueError(
                f"no Binance {kind.value} klines for {raw!r} at bar interval {interval} in "
                f"{root}; have "
                f"{list(available)} ({interval} files {kline_stem('<SYMBOL>', interval)}.csv.gz)"
            )
        out[symbol] = None
    return tuple(out)


def kline_path(root: Path, symbol: str, market: str, interval: str = DEFAULT_INTERVAL) -> Path:
    """The Binance kline file of ``symbol`` in ``market`` (``perp``/``spot``) with bars of
    ``interval`` under ``root``."""
    path = _find_file(root / BINANCE / market, kline_stem(symbol, interval))
    assert path is not None  # checked by resolve_symbols
    return path


def read_klines(
    root: Path, symbol: str, market: str, interval: str = DEFAULT_INTERVAL
) -> KlineSeries:
    return load_klines(kline_path(root, symbol, market, interval), interval_ms(interval))


def load_funding_files(
    root: Path, perps: Sequence[str], venues: Sequence[str]
) -> dict[InstrumentId, tuple[Path, FundingSeries]]:
    """Binance funding of every perp (always, for its interval) and Bybit/Hyperliquid files,
    each with its path."""
    out: dict[InstrumentId, tuple[Path, FundingSeries]] = {}
    for venue in (BINANCE, *(v for v in venues if v != BINANCE)):
        for symbol in perps:
            iid = _venue_perp_id(venue, symbol)
            path = _find_file(root / venue / "funding", iid.symbol)
            if path is not None:
                out[iid] = (path, load_funding(path, venue))
    return out


def funding_cap_frac(
    rules: Mapping[tuple[InstrumentKind, str], InstrumentRules],
    iid: InstrumentId,
    default_frac: float,
) -> float:
    """The cap on ``|funding rate|`` per interval of perp ``iid``: its ``funding_cap_frac`` in
    ``rules`` (its venue's ``instruments.csv``, :func:`read_rules`), else ``default_frac``."""
    row = rules.get((iid.kind, iid.symbol))
    if row is None or row.funding_cap_frac is None:
        return default_frac
    return float(row.funding_cap_frac)


def _venue_perp_id(venue: str, binance_symbol: str) -> InstrumentId:
    symbol = binance_symbol.removesuffix(USDT) if venue == HYPERLIQUID else binance_symbol
    return InstrumentId(venue, InstrumentKind.PERP, symbol)


def _base(iid: InstrumentId) -> str:
    return iid.symbol.removesuffix(USDT)


def binance_perp_of(iid: InstrumentId) -> InstrumentId:
    return binance_id(_base(iid) + USDT, InstrumentKind.PERP)


def build_instruments(
    root: Path, frame: PriceGrid, series: Mapping[InstrumentId, FundingSeries]
) -> dict[InstrumentId, Instrument]:
    """The instrument of every loaded series, its trading rules from ``root``'s
    ``<venue>/instruments.csv``.

    Raises
    ------
    ValueError
        An instrument without a row in its venue's file (naming the instrument and the file).
    venues.replay.loader.DataFileError
        A malformed ``instruments.csv``.
    """
    start_ms = int(frame.ts_close_ms[0])
    tables: dict[str, dict[tuple[InstrumentKind, str], InstrumentRules]] = {}
    out: dict[InstrumentId, Instrument] = {}
    for iid in frame.ids:
        interval = _interval_at(series.get(iid), start_ms)
        out[iid] = _instrument(iid, rules_for(root, iid, frame, tables), interval)
    for iid, fs in series.items():
        if iid.venue != BINANCE:
            rules = rules_for(root, iid, frame, tables)
            out[iid] = _instrument(iid, rules, _interval_at(fs, start_ms))
    return out


def missing_rules(root: Path, ids: Sequence[InstrumentId]) -> list[tuple[InstrumentId, Path]]:
    """The instruments of ``ids`` without a row in their venue's ``instruments.csv`` under
    ``root``, each with that file (checked before any price file is read).

    Raises
    ------
    venues.replay.loader.DataFileError
        A malformed ``instruments.csv``.
    """
    tables: dict[str, dict[tuple[InstrumentKind, str], InstrumentRules]] = {}
    missing = []
    for iid in ids:
        if iid.venue not in tables:
            tables[iid.venue] = read_rules(instruments_path(root, iid.venue))
        if (iid.kind, iid.symbol) not in tables[iid.venue]:
            missing.append((iid, instruments_path(root, iid.venue)))
    return missing


def rules_for(
    root: Path,
    iid: InstrumentId,
    frame: PriceGrid,
    tables: dict[str, dict[tuple[InstrumentKind, str], InstrumentRules]],
) -> LotRules:
    """``iid``'s lot rules from its venue's file (read once into ``tables``); a
    ``hyperliquid`` price rule gives the tick at the first close of the Binance perp of the
    same base asset.

    Raises
    ------
    ValueError
        No row for ``iid`` (naming the file).
    """
    if iid.venue not in tables:
        tables[iid.venue] = read_rules(instruments_path(root, iid.venue))
    row = tables[iid.venue].get((iid.kind, iid.symbol))
    path = instruments_path(root, iid.venue)
    if row is None:
        raise ValueError(
            f"no trading rules for {iid} in {path} (a row kind={iid.kind.value}, "
            f"symbol={iid.symbol}; `zerobeta data download` writes them)"
        )
    if row.price_rule == "hyperliquid":
        exponent = row.lot_step.normalize().as_tuple().exponent
        sz_decimals = max(0, -exponent) if isinstance(exponent, int) else 0
        closes = frame.close[:, frame.ids.index(binance_perp_of(iid))]
        first = closes[~np.isnan(closes)]
        ref_price = float(first[0]) if first.size else 1.0
        rules = hyperliquid_rules(sz_decimals, ref_price)
        return LotRules(rules.tick_size, row.lot_step, row.min_qty, row.min_notional_usd)
    assert row.tick_size is not None  # the file's tick rule requires one
    return LotRules(row.tick_size, row.lot_step, row.min_qty, row.min_notional_usd)


def _interval_at(fs: FundingSeries | None, start_ms: int) -> int | None:
    if fs is None:
        return None
    idx = min(int(np.searchsorted(fs.ts_funding_ms, start_ms)), len(fs) - 1)
    return int(fs.interval_s[idx])


def _instrument(iid: InstrumentId, rules: LotRules, interval_s: int | None) -> Instrument:
    return Instrument(
        id=iid,
        base=_base(iid),
        quote=_QUOTE[iid.venue],
        tick_size=rules.tick_size,
        lot_step=rules.lot_step,
        min_qty=rules.min_qty,
        min_notional_usd=rules.min_notional_usd,
        funding_interval_s=interval_s if iid.kind is InstrumentKind.PERP else None,
    )
