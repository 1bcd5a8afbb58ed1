"""BLAS threads during a run (agent.blas)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from agent.blas import RUN_BLAS_THREADS, run_threads


def _blas_threads() -> dict[str, int]:
    return {i["filepath"]: i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}


@pytest.fixture
def two_threads() -> Iterator[dict[str, int]]:
    """numpy's BLAS at 2 threads before each test (not 1, so a run that limited nothing, or a
    restore to 1, would be caught), put back after it."""
    assert np.__version__  # numpy's BLAS is loaded
    with threadpool_limits(limits=2, user_api="blas"):
        before = _blas_threads()
        assert before
        if set(before.values()) != {2}:  # OpenBLAS caps its threads at the machine's cores
            pytest.skip("BLAS runs one thread here: a limit to 1 cannot be told from none")
        yield before


def test_a_run_keeps_blas_on_one_thread_and_restores(two_threads: dict[str, int]) -> None:
    with run_threads():
        assert set(_blas_threads().values()) == {RUN_BLAS_THREADS} == {1}
    assert _blas_threads() == two_threads


def test_the_threads_are_restored_when_the_run_fails(two_threads: dict[str, int]) -> None:
    with pytest.raises(RuntimeError, match="boom"), run_threads():
        raise RuntimeError("boom")
    assert _blas_threads() == two_threads
