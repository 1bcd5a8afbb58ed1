"""Resuming unresolved orders against the journal (:func:`settle_with_journal`): a run killed
after its checkpoint may have resolved an order and sent its reverse; the restart must neither
send that reverse again (same client order id: a duplicate) nor lose what is still owed.

Each case writes, in a real journal, the rows the killed run would have written, then checks the
checkpoint entry that remains; quantities are worked out by hand.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

from agent.execution.plan import client_order_id
from agent.execution.unresolved import UnresolvedOrder, UnresolvedOrders, settle_with_journal
from agent.journal.journal import Journal
from strategies.base import PairIntent, TargetPosition
from venues.model import (
    Fill,
    InstrumentId,
    InstrumentKind,
    Liquidity,
    OrderAck,
    OrderRequest,
    OrderStatus,
    Side,
)

BTC = InstrumentId("binance", InstrumentKind.PERP, "BTCUSDT")
STRATEGY, INTENT = "carry", "i-7"
MAX_ATTEMPTS = 3


def _request(leg: str, attempt: int, side: Side, qty: str, reduce_only: bool) -> OrderRequest:
    cid = client_order_id(STRATEGY, INTENT, leg, attempt)
    return OrderRequest(cid, BTC, side, D(qty), reduce_only=reduce_only)


def _journal() -> Journal:
    journal = Journal.open(":memory:")
    journal.record_intent(1_000, STRATEGY, PairIntent(INTENT, (TargetPosition(BTC, 0.1),), "enter"))
    return journal


def _sent(journal: Journal, leg: str, attempt: int, request: OrderRequest) -> None:
    journal.record_order_request(1_000, STRATEGY, INTENT, leg, attempt, request)


def _answered(journal: Journal, request: OrderRequest, status: OrderStatus, filled: str) -> None:
    fills = ()
    if D(filled):
        fill = Fill(BTC, request.client_order_id, "v", f"t-{request.client_order_id[:6]}",
                    request.side, D(filled), D(50_000), D("1"), Liquidity.TAKER, 2_000)  # fmt: skip
        fills = (fill,)
        journal.record_fill(2_000, STRATEGY, fill)
    ack = OrderAck(request.client_order_id, "v", BTC, request.side, status, request.qty,
                   D(filled), D(50_000) if fills else None, 2_000, fills)  # fmt: skip
    journal.record_order_ack(2_000, ack)


def _opening_leg() -> UnresolvedOrder:
    """Leg "0" attempt 0, a 0.1 BTC buy whose answer never came (nothing booked)."""
    request = _request("0", 0, Side.BUY, "0.1", reduce_only=False)
    return UnresolvedOrder(STRATEGY, INTENT, "0", request, frozenset(), D(0), 1_000)


def _settle(journal: Journal, *orders: UnresolvedOrder) -> list[UnresolvedOrder]:
    kept = UnresolvedOrders()
    for order in orders:
        kept.add(order)
    settle_with_journal(kept, journal, MAX_ATTEMPTS)
    return list(kept)


def test_an_owed_reverse_the_journal_does_not_know_is_still_owed() -> None:
    owed = replace(_opening_leg(), reverse_qty=D("-0.1"))
    assert _settle(_journal(), owed) == [owed]


def test_an_order_still_without_outcome_is_kept_for_its_lookup() -> None:
    journal = _journal()
    order = _opening_leg()
    _sent(journal, "0", 0, order.request)
    assert _settle(journal, order) == [order]


def test_a_reverse_sent_without_answer_is_not_owed_again() -> None:
    journal = _journal()
    order = _opening_leg()
    _sent(journal, "0", 0, order.request)
    _answered(journal, order.request, OrderStatus.FILLED, "0.1")  # resolved after the checkpoint
    reverse = _request("0f", 0, Side.SELL, "0.1", reduce_only=True)
    _sent(journal, "0f", 0, reverse)  # ... and its reverse sent: no answer journaled
    assert _settle(journal, order) == []
    # the reverse itself is what the restart looks up (its own id, without outcome)
    assert [row.client_order_id for row in journal.orders_without_outcome()] == [
        reverse.client_order_id
    ]


def test_a_resolved_order_whose_reverse_was_never_sent_owes_its_late_fill() -> None:
    journal = _journal()
    order = _opening_leg()
    _sent(journal, "0", 0, order.request)
    _answered(journal, order.request, OrderStatus.FILLED, "0.1")
    (kept,) = _settle(journal, order)
    assert (kept.reverse_qty, kept.reverse_attempt) == (D("-0.1"), 0)


def test_a_reverse_that_filled_part_leaves_the_rest_to_the_next_attempt() -> None:
    journal = _journal()
    order = _opening_leg()
    _sent(journal, "0", 0, order.request)
    _answered(journal, order.request, OrderStatus.FILLED, "0.1")
    reverse = _request("0f", 0, Side.SELL, "0.1", reduce_only=True)
    _sent(journal, "0f", 0, reverse)
    _answered(journal, reverse, OrderStatus.EXPIRED, "0.06")  # IOC: 0.06 of 0.1 sold
    (kept,) = _settle(journal, order)
    assert (kept.reverse_qty, kept.reverse_attempt) == (D("-0.04"), 1)  # -0.1 - (-0.06)


def test_a_reverse_that_filled_whole_leaves_nothing_owed() -> None:
    journal = _journal()
    order = _opening_leg()
    order = replace(order, reverse_qty=D("-0.1"))
    reverse = _request("0f", 0, Side.SELL, "0.1", reduce_only=True)
    _sent(journal, "0f", 0, reverse)
    _answered(journal, reverse, OrderStatus.FILLED, "0.1")
    assert _settle(journal, order) == []


def test_a_refused_reverse_is_owed_again_until_out_of_attempts() -> None:
    """A reverse only takes risk off and a refusal may pass: it is sent again as the next
    attempt (before, it was dropped and a pair stayed one-legged until the next cycle)."""
    journal = _journal()
    order = _opening_leg()
    _sent(journal, "0", 0, order.request)
    _answered(journal, order.request, OrderStatus.FILLED, "0.1")
    for attempt in range(MAX_ATTEMPTS):
        reverse = _request("0f", attempt, Side.SELL, "0.1", reduce_only=True)
        _sent(journal, "0f", attempt, reverse)
        journal.record_order_rejected(2_500, reverse, "-2019", "Margin is insufficient.")
        kept = _settle(journal, order)
        if attempt + 1 < MAX_ATTEMPTS:
            assert [(k.reverse_qty, k.reverse_attempt) for k in kept] == [(D("-0.1"), attempt + 1)]
        else:
            assert kept == []  # out of attempts: the position check reports the rest


def test_the_walk_follows_several_attempts_of_the_reverse() -> None:
    journal = _journal()
    order = _opening_leg()
    _sent(journal, "0", 0, order.request)
    _answered(journal, order.request, OrderStatus.FILLED, "0.1")
    first = _request("0f", 0, Side.SELL, "0.1", reduce_only=True)
    _sent(journal, "0f", 0, first)
    _answered(journal, first, OrderStatus.EXPIRED, "0.03")
    second = _request("0f", 1, Side.SELL, "0.07", reduce_only=True)
    _sent(journal, "0f", 1, second)
    _answered(journal, second, OrderStatus.EXPIRED, "0.05")
    (kept,) = _settle(journal, order)
    assert (kept.reverse_qty, kept.reverse_attempt) == (D("-0.02"), 2)  # -0.1 + 0.03 + 0.05


def test_an_unwind_order_resolved_before_the_restart_owes_its_shortfall() -> None:
    """An unwind (reduce-only) order of 0.1 that filled 0.04 after the checkpoint: 0.06 is
    still to sell (ordered − booked − late)."""
    journal = _journal()
    request = _request("0u", 0, Side.SELL, "0.1", reduce_only=True)
    order = UnresolvedOrder(STRATEGY, INTENT, "0u", request, frozenset(), D(0), 1_000)
    _sent(journal, "0u", 0, request)
    _answered(journal, request, OrderStatus.EXPIRED, "0.04")
    (kept,) = _settle(journal, order)
    assert (kept.reverse_qty, kept.reverse_attempt) == (D("-0.06"), 0)
