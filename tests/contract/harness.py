"""The harness every venue brings to the contract suite (``test_venue_contract.py``).

A venue joins the suite by adding a module to ``tests/contract/harnesses/`` that defines
``NAME`` (the pytest id) and ``async def make_harness() -> VenueHarness``: it builds the venue
(for a real exchange: behind respx routes, ``assert_all_mocked``, that serve recorded payloads
from ``tests/fixtures/<venue>/`` and keep the state a scenario creates — an order placed is
then found by its client order id, a fill becomes a position, a settlement a payment) and
returns the hooks below. No harness touches the network.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal

from venues.base import Venue
from venues.model import InstrumentId

FAILURE_KINDS = ("connect", "rate_limit", "server_error", "auth", "malformed")
"""What ``VenueHarness.fail_next`` can inject into the next requests:

- ``connect``: the connection fails (``httpx.ConnectError``);
- ``rate_limit``: HTTP 429 with ``Retry-After: 2`` (seconds) in the venue's own error body;
- ``server_error``: HTTP 502 with an HTML body;
- ``auth``: the venue's own answer to a bad signature / key (HTTP status as documented);
- ``malformed``: HTTP 200 with a body of the right JSON type missing required fields.
"""


@dataclass
class VenueHarness:
    """A venue under test and the hooks that put it in a known state.

    Attributes
    ----------
    venue : Venue
    perp_id, spot_id : InstrumentId
        A perp and a spot instrument the venue lists.
    order_qty : Decimal
        A perp order size valid on the venue (≥ min qty and min notional, on the lot step),
        base units, that the account can afford.
    seed_market : Callable[[], Awaitable[None]]
        Makes prices available (quotes, marks) for both instruments.
    settle_funding : Callable[[], Awaitable[None]]
        Settles at least one funding rate on the perp (a payment if a position is open).
    fail_next : Callable[[str, int], None] | None
        ``fail_next(kind, times)`` makes the next ``times`` HTTP requests fail as ``kind``
        (one of :data:`FAILURE_KINDS`); None for venues without a transport (paper).
    slept_s : list[float]
        Every sleep the venue's transport asked for (its ``sleep`` is faked), seconds.
    unsupported : frozenset[str]
        Scenarios the venue's documented API cannot serve (``balances``, ``funding_history``,
        ``funding_payments``); each must raise ``UnsupportedByVenue``, which the suite checks.
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
