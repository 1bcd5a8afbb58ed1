"""A sweep's backtests as Ray tasks (https://docs.ray.io/en/latest/ray-core/tasks.html).

Each backtest is one Ray task (``num_cpus=1``: as many run at once as the cluster has CPUs)
calling :func:`agent.research.task.run_backtest`. A walk-forward test run is a task that
takes its fold's training tasks' object refs as arguments; Ray starts it once they are done
and hands it their results (https://docs.ray.io/en/latest/ray-core/tasks.html#passing-object-refs-to-ray-tasks),
so the scheduling is Ray's own. Results are collected as they finish (``ray.wait``) for the
progress display, and returned in run-id order whatever order they finished in.

Imported only by ``zerobeta sweep`` (Ray takes about a second to import and is an optional
dependency, the ``research`` extra). :func:`ray_session` starts a local Ray instance (or joins
a cluster by address) and shuts it down on exit, so no Ray process outlives the command.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

import ray
from ray.exceptions import RayError, RayTaskError

from agent.errors import ConfigError
from agent.logs import configure_logging
from agent.research.plan import SweepPlan
from agent.research.task import BacktestSpec, PickSpec, RunOutcome, run_backtest, run_pick
from venues.replay.loader import DataFileError

_HOST_PORT = re.compile(r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-]+):(?P<port>\d{1,5})")
_ABANDON_WAIT_S = 30.0  # for cancelled runs to end after a failure, seconds
ProgressFn = Callable[[int, int, RunOutcome], None]
"""Called after each finished run with (runs done, runs in all, the run's outcome)."""


class RunRefused(Exception):
    """A run's configuration or data was refused inside a Ray worker; carried back to the
    driver, which raises it as a :class:`~agent.errors.ConfigError` (exit 2).

    Attributes
    ----------
    errors : list[tuple[str, str]]
        ``(key path or file, reason)``, each path prefixed with the run (``run 3 ...``).
    """

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(f"{p}: {r}" for p, r in self.errors))

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt from its errors (the default would pass the joined message to __init__).
        return (RunRefused, (self.errors,))


@contextmanager
def ray_session(*, address: str | None = None, workers: int | None = None) -> Iterator[None]:
    """Ray for the duration of the block: a local instance of ``workers`` CPUs (default:
    every CPU) with no dashboard, or the cluster at ``address``; shut down on exit.

    A local instance is started with Ray's usage statistics off (``RAY_USAGE_STATS_ENABLED=0``,
    https://docs.ray.io/en/latest/cluster/usage-stats.html): a backtest reports nothing to
    anyone. Worker output is not forwarded to this terminal (``log_to_driver=False``); Ray's own
    messages below ERROR are not shown. A process already connected to Ray (a notebook, a
    test) keeps its connection: it is used as it is (``address`` and ``workers`` unused) and
    left open.

    Raises
    ------
    ValueError
        ``workers`` given with ``address`` (a cluster's size is its own), or below 1.
    ConfigError
        No Ray cluster answers at ``address`` (after Ray's own retries).
    """
    if address is not None and workers is not None:
        raise ValueError("--workers sizes a local Ray; a cluster at --address has its own CPUs")
    if workers is not None and workers < 1:
        raise ValueError(f"--workers must be at least 1, got {workers}")
    if ray.is_initialized():
        yield
        return
    options: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": False,
        "logging_level": logging.ERROR,
    }
    if address is None:
        os.environ["RAY_USAGE_STATS_ENABLED"] = "0"  # inherited by the local Ray processes
        ray.init(num_cpus=workers or os.cpu_count() or 1, **options)
    else:
        check_reachable(address)
        try:
            ray.init(address=address, **options)
        except ConnectionError as err:
            reason = (
                f"cannot connect to the Ray cluster there ({err}); is it running, and for a "
                "cluster with token authentication are RAY_AUTH_MODE=token and its token set?"
            )
            raise ConfigError([("--address", reason)]) from None
    try:
        yield
    finally:
        ray.shutdown()


def check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Refuse at once a ``host:port`` address where nothing accepts a TCP connection within
    ``timeout_s`` seconds: Ray itself retries an unreachable GCS address for many minutes.
    Other forms (``auto``, ``ray://...``) are left to Ray.

    Raises
    ------
    ConfigError
        Naming ``--address`` and the connection error.
    """
    match = _HOST_PORT.fullmatch(address)
    if match is None:
        return
    host, port = match.group("host").strip("[]"), int(match.group("port"))
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as err:
        reason = f"nothing answers at {address} ({err.strerror or err}); is the Ray cluster up?"
        raise ConfigError([("--address", reason)]) from None


def execute(plan: SweepPlan, progress: ProgressFn | None = None) -> list[RunOutcome]:
    """Run every backtest of ``plan`` on the Ray this process is connected to.

    Returns
    -------
    list[RunOutcome]
        One per run, by run id (the plan's runs, then its walk-forward test runs).

    Raises
    ------
    ConfigError
        A run's configuration or data was refused in its worker (the run is named); the
        other runs are cancelled.
    ray.exceptions.RayTaskError
        Any other failure of a run (its traceback in the message); the others are cancelled.
    RuntimeError
        If Ray is not initialized (:func:`ray_session`).
    """
    if not ray.is_initialized():
        raise RuntimeError("Ray is not initialized: run the sweep inside ray_session()")
    backtest = ray.remote(num_cpus=1)(_backtest_task)
    pick = ray.remote(num_cpus=1)(_pick_task)
    refs = {spec.run_id: backtest.remote(spec) for spec in plan.runs}
    for p in plan.picks:
        refs[p.test.run_id] = pick.remote(p, *(refs[i] for i in p.train_run_ids))
    return _collect(list(refs.values()), plan.size, progress)


def _collect(
    pending: Sequence[ray.ObjectRef[RunOutcome]], total: int, progress: ProgressFn | None
) -> list[RunOutcome]:
    outcomes: dict[int, RunOutcome] = {}
    waiting = list(pending)
    try:
        while waiting:
            done, waiting = ray.wait(waiting, num_returns=1)
            for ref in done:
                outcome = _result(ref)
                outcomes[outcome.spec.run_id] = outcome
                if progress is not None:
                    progress(len(outcomes), total, outcome)
    except Exception:
        _abandon(waiting)
        raise
    except BaseException:  # KeyboardInterrupt: stop at once (Ray is shut down next)
        for ref in waiting:
            ray.cancel(ref)
        raise
    return [outcomes[i] for i in sorted(outcomes)]


def _abandon(refs: Sequence[ray.ObjectRef[RunOutcome]]) -> None:
    """Cancel the runs still pending after one failed and collect how they end (cancelled,
    or failed in turn), so that Ray does not log each as an "unhandled error": the sweep
    reports its first failure, the one that stopped it."""
    if not refs:
        return
    for ref in refs:
        ray.cancel(ref)
    ready, _ = ray.wait(list(refs), num_returns=len(refs), timeout=_ABANDON_WAIT_S)
    for ref in ready:
        with suppress(RayError):
            ray.get(ref)


def _result(ref: ray.ObjectRef[RunOutcome]) -> RunOutcome:
    try:
        outcome: RunOutcome = ray.get(ref)
    except RayTaskError as err:
        if isinstance(err.cause, RunRefused):
            raise ConfigError(err.cause.errors) from None
        raise
    return outcome


def _backtest_task(spec: BacktestSpec) -> RunOutcome:
    """One backtest in a Ray worker."""
    _quiet_worker()
    with _refusals_named(spec):
        return run_backtest(spec)


def _pick_task(pick: PickSpec, *train: RunOutcome) -> RunOutcome:
    """A walk-forward test run in a Ray worker: ``train`` are its fold's training results."""
    _quiet_worker()
    with _refusals_named(pick.test):
        return run_pick(pick, *train)


def _quiet_worker() -> None:
    """Warnings and errors only, as JSON lines on the worker's stderr (Ray's worker log
    file): a replay logs every order at info."""
    configure_logging("warning", "json", sys.stderr)


@contextmanager
def _refusals_named(spec: BacktestSpec) -> Iterator[None]:
    try:
        yield
    except ConfigError as err:
        raise RunRefused([(_where(spec, path), reason) for path, reason in err.errors]) from None
    except DataFileError as err:
        raise RunRefused([(_where(spec, "market data"), str(err))]) from None


def _where(spec: BacktestSpec, path: str) -> str:
    return f"run {spec.run_id} ({spec.phase}, window {spec.window.label()}): {path}"
