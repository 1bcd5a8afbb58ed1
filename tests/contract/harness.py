"""The harness every venue brings to the contract suite (``test_venue_contract.py``).

A venue joins the suite by adding a module to ``tests/contract/harnesses/`` that defines
``NAME`` (the pytest id) and ``async def make_harness()``: it builds the venue (for a real
exchange: behind respx routes, ``assert_all_mocked``, that serve recorded payloads from
``tests/fixtures/<venue>/`` and keep the state a scenario creates — an order placed is then
found by its client order id, a fill becomes a position, a settlement a payment) and returns
the hooks below. No harness touches the network.

- A trading venue (``venues.base.Venue``) returns a :class:`VenueHarness`; it runs every
  scenario.
- A market-data-only venue (``venues.base.MarketDataSource``, e.g. dYdX v4) sets
  ``MARKET_DATA_ONLY = True`` in its module (default False) and returns a
  :class:`MarketDataHarness`; it runs the market-data scenarios only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple

from venues.base import MarketDataSource, Venue
from venues.model import HOUR_MS, InstrumentId

FAILURE_KINDS = ("connect", "rate_limit", "server_error", "auth", "malformed")
"""What ``fail_next`` can inject into the next requests:

- ``connect``: the connection fails (``httpx.ConnectError``);
- ``rate_limit``: HTTP 429 with ``Retry-After: 2`` (seconds) in the venue's own error body (a
  venue whose header counts in other units sends 2 s in those: dYdX ``Retry-After: 2000`` ms);
- ``server_error``: HTTP 502 with an HTML body;
- ``auth``: the venue's own answer to a bad signature / key (HTTP status as documented);
- ``malformed``: HTTP 200 with a body of the right JSON type missing required fields.
"""

BARS_FROM_MS = 1_764_547_200_000
"""2025-12-01T00:00:00Z: where the fakes' generated hourly bars start (a closed past)."""


class ExpectedBar(NamedTuple):
    """One bar as the fake holds it (its prices and base-unit volume as floats)."""

    ts_open_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float


@dataclass(frozen=True)
class BarWindow:
    """What ``seed_bars`` put behind the venue: ask ``fetch_bars(perp, start_ms, end_ms,
    3600)`` and expect exactly ``expected`` (the closed 1 h bars of the fake's state with
    ``start_ms <= ts_open_ms < end_ms``, oldest first; the fake also holds bars outside)."""

    start_ms: int
    end_ms: int
    expected: tuple[ExpectedBar, ...]


class OhlcvRow(NamedTuple):
    """One generated hourly bar, exact decimals, for a fake to format in its venue's shape."""

    ts_open_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal

    def expected(self) -> ExpectedBar:
        return ExpectedBar(
            self.ts_open_ms,
            float(self.open),
            float(self.high),
            float(self.low),
            float(self.close),
            float(self.volume),
        )


def hourly_rows(count: int, base_price: Decimal, first_ms: int = BARS_FROM_MS) -> list[OhlcvRow]:
    """``count`` consecutive hourly bars from ``first_ms``, oldest first, with distinct open,
    high, low, close and volume (so a swapped column shows), ``low <= open, close <= high``."""
    rows = []
    for k in range(count):
        open_ = base_price + (k * 37) % 101
        close = base_price + ((k + 1) * 37) % 101
        high = max(open_, close) + 5 + k % 3
        low = min(open_, close) - 4 - k % 5
        volume = Decimal("1.5") + Decimal("0.25") * (k % 7)
        rows.append(OhlcvRow(first_ms + k * HOUR_MS, open_, high, low, close, volume))
    return rows


def window_of(rows: list[OhlcvRow], start_ms: int, end_ms: int) -> BarWindow:
    """The :class:`BarWindow` of ``[start_ms, end_ms)`` over ``rows`` (the fake's state)."""
    inside = sorted(r for r in rows if start_ms <= r.ts_open_ms < end_ms)
    return BarWindow(start_ms, end_ms, tuple(r.expected() for r in inside))


@dataclass
class MarketDataHarness:
    """A market-data source under test and the hooks that put it in a known state.

    Attributes
    ----------
    venue : MarketDataSource
    perp_id, spot_id : InstrumentId
        A perp and (where the venue lists spot) a spot instrument the venue lists.
    seed_market : Callable[[], Awaitable[None]]
        Makes prices available (marks, funding) for the instruments.
    settle_funding : Callable[[], Awaitable[None]]
        Settles at least one funding rate on the perp.
    fail_next : Callable[[str, int], None] | None
        ``fail_next(kind, times)`` makes the next ``times`` HTTP requests fail as ``kind``
        (one of :data:`FAILURE_KINDS`); None for venues without a transport (paper).
    slept_s : list[float]
        Every sleep the venue's transport asked for (its ``sleep`` is faked), seconds.
    unsupported : frozenset[str]
        Scenarios the venue's documented API cannot serve (``balances``, ``funding_history``,
        ``funding_payments``, ``bars``); each must raise ``UnsupportedByVenue``, which the
        suite checks.
    seed_bars : Callable[[], Awaitable[BarWindow]] | None
        Puts hourly bars behind the venue and says which ones a window must return; None
        only when ``bars`` is unsupported.
    """

    venue: MarketDataSource
    perp_id: InstrumentId
    spot_id: InstrumentId | None
    seed_market: Callable[[], Awaitable[None]]
    settle_funding: Callable[[], Awaitable[None]]
    fail_next: Callable[[str, int], None] | None = None
    slept_s: list[float] = field(default_factory=list)
    unsupported: frozenset[str] = frozenset()
    seed_bars: Callable[[], Awaitable[BarWindow]] | None = None


@dataclass
class VenueHarness:
    """A trading venue under test and the hooks that put it in a known state.

    The attributes are those of :class:`MarketDataHarness` (``venue`` a full ``Venue``) plus
    ``order_qty``: a perp order size valid on the venue (≥ min qty and min notional, on the
    lot step), base units, that the account can afford. ``seed_market`` makes quotes and
    marks available for both instruments; ``settle_funding`` settles at least one funding
    rate on the perp (a payment if a position is open); ``unsupported`` may also name
    ``balances`` and ``funding_payments``.
    """

    venue: Venue
    perp_id: InstrumentId
    spot_id: InstrumentId | None
    order_qty: Decimal
    seed_market: Callable[[], Awaitable[None]]
    settle_funding: Callable[[], Awaitable[None]]
    fail_next: Callable[[str, int], None] | None = None
    slept_s: list[float] = field(default_factory=list)
    unsupported: frozenset[str] = frozenset()
    seed_bars: Callable[[], Awaitable[BarWindow]] | None = None

    def market_data(self) -> MarketDataHarness:
        """The same venue and hooks, seen as a market-data source."""
        return MarketDataHarness(
            venue=self.venue,
            perp_id=self.perp_id,
            spot_id=self.spot_id,
            seed_market=self.seed_market,
            settle_funding=self.settle_funding,
            fail_next=self.fail_next,
            slept_s=self.slept_s,
            unsupported=self.unsupported,
            seed_bars=self.seed_bars,
        )
