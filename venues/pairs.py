"""Native two-leg (pair) orders: the protocol a venue with an atomic pair endpoint satisfies.

Most venues have no atomic cross-symbol order (the project's SEEDS, "Execution and rebalancing"):
the agent sends both legs itself and handles one leg failing. A venue that *does* offer one (Purple
Flea ``POST /orders/pair`` with ``execution_mode: "atomic_pair"``; Purple Flea API as described in
the project's SEEDS, see ``venues/purpleflea/API_NOTES.md``) fills both legs or neither, at one
timestamp. The executor can use it when both legs of a pair intent are on such a venue:

1. send the pair **once** with :meth:`PairOrderVenue.place_pair` (never re-sent blindly);
2. on :class:`~venues.errors.OrderRejected` neither leg exists: nothing to unwind;
3. on an unknown outcome (transport error, timeout, 5xx) call
   :meth:`PairOrderVenue.fetch_pair` with the same ``pair_client_id`` before anything else: it
   returns the :class:`PairAck`, raises :class:`~venues.errors.OrderNotFound` (the pair was
   provably not executed: it may be sent again) or a ``VenueError`` whose outcome is still
   unknown (stop opening and reconcile positions);
4. close both legs together with :meth:`PairOrderVenue.close_pair` (by the venue's pair id).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from venues.model import OrderAck, OrderRequest


@dataclass(frozen=True, slots=True)
class PairAck:
    """The venue's answer about one atomic pair order (open or close).

    Attributes
    ----------
    pair_client_id : str
        Our id of the pair intent (deterministic, like a client order id).
    pair_id : str
        The venue's id of the pair (needed to close it).
    strategy_tag : str
        The strategy tag sent with the pair ("" for a close, which carries none).
    long_leg, short_leg : OrderAck
        Each leg's state and fill; for an open, ``long_leg.side`` is BUY and
        ``short_leg.side`` SELL (a close reverses them). Quantities base units, prices quote
        units.
    ts_event_ms : int
        When both legs filled (one timestamp for both: the venue fills them atomically),
        epoch ms UTC.
    """

    pair_client_id: str
    pair_id: str
    strategy_tag: str
    long_leg: OrderAck
    short_leg: OrderAck
    ts_event_ms: int

    @property
    def legs(self) -> tuple[OrderAck, OrderAck]:
        """``(long_leg, short_leg)``."""
        return (self.long_leg, self.short_leg)


@runtime_checkable
class PairOrderVenue(Protocol):
    """A venue that executes two legs atomically (both filled or neither)."""

    @property
    def name(self) -> str:
        """Venue name, e.g. ``purpleflea``."""
        ...

    async def place_pair(
        self, pair_client_id: str, legs: Sequence[OrderRequest], strategy_tag: str
    ) -> PairAck:
        """Send two legs (one BUY = long, one SELL = short) as one atomic order, exactly once.

        Raises
        ------
        venues.errors.InvalidOrder
            Before sending, when the legs cannot form a pair on this venue.
        venues.errors.OrderRejected
            The venue refused the pair: neither leg exists.
        venues.errors.TransportError, venues.errors.VenueUnavailable
            Outcome unknown: call :meth:`fetch_pair` before anything else.
        """
        ...

    async def fetch_pair(self, pair_client_id: str) -> PairAck:
        """Resolve a pair by our id. Raises ``OrderNotFound`` when it was provably not
        executed, a ``VenueError`` when its outcome cannot be established."""
        ...

    async def close_pair(self, pair_id: str) -> PairAck:
        """Close both legs of an open pair at once (by the venue's pair id)."""
        ...
