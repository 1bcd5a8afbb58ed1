"""The follow-up timers of unresolved orders (agent.live.timers) on a hand-moved clock.

Expected due times are written out from the policy: the first lookup 1 s after the order is
first seen unresolved, then waits of 2, 4, 8 ... s capped at 60 s.
"""

from __future__ import annotations

from agent.live.timers import FollowUpBackoff, FollowUpTimers

T0 = 1_700_000_000_000


def test_backoff_doubles_from_one_second_up_to_a_minute() -> None:
    backoff = FollowUpBackoff()
    assert [backoff.delay_ms(n) for n in range(9)] == [
        1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000
    ]  # fmt: skip
    assert FollowUpBackoff(first_s=0.5, factor=3.0, max_s=5.0).delay_ms(2) == 4_500


def _run(timers: FollowUpTimers, until_ms: int) -> list[tuple[int, tuple[str, ...]]]:
    """Jump from due time to due time (as the live loop sleeps) and take what is due."""
    taken = []
    now = T0
    while (due := timers.next_due_ms(now)) is not None and due <= until_ms:
        now = due
        taken.append((now, timers.take(now)))
    return taken


def test_an_order_is_looked_up_one_second_after_it_is_seen_then_with_backoff() -> None:
    unresolved = {"a"}
    timers = FollowUpTimers(lambda: sorted(unresolved))
    taken = _run(timers, T0 + 200_000)
    offsets_s = [(ms - T0) / 1000 for ms, _ in taken]
    assert offsets_s == [1, 3, 7, 15, 31, 63, 123, 183]
    assert {ids for _, ids in taken} == {("a",)}


def test_a_resolved_order_leaves_and_a_new_one_starts_over() -> None:
    unresolved = {"a"}
    timers = FollowUpTimers(lambda: sorted(unresolved))
    assert timers.take(T0) == ()  # seen now: due at T0 + 1 s
    assert timers.take(T0 + 1_000) == ("a",)
    unresolved.clear()
    assert timers.next_due_ms(T0 + 2_000) is None
    unresolved.add("a")  # unresolved again (its reverse is unknown too): from the start
    assert timers.next_due_ms(T0 + 50_000) == T0 + 51_000


def test_orders_keep_their_own_schedules() -> None:
    unresolved = ["a"]
    timers = FollowUpTimers(lambda: unresolved)
    assert timers.next_due_ms(T0) == T0 + 1_000
    assert timers.take(T0 + 1_000) == ("a",)  # next: + 2 s
    unresolved.append("b")
    assert timers.next_due_ms(T0 + 1_500) == T0 + 2_500  # b: 1 s after it was first seen
    assert timers.take(T0 + 2_500) == ("b",)
    assert timers.take(T0 + 3_000) == ("a",)
