"""Venue health: which outcomes count as failures, how long a venue must fail to be unhealthy,
stream silence, recovery, and the checkpoint. A settable clock, no sleeps."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.engine.venue_health import (
    MARKS,
    REST,
    VenueHealth,
    is_venue_failure,
    newest_mark_ms,
)
from venues.errors import (
    AuthError,
    InsufficientMargin,
    OrderNotFound,
    ProtocolError,
    RateLimited,
    RequestTimeout,
    TransportError,
    UnsupportedByVenue,
    VenueUnavailable,
)
from venues.model import InstrumentId, InstrumentKind, MarkPrice

T = 1_760_000_000_000
AFTER_S = 120.0


class Clock:
    def __init__(self) -> None:
        self.ms = T

    def now_ms(self) -> int:
        return self.ms


def down(venue: str = "bybit") -> TransportError:
    return TransportError("connection refused", venue=venue)


def rejected(venue: str = "bybit") -> InsufficientMargin:
    return InsufficientMargin(
        "margin is insufficient", venue=venue, code="-2019", client_order_id="c1", reason="margin"
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def health(clock: Clock) -> VenueHealth:
    return VenueHealth(AFTER_S, clock.now_ms)


def test_what_counts_as_the_venue_failing() -> None:
    failing = [
        down(),
        RequestTimeout("no answer", venue="x"),
        VenueUnavailable("502", venue="x"),
        RateLimited("429", venue="x", retry_after_s=1.0),
        AuthError("bad key", venue="x"),
        ProtocolError("not JSON", venue="x"),
        TimeoutError(),
    ]
    answering = [
        rejected("x"),
        OrderNotFound("unknown id", venue="x"),
        UnsupportedByVenue("no endpoint", venue="x"),
    ]
    assert all(is_venue_failure(e) for e in failing)
    assert not any(is_venue_failure(e) for e in answering)


def test_failures_spanning_the_limit_make_a_venue_unhealthy_and_a_success_recovers_it(
    health: VenueHealth, clock: Clock
) -> None:
    health.record("bybit", down())
    clock.ms += 60_000
    health.record("bybit", down())
    assert health.review() == []  # failing for 60 s < 120 s
    clock.ms += 59_999
    health.record("bybit", down())
    assert health.review() == []  # 119.999 s
    clock.ms += 1
    health.record("bybit", down())
    (change,) = health.review()
    assert (change.venue, change.unhealthy, change.failing_s, change.channel) == (
        "bybit",
        True,
        120.0,
        REST,
    )
    assert "TransportError: connection refused" in change.error
    assert health.unhealthy == {"bybit"}
    assert health.review() == []  # reported once
    clock.ms += 5_000
    health.record("bybit", rejected())  # the venue answered
    (recovered,) = health.review()
    assert (recovered.venue, recovered.unhealthy) == ("bybit", False)
    assert health.unhealthy == set()


def test_one_failure_then_silence_is_not_an_outage(health: VenueHealth, clock: Clock) -> None:
    health.record("okx", down("okx"))
    clock.ms += 3_600_000  # nothing called the venue for an hour
    assert health.review() == []
    (status,) = health.status()
    assert status.healthy
    assert (status.rest_failures, status.failing_s) == (1, 0.0)


def test_a_silent_mark_stream_makes_a_venue_unhealthy(health: VenueHealth, clock: Clock) -> None:
    btc = InstrumentId("binance", InstrumentKind.PERP, "BTCUSDT")
    eth = InstrumentId("binance", InstrumentKind.PERP, "ETHUSDT")
    marks = {btc: MarkPrice(btc, 60_000.0, T - 5_000), eth: MarkPrice(eth, 3_000.0, T)}
    health.watch_streams(lambda: newest_mark_ms(marks))
    assert newest_mark_ms(marks) == {"binance": T}  # the venue's newest mark
    clock.ms = T + 119_000
    assert health.review() == []
    clock.ms = T + 121_000
    (change,) = health.review()
    assert (change.venue, change.unhealthy, change.channel) == ("binance", True, MARKS)
    assert change.failing_s == 121.0
    marks[btc] = MarkPrice(btc, 60_100.0, T + 121_000)  # the stream is back
    (back,) = health.review()
    assert (back.venue, back.unhealthy) == ("binance", False)


def test_a_restored_unhealthy_venue_stays_so_without_a_new_alert_until_a_success(
    health: VenueHealth, clock: Clock
) -> None:
    for _ in range(3):
        health.record("bybit", down())
        clock.ms += 61_000
    health.review()
    state = health.state()
    assert state == {"unhealthy_venues": ["bybit"]}

    restarted = VenueHealth(AFTER_S, clock.now_ms)
    restarted.restore(state)
    assert restarted.unhealthy == {"bybit"}
    assert restarted.review() == []  # still unhealthy: no change, no second alert
    clock.ms += 1_000
    restarted.record("bybit")
    (change,) = restarted.review()
    assert (change.venue, change.unhealthy) == ("bybit", False)


def test_a_malformed_checkpoint_is_refused(health: VenueHealth) -> None:
    with pytest.raises(ValueError, match="unhealthy_venues"):
        health.restore({"unhealthy_venues": "bybit"})
    health.restore({})  # a checkpoint written before venue health: none
    assert health.unhealthy == set()


@settings(max_examples=200, deadline=None)
@given(
    events=st.lists(
        st.tuples(
            st.sampled_from(["call", "review", "restore", "wait"]),
            st.sampled_from(["bybit", "okx"]),
            st.booleans(),
            st.integers(0, 200_000),
        ),
        max_size=30,
    )
)
def test_review_with_nothing_failing_is_the_full_review(
    events: list[tuple[str, str, bool, int]],
) -> None:
    """``review`` returns at once when no channel is failing, no stream is watched and no venue
    is unhealthy: the same changes and unhealthy set, review after review, as a venue health
    that judges an (empty) mark stream and so always reviews every venue."""
    clock = Clock()
    fast, full = VenueHealth(AFTER_S, clock.now_ms), VenueHealth(AFTER_S, clock.now_ms)
    full.watch_streams(dict)  # no marks: changes nothing but the path taken
    for kind, venue, failed, wait_ms in events:
        if kind == "call":
            for health in (fast, full):
                health.record(venue, down(venue) if failed else None)
        elif kind == "review":
            assert fast.review() == full.review()
            assert fast.unhealthy == full.unhealthy
        elif kind == "restore":
            for health in (fast, full):
                health.restore({"unhealthy_venues": [venue] if failed else []})
        else:
            clock.ms += wait_ms
    assert fast.review() == full.review()
    assert fast.unhealthy == full.unhealthy
