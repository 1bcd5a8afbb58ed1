"""The sweep page: one self-contained HTML file of a sweep's run table, with a heatmap of its
grid — ``zerobeta sweep ... --html OUT.html`` or ``zerobeta report --sweep TABLE --html
OUT.html``.

The page is built from the run table as written (:mod:`agent.research.table`, CSV or
Parquet), so what it shows is what the table holds. One section per selection of runs (a plain
sweep's window, a walk-forward's training fold; a walk-forward's test runs have one point
each and appear in the run table only): a heatmap of the metric over the grid
(:func:`agent.reporting.plots.sweep_heatmap`, a PNG inside the page) and the same grid as a
table. The heatmap's columns are the first parameter that varies in the selection, its rows
the combinations of the others (``a=1, b=2``; the window when only one parameter varies);
parameters with one value are named above it. Then every run with its parameters and main
figures.

Like the tearsheet (:mod:`agent.reporting.tearsheet`) the page holds no script and loads
nothing. Every number cell carries ``data-run-id`` (the table's ``run_id``),
``data-column`` (the table's column) and ``data-value`` (the cell's text in the table, as
written: ``repr`` of a float, exact decimal text of a USD amount, empty for NaN), and is
printed by :func:`agent.reporting.tearsheet.format_value` with the format ``data-format``
(``pct`` for ``*_frac`` columns, ``usd`` for ``*_usd``, ``int`` for counts, ``num3``
otherwise), so a test or a script can check the page against the table.
"""

from __future__ import annotations

import csv
import html
import importlib.util
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from agent.errors import ConfigError
from agent.research.table import RUN_COLUMNS

FIRST_METRIC = "n_days"
"""The first metric column of a run table (:func:`agent.research.task.summary_metrics`): the
parameter columns sit between :data:`~agent.research.table.RUN_COLUMNS` and it."""
SHOWN_METRICS = (
    "total_return_frac",
    "sharpe",
    "max_drawdown_frac",
    "calmar",
    "beta",
    "pnl_total_usd",
    "fees_paid_usd",
    "fills",
)
"""The figures of the run table's rows on the page, besides the selection metric."""
_INT_COLUMNS = frozenset({"n_days", "orders", "fills", "rejected_orders", "risk_rejections"})
_ONE = "(one point)"


@dataclass(frozen=True, slots=True)
class SweepTable:
    """A sweep's run table as written.

    Attributes
    ----------
    path : Path
        The file read.
    columns : tuple[str, ...]
        In file order.
    params : tuple[str, ...]
        The parameter columns (``strategy.parameter``).
    rows : tuple[dict[str, str], ...]
        One per run, every cell as its CSV text (Parquet: the same text, ``repr`` of floats,
        empty for a null).
    """

    path: Path
    columns: tuple[str, ...]
    params: tuple[str, ...]
    rows: tuple[dict[str, str], ...]


def read_sweep_table(path: Path) -> SweepTable:
    """Read a run table written by ``zerobeta sweep`` (``--out``).

    Raises
    ------
    ConfigError
        (key ``--sweep``) No such file, not ``.csv``/``.parquet``, or not a sweep's run table
        (no ``run_id`` … ``picked_from`` columns or no ``n_days`` column).
    """
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise ConfigError([("--sweep", f"{path}: a sweep's table is .csv or .parquet")])
    # pyarrow is optional: only Parquet tables need it
    if suffix == ".parquet" and importlib.util.find_spec("pyarrow") is None:
        reason = f"{path}: reading Parquet needs pyarrow (pip install pyarrow)"
        raise ConfigError([("--sweep", reason)])
    if not path.is_file():
        raise ConfigError([("--sweep", f"{path}: no such file")])
    if path.suffix.lower() == ".parquet":
        columns, rows = _read_parquet(path)
    else:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            rows = [dict(r) for r in reader]
            columns = list(reader.fieldnames or [])
    missing = [c for c in (*RUN_COLUMNS, FIRST_METRIC) if c not in columns]
    if missing:
        reason = f"{path}: not a sweep's run table (no column {', '.join(missing)})"
        raise ConfigError([("--sweep", reason)])
    params = tuple(columns[len(RUN_COLUMNS) : columns.index(FIRST_METRIC)])
    return SweepTable(path, tuple(columns), params, tuple(rows))


def _read_parquet(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    import pyarrow.parquet as pq  # optional; read_sweep_table made sure it is installed

    def text(value: object) -> str:
        if value is None:
            return ""
        return repr(value) if isinstance(value, float) else str(value)

    table = pq.read_table(path)
    rows = [{k: text(v) for k, v in row.items()} for row in table.to_pylist()]
    return list(table.column_names), rows


# ---------------------------------------------------------------------------------------------
# Selections and their grids


@dataclass(frozen=True, slots=True)
class GridView:
    """One selection's runs laid out as a grid.

    Attributes
    ----------
    title : str
        ``window 2025-09-01..2025-09-15`` or ``fold 2 training window ...``.
    x : str
        The column parameter.
    y : str
        What the rows are (the other varying parameters, or ``window``).
    fixed : tuple[tuple[str, str], ...]
        Parameters with one value in the selection.
    xs, ys : tuple[str, ...]
        Column and row labels, in the heatmap's order (numbers numerically).
    cells : dict[tuple[str, str], dict[str, str]]
        (y label, x label) → the run's row.
    """

    title: str
    x: str
    y: str
    fixed: tuple[tuple[str, str], ...]
    xs: tuple[str, ...]
    ys: tuple[str, ...]
    cells: dict[tuple[str, str], dict[str, str]]


def grid_views(table: SweepTable) -> list[GridView]:
    """The grid of each selection of ``table`` (plain sweep: each window; walk-forward: each
    training fold), in table order."""
    groups: dict[tuple[str, str, str, str], list[dict[str, str]]] = {}
    for row in table.rows:
        if row["phase"] == "test":
            continue
        key = (row["phase"], row["fold"], row["window_start"], row["window_end"])
        groups.setdefault(key, []).append(row)
    return [_view(key, rows, table.params) for key, rows in groups.items()]


def _view(
    key: tuple[str, str, str, str], rows: list[dict[str, str]], params: Sequence[str]
) -> GridView:
    phase, fold, start, end = key
    window = f"{start}..{end}"
    title = f"fold {fold} training window {window}" if phase == "train" else f"window {window}"
    varying = [p for p in params if len({r[p] for r in rows}) > 1]
    fixed = tuple((p, rows[0][p]) for p in params if p not in varying)
    x = varying[0] if varying else (params[0] if params else "grid")
    others = varying[1:]
    y = ", ".join(others) if others else "window"

    def x_of(row: Mapping[str, str]) -> str:
        return row.get(x, _ONE)

    def y_of(row: Mapping[str, str]) -> str:
        return ", ".join(f"{p.split('.', 1)[-1]}={row[p]}" for p in others) if others else window

    cells = {(y_of(r), x_of(r)): r for r in rows}
    xs = tuple(sorted({x_of(r) for r in rows}, key=_order))
    ys = tuple(dict.fromkeys(y_of(r) for r in rows))  # table order: the grid's own order
    return GridView(title, x, y, fixed, xs, ys, cells)


def _order(text: str) -> tuple[int, float, str]:
    """Numbers in numeric order before anything else in text order."""
    try:
        value = json.loads(text)
    except ValueError:
        return (1, 0.0, text)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, float(value), text)
    return (1, 0.0, text)


def _number(text: str) -> float:
    return float(text) if text else math.nan


# ---------------------------------------------------------------------------------------------
# Page


def column_format(column: str) -> str:
    """How the page prints a column (``data-format``)."""
    if column.endswith("_frac"):
        return "pct"
    if column.endswith("_usd"):
        return "usd"
    if column in _INT_COLUMNS:
        return "int"
    return "num3"


def _td(row: Mapping[str, str], column: str) -> str:
    from agent.reporting.tearsheet import format_value

    text = row.get(column, "")
    fmt = column_format(column)
    shown = format_value(text or None, fmt)
    css = "num neg" if shown.startswith("-") else "num"
    return (
        f'<td class="{css}" data-run-id="{html.escape(row["run_id"])}" '
        f'data-column="{html.escape(column)}" data-value="{html.escape(text)}" '
        f'data-format="{fmt}">{html.escape(shown)}</td>'
    )


def _table(head: Iterable[str], rows: Iterable[str], css: str) -> str:
    header = "".join(f'<th scope="col">{html.escape(h)}</th>' for h in head)
    return (
        f'<table class="{css}"><thead><tr>{header}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _grid_section(view: GridView, metric: str, index: int) -> str:
    from agent.reporting import plots
    from agent.reporting.tearsheet import figure_html

    column = {x: n for n, x in enumerate(view.xs)}
    line = {y: n for n, y in enumerate(view.ys)}
    points = [
        {"x": column[x], "y": line[y], metric: _number(r.get(metric, ""))}
        for (y, x), r in view.cells.items()
    ]
    figure = plots.sweep_heatmap(
        points, "x", "y", metric, title=f"{metric} by {view.y} and {view.x}: {view.title}"
    )
    ax = figure.axes[0]  # positions drawn, labelled with the table's values
    ax.set_xticks(range(len(view.xs)), list(view.xs))
    ax.set_yticks(range(len(view.ys)), list(view.ys))
    ax.set_xlabel(view.x)
    ax.set_ylabel(view.y)
    img = figure_html(f"heatmap-{index}", plots.png_bytes(figure), f"heatmap of {metric}")
    rows = []
    for y in view.ys:
        cells = "".join(
            _td(view.cells[(y, x)], metric) if (y, x) in view.cells else "<td></td>"
            for x in view.xs
        )
        rows.append(f'<tr><th scope="row">{html.escape(y)}</th>{cells}</tr>')
    head = [f"{view.y} \\ {view.x}", *view.xs]
    fixed = "; ".join(f"{p} = {v}" for p, v in view.fixed)
    note = f'<p class="note">fixed: {html.escape(fixed)}</p>' if fixed else ""
    return (
        f'<section id="grid-{index}"><h2>{html.escape(view.title)}</h2>{note}{img}'
        f"{_table(head, rows, 'grid')}</section>"
    )


def _runs_section(table: SweepTable, metric: str) -> str:
    figures = [c for c in dict.fromkeys([metric, *SHOWN_METRICS]) if c in table.columns]
    rows = []
    for row in table.rows:
        labels = "".join(
            f"<td>{html.escape(row[c])}</td>"
            for c in ("phase", "fold", "window_start", "window_end", "picked_from", *table.params)
        )
        numbers = "".join(_td(row, c) for c in figures)
        rows.append(f'<tr><th scope="row">{html.escape(row["run_id"])}</th>{labels}{numbers}</tr>')
    head = ["run", "phase", "fold", "from", "to", "picked from", *table.params, *figures]
    return f'<section id="runs"><h2>Runs</h2>{_table(head, rows, "runs")}</section>'


def render_sweep_page(table: SweepTable, metric: str) -> str:
    """The page of ``table`` with its heatmaps of ``metric`` (module docstring).

    Raises
    ------
    ConfigError
        (key ``--metric``) ``metric`` is not a column of the table.
    """
    from agent.reporting.tearsheet import page_html

    if metric not in table.columns[table.columns.index(FIRST_METRIC) :]:
        reason = f"{metric!r} is not a figure of {table.path} (e.g. sharpe, total_return_frac)"
        raise ConfigError([("--metric", reason)])
    views = grid_views(table)
    intro = (
        f'<p class="note">run table {html.escape(str(table.path))}: {len(table.rows)} runs, '
        f"parameters {html.escape(', '.join(table.params) or 'none')}; heatmaps of "
        f"<code>{html.escape(metric)}</code>. Every number is the table's cell.</p>"
    )
    sections = [_grid_section(v, metric, i) for i, v in enumerate(views)]
    sections.append(_runs_section(table, metric))
    return page_html(f"zerobeta sweep: {table.path.name}", intro, sections)


def write_sweep_page(table_path: Path, html_path: Path, *, metric: str) -> Path:
    """Read the run table at ``table_path`` and write its page to ``html_path`` (its folder
    created); returns ``html_path``.

    Raises
    ------
    ConfigError
        The table cannot be read as a sweep's run table, or ``metric`` is not in it.
    OSError
        The page cannot be written.
    """
    page = render_sweep_page(read_sweep_table(table_path), metric)
    html_path.parent.mkdir(parents=True, exist_ok=True)
    html_path.write_text(page, encoding="utf-8")
    return html_path
