"""The trade list of a run: each strategy's pairs and their round trips, from the journal.

A *pair* is the set of instruments of a strategy's pair intent (a stat-arb pair, a
cash-and-carry, a cross-venue pair, a factor basket, a single hedge leg); every fill belongs to
the pair of its order's intent. A *round trip* of a pair runs from the fill that opens it from
flat (every leg's quantity, counted over that pair's own fills, at zero) to the fill that brings
every leg back to zero; a trip still open at the end of the journal is valued at the ledger's
marks. Per trip, in exact Decimal USD:

- ``price_usd``: P&L at fill prices, Σ −side × qty × price over its fills (+ Σ qty × mark of
  what is still open); slippage (fill versus reference price) is part of it and also shown
  apart as ``slippage_usd`` (negative when adverse);
- ``funding_usd``: the strategy's funding shares on the trip's legs while the trip held the
  strategy's whole position in that instrument;
- ``fees_usd``: its fills' fees, negative when paid;
- ``total_usd = price_usd + funding_usd + fees_usd``.

Funding paid while two of a strategy's pairs held the same instrument cannot be given to one
trip and is counted per strategy as ``funding_outside_trips_usd``. With it, a strategy's trips
add up to its ledger P&L exactly: Σ trips ``total_usd`` + funding outside trips = the strategy's
``total_usd`` (price at reference basis − slippage = price at fill prices).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from agent.portfolio.ledger import UNATTRIBUTED, ledger_context
from agent.reporting.run_ledger import FundingShare, RunLedger, TaggedFill
from venues.model import InstrumentId

ZERO = Decimal(0)
_MAX_LABEL_SYMBOLS = 4  # a basket with more legs is labelled by its leg count


@dataclass(frozen=True, slots=True)
class RoundTrip:
    """One round trip of a pair (module docstring for the amounts, all USD, exact).

    ``opened_ms``/``closed_ms`` are agent times of the opening and closing fills, epoch ms
    UTC (``closed_ms`` None while open); ``fills`` counts its fills.
    """

    opened_ms: int
    closed_ms: int | None
    fills: int
    price_usd: Decimal
    funding_usd: Decimal
    fees_usd: Decimal
    slippage_usd: Decimal
    total_usd: Decimal


@dataclass(frozen=True, slots=True)
class PairTrades:
    """A strategy's pair and its round trips, oldest first.

    ``label`` is for people (``"SOLUSDT / BNBUSDT (binance perp)"``); ``instruments`` the
    instrument ids, in the order of the first intent's legs. ``total_usd`` etc. sum the trips.
    """

    label: str
    instruments: tuple[str, ...]
    trips: tuple[RoundTrip, ...]
    price_usd: Decimal
    funding_usd: Decimal
    fees_usd: Decimal
    total_usd: Decimal


@dataclass(frozen=True, slots=True)
class StrategyTrades:
    """A strategy's pairs (sorted by label) and the funding no single trip held, USD."""

    pairs: tuple[PairTrades, ...]
    funding_outside_trips_usd: Decimal


@dataclass(slots=True)
class _Trip:
    opened_ms: int
    fills: int = 0
    cash_usd: Decimal = ZERO
    funding_usd: Decimal = ZERO
    fees_usd: Decimal = ZERO
    slippage_usd: Decimal = ZERO


@dataclass(slots=True, eq=False)  # hashed by identity: a member of the holder sets
class _Pair:
    instruments: tuple[str, ...]
    qty: dict[str, Decimal] = field(default_factory=dict)
    open: _Trip | None = None
    trips: list[RoundTrip] = field(default_factory=list)


class _Book:
    """Running quantities per pair and per strategy while the events are walked."""

    def __init__(self) -> None:
        self.pairs: dict[tuple[str, tuple[str, ...]], _Pair] = {}
        self.held: dict[tuple[str, str], Decimal] = {}  # (strategy, instrument) -> qty
        self.holders: dict[tuple[str, str], set[_Pair]] = {}  # pairs holding it (qty != 0)
        self.outside: dict[str, Decimal] = {}

    def fill(self, tagged: TaggedFill) -> None:
        booked, fill = tagged.booked, tagged.booked.fill
        iid = str(fill.instrument_id)
        instruments = tagged.intent_instruments
        if iid not in instruments:
            instruments = (*instruments, iid)
        pair = self.pairs.setdefault(
            (booked.strategy, tuple(sorted(instruments))), _Pair(instruments)
        )
        trip = pair.open or _Trip(booked.ts_ms)
        pair.open = trip
        signed = fill.side.sign * fill.qty
        reference = fill.price if fill.reference_price is None else fill.reference_price
        trip.fills += 1
        trip.cash_usd -= signed * fill.price
        trip.fees_usd -= fill.fee_usd
        trip.slippage_usd -= signed * (fill.price - reference)
        pair.qty[iid] = pair.qty.get(iid, ZERO) + signed
        key = (booked.strategy, iid)
        self.held[key] = self.held.get(key, ZERO) + signed
        holders = self.holders.setdefault(key, set())
        if pair.qty[iid]:
            holders.add(pair)
        else:
            holders.discard(pair)
        if not any(pair.qty.values()):
            pair.trips.append(_closed(trip, booked.ts_ms, ZERO))
            pair.open = None

    def funding(self, share: FundingShare) -> None:
        if share.strategy == UNATTRIBUTED:
            return
        key = (share.strategy, share.instrument)
        holders = self.holders.get(key, set())
        only = next(iter(holders)) if len(holders) == 1 else None
        if only is not None and only.open and only.qty[share.instrument] == self.held[key]:
            only.open.funding_usd += share.amount_usd
        else:
            self.outside[share.strategy] = self.outside.get(share.strategy, ZERO) + share.amount_usd


def _closed(trip: _Trip, closed_ms: int | None, open_value_usd: Decimal) -> RoundTrip:
    price = trip.cash_usd + open_value_usd
    return RoundTrip(
        opened_ms=trip.opened_ms,
        closed_ms=closed_ms,
        fills=trip.fills,
        price_usd=price,
        funding_usd=trip.funding_usd,
        fees_usd=trip.fees_usd,
        slippage_usd=trip.slippage_usd,
        total_usd=price + trip.funding_usd + trip.fees_usd,
    )


def _events(ledger: RunLedger) -> Iterable[TaggedFill | FundingShare]:
    """Fills and funding shares in booking order (a payment's shares after the fills before
    it: the sequence numbers are shared)."""
    fills = iter(ledger.fills)
    pending = next(fills, None)
    for share in ledger.funding_shares:
        while pending is not None and pending.booked.seq < share.seq:
            yield pending
            pending = next(fills, None)
        yield share
    while pending is not None:
        yield pending
        pending = next(fills, None)


def pair_label(instruments: tuple[str, ...]) -> str:
    """A pair's name for people: its symbols, then what all legs share
    (``"SOLUSDT / BNBUSDT (binance perp)"``, ``"BTCUSDT spot / BTCUSDT perp (binance)"``,
    ``"binance LINKUSDT / hyperliquid LINK (perp)"``); a basket of more than four legs as
    ``"12 legs (binance perp)"``."""
    parts = [InstrumentId.parse(i) for i in instruments]
    venues = {p.venue for p in parts}
    kinds = {p.kind.value for p in parts}
    names = [
        " ".join(
            [*([p.venue] if len(venues) > 1 else []), p.symbol]
            + ([p.kind.value] if len(kinds) > 1 else [])
        )
        for p in parts
    ]
    shared = [*(venues if len(venues) == 1 else ()), *(kinds if len(kinds) == 1 else ())]
    text = f"{len(parts)} legs" if len(parts) > _MAX_LABEL_SYMBOLS else " / ".join(names)
    return f"{text} ({' '.join(shared)})" if shared else text


def trade_list(ledger: RunLedger) -> dict[str, StrategyTrades]:
    """Every strategy's pairs and round trips (module docstring), sorted by strategy.

    Open trips are valued at the ledger's marks (``ledger.portfolio.marks()``).
    """
    book = _Book()
    with ledger_context():
        for event in _events(ledger):
            if isinstance(event, FundingShare):
                book.funding(event)
            else:
                book.fill(event)
        marks = {str(k): v for k, v in ledger.portfolio.marks().items()}
        grouped: dict[str, list[PairTrades]] = {}
        for (strategy, _), pair in book.pairs.items():
            grouped.setdefault(strategy, []).append(_pair_trades(pair, marks))
    return {
        s: StrategyTrades(tuple(sorted(pairs, key=lambda p: p.label)), book.outside.get(s, ZERO))
        for s, pairs in sorted(grouped.items())
    }


def _pair_trades(pair: _Pair, marks: Mapping[str, Decimal]) -> PairTrades:
    trips = list(pair.trips)
    if pair.open is not None:
        value = sum((q * marks[i] for i, q in pair.qty.items() if q), ZERO)
        trips.append(_closed(pair.open, None, value))
    return PairTrades(
        label=pair_label(pair.instruments),
        instruments=pair.instruments,
        trips=tuple(trips),
        price_usd=sum((t.price_usd for t in trips), ZERO),
        funding_usd=sum((t.funding_usd for t in trips), ZERO),
        fees_usd=sum((t.fees_usd for t in trips), ZERO),
        total_usd=sum((t.total_usd for t in trips), ZERO),
    )
