"""The funding settlement path after issue 14's speed-ups gives what the straightforward code
gave.

Each fast path is compared with the code it replaced, kept here as the reference (the ledger's
funding split, the paper venue's funding book), on random inputs; the schedule's skipped perp
check gets a test that fails if its guard is removed, and the funding event's line is checked
to follow every logging configuration with its audit keys in order.
"""

from __future__ import annotations

import io
import json
from collections import deque
from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal, localcontext

import pytest
import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.engine import funding_schedule as fs
from agent.engine.funding import FundingDesk
from agent.engine.funding_schedule import FundingScheduleRegistry
from agent.execution import events
from agent.logs import configure_logging
from agent.portfolio.exact import EXACT_CONTEXT, at_booking_resolution
from agent.portfolio.ledger import UNATTRIBUTED, Portfolio
from venues.model import (
    Fill,
    FundingPayment,
    FundingRate,
    Instrument,
    InstrumentId,
    InstrumentKind,
    Liquidity,
    Side,
)
from venues.paper.funding import FundingBook, funding_mark

D = Decimal
PERP = InstrumentId("binance", InstrumentKind.PERP, "BTCUSDT")
ETH = InstrumentId("binance", InstrumentKind.PERP, "ETHUSDT")
SPOT = InstrumentId("binance", InstrumentKind.SPOT, "BTCUSDT")
STRATEGIES = ("alpha", "beta", "gamma")
T0_MS = 1_700_000_000_000
HOUR_MS = 3_600_000

# ---- the ledger's funding split ------------------------------------------------------------


def _reference_shares(
    holders: Mapping[str, Decimal], payment: FundingPayment
) -> tuple[Decimal, dict[str, Decimal]]:
    """``Portfolio.apply_funding``'s split before issue 14 (HEAD f6fff63), from the holders'
    quantities: the amount at booking resolution and each holder's share, residual to
    ``unattributed``."""
    rate = Decimal(repr(payment.rate))
    with localcontext(EXACT_CONTEXT):
        amount = at_booking_resolution(payment.amount_usd)
        shares = {
            s: at_booking_resolution(-rate * qty * payment.mark_price)
            for s, qty in sorted(holders.items())
            if qty != 0
        }
        residual = amount - sum(shares.values(), D(0))
        if residual != 0:
            shares[UNATTRIBUTED] = shares.get(UNATTRIBUTED, D(0)) + residual
    return amount, shares


def _fill(strategy_index: int, signed_qty: Decimal, price: Decimal) -> Fill:
    return Fill(
        instrument_id=PERP,
        client_order_id=f"c{strategy_index}",
        venue_order_id="v",
        trade_id=f"t{strategy_index}",
        side=Side.BUY if signed_qty > 0 else Side.SELL,
        qty=abs(signed_qty),
        price=price,
        fee_usd=D(0),
        liquidity=Liquidity.TAKER,
        ts_event_ms=0,
    )


qty_st = st.decimals(min_value=D("-50"), max_value=D("50"), places=3, allow_nan=False)
rate_st = st.one_of(
    st.floats(min_value=-0.01, max_value=0.01, allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 1e-300, -3.3333333333333335e-05, 0.0001]),
)
mark_st = st.decimals(min_value=D("0.0001"), max_value=D("200000"), places=4, allow_nan=False)
payment_st = st.tuples(
    rate_st,
    mark_st,
    st.one_of(st.none(), qty_st),  # the venue's position: None = the ledger's net
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    positions=st.lists(qty_st, min_size=0, max_size=len(STRATEGIES)),
    payments=st.lists(payment_st, min_size=1, max_size=6),
)
def test_apply_funding_splits_exactly_as_the_straightforward_code(
    positions: list[Decimal], payments: list[tuple[float, Decimal, Decimal | None]]
) -> None:
    portfolio = Portfolio({"binance": D(1_000)})
    holders: dict[str, Decimal] = {}
    for index, qty in enumerate(positions):
        if qty != 0:
            portfolio.apply_fill(STRATEGIES[index], _fill(index, qty, D(100)), InstrumentKind.PERP)
        holders[STRATEGIES[index]] = qty
    net = sum(holders.values(), D(0))
    cash = D(1_000) - sum((q * D(100) for q in holders.values()), D(0))
    funding_by_strategy: dict[str, Decimal] = {}
    received = paid = D(0)
    discrepancies = 0
    for k, (rate, mark, venue_qty) in enumerate(payments):
        qty = net if venue_qty is None else venue_qty
        amount = -Decimal(repr(rate)) * qty * mark  # the paper venue's formula (28 digits)
        payment = FundingPayment(PERP, T0_MS + k * HOUR_MS, rate, 3600, qty, mark, amount)

        shares = portfolio.apply_funding(payment)

        booked, expected = _reference_shares(holders, payment)
        assert list(shares) == list(expected)
        # same values and the same representation (the journal stores str())
        assert [str(v) for v in shares.values()] == [str(v) for v in expected.values()]
        with localcontext(EXACT_CONTEXT):
            cash += booked
            for strategy, share in expected.items():
                funding_by_strategy[strategy] = funding_by_strategy.get(strategy, D(0)) + share
            if booked > 0:
                received += booked
            else:
                paid -= booked
        discrepancies += UNATTRIBUTED in expected and expected[UNATTRIBUTED] != 0
    assert portfolio.cash_usd() == {"binance": cash}
    assert portfolio.funding_received_usd == received
    assert portfolio.funding_paid_usd == paid
    assert len(portfolio.funding_discrepancies) == discrepancies
    by_leg = portfolio.pnl_by_leg()
    for strategy, total in funding_by_strategy.items():
        assert by_leg[strategy][PERP].funding_usd == total  # every payment reached its leg
    portfolio.check_identity(D(0))


# ---- the paper venue's funding book -----------------------------------------------------


class _ReferenceFundingBook:
    """``FundingBook`` before issue 14 (HEAD f6fff63): ``settle`` and ``remember_paid``."""

    def __init__(self, retention_s: int) -> None:
        self.retention_ms = retention_s * 1000
        self.last: dict[InstrumentId, FundingRate] = {}
        self.history: dict[InstrumentId, deque[FundingRate]] = {}
        self.paid: deque[FundingPayment] = deque()

    def settle(
        self, funding: FundingRate, qty: Decimal, prices: Mapping[InstrumentId, Decimal]
    ) -> FundingPayment | None:
        iid = funding.instrument_id
        last = self.last.get(iid)
        if last is not None and funding.ts_funding_ms <= last.ts_funding_ms:
            return None
        self.last[iid] = funding
        history = self.history.setdefault(iid, deque())
        history.append(funding)
        horizon_ms = funding.ts_funding_ms - self.retention_ms
        while history[0].ts_funding_ms < horizon_ms:
            history.popleft()
        if qty == 0:
            return None
        mark = funding_mark(funding, prices)
        amount = -Decimal(repr(funding.rate)) * qty * mark
        payment = FundingPayment(
            iid, funding.ts_funding_ms, funding.rate, funding.interval_s, qty, mark, amount
        )
        self.paid.append(payment)
        horizon_ms = payment.ts_funding_ms - self.retention_ms
        while self.paid[0].ts_funding_ms < horizon_ms:
            self.paid.popleft()
        return payment


settlement_st = st.tuples(
    st.sampled_from([PERP, ETH]),
    st.integers(min_value=0, max_value=40),  # hours after T0 (repeats and going back included)
    rate_st,
    st.sampled_from([D(0), D("0.5"), D("-1.25"), D("3")]),
    st.one_of(st.none(), st.floats(min_value=1.0, max_value=1e5)),
)


@settings(max_examples=150, deadline=None)
@given(settlements=st.lists(settlement_st, max_size=40))
def test_funding_book_settles_as_the_straightforward_code(
    settlements: list[tuple[InstrumentId, int, float, Decimal, float | None]],
) -> None:
    retention_s = 6 * 3600  # short: forgetting happens inside the drawn window
    book, reference = FundingBook(retention_s), _ReferenceFundingBook(retention_s)
    prices = {PERP: D("43000.5"), ETH: D("2300.25")}
    for iid, hours, rate, qty, mark in settlements:
        ts_ms = T0_MS + hours * HOUR_MS
        funding = FundingRate(iid, rate, 3600, ts_ms, ts_ms + HOUR_MS, mark)
        got, expected = book.settle(funding, qty, prices), reference.settle(funding, qty, prices)
        assert got == expected
        if got is not None and expected is not None:
            assert str(got.amount_usd) == str(expected.amount_usd)
    assert book.last == reference.last
    assert {i: list(h) for i, h in book.history.items()} == {
        i: list(h) for i, h in reference.history.items()
    }
    assert list(book.paid) == list(reference.paid)


def test_funding_book_keeps_one_history_per_perp_across_settlements() -> None:
    book = FundingBook()
    first = FundingRate(PERP, 0.0001, 3600, T0_MS, T0_MS + HOUR_MS)
    book.settle(first, D(0), {})
    history = book.history[PERP]
    book.settle(FundingRate(PERP, 0.0002, 3600, T0_MS + HOUR_MS, T0_MS + 2 * HOUR_MS), D(0), {})
    assert book.history[PERP] is history
    assert [r.rate for r in history] == [0.0001, 0.0002]


# ---- the schedule's perp check ---------------------------------------------------------


def _rate(
    iid: InstrumentId, ts_ms: int, *, interval_s: int = 3600, next_ms: int | None = None
) -> FundingRate:
    return FundingRate(
        iid, 0.0001, interval_s, ts_ms, ts_ms + HOUR_MS if next_ms is None else next_ms
    )


def test_schedule_checks_a_non_perp_before_it_gets_a_schedule() -> None:
    registry = FundingScheduleRegistry()
    registry.observe(_rate(PERP, T0_MS))
    with pytest.raises(ValueError, match="is not a perp"):
        registry.observe(_rate(SPOT, T0_MS))
    with pytest.raises(ValueError, match="is not a perp"):  # refused again: nothing was kept
        registry.observe(_rate(SPOT, T0_MS + HOUR_MS))
    assert registry.interval_s(SPOT) is None
    with pytest.raises(KeyError):
        registry.next_settlement_after_ms(SPOT, T0_MS)


def test_schedule_checks_the_times_of_every_settlement_of_a_known_perp() -> None:
    registry = FundingScheduleRegistry()
    registry.observe(_rate(PERP, T0_MS))
    with pytest.raises(ValueError, match="interval_s must be positive, got 0"):
        registry.observe(_rate(PERP, T0_MS + HOUR_MS, interval_s=0))
    with pytest.raises(ValueError, match=r"ts_next_funding_ms .* is not after ts_funding_ms"):
        registry.observe(_rate(PERP, T0_MS + HOUR_MS, next_ms=T0_MS + HOUR_MS))
    # a refused settlement left nothing behind: the next good one is one hour after the first
    assert registry.observe(_rate(PERP, T0_MS + HOUR_MS)) is None
    assert registry.next_settlement_ms(PERP) == T0_MS + 2 * HOUR_MS
    # and a bad first settlement of a new perp is refused before it gets a schedule
    with pytest.raises(ValueError, match="interval_s must be positive"):
        registry.observe(_rate(ETH, T0_MS, interval_s=-1))
    assert registry.interval_s(ETH) is None


def _reference_observe(registry: FundingScheduleRegistry, rate: FundingRate) -> object:
    """``FundingScheduleRegistry.observe`` before its gap memo (issue 14, session 18): every
    gap rounded anew (``_rounded_gap_s``); the registry's schedules are used as they are."""
    iid = rate.instrument_id
    ts_ms = rate.ts_funding_ms
    sched = registry._schedules.get(iid)
    if sched is None:
        fs._check_perp(iid)
        fs._check_times(rate)
        sched = registry._schedules[iid] = fs._Schedule()
    else:
        fs._check_times(rate)
    last = sched.last_ts_ms
    if last is not None and ts_ms <= last:
        if ts_ms == last:
            return None
        raise ValueError("older settlement")
    gap_s = rate.interval_s if last is None else fs._rounded_gap_s(iid, ts_ms - last)
    old_observed_s, sched.observed_s = sched.observed_s, gap_s
    sched.last_ts_ms = ts_ms
    sched.next_ts_ms = rate.ts_next_funding_ms
    if sched.grace:
        sched.grace = False
        if gap_s == old_observed_s:
            return None
    if sched.interval_s is None or gap_s == sched.interval_s:
        sched.interval_s = gap_s
        return None
    return registry._change(sched, iid, rate.ts_funding_ms, gap_s, "settlement")


@settings(max_examples=200, deadline=None)
@given(
    gaps=st.lists(
        st.tuples(
            st.sampled_from([1, 4, 6, 8]),  # hours
            st.integers(-400, 400),  # stamp jitter, ms
            st.sampled_from([ETH, PERP]),
            st.sampled_from([None, 3_600, 28_800]),  # listed interval (re-registered), if any
        ),
        max_size=40,
    )
)
def test_schedule_gap_memo_observes_as_rounding_every_gap(
    gaps: list[tuple[int, int, InstrumentId, int | None]],
) -> None:
    """The observed interval of a settlement whose gap equals its perp's last gap is that
    gap's rounding again: the changes, intervals and next settlements are those of rounding
    every gap (fails if the memo's guard, the equal gap, is removed: gaps vary here)."""
    registry, reference = FundingScheduleRegistry(), FundingScheduleRegistry()
    now_ms = {PERP: T0_MS, ETH: T0_MS}
    for hours, jitter_ms, iid, listed_s in gaps:
        if listed_s is not None:
            inst = Instrument(iid, "X", "USDT", D("0.1"), D("0.001"), D("0.001"), D(5), D(1))
            inst = replace(inst, funding_interval_s=listed_s)
            assert registry.register(inst, now_ms[iid]) == reference.register(inst, now_ms[iid])
        now_ms[iid] += hours * HOUR_MS
        rate = FundingRate(iid, 0.0001, 3_600, now_ms[iid] + jitter_ms, now_ms[iid] + HOUR_MS)
        assert registry.observe(rate) == _reference_observe(reference, rate)
        for perp in (PERP, ETH):
            assert registry.interval_s(perp) == reference.interval_s(perp)
            assert registry.next_settlement_ms(perp) == reference.next_settlement_ms(perp)
    assert registry.changes == reference.changes


# ---- the funding event's logger ----------------------------------------------------------


def _payment() -> FundingPayment:
    return FundingPayment(PERP, T0_MS, 0.0001, 28_800, D("-0.5"), D("43000.5"), D("2.150025"))


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.fixture
def restore_logging() -> object:
    yield None
    configure_logging("warning", "json", io.StringIO())


@pytest.mark.usefixtures("restore_logging")
def test_funding_event_follows_every_logging_configuration() -> None:
    first, second = io.StringIO(), io.StringIO()
    allocations = {"alpha": D("2.150025")}
    configure_logging("info", "json", first)
    events.funding_settled(_payment(), allocations, T0_MS)
    events.funding_settled(_payment(), allocations, T0_MS + 1)  # the bound logger, kept
    configure_logging("info", "json", second)
    events.funding_settled(_payment(), allocations, T0_MS + 2)
    assert [line["ts_ms"] for line in _lines(first)] == [T0_MS, T0_MS + 1]
    assert [line["ts_ms"] for line in _lines(second)] == [T0_MS + 2]
    with structlog.testing.capture_logs() as captured:
        events.funding_settled(_payment(), allocations, T0_MS + 3)
    assert [(e["event"], e["ts_ms"]) for e in captured] == [("funding_settled", T0_MS + 3)]
    events.funding_settled(_payment(), allocations, T0_MS + 4)  # capture over: back to second
    assert [line["ts_ms"] for line in _lines(second)] == [T0_MS + 2, T0_MS + 4]
    configure_logging("warning", "json", second)
    events.funding_settled(_payment(), allocations, T0_MS + 5)  # info off: nothing written
    assert len(_lines(second)) == 2


@pytest.mark.usefixtures("restore_logging")
def test_funding_event_line_has_the_audit_keys_in_order() -> None:
    stream = io.StringIO()
    configure_logging("info", "json", stream)
    allocations = {"alpha": D("2.5"), "beta": D("-0.349975")}
    events.funding_settled(_payment(), allocations, T0_MS + 7)
    [line] = _lines(stream)
    assert list(line)[:4] == ["ts", "level", "logger", "event"]
    assert {k: v for k, v in line.items() if k != "ts"} == {
        "level": "info",
        "logger": "zerobeta.trades",
        "event": "funding_settled",
        "venue": "binance",
        "instrument": "binance:perp:BTCUSDT",
        "strategy": None,  # two holders
        "qty": -0.5,
        "price": 43000.5,
        "ts_ms": T0_MS + 7,
        "amount_usd": 2.150025,
        "rate": 0.0001,
        "interval_s": 28_800,
        "funding_ts_ms": T0_MS,
        "allocations_usd": {"alpha": 2.5, "beta": -0.349975},
    }
    assert list(line)[4:] == [
        "venue", "instrument", "strategy", "qty", "price", "ts_ms", "amount_usd", "rate",
        "interval_s", "funding_ts_ms", "allocations_usd",
    ]  # fmt: skip


# ---- the desk's paper venue per instrument id ----------------------------------------------


class _RecordingVenue:
    """A paper venue stand-in: records the rates it is asked to settle, pays nothing."""

    def __init__(self) -> None:
        self.settled: list[InstrumentId] = []

    def settle_funding(self, rate: FundingRate) -> None:
        self.settled.append(rate.instrument_id)


class _Market:
    def __init__(self) -> None:
        self.prices: dict[InstrumentId, float] = {}

    def on_funding(self, rate: FundingRate) -> None:
        pass


class _Journal:
    def record_alert(self, *_args: object) -> None:
        pass  # an id seen again after a longer gap: an interval change, alerted


def _desk(paper: dict[str, _RecordingVenue]) -> FundingDesk:
    return FundingDesk(
        {},
        _Market(),
        None,
        _Journal(),
        paper=paper,
        live={},
        first_ms=T0_MS,  # type: ignore[arg-type]
    )


@settings(max_examples=100, deadline=None)
@given(
    venues=st.lists(st.sampled_from(["binance", "bybit", "okx"]), min_size=1, max_size=30),
    paper_names=st.sets(st.sampled_from(["binance", "bybit", "okx"])),
)
def test_desk_settles_each_rate_on_its_venues_paper_venue(
    venues: list[str], paper_names: set[str]
) -> None:
    """Each rate goes to the paper venue named by its id's venue (none when not simulated),
    as ``paper.get(rate.instrument_id.venue)`` did, whatever ids were seen before."""
    paper = {name: _RecordingVenue() for name in paper_names}
    desk = _desk(paper)
    expected: dict[str, list[InstrumentId]] = {name: [] for name in paper_names}
    ts_ms = T0_MS
    for step, venue in enumerate(venues):
        iid = InstrumentId(venue, InstrumentKind.PERP, "BTCUSDT" if step % 2 else "ETHUSDT")
        ts_ms += HOUR_MS
        desk.settle(ts_ms, [FundingRate(iid, 0.0001, 3600, ts_ms, ts_ms + HOUR_MS)])
        if venue in paper:
            expected[venue].append(iid)
    assert {name: venue.settled for name, venue in paper.items()} == expected


def test_desk_keeps_the_paper_venues_it_was_given() -> None:
    """The per-id venue map is derived from the desk's own copy of the paper venues: a venue
    added to the caller's mapping later is not used, before or after an id was seen (fails if
    the desk reads the caller's mapping)."""
    binance, bybit = _RecordingVenue(), _RecordingVenue()
    paper = {"binance": binance}
    desk = _desk(paper)
    paper["bybit"] = bybit
    bybit_perp = InstrumentId("bybit", InstrumentKind.PERP, "BTCUSDT")
    desk.settle(T0_MS, [FundingRate(PERP, 0.0001, 3600, T0_MS, T0_MS + HOUR_MS)])
    desk.settle(T0_MS, [FundingRate(bybit_perp, 0.0001, 3600, T0_MS, T0_MS + HOUR_MS)])
    assert binance.settled == [PERP]
    assert bybit.settled == []


@pytest.mark.parametrize(
    ("interval_s", "next_offset_ms", "message"),
    [(0, HOUR_MS, "interval_s must be positive, got 0"), (3600, 0, "ts_next_funding_ms")],
)
def test_schedule_checks_a_known_perps_rate(
    interval_s: int, next_offset_ms: int, message: str
) -> None:
    """A perp with a schedule already: a bad rate still raises, naming the field (fails if the
    inlined guard in front of the full check is removed)."""
    registry = FundingScheduleRegistry()
    registry.observe(FundingRate(PERP, 0.0001, 3600, T0_MS, T0_MS + HOUR_MS))
    ts_ms = T0_MS + HOUR_MS
    with pytest.raises(ValueError, match=message):
        registry.observe(FundingRate(PERP, 0.0001, interval_s, ts_ms, ts_ms + next_offset_ms))
    assert registry.observe(FundingRate(PERP, 0.0001, 3600, ts_ms, ts_ms + HOUR_MS)) is None


# ---- the desk's live-only work per step ----------------------------------------------------


PERP_INSTRUMENT = Instrument(PERP, "BTC", "USDT", D("0.1"), D("0.001"), D("0.001"), D(5))


class _LiveVenue:
    """A live venue stand-in whose payment history is ``payments`` (read whole each time)."""

    def __init__(self) -> None:
        self.payments: list[FundingPayment] = []
        self.reads = 0

    async def fetch_funding_payments(self, since_ms: int) -> list[FundingPayment]:
        self.reads += 1
        return [p for p in self.payments if p.ts_funding_ms >= since_ms]


class _RecordingJournal:
    """Journal stand-in: the funding rows and reconciliations, with their agent time."""

    def __init__(self) -> None:
        self.funding: list[tuple[int, FundingPayment]] = []
        self.reconciliations: list[tuple[int, dict[str, object]]] = []

    def record_funding(self, ts_ms: int, payment: FundingPayment, *_args: object) -> None:
        self.funding.append((ts_ms, payment))

    def record_funding_reconciliation(
        self, ts_ms: int, payment: FundingPayment, **fields: object
    ) -> None:
        self.reconciliations.append((ts_ms, fields))

    def record_alert(self, *_args: object) -> None:
        pass


def _live_desk(
    portfolio: Portfolio, market: _Market, journal: _RecordingJournal, live: dict[str, _LiveVenue]
) -> FundingDesk:
    return FundingDesk(
        {PERP: PERP_INSTRUMENT},
        market,  # type: ignore[arg-type]
        portfolio,
        journal,  # type: ignore[arg-type]
        paper={},
        live=live,  # type: ignore[arg-type]
        first_ms=T0_MS,
    )


async def test_a_live_desk_notes_each_step_and_reconciles_when_the_rate_arrives() -> None:
    """Live mode: the position at the settlement's step is what a payment is reconciled
    against, and a payment booked before its rate is known is reconciled by the ``settle``
    that brings the rate, before any ``collect`` (fails if the desk skips the reconciler's
    per-step work in live mode: no row, or the later position)."""
    portfolio = Portfolio({"binance": D(1_000)})
    portfolio.apply_fill("alpha", _fill(0, D(2), D(100)), InstrumentKind.PERP)
    market, journal, venue = _Market(), _RecordingJournal(), _LiveVenue()
    market.prices[PERP] = 100.0
    desk = _live_desk(portfolio, market, journal, {"binance": venue})
    desk.start_collecting(T0_MS)

    desk.settle(T0_MS, [])  # the step of the settlement: 2 held at 100
    payment = FundingPayment(PERP, T0_MS, 0.0001, 3600, D(2), D(100), D("-0.021"))
    venue.payments.append(payment)
    await desk.collect(T0_MS)  # booked; its settled rate is not known yet
    assert journal.funding == [(T0_MS, payment)]
    assert journal.reconciliations == []

    portfolio.apply_fill("alpha", _fill(0, D(3), D(100)), InstrumentKind.PERP)  # now 5 held
    market.prices[PERP] = 150.0
    rate = FundingRate(PERP, 0.0001, 3600, T0_MS, T0_MS + HOUR_MS)  # no mark: the step's price
    desk.settle(T0_MS + HOUR_MS, [rate])

    [(ts_ms, fields)] = journal.reconciliations
    expected_usd = -D("0.0001") * D(2) * D("100.0")
    assert ts_ms == T0_MS + HOUR_MS
    assert fields["position_qty"] == D(2)
    assert fields["mark_price"] == D("100.0")
    assert fields["expected_usd"] == expected_usd
    assert fields["gap_bps"] == float((D("-0.021") - expected_usd) / D(200) * 10_000)


async def test_a_paper_desk_reads_no_history_and_keeps_its_own_live_venues() -> None:
    """Paper mode (no live venue): ``collect`` books nothing and reconciles nothing; the desk
    keeps its own copy of the live venues, so one added to the caller's mapping later is
    never read (as the reconciler, built with the same copy, never reconciles it)."""
    portfolio = Portfolio({"binance": D(1_000)})
    market, journal, venue = _Market(), _RecordingJournal(), _LiveVenue()
    live: dict[str, _LiveVenue] = {}
    desk = _live_desk(portfolio, market, journal, live)
    live["binance"] = venue
    venue.payments.append(FundingPayment(PERP, T0_MS, 0.0001, 3600, D(1), D(100), D("-0.01")))
    desk.settle(T0_MS, [FundingRate(PERP, 0.0001, 3600, T0_MS, T0_MS + HOUR_MS)])
    await desk.collect(T0_MS)
    assert venue.reads == 0
    assert (journal.funding, journal.reconciliations, desk.payments) == ([], [], 0)
    assert not desk.reconciler.active
