"""The tearsheet's figures, drawn with matplotlib (https://matplotlib.org).

Each function returns a :class:`matplotlib.figure.Figure` built without ``pyplot`` (no global
figure registry, no GUI backend: rendered with Agg by :func:`png_bytes`). Only the tearsheet
path imports this module, so the command line stays fast without it.

Units are in every axis label: USD amounts with thousands separators, fractions as %, times
as UTC dates. :func:`sweep_heatmap` draws any parameter grid (rows of parameter values and a
metric), for a parameter sweep's report.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, PercentFormatter

from agent.reporting.neutrality_report import PORTFOLIO
from agent.reporting.strategy_returns import FloatArray, IntArray
from agent.reporting.tearsheet_series import STREAM_LABELS, TearsheetSeries

WIDTH_IN = 12.0
"""Figure width, inches (1200 px at :data:`DPI`)."""
DPI = 100
_USD = FuncFormatter(lambda v, _: f"{v:,.0f}")
_STREAM_COLORS = {
    "price_spot_usd": "tab:blue",
    "price_perp_usd": "tab:orange",
    "funding_usd": "tab:green",
    "fees_usd": "tab:red",
    "slippage_usd": "tab:purple",
    "total_usd": "black",
}


def png_bytes(figure: Figure, *, dpi: int = DPI) -> bytes:
    """The figure rendered as PNG (Agg), ``dpi`` dots per inch."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def _dates(ts_ms: IntArray) -> np.ndarray:
    return np.asarray(ts_ms, dtype="datetime64[ms]")


def _time_axis(ax: Axes) -> None:
    # matplotlib.dates ships without annotations for these two constructors
    locator = AutoDateLocator()  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    ax.set_xlabel("date (UTC)")
    ax.grid(True, alpha=0.3)


def _figure(height_in: float) -> Figure:
    return Figure(figsize=(WIDTH_IN, height_in), layout="constrained")


def equity_drawdown_figure(series: TearsheetSeries) -> Figure:
    """Equity (USD) above, drawdown from the running peak (%, drawn negative) below."""
    fig = _figure(6.0)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    when = _dates(series.ts_ms)
    top.plot(when, series.equity_usd, color="tab:blue", linewidth=1.2, label="equity")
    top.set_ylabel("equity (USD)")
    top.yaxis.set_major_formatter(_USD)
    top.set_title("Equity and drawdown")
    top.grid(True, alpha=0.3)
    top.legend(loc="upper left")
    bottom.fill_between(when, -series.drawdown_frac, 0.0, color="tab:red", alpha=0.4, linewidth=0)
    bottom.set_ylabel("drawdown (%)")
    bottom.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    _time_axis(bottom)
    return fig


def stream_pnl_figure(series: TearsheetSeries) -> Figure:
    """Cumulative P&L per stream (costs negative) and the total, USD."""
    fig = _figure(4.5)
    ax = fig.subplots()
    when = _dates(series.ts_ms)
    for name, label in STREAM_LABELS.items():
        width = 2.0 if name == "total_usd" else 1.2
        values = series.stream_pnl_usd[name]
        ax.plot(when, values, label=label, color=_STREAM_COLORS[name], linewidth=width)
    _finish_usd_lines(ax, "Cumulative P&L by stream (fees and slippage negative)")
    return fig


def strategy_pnl_figure(series: TearsheetSeries) -> Figure:
    """Cumulative P&L per strategy, USD."""
    fig = _figure(4.5)
    ax = fig.subplots()
    when = _dates(series.ts_ms)
    for name, values in series.strategy_pnl_usd.items():
        ax.plot(when, values, label=name, linewidth=1.2)
    _finish_usd_lines(ax, "Cumulative P&L by strategy")
    return fig


def _finish_usd_lines(ax: Axes, title: str) -> None:
    ax.axhline(0.0, color="grey", linewidth=0.8)
    ax.set_title(title)
    ax.set_ylabel("P&L (USD)")
    ax.yaxis.set_major_formatter(_USD)
    _legend_or_note(ax, ncols=3)
    _time_axis(ax)


def _legend_or_note(ax: Axes, *, ncols: int) -> None:
    """A legend, or a note in the middle of an empty plot."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", ncols=ncols, fontsize="small")
    else:
        ax.text(0.5, 0.5, "nothing journaled", transform=ax.transAxes, ha="center", color="grey")


def rolling_beta_figure(series: TearsheetSeries) -> Figure:
    """Rolling beta to BTC of the portfolio (bold) and each strategy, with the ±band."""
    fig = _figure(4.5)
    ax = fig.subplots()
    when = _dates(series.beta_ts_ms)
    band = series.beta_band_abs
    ax.axhspan(-band, band, color="tab:green", alpha=0.12, label=f"neutral band |β| < {band:.2f}")
    ax.axhline(0.0, color="grey", linewidth=0.8)
    for name, betas in series.rolling_beta.items():
        if name == PORTFOLIO:
            ax.plot(when, betas, color="black", linewidth=2.0, label=name, zorder=3)
        else:
            ax.plot(when, betas, linewidth=1.0, alpha=0.8, label=name)
    ax.set_title(f"Rolling {series.rolling_window_days}-day beta to BTC (OLS of daily returns)")
    ax.set_ylabel("beta to BTC (dimensionless)")
    _legend_or_note(ax, ncols=4)
    _time_axis(ax)
    return fig


def funding_figure(net_usd: Mapping[tuple[str, str], float], series: TearsheetSeries) -> Figure:
    """Net funding per (venue, symbol) as bars (received positive), and each venue's
    cumulative funding over time, USD."""
    fig = _figure(max(4.5, 0.28 * len(net_usd) + 1.5))
    bars, lines = fig.subplots(1, 2, width_ratios=[1, 1.4])
    venues = sorted({venue for venue, _ in net_usd})
    colors = {v: f"C{i}" for i, v in enumerate(venues)}
    keys = sorted(net_usd, key=lambda k: (k[0], k[1]), reverse=True)
    bars.barh(
        [f"{symbol} ({venue})" for venue, symbol in keys],
        [net_usd[k] for k in keys],
        color=[colors[venue] for venue, _ in keys],
    )
    bars.axvline(0.0, color="grey", linewidth=0.8)
    bars.set_title("Net funding per venue and symbol")
    bars.set_xlabel("funding received (USD)")
    bars.xaxis.set_major_formatter(_USD)
    bars.tick_params(axis="y", labelsize="small")
    bars.grid(True, axis="x", alpha=0.3)
    for venue, (times, cumulative) in series.funding_cum_usd.items():
        lines.plot(_dates(times), cumulative, label=venue, color=colors.get(venue), linewidth=1.2)
    lines.axhline(0.0, color="grey", linewidth=0.8)
    lines.set_title("Cumulative funding per venue")
    lines.set_ylabel("funding received (USD)")
    lines.yaxis.set_major_formatter(_USD)
    _legend_or_note(lines, ncols=1)
    _time_axis(lines)
    return fig


def leg_pnl_figure(totals_usd: Mapping[str, Mapping[str, float]]) -> Figure:
    """Total P&L of each leg (strategy → instrument id → USD) as horizontal bars, one colour
    per strategy."""
    rows = [(s, iid, v) for s, legs in totals_usd.items() for iid, v in legs.items()]
    fig = _figure(max(3.0, 0.22 * len(rows) + 1.2))
    ax = fig.subplots()
    colors = {s: f"C{i}" for i, s in enumerate(totals_usd)}
    labels = [f"{s} · {iid}" for s, iid, _ in rows]
    ax.barh(labels, [v for _, _, v in rows], color=[colors[s] for s, _, _ in rows])
    ax.invert_yaxis()  # first strategy on top, as in the table
    ax.margins(y=0.01)
    ax.axvline(0.0, color="grey", linewidth=0.8)
    ax.set_title("Total P&L per leg (strategy · instrument)")
    ax.set_xlabel("P&L (USD)")
    ax.xaxis.set_major_formatter(_USD)
    ax.tick_params(axis="y", labelsize="small")
    ax.grid(True, axis="x", alpha=0.3)
    return fig


def sweep_heatmap(
    rows: Sequence[Mapping[str, object]],
    x: str,
    y: str,
    metric: str,
    *,
    title: str | None = None,
    metric_label: str | None = None,
) -> Figure:
    """Heatmap of a parameter grid: one cell per (``x``, ``y``) value pair, coloured and
    annotated with ``metric``.

    Parameters
    ----------
    rows : Sequence[Mapping[str, object]]
        One mapping per sweep point: parameter values (any sortable, printable value) and the
        metric (a real number; NaN or None leaves the cell blank). Points sharing an
        (``x``, ``y``) pair must not repeat.
    x, y : str
        Parameter names for the columns and the rows.
    metric : str
        Key of the value to show (e.g. ``"sharpe"``).
    title, metric_label : str or None
        Figure title and colour-bar label (default: the metric's name).

    Returns
    -------
    Figure

    Raises
    ------
    ValueError
        No rows, a row without ``x``, ``y`` or ``metric``, a repeated (``x``, ``y``) pair, or
        a metric that is not a number.
    """
    if not rows:
        raise ValueError("sweep_heatmap needs at least one row")
    xs, ys, grid = _grid(rows, x, y, metric)
    fig = _figure(max(3.0, 0.45 * len(ys) + 1.8))
    ax = fig.subplots()
    finite = grid[np.isfinite(grid)]
    bound = float(np.max(np.abs(finite))) if finite.size else 1.0
    diverging = finite.size > 0 and float(finite.min()) < 0.0 < float(finite.max())
    image = ax.imshow(
        np.ma.masked_invalid(grid),
        cmap="RdYlGn" if diverging else "viridis",
        vmin=-bound if diverging else None,
        vmax=bound if diverging else None,
        aspect="auto",
        origin="lower",
    )
    for (i, j), value in np.ndenumerate(grid):
        if math.isfinite(value):
            ax.text(j, i, f"{value:.3g}", ha="center", va="center", fontsize="small")
    ax.set_xticks(range(len(xs)), [str(v) for v in xs])
    ax.set_yticks(range(len(ys)), [str(v) for v in ys])
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(title or f"{metric} by {y} and {x}")
    fig.colorbar(image, ax=ax, label=metric_label or metric)
    return fig


def _grid(
    rows: Sequence[Mapping[str, object]], x: str, y: str, metric: str
) -> tuple[list[object], list[object], FloatArray]:
    for n, row in enumerate(rows):
        missing = [k for k in (x, y, metric) if k not in row]
        if missing:
            raise ValueError(f"sweep row {n} has no {', '.join(missing)}")
    xs = sorted({row[x] for row in rows}, key=_sort_key)
    ys = sorted({row[y] for row in rows}, key=_sort_key)
    grid = np.full((len(ys), len(xs)), np.nan)
    seen: set[tuple[int, int]] = set()
    for n, row in enumerate(rows):
        cell = (ys.index(row[y]), xs.index(row[x]))
        if cell in seen:
            raise ValueError(f"sweep row {n} repeats {x}={row[x]!r}, {y}={row[y]!r}")
        seen.add(cell)
        grid[cell] = _metric(row[metric], n)
    return xs, ys, grid


def _sort_key(value: object) -> tuple[int, float, str]:
    """Numbers in numeric order before anything else in text order."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1, 0.0, str(value))


def _metric(value: object, n: int) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
        try:
            return float(str(value))
        except ValueError:
            raise ValueError(f"sweep row {n}: metric {value!r} is not a number") from None
    return float(value)
