"""The collector's pace during a run (agent.collector)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from agent.collector import YOUNG_THRESHOLD, run_pace


@pytest.fixture
def thresholds() -> Iterator[tuple[int, int, int]]:
    """Known thresholds before each test (not CPython's defaults, so a restore to defaults
    would be caught), put back after it."""
    saved = gc.get_threshold()
    gc.set_threshold(123, 4, 5)
    yield (123, 4, 5)
    gc.set_threshold(*saved)


def test_a_run_collects_the_young_generation_less_often_and_restores(
    thresholds: tuple[int, int, int],
) -> None:
    with run_pace():
        assert gc.get_threshold() == (YOUNG_THRESHOLD, 4, 5)  # older generations untouched
    assert gc.get_threshold() == thresholds


def test_the_thresholds_are_restored_when_the_run_fails(thresholds: tuple[int, int, int]) -> None:
    with pytest.raises(RuntimeError, match="boom"), run_pace():
        raise RuntimeError("boom")
    assert gc.get_threshold() == thresholds
