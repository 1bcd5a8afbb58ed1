"""The sweep's tables: one row per run, and for a walk-forward one row per fold and the
out-of-sample daily returns; CSV, or Parquet when the path ends in ``.parquet``.

CSV cells: floats as Python's shortest round-trip text (``repr``), USD amounts as their exact
decimal text, integers as digits, an empty cell for NaN or nothing; parameter values as in
TOML/JSON (``2.0``, ``true``, ``["BTCUSDT", "ETHUSDT"]``; a string as itself). The same
sweep gives byte-identical files. Parquet (``pyarrow``, optional: ``pip install pyarrow``)
keeps the same columns with USD amounts as float64 and empty cells as nulls.
"""

from __future__ import annotations

import csv
import importlib.util
import math
from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from agent.errors import ConfigError
from agent.research.grid import param_text
from agent.research.report import SweepReport
from agent.research.task import RunOutcome
from agent.research.walk_forward import OutOfSample

Cell = str | int | float | Decimal | None
Row = dict[str, Cell]
RUN_COLUMNS = ("run_id", "phase", "fold", "window_start", "window_end", "picked_from")
"""The columns before the parameters and the metrics of the run table."""


def check_table_path(path: Path) -> None:
    """Refuse a table path that cannot be written as asked, before anything runs.

    Raises
    ------
    ConfigError
        A suffix other than ``.csv`` or ``.parquet``, or ``.parquet`` without pyarrow.
    """
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise ConfigError([("--out", f"{path}: the table is .csv or .parquet")])
    # pyarrow is optional: only Parquet output needs it
    if suffix == ".parquet" and importlib.util.find_spec("pyarrow") is None:
        reason = f"{path}: Parquet output needs pyarrow (pip install pyarrow); or use .csv"
        raise ConfigError([("--out", reason)])


def run_rows(outcomes: Sequence[RunOutcome], param_columns: Sequence[str]) -> list[Row]:
    """One row per run, in the order given: :data:`RUN_COLUMNS`, the parameter columns
    (``strategy.parameter``), then the run's metrics
    (:func:`~agent.research.task.summary_metrics`)."""
    rows = []
    for o in outcomes:
        spec = o.spec
        row: Row = {
            "run_id": spec.run_id,
            "phase": spec.phase,
            "fold": spec.fold,
            "window_start": _day(spec.window.start),
            "window_end": _day(spec.window.end),
            "picked_from": o.picked_from,
        }
        values = {f"{s}.{k}": v for s, k, v in spec.point}
        row.update({c: param_text(values[c]) if c in values else None for c in param_columns})
        row.update(o.metrics)
        rows.append(row)
    return rows


def fold_rows(report: SweepReport) -> list[Row]:
    """One row per walk-forward fold: its windows, the training runs and their selection
    statistics (``train_pbo``, ``train_dsr``), the pick (``picked_from``, its parameters)
    and its test run's figures (``test_run_id``, ``in_sample_<metric>``,
    ``out_of_sample_<metric>``, ``oos_*``)."""
    metric = report.grid.metric
    rows: list[Row] = []
    for f in report.folds:
        row: Row = {
            "fold": f.fold.index,
            "train_start": _day(f.fold.train.start),
            "train_end": _day(f.fold.train.end),
            "test_start": _day(f.fold.test.start),
            "test_end": _day(f.fold.test.end),
            "train_runs": len(f.train.run_ids),
            "train_pbo": f.train.pbo.pbo,
            "train_dsr": f.train.dsr.dsr,
            "picked_from": f.train.best.spec.run_id,
            "test_run_id": f.test.spec.run_id,
        }
        row.update({f"{s}.{k}": param_text(v) for s, k, v in f.test.spec.point})
        row[f"in_sample_{metric}"] = f.train.best.metrics.get(metric)
        row[f"out_of_sample_{metric}"] = f.test.metrics.get(metric)
        for column in ("total_return_frac", "sharpe", "max_drawdown_frac", "pnl_total_usd"):
            row[f"oos_{column}"] = f.test.metrics.get(column)
        rows.append(row)
    return rows


def out_of_sample_rows(oos: OutOfSample) -> list[Row]:
    """The out-of-sample daily returns, one row per day: ``day`` (UTC date), ``fold``,
    ``return_frac`` and ``equity_index`` (compounded from 1.0)."""
    index = 1.0
    rows: list[Row] = []
    for ts, fold, r in zip(oos.ts_day_ms, oos.fold, oos.returns_frac, strict=True):
        index *= 1.0 + float(r)
        day = datetime.fromtimestamp(int(ts) / 1000, tz=UTC).date().isoformat()
        rows.append({"day": day, "fold": int(fold), "return_frac": float(r), "equity_index": index})
    return rows


def write_table(path: Path, rows: Sequence[Row]) -> None:
    """Write ``rows`` to ``path`` (CSV, or Parquet for ``.parquet``), creating its folder.
    Columns: every key of the rows in first-seen order; a row without one has an empty cell.

    Raises
    ------
    OSError
        If the file cannot be written.
    """
    columns = list(dict.fromkeys(k for row in rows for k in row))
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".parquet":
        _write_parquet(path, columns, rows)
        return
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([_csv_cell(row.get(c)) for c in columns] for row in rows)


def sibling(path: Path, tag: str) -> Path:
    """``runs/sweep.csv`` → ``runs/sweep.<tag>.csv``."""
    return path.with_name(f"{path.stem}.{tag}{path.suffix}")


def _csv_cell(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    return str(value)


def _write_parquet(path: Path, columns: list[str], rows: Sequence[Row]) -> None:
    import pyarrow as pa  # optional dependency, checked by check_table_path
    import pyarrow.parquet as pq

    def cell(value: Cell) -> str | int | float | None:
        if isinstance(value, Decimal):
            return float(value)
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return value

    data = {c: [cell(row.get(c)) for row in rows] for c in columns}
    pq.write_table(pa.table(data), path)


def _day(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None
