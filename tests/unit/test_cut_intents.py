"""A restart abandons whole an opening intent the killed run was still sending
(:func:`agent.execution.unresolved.cut_intent_reverses`): the unanswered leg's late fill is
reversed as every late fill of an opening leg is, so what the answered legs booked is owed back
too. Each case writes, in a real journal, what the killed run left; quantities by hand."""

from __future__ import annotations

from decimal import Decimal as D

from agent.execution.plan import client_order_id
from agent.execution.unresolved import UnresolvedOrder, cut_intent_reverses, unanswered_orders
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
ETH = InstrumentId("binance", InstrumentKind.PERP, "ETHUSDT")
STRATEGY, INTENT = "churn", "flip-7-open"


def _journal(opening: bool = True) -> Journal:
    journal = Journal.open(":memory:")
    legs = (TargetPosition(BTC, 0.1), TargetPosition(ETH, -2.0))
    journal.record_intent(1_000, STRATEGY, PairIntent(INTENT, legs, "flip", opening))
    return journal


def _request(leg: str, iid: InstrumentId, side: Side, qty: str, reduce_only: bool = False):
    cid = client_order_id(STRATEGY, INTENT, leg, 0)
    return OrderRequest(cid, iid, side, D(qty), reduce_only=reduce_only)


def _sent(journal: Journal, leg: str, request: OrderRequest) -> None:
    journal.record_order_request(1_000, STRATEGY, INTENT, leg, 0, request)


def _filled(journal: Journal, request: OrderRequest) -> None:
    fill = Fill(request.instrument_id, request.client_order_id, "v", f"t-{request.client_order_id}",
                request.side, request.qty, D(50_000), D(1), Liquidity.TAKER, 2_000)  # fmt: skip
    journal.record_fill(2_000, STRATEGY, fill)
    ack = OrderAck(request.client_order_id, "v", request.instrument_id, request.side,
                   OrderStatus.FILLED, request.qty, request.qty, D(50_000), 2_000,
                   (fill,))  # fmt: skip
    journal.record_order_ack(2_000, ack)


def _unanswered(leg: str, request: OrderRequest) -> UnresolvedOrder:
    return UnresolvedOrder(STRATEGY, INTENT, leg, request, frozenset(), D(0), 1_000)


def test_the_answered_leg_of_a_cut_opening_intent_is_owed_back() -> None:
    journal = _journal()
    btc = _request("0", BTC, Side.BUY, "0.1")
    eth = _request("1", ETH, Side.SELL, "2")
    _sent(journal, "0", btc)
    _sent(journal, "1", eth)
    _filled(journal, btc)  # answered before the kill; the ETH leg never was

    (owed,) = cut_intent_reverses([_unanswered("1", eth)], journal, set(), {BTC, ETH}, 5_000)

    assert (owed.request.instrument_id, owed.reverse_qty, owed.leg) == (BTC, D("-0.1"), "r0")
    assert owed.reverse_leg == "r0f"
    assert owed.since_ms == 5_000


def test_an_unanswered_unwind_counts_as_done_so_nothing_more_is_owed() -> None:
    journal = _journal()
    btc = _request("0", BTC, Side.BUY, "0.1")
    eth = _request("1", ETH, Side.SELL, "2")
    unwind = _request("0u", BTC, Side.SELL, "0.1", reduce_only=True)
    for leg, request in (("0", btc), ("1", eth), ("0u", unwind)):
        _sent(journal, leg, request)
    _filled(journal, btc)
    cut = [_unanswered("1", eth), _unanswered("0u", unwind)]
    assert cut_intent_reverses(cut, journal, set(), {BTC, ETH}, 5_000) == []


def test_exits_reducing_orders_and_followed_intents_are_left_alone() -> None:
    for opening, leg, reduce_only, known in (
        (False, "1", False, False),  # an exit is never unwound
        (True, "1f", True, False),  # only a reverse was cut: it completes on its own
        (True, "1", False, True),  # the checkpoint already follows an order of it
    ):
        journal = _journal(opening)
        btc = _request("0", BTC, Side.BUY, "0.1")
        eth = _request(leg, ETH, Side.SELL, "2", reduce_only)
        _sent(journal, "0", btc)
        _sent(journal, leg, eth)
        _filled(journal, btc)
        followed = {btc.client_order_id} if known else set()
        cut = [_unanswered(leg, eth)]
        assert cut_intent_reverses(cut, journal, followed, {BTC, ETH}, 5_000) == [], leg


# ---- the killed run's unanswered orders, as the restart follows them -------------------------


def test_an_unanswered_leg_of_an_exit_is_completed_and_of_an_opening_reversed() -> None:
    """Before: the restart reversed the late fill of an exit's unanswered leg as an opening
    leg's — the close undone on that leg while the other stayed closed (a chaos run's
    ``flip-…-close`` left unbalanced 950 s)."""
    for opening, completes in ((False, True), (True, False)):
        journal = _journal(opening)
        btc = _request("0", BTC, Side.SELL, "0.1")
        eth = _request("1", ETH, Side.BUY, "2")
        _sent(journal, "0", btc)
        _sent(journal, "1", eth)
        _filled(journal, eth)  # answered before the kill; the BTC leg never was

        ((order, status),) = unanswered_orders(journal, set(), 5_000)

        assert (order.client_order_id, status, order.completes) == (
            btc.client_order_id,
            "pending_new",
            completes,
        )
        assert order.since_ms == 5_000
        # found filled late: an exit's leg keeps it, an opening leg's is reversed
        assert order.reverse_after_qty(D("-0.1")) == (D(0) if completes else D("0.1"))
        # found never placed: an exit's leg is sent again, an opening leg's is dropped
        assert order.reverse_after_qty(D(0)) == (D("-0.1") if completes else D(0))
        restored = UnresolvedOrder.from_json(order.to_json())
        assert restored == order  # the flag survives the checkpoint


def test_orders_already_followed_are_not_taken_again() -> None:
    journal = _journal(False)
    btc = _request("0", BTC, Side.SELL, "0.1")
    _sent(journal, "0", btc)
    assert unanswered_orders(journal, {btc.client_order_id}, 5_000) == []
