"""The trading rules of a data folder's instruments: ``<venue>/instruments.csv``.

A replay has no exchange to ask for tick, lot and minimums, so every venue folder of a data
directory carries them beside its klines and funding files, as its instrument endpoint gave
them when the data was downloaded (``zerobeta data download`` writes and merges this file; the
bundled data has the same file, its sources in ``data/PROVENANCE.md``). One header line, then
one row per instrument, UTF-8 CSV, ``#`` lines are comments:

======================  ====================================================================
column                  meaning
======================  ====================================================================
``kind``                ``perp`` or ``spot``
``symbol``              the venue's symbol (Binance/Bybit ``BTCUSDT``, Hyperliquid ``BTC``)
``tick_size``           price increment, quote units; empty when ``price_rule`` is
                        ``hyperliquid``
``lot_step``            quantity increment, base units
``min_qty``             smallest order quantity, base units
``min_notional_usd``    smallest order notional, USD
``funding_interval_s``  the perp's funding interval when downloaded, seconds (the replay
                        derives intervals from the funding files); empty for spot
``funding_cap_frac``    the venue's cap on the absolute funding rate per interval, fraction
                        (Hyperliquid 0.04 per hour); empty where the venue publishes none for
                        the instrument, then ``[market_data] funding_cap_default_frac``
``price_rule``          ``tick`` (a fixed tick) or ``hyperliquid`` (5 significant figures
                        and at most ``6 - szDecimals`` decimals, ``szDecimals`` = the
                        decimals of ``lot_step``: the tick depends on the price)
``source``              where the row came from (an endpoint, a document), free text
======================  ====================================================================

Errors: :class:`~venues.replay.loader.DataFileError` naming the file, the 1-based line and
what is wrong.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Final

from venues.model import InstrumentKind
from venues.replay.loader import DataFileError

FILE_NAME: Final = "instruments.csv"
HEADER: Final = (
    "kind",
    "symbol",
    "tick_size",
    "lot_step",
    "min_qty",
    "min_notional_usd",
    "funding_interval_s",
    "funding_cap_frac",
    "price_rule",
    "source",
)
PRICE_RULES: Final = ("tick", "hyperliquid")


@dataclass(frozen=True, slots=True)
class InstrumentRules:
    """One row of ``instruments.csv`` (module docstring); Decimals exact as written."""

    kind: InstrumentKind
    symbol: str
    tick_size: Decimal | None
    lot_step: Decimal
    min_qty: Decimal
    min_notional_usd: Decimal
    funding_interval_s: int | None
    funding_cap_frac: Decimal | None
    price_rule: str
    source: str

    def to_row(self) -> list[str]:
        """The CSV fields in :data:`HEADER` order."""
        return [
            self.kind.value,
            self.symbol,
            "" if self.tick_size is None else str(self.tick_size),
            str(self.lot_step),
            str(self.min_qty),
            str(self.min_notional_usd),
            "" if self.funding_interval_s is None else str(self.funding_interval_s),
            "" if self.funding_cap_frac is None else str(self.funding_cap_frac),
            self.price_rule,
            self.source,
        ]


RulesTable = Mapping[tuple[InstrumentKind, str], InstrumentRules]
"""Rows of one venue's file by ``(kind, symbol)``."""


def instruments_path(root: Path, venue: str) -> Path:
    """``<root>/<venue>/instruments.csv``."""
    return root / venue / FILE_NAME


def read_rules(path: Path) -> dict[tuple[InstrumentKind, str], InstrumentRules]:
    """Read a venue's ``instruments.csv``.

    Returns
    -------
    dict[tuple[InstrumentKind, str], InstrumentRules]
        Every row by ``(kind, symbol)``; empty when the file does not exist.

    Raises
    ------
    DataFileError
        A wrong header, a wrong column count, a malformed or non-positive number, an unknown
        kind or price rule, a ``tick`` row without a tick, or a symbol listed twice.
    """
    if not path.is_file():
        return {}
    text = path.read_text(encoding="utf-8")
    rows = [
        (lineno, line)
        for lineno, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not rows:
        raise DataFileError(path, 1, f"no header; expected {','.join(HEADER)}")
    head_line, head = rows[0]
    if tuple(next(csv.reader([head]))) != HEADER:
        raise DataFileError(path, head_line, f"wrong header {head!r}, expected {','.join(HEADER)}")
    out: dict[tuple[InstrumentKind, str], InstrumentRules] = {}
    for lineno, line in rows[1:]:
        rules = _parse_row(path, lineno, next(csv.reader([line])))
        key = (rules.kind, rules.symbol)
        if key in out:
            raise DataFileError(path, lineno, f"{rules.kind.value} {rules.symbol} listed twice")
        out[key] = rules
    return out


def write_rules(path: Path, rows: Iterable[InstrumentRules]) -> None:
    """Write ``rows`` (sorted by kind and symbol) to ``path`` atomically (a temporary file
    renamed over it), creating the folder."""
    ordered = sorted(rows, key=lambda r: (r.kind.value, r.symbol))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(r.to_row() for r in ordered)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(buffer.getvalue())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _parse_row(path: Path, lineno: int, fields: list[str]) -> InstrumentRules:
    if len(fields) != len(HEADER):
        reason = f"expected {len(HEADER)} columns ({','.join(HEADER)}), got {len(fields)}"
        raise DataFileError(path, lineno, reason)
    values = dict(zip(HEADER, fields, strict=True))
    try:
        kind = InstrumentKind(values["kind"])
    except ValueError:
        raise DataFileError(path, lineno, f"kind {values['kind']!r} is not perp or spot") from None
    rule = values["price_rule"]
    if rule not in PRICE_RULES:
        raise DataFileError(path, lineno, f"price_rule {rule!r} is not one of {PRICE_RULES}")
    symbol = values["symbol"].strip()
    if not symbol:
        raise DataFileError(path, lineno, "empty symbol")
    tick = _decimal(path, lineno, values, "tick_size", optional=rule == "hyperliquid")
    interval = values["funding_interval_s"]
    if interval and (not interval.isdigit() or int(interval) <= 0):
        reason = f"funding_interval_s {interval!r} is not a positive integer"
        raise DataFileError(path, lineno, reason)
    return InstrumentRules(
        kind=kind,
        symbol=symbol,
        tick_size=tick,
        lot_step=_required(path, lineno, values, "lot_step"),
        min_qty=_required(path, lineno, values, "min_qty"),
        min_notional_usd=_required(path, lineno, values, "min_notional_usd", zero_ok=True),
        funding_interval_s=int(interval) if interval else None,
        funding_cap_frac=_decimal(path, lineno, values, "funding_cap_frac", optional=True),
        price_rule=rule,
        source=values["source"],
    )


def _required(
    path: Path, lineno: int, values: Mapping[str, str], name: str, *, zero_ok: bool = False
) -> Decimal:
    value = _decimal(path, lineno, values, name, optional=False, zero_ok=zero_ok)
    assert value is not None  # not optional
    return value


def _decimal(
    path: Path,
    lineno: int,
    values: Mapping[str, str],
    name: str,
    *,
    optional: bool,
    zero_ok: bool = False,
) -> Decimal | None:
    text = values[name].strip()
    if not text:
        if optional:
            return None
        raise DataFileError(path, lineno, f"{name} is empty")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise DataFileError(path, lineno, f"{name} {text!r} is not a number") from None
    if not value.is_finite() or value < 0 or (value == 0 and not zero_ok):
        raise DataFileError(path, lineno, f"{name} {text!r} must be positive")
    return value
