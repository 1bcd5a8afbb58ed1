"""A paper venue with native atomic pair orders (a simulated Purple Flea).

``PaperPairVenue`` is a :class:`~venues.paper.venue.PaperVenue` that also satisfies
:class:`venues.pairs.PairOrderVenue`: :meth:`PaperPairVenue.place_pair` fills both legs with
the paper venue's fill model (fees, slippage, rules, margin) at one timestamp, or neither —
the venue's state is restored and nothing is published when either leg is refused.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal

from venues.errors import DuplicateClientOrderId, InvalidOrder, OrderNotFound, OrderRejected
from venues.model import Instrument, InstrumentId, OrderAck, OrderRequest, OrderStatus, Side
from venues.pairs import PairAck
from venues.paper.ledger import Holding
from venues.paper.venue import PaperVenue, PaperVenueConfig

_CODE_INVALID = "-1013"

_Books = tuple[Decimal, dict[InstrumentId, Holding], dict[str, OrderAck], int, int]
"""Booking state saved for a rollback: collateral, holdings, orders, order and trade seqs."""


class PaperPairVenue(PaperVenue):
    """Paper venue with :meth:`place_pair` / :meth:`fetch_pair` / :meth:`close_pair`.

    Pair ids are ``paper-pair-<n>``; ``fetch_pair`` knows every pair this process placed.
    """

    def __init__(
        self,
        config: PaperVenueConfig,
        instruments: Mapping[InstrumentId, Instrument],
        now_ms: Callable[[], int],
    ) -> None:
        super().__init__(config, instruments, now_ms)
        self._pairs: dict[str, PairAck] = {}
        self._pair_ids: dict[str, str] = {}

    async def place_pair(
        self, pair_client_id: str, legs: Sequence[OrderRequest], strategy_tag: str
    ) -> PairAck:
        """Fill one BUY (long) and one SELL (short) leg atomically at one timestamp.

        Raises
        ------
        InvalidOrder
            If ``legs`` is not one BUY and one SELL, or a leg breaks the instrument's rules.
        DuplicateClientOrderId
            If ``pair_client_id`` or a leg's client order id was used before.
        OrderRejected
            Whatever a single paper order would be refused for; neither leg is then filled.
        """
        sides = sorted(leg.side.value for leg in legs)
        if len(legs) != 2 or sides != [Side.BUY.value, Side.SELL.value]:
            reason = "a pair needs exactly one BUY (long) and one SELL (short) leg"
            raise InvalidOrder(
                f"{self.name}: {reason}",
                venue=self.name,
                client_order_id=pair_client_id,
                reason=reason,
                code=_CODE_INVALID,
            )
        if pair_client_id in self._pairs:
            raise DuplicateClientOrderId(
                f"pair id {pair_client_id!r} already used",
                venue=self.name,
                client_order_id=pair_client_id,
                reason="duplicate pair id",
            )
        long_leg, short_leg = sorted(legs, key=lambda r: r.side is not Side.BUY)
        saved = self._save_books()
        subscribers = self._account_subs
        self._account_subs = {}  # hold events until both legs are in
        try:
            acks = [await self.place_order(long_leg), await self.place_order(short_leg)]
        except OrderRejected:
            self._restore_books(saved)
            raise
        finally:
            self._account_subs = subscribers
        if any(a.status is not OrderStatus.FILLED for a in acks):
            raise AssertionError("paper market orders always fill")  # pragma: no cover
        for ack in acks:
            self._publish(ack)
        pair_id = f"paper-pair-{len(self._pairs) + 1}"
        pair = PairAck(pair_client_id, pair_id, strategy_tag, acks[0], acks[1], self._now_ms())
        self._pairs[pair_client_id] = pair
        self._pair_ids[pair_id] = pair_client_id
        return pair

    async def fetch_pair(self, pair_client_id: str) -> PairAck:
        """The pair placed with ``pair_client_id``.

        Raises
        ------
        OrderNotFound
            If no pair was placed with it (it was refused or never sent).
        """
        pair = self._pairs.get(pair_client_id)
        if pair is None:
            raise OrderNotFound(f"no pair {pair_client_id!r}", venue=self.name)
        return pair

    async def close_pair(self, pair_id: str) -> PairAck:
        """Close both legs of pair ``pair_id`` at once (market orders reversing the fills).

        Raises
        ------
        OrderNotFound
            If ``pair_id`` is unknown.
        """
        client_id = self._pair_ids.get(pair_id)
        if client_id is None:
            raise OrderNotFound(f"no pair {pair_id!r}", venue=self.name)
        opened = self._pairs[client_id]
        legs = [
            _reverse(opened.long_leg, f"{client_id}-cl"),
            _reverse(opened.short_leg, f"{client_id}-cs"),
        ]
        return await self.place_pair(f"{client_id}-close", legs, "")

    def _save_books(self) -> _Books:
        """Deep copy of the booking state (collateral, holdings, orders, id counters)."""
        ledger, desk = self._ledger, self._desk
        return copy.deepcopy(
            (ledger.collateral_usd, ledger.holdings, desk.orders, desk.order_seq, desk.trade_seq)
        )

    def _restore_books(self, books: _Books) -> None:
        """Put back a state saved by :meth:`_save_books` (undo orders placed since)."""
        ledger, desk = self._ledger, self._desk
        (
            ledger.collateral_usd,
            ledger.holdings,
            desk.orders,
            desk.order_seq,
            desk.trade_seq,
        ) = books


def _reverse(ack: OrderAck, client_order_id: str) -> OrderRequest:
    return OrderRequest(client_order_id, ack.instrument_id, ack.side.opposite, ack.filled_qty)
