"""The grid file of ``zerobeta sweep``: what to vary, over which windows, picked by what.

A TOML file (README "Sweeps and walk-forward")::

    [sweep]
    strategies = ["stat_arb"]             # the strategies that run; the others are off
                                          # (omitted: the strategies agent.toml enables)
    start = 2025-09-01                    # one window, UTC dates, end exclusive ...
    end = 2025-12-01
    # windows = [{ start = 2025-09-01, end = 2025-10-01 }, { start = ..., end = ... }]
    metric = "sharpe"                     # what picks the best run (METRICS)
    pbo_blocks = 16                       # S of the overfitting statistic (even)

    [grid.stat_arb]                       # one table per strategy section of agent.toml
    entry_z = [1.5, 2.0, 2.5]             # parameter = [values...]
    exit_z = [0.25, 0.5]

Every run is one point of the cartesian product of the value lists (strategies in file
order, parameters in file order, the last parameter varying fastest) on one window. This
module reads the file's form (:func:`load_grid`); whether a strategy and its parameters exist
and accept the values is checked against the configuration by :mod:`agent.research.plan`.
"""

from __future__ import annotations

import itertools
import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from agent.config.sources import validation_errors
from agent.errors import ConfigError

Metric = Literal[
    "sharpe",
    "total_return_frac",
    "annualized_return_frac",
    "calmar",
    "pnl_total_usd",
    "max_drawdown_frac",
]
METRICS: tuple[str, ...] = get_args(Metric)
"""Columns of the run table a sweep may pick by; every one is maximized except
``max_drawdown_frac``, which is minimized (:data:`LOWER_IS_BETTER`)."""
LOWER_IS_BETTER = frozenset({"max_drawdown_frac"})

_FORM = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

ParamValue = Any
"""A TOML value (number, string, boolean, date, list, table) as ``tomllib`` reads it."""
GridPoint = tuple[tuple[str, str, ParamValue], ...]
"""One point of a grid: ``(strategy, parameter, value)`` triples in grid order."""


@dataclass(frozen=True, slots=True)
class Window:
    """A replay window of UTC days, ``[start, end)``; None = the configuration's own
    ``[market_data]`` bound (itself unset = the first or last recorded bar)."""

    start: date | None
    end: date | None

    def label(self) -> str:
        """``2025-09-01..2025-10-01`` (``config`` for an unset bound)."""
        return f"{_day(self.start)}..{_day(self.end)}"


@dataclass(frozen=True, slots=True)
class GridSpec:
    """A grid file, read.

    Attributes
    ----------
    path : Path
        The file.
    strategies : tuple[str, ...] or None
        The strategy sections that run (the others are disabled), None = as the
        configuration enables them.
    windows : tuple[Window, ...]
        At least one; ``(Window(None, None),)`` when the file names none.
    metric : str
        One of :data:`METRICS`.
    pbo_blocks : int
        S of :func:`agent.research.overfitting.probability_of_backtest_overfitting`.
    params : Mapping[str, Mapping[str, tuple[ParamValue, ...]]]
        Strategy section → parameter → values, in file order.
    """

    path: Path
    strategies: tuple[str, ...] | None
    windows: tuple[Window, ...]
    metric: str
    pbo_blocks: int
    params: Mapping[str, Mapping[str, tuple[ParamValue, ...]]]

    def points(self) -> list[GridPoint]:
        """Every point of the grid in run order (one empty point for an empty grid)."""
        axes = [
            [(strategy, key, value) for value in values]
            for strategy, table in self.params.items()
            for key, values in table.items()
        ]
        return [tuple(point) for point in itertools.product(*axes)]

    def columns(self) -> list[str]:
        """The table's parameter columns, ``strategy.parameter``, in grid order."""
        return [f"{s}.{k}" for s, table in self.params.items() for k in table]


class _WindowForm(BaseModel):
    model_config = _FORM

    start: date
    end: date

    @model_validator(mode="after")
    def _ordered(self) -> _WindowForm:
        if self.start >= self.end:
            raise ValueError("start must be before end")
        return self


class _SweepForm(BaseModel):
    model_config = _FORM

    strategies: Annotated[list[str], Field(min_length=1)] | None = None
    start: date | None = None
    end: date | None = None
    windows: Annotated[list[_WindowForm], Field(min_length=1)] | None = None
    metric: Metric = "sharpe"
    pbo_blocks: int = Field(default=16, ge=2)

    @field_validator("pbo_blocks")
    @classmethod
    def _even(cls, value: int) -> int:
        if value % 2:
            raise ValueError("must be even (CSCV splits the blocks in two halves)")
        return value

    @model_validator(mode="after")
    def _one_way_to_give_windows(self) -> _SweepForm:
        if self.windows is not None and (self.start is not None or self.end is not None):
            raise ValueError("give either windows or start/end, not both")
        if self.start is not None and self.end is not None and self.start >= self.end:
            raise ValueError("start must be before end")
        return self


class _GridFileForm(BaseModel):
    model_config = _FORM

    sweep: _SweepForm = Field(default_factory=_SweepForm)
    grid: dict[str, dict[str, Annotated[list[Any], Field(min_length=1)]]] = Field(
        default_factory=dict
    )


def load_grid(path: Path) -> GridSpec:
    """Read and check the form of the grid file at ``path``.

    Raises
    ------
    ConfigError
        Naming the file (missing, unreadable, not TOML) or every bad key with its path
        (``sweep.metric``, ``grid.stat_arb.entry_z``): an unknown key, a value of the wrong
        type, an empty or repeated value list, windows given twice, a window that ends before
        it starts.
    """
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError([(str(path), "grid file not found")]) from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError([(str(path), f"grid file cannot be read: {err}")]) from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError([(str(path), f"not valid TOML: {err}")]) from None
    try:
        form = _GridFileForm.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(validation_errors(err, _GridFileForm)) from None
    _refuse_repeats(form.grid)
    windows = _windows(form.sweep)
    if len(set(windows)) != len(windows):
        raise ConfigError([("sweep.windows", "a window is listed more than once")])
    return GridSpec(
        path=path,
        strategies=tuple(form.sweep.strategies) if form.sweep.strategies else None,
        windows=windows,
        metric=form.sweep.metric,
        pbo_blocks=form.sweep.pbo_blocks,
        params={s: {k: tuple(v) for k, v in t.items()} for s, t in form.grid.items()},
    )


def param_text(value: ParamValue) -> str:
    """A parameter value as tables and reports write it: a string as itself, anything else as
    JSON (``2.0``, ``true``, ``["BTCUSDT", "ETHUSDT"]``; dates as ISO text)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=_json_default)


def _json_default(value: Any) -> str:
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not a TOML value")


def _windows(sweep: _SweepForm) -> tuple[Window, ...]:
    if sweep.windows is not None:
        return tuple(Window(w.start, w.end) for w in sweep.windows)
    return (Window(sweep.start, sweep.end),)


def _refuse_repeats(grid: Mapping[str, Mapping[str, list[Any]]]) -> None:
    """A value listed twice would run the same backtest twice and count it as two trials."""
    errors = []
    for strategy, table in grid.items():
        for key, values in table.items():
            seen = [json.dumps(v, sort_keys=True, default=_json_default) for v in values]
            if len(set(seen)) != len(seen):
                errors.append((f"grid.{strategy}.{key}", "a value is listed more than once"))
    if errors:
        raise ConfigError(errors)


def _day(day: date | None) -> str:
    return day.isoformat() if day is not None else "config"
