"""A sweep's plan: the grid file checked against the configuration, and every run it makes.

:func:`build_plan` refuses a bad grid before anything runs (``ConfigError``, exit 2 naming
the key): a strategy that is not a section of the configuration or does not run in the sweep,
a parameter its config model does not have, a value it refuses (each grid point's
configuration is loaded and its strategies built, as a run would), a walk-forward span that
cannot be split. It then lists the runs:

- plain sweep: every grid point on every window, windows outer (run ids 0, 1, ...);
- walk-forward: for each fold, every grid point on the fold's training window, then one test
  run per fold (:class:`~agent.research.task.PickSpec`) after all the training runs.

Every run reads the configuration file and the grid only: not the ``ZEROBETA_*``
environment and no secrets (``load_config(..., env={})``), so a table is reproducible from
the two files, and no credential is handed to Ray.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from agent.config import MONITOR_SECTION, AgentConfig, load_config
from agent.errors import ConfigError
from agent.research.grid import GridPoint, GridSpec, Window, param_text
from agent.research.task import BacktestSpec, Phase, PickSpec
from agent.research.walk_forward import Fold, split_folds
from agent.supervisor import build_strategies
from strategies.flip_monitor.config import FlipMonitorConfig

_NOT_SWEPT = {
    "enabled": "chosen by sweep.strategies, not swept",
    "class": "the strategy class is not a parameter",
}


@dataclass(frozen=True, slots=True)
class WalkForward:
    """``--walk-forward K`` and ``--anchored`` (:mod:`agent.research.walk_forward`)."""

    folds: int
    anchored: bool = False


@dataclass(frozen=True, slots=True)
class SweepPlan:
    """Every run of a sweep, checked.

    Attributes
    ----------
    grid : GridSpec
    runs : tuple[BacktestSpec, ...]
        The runs with a fixed grid point (plain sweep, walk-forward training), by run id.
    picks : tuple[PickSpec, ...]
        Walk-forward test runs, by fold; empty for a plain sweep.
    folds : tuple[Fold, ...]
        Walk-forward folds; empty for a plain sweep.
    """

    grid: GridSpec
    runs: tuple[BacktestSpec, ...]
    picks: tuple[PickSpec, ...] = ()
    folds: tuple[Fold, ...] = ()

    @property
    def size(self) -> int:
        """Backtests to run."""
        return len(self.runs) + len(self.picks)


def build_plan(
    config_path: Path,
    grid: GridSpec,
    *,
    walk_forward: WalkForward | None = None,
    keep_journals: Path | None = None,
) -> SweepPlan:
    """Check ``grid`` against the configuration at ``config_path`` and list the runs.

    Parameters
    ----------
    config_path : Path
        ``agent.toml``.
    grid : GridSpec
        The grid file, read (:func:`agent.research.grid.load_grid`).
    walk_forward : WalkForward or None
        Folds to walk forward over, None for a plain sweep.
    keep_journals : Path or None
        Directory to keep each run's journal in (``run-0000.sqlite``...); None = none kept.

    Raises
    ------
    ConfigError
        Naming the bad key: a configuration error, an unknown strategy or parameter
        (``grid.stat_arb.entry_zz``), a value refused (``grid.stat_arb.entry_z``), a
        walk-forward over several windows or an unsplittable span (``--walk-forward``).
    """
    config_path = config_path.resolve()
    config = load_config(config_path, env={})
    enabled = _enabled_flags(config, grid)
    _check_params(config, grid, enabled)
    base = _base_overrides(config, enabled)
    for point in grid.points():
        _check_point(config_path, base, point)
    template = _Template(config_path, base, keep_journals.resolve() if keep_journals else None)
    if walk_forward is None:
        return _plain(grid, template)
    folds = _folds(config, grid, walk_forward)
    return _walk_forward(grid, folds, template)


@dataclass(frozen=True, slots=True)
class _Template:
    config_path: Path
    base: Mapping[str, Any]
    keep_journals: Path | None

    def spec(
        self, run_id: int, phase: Phase, fold: int | None, window: Window, point: GridPoint
    ) -> BacktestSpec:
        journal = self.keep_journals / f"run-{run_id:04d}.sqlite" if self.keep_journals else None
        return BacktestSpec(
            run_id=run_id,
            phase=phase,
            fold=fold,
            window=window,
            point=point,
            config_path=self.config_path,
            base_overrides=self.base,
            journal_path=journal,
        )


def _plain(grid: GridSpec, template: _Template) -> SweepPlan:
    points = grid.points()
    runs = [
        template.spec(i, "grid", None, window, point)
        for i, (window, point) in enumerate((w, p) for w in grid.windows for p in points)
    ]
    return SweepPlan(grid=grid, runs=tuple(runs))


def _walk_forward(grid: GridSpec, folds: Sequence[Fold], template: _Template) -> SweepPlan:
    points = grid.points()
    runs: list[BacktestSpec] = []
    train_ids: list[tuple[int, ...]] = []
    for fold in folds:
        first = len(runs)
        runs.extend(
            template.spec(first + i, "train", fold.index, fold.train, point)
            for i, point in enumerate(points)
        )
        train_ids.append(tuple(range(first, len(runs))))
    picks = [
        PickSpec(
            test=template.spec(len(runs) + k, "test", fold.index, fold.test, ()),
            train_run_ids=ids,
            metric=grid.metric,
        )
        for k, (fold, ids) in enumerate(zip(folds, train_ids, strict=True))
    ]
    return SweepPlan(grid=grid, runs=tuple(runs), picks=tuple(picks), folds=tuple(folds))


def _folds(config: AgentConfig, grid: GridSpec, walk_forward: WalkForward) -> list[Fold]:
    if len(grid.windows) != 1:
        reason = "a walk-forward splits one span: give sweep.start and sweep.end, not windows"
        raise ConfigError([("sweep.windows", reason)])
    window = grid.windows[0]
    md = config.market_data
    start = window.start or (md.start.date() if md.start is not None else None)
    end = window.end or (md.end.date() if md.end is not None else None)
    if start is None or end is None:
        reason = (
            "a walk-forward needs the span to split: set sweep.start and sweep.end (or "
            "market_data.start and end in the configuration)"
        )
        raise ConfigError([("sweep.start/end", reason)])
    try:
        return split_folds(start, end, walk_forward.folds, anchored=walk_forward.anchored)
    except ValueError as err:
        raise ConfigError([("--walk-forward", str(err))]) from None


def _enabled_flags(config: AgentConfig, grid: GridSpec) -> dict[str, bool] | None:
    """``{section: enabled}`` for every section when the grid names the strategies that run
    (as ``zerobeta backtest --strategy``), else None (the configuration's own flags)."""
    if grid.strategies is None:
        return None
    known = [*config.strategies.names(), MONITOR_SECTION]
    unknown = [name for name in grid.strategies if name not in known]
    if unknown:
        reason = f"unknown strategy {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        raise ConfigError([("sweep.strategies", reason)])
    return {name: name in grid.strategies for name in known}


def _check_params(config: AgentConfig, grid: GridSpec, enabled: Mapping[str, bool] | None) -> None:
    """Every ``[grid.<strategy>]`` names a section that runs, and every key a parameter of
    its config model."""
    errors: list[tuple[str, str]] = []
    for strategy, table in grid.params.items():
        model = _config_model(config, strategy)
        if model is None:
            known = ", ".join(sorted([*config.strategies.names(), MONITOR_SECTION]))
            errors.append((f"grid.{strategy}", f"not a strategy section; known: {known}"))
            continue
        if not _runs(config, strategy, enabled):
            reason = f"{strategy} does not run in this sweep (see sweep.strategies or its enabled)"
            errors.append((f"grid.{strategy}", reason))
        for key in table:
            if key in _NOT_SWEPT:
                errors.append((f"grid.{strategy}.{key}", _NOT_SWEPT[key]))
            elif key not in model.model_fields:
                allowed = ", ".join(sorted(set(model.model_fields) - set(_NOT_SWEPT)))
                reason = f"not a parameter of {strategy} ({model.__name__}); known: {allowed}"
                errors.append((f"grid.{strategy}.{key}", reason))
    if errors:
        raise ConfigError(errors)


def _config_model(config: AgentConfig, strategy: str) -> type[BaseModel] | None:
    if strategy == MONITOR_SECTION:
        return FlipMonitorConfig
    if strategy not in config.strategies.names():
        return None
    return config.strategies.section(strategy).strategy_class.config_model


def _runs(config: AgentConfig, strategy: str, enabled: Mapping[str, bool] | None) -> bool:
    if enabled is not None:
        return enabled[strategy]
    if strategy == MONITOR_SECTION:
        return config.strategies.funding_flip_monitor.enabled
    return config.strategies.section(strategy).enabled


def _base_overrides(config: AgentConfig, enabled: Mapping[str, bool] | None) -> dict[str, Any]:
    """What every run overrides: a replay, no progress bar, the data directory made
    absolute (a Ray worker need not share the driver's working directory) and, when the
    grid names them, the strategies that run."""
    market: dict[str, Any] = {"source": "replay"}
    if config.market_data.data_dir is not None:
        market["data_dir"] = str(Path(config.market_data.data_dir).resolve())
    base: dict[str, Any] = {"market_data": market, "logging": {"progress": False}}
    if enabled is not None:
        base["strategies"] = {name: {"enabled": flag} for name, flag in enabled.items()}
    return base


def _check_point(config_path: Path, base: Mapping[str, Any], point: GridPoint) -> None:
    """Load the configuration of one grid point and build its strategies, as a run would;
    errors are reported under the grid's keys with the point that caused them."""
    spec = BacktestSpec(0, "grid", None, Window(None, None), point, config_path, base)
    overrides = spec.overrides(Path("unused.sqlite"))
    try:
        build_strategies(load_config(config_path, env={}, overrides=overrides))
    except ConfigError as err:
        raise ConfigError(
            [_grid_error(path, reason, point) for path, reason in err.errors]
        ) from None


def _grid_error(path: str, reason: str, point: GridPoint) -> tuple[str, str]:
    """A configuration error of a grid point, named after the grid key when it is one."""
    where = ", ".join(f"{s}.{k}={param_text(v)}" for s, k, v in point)
    for strategy, key, _ in point:
        if path == f"strategies.{strategy}.{key}":
            return f"grid.{strategy}.{key}", f"{reason} (grid point {where})"
    for strategy, _, _ in point:
        if path == f"strategies.{strategy}":  # a rule across the section's parameters
            return f"grid.{strategy}", f"{reason} (grid point {where})"
    return path, f"{reason} (grid point {where})" if point else reason
