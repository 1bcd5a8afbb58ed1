"""The chaos harness's budget arithmetic: time against a pair's budget is time with the agent
up (:func:`tests.chaos.invariants.overlap_ms`); worked out by hand."""

from __future__ import annotations

from tests.chaos.invariants import overlap_ms


def test_down_time_inside_an_episode_is_taken_off() -> None:
    # episode 1,000..10,000 ms; the agent down 2,000..5,000 and 9,000..12,000
    assert overlap_ms(1_000, 10_000, [(2_000, 5_000), (9_000, 12_000)]) == 3_000 + 1_000


def test_down_time_outside_an_episode_is_not() -> None:
    assert overlap_ms(1_000, 2_000, [(0, 500), (2_000, 3_000)]) == 0
    assert overlap_ms(1_000, 2_000, []) == 0


def test_an_episode_wholly_inside_a_down_stretch_is_all_down() -> None:
    assert overlap_ms(1_000, 2_000, [(0, 5_000)]) == 1_000
